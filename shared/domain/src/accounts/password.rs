//! Password hashing: Argon2id, stored as PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
//!
//! Parameters: 19 MiB of memory, 2 passes, 1 lane: the first of OWASP's recommended
//! Argon2id configurations. It needs 19 MiB on top of the function's own footprint (the
//! accounts function has 1024 MB, which also buys it most of a vCPU: a hash takes about
//! 30-60 ms there; at 128 MB Lambda would give it a twelfth of a core and a sign-in would
//! take most of a second). The parameters travel in each hash, so raising them later
//! leaves existing hashes verifiable.

use std::fmt;

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;

/// Memory cost in KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

/// The hash of a password nobody has, with the same parameters: verifying against it costs
/// what verifying a real one costs, so an unknown email answers as slowly as a known one.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2lnbi1pbi1kdW1teS1zYWx0$Ga1ubVYTRHVdBX0JZHYq/T1qKgGXf+c0rfi21ipBq1A";

/// A password hash (a PHC string). Its `Debug` does not show it, so it cannot reach a log
/// through a `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

impl PasswordHash {
    /// A hash read back from the table.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storing.
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// Hashes `password` with a new random salt.
    pub fn new(password: &str) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2id hashing with valid parameters cannot fail");
        Self(hash.to_string())
    }

    /// True when `password` is the one hashed. A malformed stored hash matches nothing.
    pub fn verify(&self, password: &str) -> bool {
        verify(&self.0, password)
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the parameters are within Argon2's bounds");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn verify(phc: &str, password: &str) -> bool {
    match argon2::password_hash::PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends a verification on nothing: what a sign-in for an unknown email does, so that
/// its answer takes as long as a wrong password's.
pub fn verify_dummy(password: &str) {
    let _ = verify(DUMMY_HASH, password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_hide() {
        let hash = PasswordHash::new("correct horse battery");
        assert!(hash
            .as_stored()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify("correct horse battery"));
        assert!(!hash.verify("correct horse battery!"));
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
        assert_ne!(hash, PasswordHash::new("correct horse battery"), "salted");
        assert!(!PasswordHash::from_stored("not a hash".into()).verify("x"));
    }

    #[test]
    fn the_dummy_hash_has_the_current_parameters() {
        let current = PasswordHash::new("x");
        let params = |phc: &str| phc.split('$').nth(3).map(str::to_string);
        assert_eq!(params(DUMMY_HASH), params(current.as_stored()));
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
