//! Typed settings from the environment. Every variable, its default and its
//! meaning is listed in the README; secrets are never printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rand::RngCore;

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
}

/// `SMTP_HOST` unset: mail is written as `.eml` files (and logged with its
/// links). Otherwise `SMTP_PORT` (587), `SMTP_SECURITY` (starttls | tls |
/// none; default from the port), `SMTP_USERNAME`, `SMTP_PASSWORD`,
/// `MAIL_FROM` (countersign <countersign@localhost>), and for all:
/// `OUTBOX_POLL_MS` (1000), `OUTBOX_MAX_ATTEMPTS` (8), `EMAIL_LINK_TTL_HOURS` (72).
#[derive(Clone)]
pub struct MailConfig {
    pub smtp: Option<SmtpConfig>,
    pub from: String,
    pub poll_ms: u64,
    pub max_attempts: i32,
    pub link_ttl_hours: i64,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, String)>,
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
            max_attempts: 8,
            link_ttl_hours: 72,
        }
    }

    fn from_env() -> anyhow::Result<MailConfig> {
        let number = |name: &str, default: i64| -> anyhow::Result<i64> {
            match var(name) {
                Some(v) => v
                    .parse()
                    .with_context(|| format!("{name} must be a whole number")),
                None => Ok(default),
            }
        };
        let smtp = match var("SMTP_HOST") {
            None => None,
            Some(host) => {
                let port = number("SMTP_PORT", 587)? as u16;
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
                })
            }
        };
        Ok(MailConfig {
            smtp,
            from: var("MAIL_FROM").unwrap_or_else(|| "countersign <countersign@localhost>".into()),
            poll_ms: number("OUTBOX_POLL_MS", 1000)? as u64,
            max_attempts: number("OUTBOX_MAX_ATTEMPTS", 8)? as i32,
            link_ttl_hours: number("EMAIL_LINK_TTL_HOURS", 72)?,
        })
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
        let pool_size = match var("DB_POOL_SIZE") {
            Some(v) => v.parse().context("DB_POOL_SIZE must be a whole number")?,
            None => 8,
        };
        Ok(Config {
            database_url,
            bind,
            base_url,
            secret_key,
            data_dir,
            pool_size,
            mail: MailConfig::from_env()?,
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
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
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
    fn a_generated_secret_is_kept_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(dir.path()).unwrap();
        let second = load_or_create_secret(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 32);
    }
}
