//! The company directory over LDAP (OpenLDAP, Active Directory): checking
//! a person's directory password, and reading everyone with their groups
//! for a sync. Each use opens its own connection (TLS from the start for
//! `ldaps://`, or upgraded with StartTLS before anything is sent), with a
//! timeout on connecting and on every operation. Passwords are never
//! logged, and an empty one is refused before the directory is asked: a
//! bind with no password is an anonymous bind, which proves nothing.

pub mod sync;

use std::collections::HashMap;
use std::sync::Arc;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use crate::config::LdapConfig;
use crate::i18n::Lang;
use crate::store::company::Incoming;
use crate::store::group_roles::normalize;

/// Entries read per page of a search (Active Directory answers at most
/// 1,000 at a time).
const PAGE: i32 = 500;

/// LDAP's result code for a wrong password (or an unknown DN).
const INVALID_CREDENTIALS: u32 = 49;
/// What a directory answers a bind it will not do (an empty password,
/// a disabled account on some servers).
const UNWILLING_TO_PERFORM: u32 = 53;

/// The directory could not be asked: unreachable, too slow, TLS failed,
/// the service account refused, or a search failed.
#[derive(Debug, thiserror::Error)]
#[error("the company directory: {0}")]
pub struct Unavailable(String);

fn unavailable(e: impl std::fmt::Display) -> Unavailable {
    Unavailable(e.to_string())
}

/// What the directory says of a sign-in.
#[derive(Debug)]
pub enum Verdict {
    /// The password is theirs: the person as the directory describes them.
    Person(Incoming),
    /// No such person, several, or not their password.
    Refused,
}

