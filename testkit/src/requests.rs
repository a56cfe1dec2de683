//! Requests as API Gateway HTTP API (payload v2) events through a function's router, their
//! responses, and SQS events for calling a worker directly.

use aws_lambda_events::event::sqs::SqsEvent;
use crm_http::App;
use lambda_http::http::HeaderMap;
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

/// Where the test requests are sent: the `Host` of every event, and the origin of the
/// absolute links (`next`, `previous`) the functions answer with.
pub const ORIGIN: &str = "https://api.example.com";
/// The host of [`ORIGIN`].
pub const API_HOST: &str = "api.example.com";

/// An API Gateway v2 request being built.
pub struct TestRequest {
    pub(crate) app: App,
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: serde_json::Map<String, Value>,
    pub(crate) body: Option<String>,
    pub(crate) request_id: String,
    /// API Gateway's `requestContext.http.sourceIp` and `userAgent`.
    pub(crate) source_ip: String,
    pub(crate) user_agent: String,
    /// The domain the request reached (API Gateway's `requestContext.domainName` and the
    /// `Host` header); [`API_HOST`] unless [`Self::host`] says otherwise.
    pub(crate) domain_name: Option<String>,
}

impl TestRequest {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), Value::String(value.into()));
        self
    }

    /// The client address and user agent API Gateway reports in the request context.
    pub fn from_client(mut self, source_ip: &str, user_agent: &str) -> Self {
        self.source_ip = source_ip.into();
        self.user_agent = user_agent.into();
        self
    }

    /// Sends the request to `host` (a tenant's subdomain or custom domain), as API Gateway
    /// delivers it: the request context's `domainName` and the `Host` header.
    pub fn host(mut self, host: &str) -> Self {
        self.domain_name = Some(host.to_string());
        self.header("host", host)
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, body: Value) -> Self {
        self.raw_body("application/json", &body.to_string())
    }

    /// [`Self::json`] when there is a body.
    pub fn maybe_json(self, body: Option<Value>) -> Self {
        match body {
            Some(body) => self.json(body),
            None => self,
        }
    }

    pub fn raw_body(mut self, content_type: &str, body: &str) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", content_type)
    }

    /// The API Gateway HTTP API (payload v2) event this request becomes.
    pub fn event(&self) -> Value {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let domain_name = self.domain_name.as_deref().unwrap_or(API_HOST);
        let mut headers = self.headers.clone();
        headers
            .entry("host")
            .or_insert_with(|| Value::String(ORIGIN.trim_start_matches("https://").into()));
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "testapi",
                "domainName": domain_name,
                "domainPrefix": domain_name.split('.').next().unwrap_or_default(),
                "http": {
                    "method": self.method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": self.user_agent
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

    /// The path (with its query) of a link in the body, `next` or `previous`: what a client
    /// requests to follow it.
    pub fn link(&self, rel: &str) -> Option<String> {
        crate::fixtures::link(&self.body, rel)
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
