//! Typed settings from the environment. Every variable, its default and its
//! meaning is listed in the README; secrets are never printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

mod ldap;
mod oidc;
pub use ldap::{LdapConfig, read_ca_file as read_ldap_ca_file};
pub use oidc::OidcConfig;

#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`: a SQLite path (`sqlite://data/countersign.db`, the
    /// default) or a `postgres://` URL.
    pub database_url: String,
    /// `BIND`: address to listen on, default `127.0.0.1:8080`.
    pub bind: String,
    /// `BASE_URL`: how people reach us, for links in emails; default `http://{BIND}`.
    pub base_url: String,
    /// `SECRET_KEY`: signs sessions and link tokens; at least 32 bytes.
    pub secret_key: Vec<u8>,
    /// `DATA_DIR`: SQLite file, generated secret and mail folder; default `./data`.
    pub data_dir: PathBuf,
    /// `DB_POOL_SIZE`: connections in the pool, default 8.
    pub pool_size: u32,
    /// How mail leaves: SMTP, or `.eml` files under `DATA_DIR/mail`.
    pub mail: MailConfig,
    /// How long sessions last.
    pub session: SessionConfig,
    /// How long a client may take to send its request.
    pub http: HttpConfig,
    /// `TRUST_FORWARDED_FOR`: behind a reverse proxy, throttle sign-ins by
    /// the address it adds to `X-Forwarded-For` rather than its own.
    pub trust_forwarded_for: bool,
    /// `RUN_JOBS` (true): this instance runs the job runner (deadlines,
    /// reminders, escalation). Any number of instances may; each timer
    /// fires once. False for an instance that only serves pages.
    pub run_jobs: bool,
    /// `ALERTMANAGER_URL` (unset): silence the monitoring of approved
    /// changes' hosts and resources in their windows; the job runner
    /// keeps the silences.
    pub alertmanager: Option<AlertmanagerConfig>,
    /// `METRICS_TOKEN` (unset): when set, `/metrics` answers only a
    /// request with `Authorization: Bearer <token>` (401 otherwise);
    /// unset, anyone may read it.
    pub metrics_token: Option<String>,
    /// `LDAP_URL` (unset): people sign in with their company directory
    /// password, and the directory's people, managers and groups are
    /// synced (`LdapConfig`).
    pub ldap: Option<LdapConfig>,
    /// `OIDC_ISSUER` (unset): people sign in with an OpenID provider
    /// (`OidcConfig`).
    pub oidc: Option<OidcConfig>,
}

/// `ALERTMANAGER_URL`: Alertmanager's base URL (`http://127.0.0.1:9093`),
/// whose API v2 the job runner calls. `ALERTMANAGER_LABEL` (`instance`):
/// the alert label a silence matches a change's hosts and resource names
/// against.
#[derive(Clone)]
pub struct AlertmanagerConfig {
    /// Without a trailing slash.
    pub url: String,
    pub label: String,
}

impl AlertmanagerConfig {
    fn from_env() -> anyhow::Result<Option<AlertmanagerConfig>> {
        let Some(url) = var("ALERTMANAGER_URL") else {
            return Ok(None);
        };
        let url = url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!(
                "ALERTMANAGER_URL must start with http:// or https://, not {:?}",
                redact_url(&url)
            );
        }
        let label = var("ALERTMANAGER_LABEL").unwrap_or_else(|| "instance".into());
        let label = label.trim().to_string();
        if !is_label_name(&label) {
            bail!(
                "ALERTMANAGER_LABEL must be a label name (letters, digits and _, not starting with a digit), not {label:?}"
            );
        }
        Ok(Some(AlertmanagerConfig { url, label }))
    }
}

/// Whether `name` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `SESSION_IDLE_MINUTES` (480): a session unused this long has ended.
/// `SESSION_LIFETIME_HOURS` (168): a session this old has ended, however
/// busy. Both are checked on every request against the signed cookie.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub idle_secs: i64,
    pub lifetime_secs: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_secs: 480 * 60,
            lifetime_secs: 168 * 3600,
        }
    }
}