/// The company directory a configuration describes.
#[derive(Clone)]
pub struct Directory {
    config: LdapConfig,
    /// TLS trusting `LDAP_CA_FILE`'s CAs, or else the system's.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Directory {
    pub fn new(config: LdapConfig) -> Directory {
        if !(config.starttls || config.url.starts_with("ldaps://")) {
            return Directory { config, tls: None };
        }
        // Whatever else in the process uses TLS, ring is what the
        // directory's connections use.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = if config.ca_certs.is_empty() {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs)
        } else {
            roots.add_parsable_certificates(config.ca_certs.iter().cloned())
        };
        if added == 0 {
            // Nothing is trusted, so every TLS connection is refused.
            tracing::warn!("no CA certificate to check the directory's against");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| tracing::error!(error = %e, "TLS for the directory cannot be set up"))
            .ok();
        Directory { config, tls }
    }

    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    /// A new connection, not yet bound.
    async fn connect(&self) -> Result<Ldap, Unavailable> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.config.timeout)
            .set_starttls(self.config.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(unavailable)?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "directory connection ended");
            }
        });
        Ok(ldap)
    }

    /// A connection bound as the service account (anonymous when
    /// `LDAP_BIND_DN` is unset).
    async fn service(&self) -> Result<Ldap, Unavailable> {
        let mut ldap = self.connect().await?;
        if !self.config.bind_dn.is_empty() {
            ldap.with_timeout(self.config.timeout)
                .simple_bind(&self.config.bind_dn, &self.config.bind_password)
                .await
                .and_then(|r| r.success())
                .map_err(|e| Unavailable(format!("the service account's bind failed: {e}")))?;
        }
        Ok(ldap)
    }

    fn person_attributes(&self) -> Vec<String> {
        let c = &self.config;
        vec![
            c.id_attribute.clone(),
            c.username_attribute.clone(),
            c.name_attribute.clone(),
            "cn".into(),
            c.email_attribute.clone(),
            c.language_attribute.clone(),
            c.manager_attribute.clone(),
        ]
    }

    /// Checks `password` for the person whose username attribute is
    /// `username`: found with the service account (the name escaped, so
    /// it cannot widen the filter), then bound as with the password on a
    /// connection of their own.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Verdict, Unavailable> {
        if username.is_empty() || password.is_empty() {
            return Ok(Verdict::Refused);
        }
        let c = &self.config;
        let mut service = self.service().await?;
        let filter = format!(
            "(&{}({}={}))",
            c.user_filter,
            c.username_attribute,
            ldap_escape(username)
        );
        let (found, _) = service
            .with_timeout(c.timeout)
            .search(
                &c.user_base,
                Scope::Subtree,
                &filter,
                self.person_attributes(),
            )
            .await
            .and_then(|r| r.success())
            .map_err(unavailable)?;
        // Exactly one person, or none at all.
        let one = found.len() == 1;
        let Some(entry) = found.into_iter().next().filter(|_| one) else {
            return Ok(Verdict::Refused);
        };
        let entry = SearchEntry::construct(entry);
        let mut theirs = self.connect().await?;
        let bound = theirs
            .with_timeout(c.timeout)
            .simple_bind(&entry.dn, password)
            .await
            .map_err(unavailable)?;
        let _ = theirs.unbind().await;
        match bound.rc {
            0 => {}
            INVALID_CREDENTIALS | UNWILLING_TO_PERFORM => return Ok(Verdict::Refused),
            rc => {
                return Err(Unavailable(format!(
                    "a person's bind was answered with result code {rc}"
                )));
            }
        }
        let groups = self.groups_of(&mut service, &entry.dn).await?;
        let _ = service.unbind().await;
        Ok(match self.person(entry, groups) {
            Some(person) => Verdict::Person(person),
            None => Verdict::Refused,
        })
    }

    /// The groups with `dn` as a member, normalized.
    async fn groups_of(&self, ldap: &mut Ldap, dn: &str) -> Result<Vec<String>, Unavailable> {
        let c = &self.config;
        let filter = format!(
            "(&{}({}={}))",
            c.group_filter,
            c.member_attribute,
            ldap_escape(dn)
        );
        let entries = paged(ldap, c, &c.group_base, &filter, vec!["1.1".to_string()]).await?;
        Ok(entries.into_iter().map(|e| normalize(&e.dn)).collect())
    }

    /// Everyone the directory lists as a person, with their groups.
    pub async fn everyone(&self) -> Result<Vec<Incoming>, Unavailable> {
        let c = &self.config;
        let mut ldap = self.service().await?;
        let entries = paged(
            &mut ldap,
            c,
            &c.user_base,
            &c.user_filter,
            self.person_attributes(),
        )
        .await?;
        let groups = paged(
            &mut ldap,
            c,
            &c.group_base,
            &c.group_filter,
            vec![c.member_attribute.clone()],
        )
        .await?;
        let _ = ldap.unbind().await;
        let mut member_of: HashMap<String, Vec<String>> = HashMap::new();
        for group in groups {
            let name = normalize(&group.dn);
            for member in values(&group.attrs, &c.member_attribute) {
                member_of
                    .entry(normalize(member))
                    .or_default()
                    .push(name.clone());
            }
        }
        Ok(entries
            .into_iter()
            .filter_map(|entry| {
                let groups = member_of.remove(&normalize(&entry.dn)).unwrap_or_default();
                self.person(entry, groups)
            })
            .collect())
    }

    /// The person an entry describes; `None` without a username or the
    /// id that stays theirs (a binary one, as `objectGUID`, in hex).
    fn person(&self, entry: SearchEntry, mut groups: Vec<String>) -> Option<Incoming> {
        let c = &self.config;
        let first = |name: &str| {
            values(&entry.attrs, name)
                .next()
                .map(|v| v.trim().to_string())
        };
        let key = first(&c.id_attribute)
            .map(|id| id.to_lowercase())
            .or_else(|| {
                entry
                    .bin_attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&c.id_attribute))
                    .and_then(|(_, v)| v.first())
                    .map(hex::encode)
            });
        let Some(key) = key else {
            tracing::warn!(dn = %entry.dn, attribute = %c.id_attribute, "a directory entry without its id is left out");
            return None;
        };
        let username = first(&c.username_attribute)?.to_lowercase();
        let display_name = first(&c.name_attribute)
            .or_else(|| first("cn"))
            .unwrap_or_else(|| username.clone());
        groups.sort();
        groups.dedup();
        Some(Incoming {
            origin: crate::store::company::LDAP,
            key,
            dn: Some(normalize(&entry.dn)),
            username,
            display_name,
            email: first(&c.email_attribute).unwrap_or_default(),
            language: first(&c.language_attribute).and_then(|l| Lang::parse(&l)),
            manager: first(&c.manager_attribute).map(|m| normalize(&m)),
            groups,
        })
    }
}

/// An attribute's values, its name matched without regard to case (the
/// server answers with its own spelling).
fn values<'a>(
    attrs: &'a HashMap<String, Vec<String>>,
    name: &'a str,
) -> impl Iterator<Item = &'a String> + 'a {
    attrs
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter())
}

/// Every entry under `base` matching `filter`, read a page at a time.
async fn paged(
    ldap: &mut Ldap,
    config: &LdapConfig,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
) -> Result<Vec<SearchEntry>, Unavailable> {
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE)),
    ];
    let mut stream = ldap
        .with_timeout(config.timeout)
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await
        .map_err(unavailable)?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().await.map_err(unavailable)? {
        entries.push(SearchEntry::construct(entry));
    }
    stream.finish().await.success().map_err(unavailable)?;
    Ok(entries)
}
