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
