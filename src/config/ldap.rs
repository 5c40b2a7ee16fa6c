//! The company directory's settings (`LDAP_*`): where it is, how to reach
//! it safely, the service account that searches it, and which attributes
//! hold a person's name, email, language and manager.

use std::time::Duration;

use anyhow::bail;

use super::{bounded, flag, var};

/// `LDAP_URL` set: people may sign in with their directory password and
/// the directory is synced. The rest:
/// - `LDAP_STARTTLS` (false): upgrade an `ldap://` connection with
///   StartTLS before anything is sent; `ldaps://` is TLS from the start.
///   Certificates are checked against the system's roots, or with
///   `LDAP_CA_FILE` (a PEM file) against the company's own CA only.
/// - `LDAP_TIMEOUT_SECS` (10): for connecting and for each operation.
/// - `LDAP_BIND_DN`, `LDAP_BIND_PASSWORD`: the service account that
///   searches for people and groups.
/// - `LDAP_USER_BASE` (required), `LDAP_USER_FILTER`
///   (`(objectClass=inetOrgPerson)`): where people are.
/// - `LDAP_ID_ATTRIBUTE` (`entryUUID`; `objectGUID` on Active
///   Directory): what stays a person's for good; a name or DN may later
///   be someone else's.
/// - `LDAP_USERNAME_ATTRIBUTE` (`uid`; `sAMAccountName` on Active
///   Directory), `LDAP_NAME_ATTRIBUTE` (`displayName`, else `cn`),
///   `LDAP_EMAIL_ATTRIBUTE` (`mail`), `LDAP_LANGUAGE_ATTRIBUTE`
///   (`preferredLanguage`), `LDAP_MANAGER_ATTRIBUTE` (`manager`).
/// - `LDAP_GROUP_BASE` (the user base's parent), `LDAP_GROUP_FILTER`
///   (`(|(objectClass=groupOfNames)(objectClass=group))`),
///   `LDAP_GROUP_MEMBER_ATTRIBUTE` (`member`): the groups mapped to roles.
/// - `LDAP_SYNC_MINUTES` (60): how often the job runner syncs the whole
///   directory; 0 syncs only at sign-in, from the admin page and with
///   `countersign directory sync`.
#[derive(Clone)]
pub struct LdapConfig {
    pub url: String,
    pub starttls: bool,
    /// `LDAP_CA_FILE`'s certificates; empty: the system's roots.
    pub ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub timeout: Duration,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    pub user_filter: String,
    pub id_attribute: String,
    pub username_attribute: String,
    pub name_attribute: String,
    pub email_attribute: String,
    pub language_attribute: String,
    pub manager_attribute: String,
    pub group_base: String,
    pub group_filter: String,
    pub member_attribute: String,
    /// None: no scheduled sync.
    pub sync_every: Option<chrono::Duration>,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("url", &self.url)
            .field("starttls", &self.starttls)
            .field("bind_dn", &self.bind_dn)
            .field("bind_password", &"<redacted>")
            .field("user_base", &self.user_base)
            .field("group_base", &self.group_base)
            .finish_non_exhaustive()
    }
}

