//! An outside identity provider for the JWKS tests: a JWKS served on `127.0.0.1:0` (axum)
//! from the committed TEST-ONLY keys in `testkit/keys/` (never to be used anywhere else),
//! which keys it publishes changeable while it runs and its fetches counted, and tokens
//! signed with those keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use crm_auth::JwksConfig;
use crm_http::config::Config;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::test_config;

/// The RSA key (RS256) the provider publishes from the start.
pub const RSA: &str = "test-rsa-1";
/// A second RSA key: published later (rotation), or signing under [`RSA`]'s kid (a wrong key).
pub const RSA_2: &str = "test-rsa-2";
/// The P-256 key (ES256).
pub const EC: &str = "test-ec-1";

/// The public half of [`RSA`] as PEM (what an algorithm-confusion attacker uses as an
/// HS256 secret).
pub const RSA_PUBLIC_PEM: &str = include_str!("../keys/test-rsa-1.TEST-ONLY.pub.pem");

fn private_pem(kid: &str) -> &'static str {
    match kid {
        RSA => include_str!("../keys/test-rsa-1.TEST-ONLY.pem"),
        RSA_2 => include_str!("../keys/test-rsa-2.TEST-ONLY.pem"),
        EC => include_str!("../keys/test-ec-1.TEST-ONLY.pem"),
        other => panic!("no test key {other}"),
    }
}

/// The public JWK of a test key.
pub fn jwk(kid: &str) -> Value {
    let text = match kid {
        RSA => include_str!("../keys/test-rsa-1.TEST-ONLY.jwk.json"),
        RSA_2 => include_str!("../keys/test-rsa-2.TEST-ONLY.jwk.json"),
        EC => include_str!("../keys/test-ec-1.TEST-ONLY.jwk.json"),
        other => panic!("no test key {other}"),
    };
    serde_json::from_str(text).expect("a JWK")
}

/// A token over `claims` signed with the private key `key`, its header naming `kid`
/// (`None`: no kid) and `alg` (RS256 for the RSA keys, ES256 for the EC key).
pub fn sign_as(key: &str, kid: Option<&str>, claims: &Value) -> String {
    let (alg, encoding) = if key == EC {
        let pem = private_pem(key).as_bytes();
        (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(pem).expect("EC key"),
        )
    } else {
        let pem = private_pem(key).as_bytes();
        (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(pem).expect("RSA key"),
        )
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, claims, &encoding).expect("sign")
}

/// A token over `claims` signed with `kid`'s key and naming it.
pub fn sign(kid: &str, claims: &Value) -> String {
    sign_as(kid, Some(kid), claims)
}

/// Claims an outside provider would issue: `sub`, `exp` an hour ahead, and `extra`.
pub fn claims(extra: Value) -> Value {
    let mut claims = json!({
        "sub": uuid::Uuid::new_v4().to_string(),
        "exp": chrono::Utc::now().timestamp() + 3600,
        "iat": chrono::Utc::now().timestamp(),
    });
    for (k, v) in extra.as_object().expect("an object") {
        claims[k] = v.clone();
    }
    claims
}

#[derive(Clone, Default)]
struct Published {
    kids: Arc<Mutex<Vec<String>>>,
    fetches: Arc<AtomicUsize>,
}

/// The provider: its JWKS at [`TestJwks::url`].
pub struct TestJwks {
    pub url: String,
    published: Published,
}

impl TestJwks {
    /// Serves a JWKS with the keys `kids`.
    pub async fn start(kids: &[&str]) -> Self {
        let published = Published::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let router = Router::new()
            .route("/.well-known/jwks.json", get(serve))
            .with_state(published.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let jwks = Self {
            url: format!("http://{addr}/.well-known/jwks.json"),
            published,
        };
        jwks.publish(kids);
        jwks
    }

    /// From now on, the JWKS holds the keys `kids`.
    pub fn publish(&self, kids: &[&str]) {
        *self.published.kids.lock().expect("lock") = kids.iter().map(|k| k.to_string()).collect();
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    /// The test configuration with this provider's JWKS, fetched again on an unknown kid
    /// at most once per `refetch_interval`.
    pub fn config(&self, refetch_interval: Duration) -> Config {
        let mut config = test_config();
        config.jwt.jwks = Some(JwksConfig {
            url: self.url.clone(),
            refetch_interval,
        });
        config
    }
}

async fn serve(State(published): State<Published>) -> Json<Value> {
    published.fetches.fetch_add(1, Ordering::SeqCst);
    let kids = published.kids.lock().expect("lock").clone();
    Json(json!({"keys": kids.iter().map(|k| jwk(k)).collect::<Vec<_>>()}))
}
