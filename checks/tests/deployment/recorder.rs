//! The DynamoDB calls a function really makes: its client talks to the emulator through a
//! recording proxy, which notes each call as the IAM action (and resource) it needs. A
//! transaction needs the actions of what it contains; a query on an index, that index.
//! The events and router checks then assert the template grants every call observed.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use crm_http::{App, AppState};
use crm_testkit::TestApp;

use crate::common::*;

/// `(action, resource)` pairs as in `functions()`: `("dynamodb:GetItem", "table")`.
#[derive(Clone, Default)]
pub struct Calls(Arc<Mutex<BTreeSet<(String, String)>>>);

impl Calls {
    pub fn take(&self) -> BTreeSet<(String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn note(&self, target: &str, body: &Value) {
        let operation = target.rsplit('.').next().unwrap_or(target);
        let mut calls = self.0.lock().unwrap();
        let mut add = |action: &str, resource: String| {
            calls.insert((format!("dynamodb:{action}"), resource));
        };
        match operation {
            "TransactWriteItems" => {
                for item in body["TransactItems"].as_array().into_iter().flatten() {
                    for (kind, action) in [
                        ("Put", "PutItem"),
                        ("Update", "UpdateItem"),
                        ("Delete", "DeleteItem"),
                        ("ConditionCheck", "ConditionCheckItem"),
                    ] {
                        if item.get(kind).is_some() {
                            add(action, "table".into());
                        }
                    }
                }
            }
            "TransactGetItems" => add("GetItem", "table".into()),
            "Query" | "Scan" => match body["IndexName"].as_str() {
                Some(index) => add(operation, format!("table/index/{index}")),
                None => add(operation, "table".into()),
            },
            other => add(other, "table".into()),
        }
    }
}

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    calls: Calls,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    proxy.calls.note(&target, &json);
    let mut upstream = proxy
        .client
        .post(format!("{}{}", proxy.upstream, parts.uri.path()))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.expect("the emulator answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.expect("the emulator's body");
    response.body(Body::from(bytes)).expect("a response")
}

/// A recording proxy in front of `endpoint`; returns its own endpoint.
async fn start_proxy(endpoint: &str, calls: Calls) -> String {
    let proxy = Arc::new(Proxy {
        upstream: endpoint.to_string(),
        client: reqwest::Client::new(),
        calls,
    });
    let router = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// `build`'s router on `base`'s emulator and table, with its DynamoDB calls recorded.
pub async fn recorded_function(base: &TestApp, build: fn(AppState) -> App) -> (TestApp, Calls) {
    let calls = Calls::default();
    let app = recorded_function_into(base, build, base.state.config.clone(), &calls).await;
    (app, calls)
}

/// [`recorded_function`] with its own configuration, its calls recorded into `calls`.
pub async fn recorded_function_into(
    base: &TestApp,
    build: fn(AppState) -> App,
    config: crm_http::config::Config,
    calls: &Calls,
) -> TestApp {
    let endpoint = start_proxy(&base.endpoint, calls.clone()).await;
    let state = AppState::new(
        config,
        crm_testkit::dynamodb_client(&endpoint),
        crm_testkit::sqs_client(),
    );
    TestApp {
        app: build(state.clone()),
        state,
        endpoint: base.endpoint.clone(),
    }
}

/// A worker on `base`'s table with its DynamoDB calls recorded.
pub async fn recorded_worker(base: &TestApp) -> (crm_worker::Worker, Calls) {
    let calls = Calls::default();
    let endpoint = start_proxy(&base.endpoint, calls.clone()).await;
    let store = crm_store::Store::new(
        crm_testkit::dynamodb_client(&endpoint),
        base.state.config.table_name.clone(),
    );
    (crm_worker::Worker::new(store, None), calls)
}

/// Panics unless the template lets `binary` make every call in `calls`.
pub fn assert_granted(binary: &str, context: &str, calls: &BTreeSet<(String, String)>) {
    let template = template();
    let (name, function) = function_of(&template, binary);
    let (granted, _) = crate::functions::permissions(&template, &name, &function);
    for (action, resource) in calls {
        let allowed = granted.iter().any(|(a, r)| {
            a == action
                && (r == resource || (r == "table/index/*" && resource.starts_with("table/index/")))
        });
        assert!(
            allowed,
            "{context}: {binary} calls {action} on {resource}, which template.yaml does not \
             allow {name} (granted: {granted:?})"
        );
    }
}
