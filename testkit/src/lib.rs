//! Test support for the functions' tests: each [`TestApp`] runs its own DynamoDB emulator
//! (dynoxide, in-process, on a free loopback port), creates the real table, and sends API
//! Gateway HTTP API v2 events, with real signed JWTs, through a function's real router.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use crm_auth::JwtConfig;
use crm_auth::{issue_token, TokenRequest};
use crm_domain::tenant::{Tenant, TenantStatus};
use crm_domain::Role;
use crm_http::config::Config;
use crm_http::{App, AppState};
use crm_local::poller::{poll_once, Round, Source};
use crm_local::queues::LocalQueue;
use crm_store::table;
use crm_worker::Worker;
use lambda_http::http::HeaderMap;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

pub const JWT_SECRET: &str = "test-secret-for-the-crm-suite-0123456789";
pub const TABLE: &str = "crm-test";

/// A DynamoDB client for an emulator endpoint, with dummy credentials.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "testkit"))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
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
        jwt: JwtConfig {
            secret: JWT_SECRET.into(),
            issuer: None,
            audience: None,
        },
        cursor_secret: "test-cursor-secret".into(),
        max_body_bytes: crm_http::config::DEFAULT_MAX_BODY_BYTES,
        tenant_cache_ttl: Duration::ZERO,
        ai_agents_url: None,
        scoring_queue_url: None,
        insights_queue_url: None,
        list: crm_app::config::ListLimits::default(),
    }
}

/// A function under test with its own emulator and table.
#[derive(Clone)]
pub struct TestApp {
    pub app: App,
    pub state: AppState,
    pub endpoint: String,
}

impl TestApp {
    pub async fn start(build: fn(AppState) -> App) -> Self {
        Self::start_with(build, test_config()).await
    }

    pub async fn start_with(build: fn(AppState) -> App, config: Config) -> Self {
        let endpoint = start_dynamodb().await;
        let client = dynamodb_client(&endpoint);
        table::create_table_if_absent(&client, &config.table_name)
            .await
            .expect("create table");
        let state = AppState::new(config, client, sqs_client());
        Self {
            app: build(state.clone()),
            state,
            endpoint,
        }
    }

    /// Another function's router on this app's emulator, table and state, for tests that
    /// need two functions (leads created through one, changed through the other).
    pub fn with_function(&self, build: fn(AppState) -> App) -> TestApp {
        TestApp {
            app: build(self.state.clone()),
            state: self.state.clone(),
            endpoint: self.endpoint.clone(),
        }
    }

    /// A DynamoDB client of its own on this app's emulator, for tests and benchmarks that
    /// read or write raw items (the store keeps its client to itself).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        dynamodb_client(&self.endpoint)
    }

    /// A queue worker's context on this app's table (no AI service unless `ai` is given).
    pub fn worker(&self, ai: Option<crm_app::ai::AiAgentsClient>) -> Worker {
        Worker::new(self.state.store.clone(), ai)
    }

    /// Creates an active tenant and returns it.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let slug = format!(
            "{}-{}",
            crm_domain::tenant::slugify(name),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let tenant = Tenant::new(name.into(), slug, None);
        self.state
            .store
            .create_tenant(&tenant)
            .await
            .expect("create tenant");
        tenant
    }

    pub async fn suspend(&self, tenant: &Tenant) {
        self.state
            .store
            .set_tenant_status(tenant.id, TenantStatus::Suspended)
            .await
            .expect("suspend tenant");
    }

    /// A real HS256 token for `user` in `tenant` with `role`.
    pub fn token(&self, tenant: &Tenant, user: &str, role: Role) -> String {
        issue_token(
            &self.state.config.jwt,
            &TokenRequest {
                tenant_id: tenant.id.as_uuid(),
                user_id: user,
                role,
                email: Some(&format!("{user}@example.com")),
                ttl_seconds: 3600,
            },
        )
    }

    pub fn request(&self, method: &str, path: &str) -> TestRequest {
        TestRequest {
            app: self.app.clone(),
            method: method.to_string(),
            path: path.to_string(),
            headers: serde_json::Map::new(),
            body: None,
            request_id: Uuid::new_v4().to_string(),
        }
    }

    pub fn get(&self, path: &str) -> TestRequest {
        self.request("GET", path)
    }
    pub fn post(&self, path: &str) -> TestRequest {
        self.request("POST", path)
    }
    pub fn put(&self, path: &str) -> TestRequest {
        self.request("PUT", path)
    }
    pub fn patch(&self, path: &str) -> TestRequest {
        self.request("PATCH", path)
    }
    pub fn delete(&self, path: &str) -> TestRequest {
        self.request("DELETE", path)
    }
}

