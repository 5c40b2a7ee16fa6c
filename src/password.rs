//! Password hashing with argon2id. Hashing is slow on purpose: call these
//! from a blocking thread, never on the async workers.

use std::sync::{Condvar, LazyLock, Mutex};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// OWASP's argon2id setting with m = 7 MiB, t = 5, p = 1: as strong as the
/// 19 MiB / t = 2 default, with a third of the memory per sign-in.
fn argon2() -> Argon2<'static> {
    let params = Params::new(7 * 1024, 5, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many hashes run at once, so a burst of sign-ins can take
/// neither all the CPU nor memory in proportion to the burst.
static RUNNING: LazyLock<(Mutex<usize>, Condvar, usize)> = LazyLock::new(|| {
    let limit = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (Mutex::new(0), Condvar::new(), limit)
});

fn limited<T>(work: impl FnOnce() -> T) -> T {
    let (count, freed, limit) = &*RUNNING;
    let mut running = count.lock().unwrap_or_else(|p| p.into_inner());
    while *running >= *limit {
        running = freed.wait(running).unwrap_or_else(|p| p.into_inner());
    }
    *running += 1;
    drop(running);
    let result = work();
    *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    freed.notify_one();
    result
}

/// Hashes a password with a fresh random salt, as a PHC string.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash: PasswordHash = limited(|| argon2().hash_password(password.as_bytes()))
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))?;
    Ok(hash.to_string())
}

/// Checks a password against a stored hash (with the parameters stored in
/// it); a malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    limited(|| {
        argon2()
            .verify_password(password.as_bytes(), stored)
            .is_ok()
    })
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
