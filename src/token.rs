//! Random tokens: session CSRF tokens, email-link tokens, API token secrets
//! and the generated secret key, from the operating system's generator,
//! hex encoded; and the hash a token is kept as.

use rand::RngCore;

/// `BYTES` random bytes as lowercase hex (two characters a byte).
pub fn random_hex<const BYTES: usize>() -> String {
    let mut bytes = [0u8; BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The hash a token is kept as (SHA-256, lowercase hex): only this is
/// stored, and a token presented is found by it.
pub fn hash(token: &str) -> String {
    hash_bytes(token.as_bytes())
}

/// SHA-256 of `bytes`, lowercase hex (also a request's fingerprint).
pub fn hash_bytes(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::random_hex;

    #[test]
    fn tokens_are_hex_of_the_asked_size_and_never_repeat() {
        let a = random_hex::<32>();
        let b = random_hex::<32>();
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
