//! Random tokens: session CSRF tokens, email-link tokens and the generated
//! secret key, from the operating system's generator, hex encoded.

use rand::RngCore;

/// `BYTES` random bytes as lowercase hex (two characters a byte).
pub fn random_hex<const BYTES: usize>() -> String {
    let mut bytes = [0u8; BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
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
