//! Outside identity providers' signing keys (Cognito, Auth0, ...): a JSON Web Key Set
//! fetched from `JWKS_URL`, kept per warm instance and fetched again when a token names a
//! key (`kid`) the set does not hold, at most once per [`JwksConfig::refetch_interval`], so
//! tokens with made-up `kid`s cannot make every request call the provider.
//!
//! Only RSA keys (RS256) and P-256 keys (ES256) are taken from the set; each key is bound to
//! its algorithm, so a token naming an RSA key with `ES256` (or the other way round) is
//! refused, and symmetric (`oct`) keys are never used: HS256 is verified with
//! `JWT_SECRET_KEY` alone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::AuthError;

/// The shortest time between two fetches of the key set.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// Where an outside provider publishes its keys.
#[derive(Clone, Debug)]
pub struct JwksConfig {
    pub url: String,
    /// The shortest time between two fetches (an unknown `kid` asks for one).
    pub refetch_interval: Duration,
}

impl JwksConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
        }
    }
}

type Keys = HashMap<String, (Algorithm, DecodingKey)>;

#[derive(Default)]
struct Cached {
    keys: Keys,
    fetched_at: Option<Instant>,
}

/// The provider's keys as last fetched.
pub(crate) struct KeySet {
    config: JwksConfig,
    http: reqwest::Client,
    cached: Mutex<Cached>,
}

fn unknown_key() -> AuthError {
    AuthError::InvalidToken("unknown signing key (kid)".into())
}

impl KeySet {
    pub(crate) fn new(config: JwksConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self {
            config,
            http,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The key `kid` names, if it is a key for `alg`; the set is fetched (again) when it
    /// does not hold `kid` and the last fetch is old enough.
    pub(crate) async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        let found = self.lookup(kid);
        let found = match found {
            Some(found) => found,
            None if self.claim_fetch() => {
                let keys = self.fetch().await.map_err(|reason| {
                    tracing::warn!(url = %self.config.url, %reason, "JWKS fetch failed");
                    AuthError::InvalidToken(
                        "the identity provider's signing keys are not available".into(),
                    )
                })?;
                self.cached.lock().expect("jwks lock").keys = keys;
                self.lookup(kid).ok_or_else(unknown_key)?
            }
            None => return Err(unknown_key()),
        };
        match found {
            (key_alg, key) if key_alg == alg => Ok(key),
            _ => Err(AuthError::InvalidToken(
                "algorithm does not match the signing key".into(),
            )),
        }
    }

    fn lookup(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        self.cached
            .lock()
            .expect("jwks lock")
            .keys
            .get(kid)
            .cloned()
    }

    /// Whether a fetch may start now; if so, marks it started (concurrent requests with
    /// unknown `kid`s make one fetch, not one each).
    fn claim_fetch(&self) -> bool {
        let mut cached = self.cached.lock().expect("jwks lock");
        let due = cached
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.config.refetch_interval);
        if due {
            cached.fetched_at = Some(Instant::now());
        }
        due
    }

    async fn fetch(&self) -> Result<Keys, String> {
        let response = self
            .http
            .get(&self.config.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        Ok(usable_keys(&set))
    }
}

/// The signing keys of `set` this service verifies with, each bound to its one algorithm.
fn usable_keys(set: &JwkSet) -> Keys {
    let mut keys = Keys::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, (alg, key));
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signing_keys_of_the_two_algorithms_are_kept() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "r384", "alg": "RS384", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "n": "sXch", "e": "AQAB"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "e384", "crv": "P-384", "x": "AA", "y": "AA"},
        ]}))
        .unwrap();
        let keys = usable_keys(&set);
        let mut kids: Vec<_> = keys.iter().map(|(k, (a, _))| (k.as_str(), *a)).collect();
        kids.sort_by_key(|(k, _)| *k);
        assert_eq!(kids, [("e", Algorithm::ES256), ("r", Algorithm::RS256)]);
    }
}
