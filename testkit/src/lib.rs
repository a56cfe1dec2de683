//! Test support for the functions' tests: each [`TestApp`] runs its own DynamoDB emulator
//! (dynoxide, in-process, on a free loopback port), creates the real table, and sends API
//! Gateway HTTP API v2 events, with real signed JWTs, through a function's real router.

use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use crm_shared::auth::{issue_token, Role, TokenRequest};
use crm_shared::config::{Config, JwtConfig};
use crm_shared::http::{App, AppState};
use crm_shared::table;
use crm_shared::tenant::{Tenant, TenantStatus};
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

pub fn test_config() -> Config {
    Config {
        table_name: TABLE.into(),
        jwt: JwtConfig {
            secret: JWT_SECRET.into(),
            issuer: None,
            audience: None,
        },
        cursor_secret: "test-cursor-secret".into(),
        max_body_bytes: crm_shared::config::DEFAULT_MAX_BODY_BYTES,
        tenant_cache_ttl: Duration::ZERO,
        ai_agents_url: None,
        list: crm_shared::config::ListLimits::default(),
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
        let state = AppState::new(config, client);
        Self {
            app: build(state.clone()),
            state,
            endpoint,
        }
    }

    /// Another function's router on the same emulator, table and state: for behaviour that
    /// spans functions (a lead written through `leads` changes a source's counts).
    pub fn with_app(&self, build: fn(AppState) -> App) -> Self {
        Self {
            app: build(self.state.clone()),
            state: self.state.clone(),
            endpoint: self.endpoint.clone(),
        }
    }

    /// Creates an active tenant and returns it.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let slug = format!(
            "{}-{}",
            crm_shared::tenant::slugify(name),
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
