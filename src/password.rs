//! Password hashing with argon2id. Hashing is slow on purpose: call these
//! from a blocking thread, never on the async workers.

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Hashes a password with a fresh random salt, as a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// A hash to verify against when the username is unknown, so that unknown
/// users take as long to refuse as wrong passwords.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash("countersign-unknown-user").unwrap_or_default());

/// Spends the same time as a real verification, then refuses.
pub fn verify_unknown_user(password: &str) -> bool {
    let _ = verify(password, &DUMMY_HASH);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn each_hash_has_its_own_salt() {
        assert_ne!(hash("same").unwrap(), hash("same").unwrap());
    }
}
