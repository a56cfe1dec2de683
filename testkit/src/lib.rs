//! Test support for the functions' tests, benchmarks and the deployment checks: each
//! [`TestApp`] runs its own DynamoDB emulator (dynoxide, in-process, on a free loopback port),
//! creates the real table, and sends API Gateway HTTP API v2 events, with real signed JWTs,
//! through a function's real router.
//!
//! - [`app`]: [`TestApp`], its tenants and tokens, and the calls tests make over and over
//!   (create a lead, read one, page through a list).
//! - [`requests`]: [`TestRequest`] (the event) and [`TestResponse`]; SQS events for workers.
//! - [`queues`]: [`TestQueues`], the service's queues in the run's SQS emulator.
//! - [`stream`]: [`TestStream`], an app's table stream fed to the changes worker.
//! - [`faults`]: a fault-injecting proxy in front of the emulator ([`TestApp::start_with_faults`]):
//!   throttling, conflicts, 500s and timeouts on the calls a test picks.
//! - [`paths`]: every API path, spelled once.
//! - [`jwks`]: an outside identity provider's JWKS on a loopback port, with the committed
//!   TEST-ONLY keys of `testkit/keys/`, and tokens signed with them.
//! - [`fixtures`]: lead bodies, the enums' values, a deterministic generator, store-level
//!   writes as the workers and seeders make them.

use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use crm_auth::JwtConfig;
use crm_http::config::Config;

pub mod accounts;
pub mod app;
pub mod dns;
pub mod faults;
pub mod fixtures;
pub mod jwks;
pub mod paths;
pub mod queues;
pub mod requests;
pub mod stream;

pub use app::{all_pages, TestApp};
pub use dns::TestDns;
pub use faults::{Fault, Faults, Rule};
pub use queues::TestQueues;
pub use requests::{sqs_event, TestRequest, TestResponse};
pub use stream::TestStream;

pub const JWT_SECRET: &str = "test-secret-for-the-crm-suite-0123456789";
pub const TABLE: &str = "crm-test";

/// A DynamoDB client for an emulator endpoint, with dummy credentials.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config(endpoint).build())
}

/// The configuration of [`dynamodb_client`], for a client with settings of its own.
pub fn dynamodb_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "testkit"))
}

/// Starts dynoxide with an in-memory database on `127.0.0.1:0`; returns its endpoint.
/// The server lives as long as the test's runtime.
pub async fn start_dynamodb() -> String {
    let db = dynoxide::Database::memory().expect("in-memory dynoxide");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(dynoxide::server::serve_on(listener, db));
    format!("http://{addr}")
}

/// The SQS endpoint of the test run: moto, started by `make test` (scripts/test.sh) and
/// named by `AWS_ENDPOINT_URL_SQS`. Tests that use queues call this; it fails with the
/// fix when the emulator is not there, instead of skipping.
pub fn sqs_endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL_SQS").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL_SQS is not set: queue tests need the SQS emulator; \
             run them with `make test`, which starts it"
        )
    })
}

/// An SQS client for the test run's emulator. Without `AWS_ENDPOINT_URL_SQS` it points at
/// a closed port: apps whose queues are not configured never call it.
pub fn sqs_client() -> aws_sdk_sqs::Client {
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_SQS").unwrap_or_else(|_| "http://127.0.0.1:9".to_string());
    sqs_client_at(&endpoint)
}

/// An SQS client for `endpoint` (say, one that is down), with dummy credentials.
pub fn sqs_client_at(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "testkit",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

pub fn test_config() -> Config {
    Config {
        table_name: TABLE.into(),
        jwt: JwtConfig::hs256(JWT_SECRET),
        cursor_secret: "test-cursor-secret".into(),
        max_body_bytes: crm_http::config::DEFAULT_MAX_BODY_BYTES,
        tenant_cache_ttl: Duration::ZERO,
        ai_agents_url: None,
        scoring_queue_url: None,
        insights_queue_url: None,
        list: crm_app::config::ListLimits::default(),
        accounts: crm_app::config::AccountsConfig::default(),
        // Off: tests count DynamoDB calls and compare tables; the rate-limit tests turn it on.
        rate_limits: crm_http::config::RateLimitConfig::disabled(),
        webhooks: crm_app::webhooks::WebhookSettings::default(),
        // The tests' host (`requests::ORIGIN`) is the API's own: it names no tenant, and
        // costs no lookup.
        domains: crm_app::config::DomainConfig {
            service_hosts: vec![requests::API_HOST.to_string()],
            ..Default::default()
        },
    }
}