/// An API Gateway v2 request being built.
pub struct TestRequest {
    app: App,
    method: String,
    path: String,
    headers: serde_json::Map<String, Value>,
    body: Option<String>,
    request_id: String,
}

impl TestRequest {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), Value::String(value.into()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, body: Value) -> Self {
        self.raw_body("application/json", &body.to_string())
    }

    pub fn raw_body(mut self, content_type: &str, body: &str) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", content_type)
    }

    /// The API Gateway HTTP API (payload v2) event this request becomes.
    pub fn event(&self) -> Value {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut headers = self.headers.clone();
        headers
            .entry("host")
            .or_insert_with(|| Value::String("api.example.com".into()));
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "testapi",
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {
                    "method": self.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "crm-testkit"
                },
                "requestId": self.request_id,
                "routeKey": "$default",
                "stage": "$default",
                "time": "23/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_428_000_000_i64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }

    pub async fn send(self) -> TestResponse {
        let event = self.event().to_string();
        let request = lambda_http::request::from_str(&event).expect("a valid API Gateway v2 event");
        let response = self.app.oneshot(request).await.expect("infallible router");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("response body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            body,
            text,
        }
    }
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Panics with the body when the status is not the expected one.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
}

/// An SQS event (as Lambda delivers it) carrying `bodies` as JSON, for calling a worker
/// directly.
pub fn sqs_event(bodies: &[Value]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .map(|body| {
            let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
            message.message_id = Some(Uuid::new_v4().to_string());
            message.body = Some(body.to_string());
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            message
        })
        .collect();
    event
}

/// The service's queues (with their dead-letter queues and redrive policies) for one test,
/// under a unique prefix in the run's SQS emulator.
pub struct TestQueues {
    pub sqs: aws_sdk_sqs::Client,
    pub scoring: LocalQueue,
    pub insights: LocalQueue,
}

impl TestQueues {
    pub async fn create() -> Self {
        sqs_endpoint();
        let sqs = sqs_client();
        let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
        let mut queues = crm_local::queues::create_all(&sqs, &prefix)
            .await
            .expect("create the test queues")
            .into_iter();
        Self {
            scoring: queues.next().expect("scoring queue"),
            insights: queues.next().expect("insights queue"),
            sqs,
        }
    }

    /// `config` with these queues' URLs.
    pub fn configure(&self, mut config: Config) -> Config {
        config.scoring_queue_url = Some(self.scoring.url.clone());
        config.insights_queue_url = Some(self.insights.url.clone());
        config
    }

    /// Feeds `queue` to `worker` as Lambda would, batch after batch, until it is empty;
    /// failed messages come back at once (no visibility delay) until the redrive policy
    /// moves them to the dead-letter queue. Returns the rounds that received messages.
    pub async fn deliver<F, Fut>(&self, queue: &LocalQueue, worker: F) -> Vec<Round>
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = SqsBatchResponse>,
    {
        let source = Source {
            queue_url: queue.url.clone(),
            queue_arn: queue.arn.clone(),
            batch_size: 10,
            wait_seconds: 0,
            retry_after_seconds: 0,
        };
        let mut rounds = Vec::new();
        // Bounded: each message is received at most maxReceiveCount times.
        for _ in 0..100 {
            let round = poll_once(&self.sqs, &source, |event| {
                let handled = worker(event);
                async move { Ok(handled.await) }
            })
            .await
            .expect("poll the test queue");
            if round.received == 0 {
                return rounds;
            }
            rounds.push(round);
        }
        panic!("{} did not empty after 100 rounds", queue.url);
    }

    /// The bodies waiting in `queue` (received, then made visible again at once).
    pub async fn peek(&self, url: &str) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }
}
