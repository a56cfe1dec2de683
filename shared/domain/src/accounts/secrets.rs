//! Opaque secrets handed to clients (refresh tokens, invitation tokens): 256 random bits
//! from the operating system, URL-safe base64. Only their SHA-256 digest is stored: with
//! that much entropy a fast hash is enough (nothing to guess), and it lets the table find
//! a secret by its digest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Random bytes in a secret.
pub const SECRET_BYTES: usize = 32;
/// The longest secret a client may send back (a secret of ours has 43 characters).
pub const MAX_SECRET_CHARS: usize = 128;

/// A new secret: 43 characters of URL-safe base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a secret: its SHA-256 digest, in lowercase hex.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_digests_stable() {
        let a = new_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_secret());
        assert_eq!(digest(&a), digest(&a));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
    }
}