/// `REQUEST_HEADER_TIMEOUT_SECS` (5): time to send a request's head.
/// `REQUEST_BODY_TIMEOUT_SECS` (30): time to send its body, however slowly
/// it trickles; a client that takes longer gets 408 and is disconnected.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    /// `ATTACHMENT_MAX_MB` (100): the largest file countersign takes.
    pub attachment_max_mb: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout: std::time::Duration::from_secs(5),
            body_timeout: std::time::Duration::from_secs(30),
            attachment_max_mb: crate::store::attachments::DEFAULT_MAX_MB,
        }
    }
}

/// `SMTP_HOST` unset: mail is written as `.eml` files (and logged with its
/// links). Otherwise `SMTP_PORT` (587), `SMTP_SECURITY` (starttls | tls |
/// none; default from the port), `SMTP_USERNAME`, `SMTP_PASSWORD`,
/// `SMTP_CONNECTIONS` (4), `MAIL_FROM` (countersign <countersign@localhost>),
/// and for all: `OUTBOX_POLL_MS` (1000), `OUTBOX_GIVE_UP_HOURS` (24),
/// `EMAIL_LINK_TTL_HOURS` (72).
#[derive(Clone)]
pub struct MailConfig {
    pub smtp: Option<SmtpConfig>,
    pub from: String,
    /// How often the worker looks for mail when there was none to send.
    pub poll_ms: u64,
    /// How long a message that cannot be sent is retried before it is
    /// marked failed.
    pub give_up_after: chrono::Duration,
    pub link_ttl_hours: i64,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
    /// Messages sent at once, each over a pooled connection.
    pub connections: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    None,
    StartTls,
    Tls,
}

impl MailConfig {
    /// Files in the data folder, polled often: what tests and demos use.
    pub fn files() -> MailConfig {
        MailConfig {
            smtp: None,
            from: "countersign <countersign@localhost>".into(),
            poll_ms: 1000,
            give_up_after: chrono::Duration::hours(24),
            link_ttl_hours: 72,
        }
    }

    fn from_env() -> anyhow::Result<MailConfig> {
        let smtp = match var("SMTP_HOST") {
            None => None,
            Some(host) => {
                let port = bounded("SMTP_PORT", 587, 1, 65_535)? as u16;
                let security = match var("SMTP_SECURITY").as_deref() {
                    Some("none") => SmtpSecurity::None,
                    Some("tls") => SmtpSecurity::Tls,
                    Some("starttls") => SmtpSecurity::StartTls,
                    Some(other) => {
                        bail!("SMTP_SECURITY must be none, starttls or tls, not {other}")
                    }
                    None if port == 465 => SmtpSecurity::Tls,
                    None if port == 25 => SmtpSecurity::None,
                    None => SmtpSecurity::StartTls,
                };
                let credentials =
                    var("SMTP_USERNAME").map(|u| (u, var("SMTP_PASSWORD").unwrap_or_default()));
                Some(SmtpConfig {
                    host,
                    port,
                    security,
                    credentials,
                    connections: bounded("SMTP_CONNECTIONS", 4, 1, 64)? as u32,
                })
            }
        };
        Ok(MailConfig {
            smtp,
            from: var("MAIL_FROM").unwrap_or_else(|| "countersign <countersign@localhost>".into()),
            poll_ms: bounded("OUTBOX_POLL_MS", 1000, 10, 60_000)? as u64,
            give_up_after: chrono::Duration::hours(bounded("OUTBOX_GIVE_UP_HOURS", 24, 1, 720)?),
            link_ttl_hours: bounded("EMAIL_LINK_TTL_HOURS", 72, 1, 8_760)?,
        })
    }
}

/// A whole-number setting between `min` and `max` (inclusive), or its
/// default when unset; anything else stops the server with a message that
/// names the variable and its bounds.
fn bounded(name: &str, default: i64, min: i64, max: i64) -> anyhow::Result<i64> {
    let Some(raw) = var(name) else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => bail!("{name} must be a whole number from {min} to {max}, not {raw:?}"),
    }
}