impl LdapConfig {
    /// The settings with the usual attributes for an OpenLDAP directory
    /// at `url` whose people are under `user_base`.
    pub fn new(url: &str, bind_dn: &str, bind_password: &str, user_base: &str) -> LdapConfig {
        LdapConfig {
            url: url.to_string(),
            starttls: false,
            ca_certs: Vec::new(),
            timeout: Duration::from_secs(10),
            bind_dn: bind_dn.to_string(),
            bind_password: bind_password.to_string(),
            user_base: user_base.to_string(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            id_attribute: "entryUUID".into(),
            username_attribute: "uid".into(),
            name_attribute: "displayName".into(),
            email_attribute: "mail".into(),
            language_attribute: "preferredLanguage".into(),
            manager_attribute: "manager".into(),
            group_base: parent_dn(user_base),
            group_filter: "(|(objectClass=groupOfNames)(objectClass=group))".into(),
            member_attribute: "member".into(),
            sync_every: Some(chrono::Duration::minutes(60)),
        }
    }

    pub(super) fn from_env() -> anyhow::Result<Option<LdapConfig>> {
        let Some(url) = var("LDAP_URL") else {
            return Ok(None);
        };
        let url = url.trim().to_string();
        if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
            bail!("LDAP_URL must start with ldap:// or ldaps://, not {url:?}");
        }
        let Some(user_base) = var("LDAP_USER_BASE") else {
            bail!(
                "LDAP_USER_BASE must be set with LDAP_URL (where people are, such as ou=people,dc=example,dc=com)"
            );
        };
        let mut config = LdapConfig::new(
            &url,
            &var("LDAP_BIND_DN").unwrap_or_default(),
            &std::env::var("LDAP_BIND_PASSWORD").unwrap_or_default(),
            user_base.trim(),
        );
        config.starttls = flag("LDAP_STARTTLS")?;
        if url.starts_with("ldap://") && !config.starttls && !is_loopback(&url) {
            tracing::warn!(
                "LDAP_URL is plain ldap:// without LDAP_STARTTLS: directory passwords would cross the network unencrypted"
            );
        }
        if config.starttls && url.starts_with("ldaps://") {
            bail!("LDAP_STARTTLS is for ldap:// URLs; ldaps:// is TLS already");
        }
        if let Some(path) = var("LDAP_CA_FILE") {
            config.ca_certs = read_ca_file(path.trim())?;
        }
        config.timeout = Duration::from_secs(bounded("LDAP_TIMEOUT_SECS", 10, 1, 300)? as u64);
        let text = |name: &str, value: &mut String| {
            if let Some(v) = var(name) {
                *value = v.trim().to_string();
            }
        };
        text("LDAP_USER_FILTER", &mut config.user_filter);
        text("LDAP_ID_ATTRIBUTE", &mut config.id_attribute);
        text("LDAP_USERNAME_ATTRIBUTE", &mut config.username_attribute);
        text("LDAP_NAME_ATTRIBUTE", &mut config.name_attribute);
        text("LDAP_EMAIL_ATTRIBUTE", &mut config.email_attribute);
        text("LDAP_LANGUAGE_ATTRIBUTE", &mut config.language_attribute);
        text("LDAP_MANAGER_ATTRIBUTE", &mut config.manager_attribute);
        text("LDAP_GROUP_BASE", &mut config.group_base);
        text("LDAP_GROUP_FILTER", &mut config.group_filter);
        text("LDAP_GROUP_MEMBER_ATTRIBUTE", &mut config.member_attribute);
        for (name, filter) in [
            ("LDAP_USER_FILTER", &config.user_filter),
            ("LDAP_GROUP_FILTER", &config.group_filter),
        ] {
            if !(filter.starts_with('(') && filter.ends_with(')')) {
                bail!("{name} must be an LDAP filter in parentheses, not {filter:?}");
            }
        }
        let minutes = bounded("LDAP_SYNC_MINUTES", 60, 0, 10_080)?;
        config.sync_every = (minutes > 0).then(|| chrono::Duration::minutes(minutes));
        Ok(Some(config))
    }
}

/// Whether the URL's host is this machine.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    rest.starts_with("[::1]") || host == "localhost" || host.starts_with("127.")
}

/// The certificates of a PEM file, at least one.
pub fn read_ca_file(path: &str) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use anyhow::Context;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("LDAP_CA_FILE {path:?} cannot be read as PEM certificates"))?;
    if certs.is_empty() {
        bail!("LDAP_CA_FILE {path:?} holds no certificate");
    }
    Ok(certs)
}

/// `ou=people,dc=example,dc=com` → `dc=example,dc=com` (itself at the top).
fn parent_dn(dn: &str) -> String {
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ',' if !escaped => return dn[i + 1..].trim().to_string(),
            _ => escaped = false,
        }
    }
    dn.to_string()
}

#[cfg(test)]
mod tests {
    use super::parent_dn;

    #[test]
    fn the_group_base_defaults_to_the_user_base_s_parent() {
        assert_eq!(
            parent_dn("ou=people,dc=example,dc=com"),
            "dc=example,dc=com"
        );
        assert_eq!(parent_dn("ou=a\\,b,dc=x"), "dc=x");
        assert_eq!(parent_dn("dc=com"), "dc=com");
    }
}