/// A yes/no setting: true, false, 1, 0, yes, no (unset is `false`).
fn flag(name: &str) -> anyhow::Result<bool> {
    match var(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("0" | "false" | "no") => Ok(false),
        Some("1" | "true" | "yes") => Ok(true),
        Some(other) => bail!("{name} must be true or false, not {other:?}"),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("bind", &self.bind)
            .field("base_url", &self.base_url)
            .field("secret_key", &"<redacted>")
            .field("data_dir", &self.data_dir)
            .field("pool_size", &self.pool_size)
            .field(
                "smtp",
                &self
                    .mail
                    .smtp
                    .as_ref()
                    .map(|s| format!("{}:{} ({:?})", s.host, s.port, s.security)),
            )
            .field("run_jobs", &self.run_jobs)
            .field(
                "alertmanager",
                &self
                    .alertmanager
                    .as_ref()
                    .map(|a| format!("{} ({})", redact_url(&a.url), a.label)),
            )
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "<redacted>"),
            )
            .field("ldap", &self.ldap)
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// Hides a password in a database URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("countersign.db").display()));
        let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let base_url = var("BASE_URL")
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_string();
        let secret_key = match var("SECRET_KEY") {
            Some(k) if k.len() >= 32 => k.into_bytes(),
            Some(_) => bail!("SECRET_KEY must be at least 32 characters"),
            None => load_or_create_secret(&data_dir)?,
        };
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            bail!("BASE_URL must start with http:// or https://, not {base_url:?}");
        }
        let pool_size = bounded("DB_POOL_SIZE", 8, 1, 256)? as u32;
        let session = SessionConfig {
            idle_secs: bounded("SESSION_IDLE_MINUTES", 480, 1, 525_600)? * 60,
            lifetime_secs: bounded("SESSION_LIFETIME_HOURS", 168, 1, 8_760)? * 3600,
        };
        let http = HttpConfig {
            header_timeout: std::time::Duration::from_secs(bounded(
                "REQUEST_HEADER_TIMEOUT_SECS",
                5,
                1,
                300,
            )? as u64),
            body_timeout: std::time::Duration::from_secs(bounded(
                "REQUEST_BODY_TIMEOUT_SECS",
                30,
                1,
                3_600,
            )? as u64),
            attachment_max_mb: bounded(
                "ATTACHMENT_MAX_MB",
                i64::from(crate::store::attachments::DEFAULT_MAX_MB),
                1,
                10_240,
            )? as u32,
        };
        Ok(Config {
            database_url,
            bind,
            base_url,
            secret_key,
            data_dir,
            pool_size,
            mail: MailConfig::from_env()?,
            session,
            http,
            trust_forwarded_for: flag("TRUST_FORWARDED_FOR")?,
            run_jobs: var("RUN_JOBS").is_none() || flag("RUN_JOBS")?,
            alertmanager: AlertmanagerConfig::from_env()?,
            metrics_token: var("METRICS_TOKEN").map(|t| t.trim().to_string()),
            ldap: LdapConfig::from_env()?,
            oidc: OidcConfig::from_env()?,
        })
    }

    /// Cookies are marked Secure when people reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// Reads the generated secret from the data folder, creating it on first
/// run, so sessions survive restarts without any configuration.
fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("secret_key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(existing.as_bytes().to_vec());
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let secret = crate::token::random_hex::<48>();
    write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_hidden_in_logs() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/cs"),
            "postgres://app:***@db:5432/cs"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/cs"),
            "postgres://postgres@127.0.0.1/cs"
        );
        assert_eq!(
            redact_url("sqlite://data/countersign.db"),
            "sqlite://data/countersign.db"
        );
    }

    #[test]
    fn an_alertmanager_label_is_a_prometheus_label_name() {
        assert!(is_label_name("instance"));
        assert!(is_label_name("_host_1"));
        assert!(!is_label_name(""));
        assert!(!is_label_name("1host"));
        assert!(!is_label_name("host-name"));
    }

    #[test]
    fn a_generated_secret_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 32);
    }
}
