//! Fault injection: a small HTTP proxy in front of a test's DynamoDB emulator that forwards
//! every call, except those a test's [`Rule`]s pick, which it answers as DynamoDB answers
//! when things go wrong: throttling, a transaction cancelled by a conflict, a 500, a call
//! that never answers (longer than the client waits), or a write that happened but whose
//! answer was lost.
//!
//! ```text
//! let (app, faults) = TestApp::start_with_faults(leads::app).await;
//! faults.add(Rule::on("TransactWriteItems", Fault::Throttle).times(2)); // the next two
//! faults.add(Rule::on("GetItem", Fault::InternalError).containing(&lead_id)); // until cleared
//! faults.clear();
//! ```
//!
//! Rules are tried in the order they were added; the first that matches a call (its
//! operation, as the `X-Amz-Target` header names it, and optionally a text its body
//! contains, such as a lead's id) answers it, and a rule with a count is spent after that
//! many calls. The proxy counts the calls it saw and the faults it injected per operation.
//!
//! It also records the items each `TransactWriteItems` names ([`Faults::transactions`]),
//! and can answer as DynamoDB does when two transactions meet on an item
//! ([`Faults::simulate_conflicts`]): a transaction naming an item that another one in
//! flight names is cancelled with `TransactionConflict` (the emulator runs them one at a
//! time and never does), and the items it met on are recorded ([`Faults::conflicts`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use crm_store::ClientSettings;
use serde_json::{json, Value};

/// What the proxy answers instead of the emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ProvisionedThroughputExceededException`: the SDK retries it as throttling. On
    /// a `BatchGetItem`, DynamoDB's way of throttling a batch: 200 with every key
    /// unprocessed.
    Throttle,
    /// A conflict with another transaction: on `TransactWriteItems`, 400
    /// `TransactionCanceledException` whose first reason is `TransactionConflict` (the SDK
    /// does not retry it; the store does); on other writes, 400
    /// `TransactionConflictException`.
    TransactionConflict,
    /// 500 `InternalServerError`: the SDK retries it as transient.
    InternalError,
    /// Holds the call for this long without forwarding it (then answers 500): a call that
    /// never answers within the client's attempt timeout, and never takes effect.
    Hang(Duration),
    /// Forwards the call (so it takes effect) and answers 500 instead of the emulator's
    /// answer: a response lost on its way back.
    LoseResponse,
}

/// Which calls a fault answers, and how many.
#[derive(Clone, Debug)]
pub struct Rule {
    operation: String,
    containing: Option<String>,
    /// `None`: every matching call until the rules are cleared.
    remaining: Option<u32>,
    fault: Fault,
}

impl Rule {
    /// Every call of `operation` (`"TransactWriteItems"`, or the full target
    /// `"DynamoDB_20120810.TransactWriteItems"`; `"*"` for any), until cleared.
    pub fn on(operation: &str, fault: Fault) -> Self {
        let operation = operation
            .rsplit('.')
            .next()
            .unwrap_or(operation)
            .to_string();
        Self {
            operation,
            containing: None,
            remaining: None,
            fault,
        }
    }

    /// Only the next `n` matching calls.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Only calls whose JSON body contains `text` (a lead's id, say: the writes and reads
    /// of that lead).
    pub fn containing(mut self, text: &str) -> Self {
        self.containing = Some(text.to_string());
        self
    }

    fn matches(&self, operation: &str, body: &str) -> bool {
        (self.operation == "*" || self.operation == operation)
            && self.remaining != Some(0)
            && self.containing.as_deref().is_none_or(|t| body.contains(t))
    }
}

#[derive(Default)]
struct Book {
    rules: Vec<Rule>,
    seen: BTreeMap<String, usize>,
    injected: BTreeMap<String, usize>,
    simulate_conflicts: bool,
    /// Items named by the transactions in flight (`PK|SK`), with how many name each.
    in_flight: BTreeMap<String, usize>,
    transactions: Vec<Vec<String>>,
    conflicts: Vec<String>,
}

/// The rules of one proxy and what it saw; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Book>>);

impl Faults {
    pub fn add(&self, rule: Rule) {
        self.book().rules.push(rule);
    }

    /// Removes every rule: calls are forwarded again.
    pub fn clear(&self) {
        self.book().rules.clear();
    }

    /// Calls of `operation` the proxy received (answered with a fault or forwarded).
    pub fn seen(&self, operation: &str) -> usize {
        self.book().seen.get(operation).copied().unwrap_or(0)
    }

    /// Calls of `operation` answered with a fault.
    pub fn injected(&self, operation: &str) -> usize {
        self.book().injected.get(operation).copied().unwrap_or(0)
    }

    /// Forgets the counts (the rules stay).
    pub fn reset_counts(&self) {
        let mut book = self.book();
        book.seen.clear();
        book.injected.clear();
    }

    /// Turns the conflict simulation on or off (see the module's notes).
    pub fn simulate_conflicts(&self, on: bool) {
        self.book().simulate_conflicts = on;
    }

    /// The items (`PK|SK`) of every `TransactWriteItems` seen, in arrival order.
    pub fn transactions(&self) -> Vec<Vec<String>> {
        self.book().transactions.clone()
    }

    /// The items on which the simulation cancelled a transaction, once per cancellation.
    pub fn conflicts(&self) -> Vec<String> {
        self.book().conflicts.clone()
    }

    /// Records a transaction's items; with the simulation on, either marks them in flight
    /// (true) or records the conflict (false: the transaction is to be cancelled).
    fn begin_transaction(&self, items: &[String]) -> bool {
        let mut book = self.book();
        book.transactions.push(items.to_vec());
        if !book.simulate_conflicts {
            return true;
        }
        let met: Vec<String> = items
            .iter()
            .filter(|i| book.in_flight.contains_key(*i))
            .cloned()
            .collect();
        if !met.is_empty() {
            book.conflicts.extend(met);
            return false;
        }
        for item in items {
            *book.in_flight.entry(item.clone()).or_default() += 1;
        }
        true
    }

    fn end_transaction(&self, items: &[String]) {
        let mut book = self.book();
        if !book.simulate_conflicts {
            return;
        }
        for item in items {
            if let Some(n) = book.in_flight.get_mut(item) {
                *n -= 1;
                if *n == 0 {
                    book.in_flight.remove(item);
                }
            }
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // A test that panicked while holding the lock has failed already.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts the call and returns the fault that answers it, if any (spending a counted
    /// rule's call).
    fn pick(&self, operation: &str, body: &str) -> Option<Fault> {
        let mut book = self.book();
        *book.seen.entry(operation.to_string()).or_default() += 1;
        let rule = book.rules.iter_mut().find(|r| r.matches(operation, body))?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        let fault = rule.fault.clone();
        *book.injected.entry(operation.to_string()).or_default() += 1;
        Some(fault)
    }
}

/// The functions' client settings ([`ClientSettings::DEFAULT`]: 3 attempts) with a
/// millisecond backoff, so that retried faults cost the tests little time, and generous
/// timeouts, so that a slow moment of a busy machine is not taken for a hung call. The
/// timeout tests set short ones of their own.
pub fn test_settings() -> ClientSettings {
    ClientSettings {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        connect_timeout: Duration::from_secs(5),
        attempt_timeout: Duration::from_secs(10),
        operation_timeout: Duration::from_secs(30),
        ..ClientSettings::DEFAULT
    }
}

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    faults: Faults,
}

/// Starts the proxy on a free loopback port in front of `upstream` (an emulator's
/// endpoint); returns its endpoint and its rules. It lives as long as the test's runtime.
pub async fn start_proxy(upstream: &str) -> (String, Faults) {
    let faults = Faults::default();
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        client: reqwest::Client::new(),
        faults: faults.clone(),
    });
    let router = axum::Router::new().fallback(handle).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}"), faults)
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"message": "unreadable body"}),
        );
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or(target).to_string();
    let text = String::from_utf8_lossy(&body);
    match proxy.faults.pick(&operation, &text) {
        None if operation == "TransactWriteItems" => {
            let items = transaction_items(&text);
            if !proxy.faults.begin_transaction(&items) {
                return transaction_conflict(&text);
            }
            let answer = forward(&proxy, parts.uri.path(), &parts.headers, body).await;
            proxy.faults.end_transaction(&items);
            answer
        }
        None => forward(&proxy, parts.uri.path(), &parts.headers, body).await,
        Some(Fault::Hang(hold)) => {
            tokio::time::sleep(hold).await;
            internal_error()
        }
        Some(Fault::LoseResponse) => {
            // The emulator's answer is dropped: the call took effect, the client is told
            // it failed.
            let _ = forward(&proxy, parts.uri.path(), &parts.headers, body).await;
            internal_error()
        }
        Some(Fault::Throttle) if operation == "BatchGetItem" => all_unprocessed(&text),
        Some(Fault::Throttle) => error(
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        Some(Fault::TransactionConflict) if operation == "TransactWriteItems" => {
            transaction_conflict(&text)
        }
        Some(Fault::TransactionConflict) => error(
            StatusCode::BAD_REQUEST,
            "TransactionConflictException",
            "Transaction is ongoing for the item",
        ),
        Some(Fault::InternalError) => internal_error(),
    }
}

/// The items (`PK|SK`) a `TransactWriteItems` request names, whatever their action.
fn transaction_items(body: &str) -> Vec<String> {
    let request: Value = serde_json::from_str(body).unwrap_or_default();
    request["TransactItems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|action| {
            let action = action.as_object()?.values().next()?;
            let key = if action["Item"].is_object() {
                &action["Item"]
            } else {
                &action["Key"]
            };
            Some(format!(
                "{}|{}",
                key["PK"]["S"].as_str()?,
                key["SK"]["S"].as_str()?
            ))
        })
        .collect()
}

async fn forward(proxy: &Proxy, path: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let mut upstream = proxy
        .client
        .post(format!("{}{path}", proxy.upstream))
        .body(body);
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    let Ok(reply) = upstream.send().await else {
        return error(
            StatusCode::BAD_GATEWAY,
            "InternalServerError",
            "the emulator did not answer the proxy",
        );
    };
    let mut response = Response::builder().status(reply.status());
    for (name, value) in reply.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    response
        .body(Body::from(bytes))
        .unwrap_or_else(|_| internal_error())
}

fn answer(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .body(Body::from(body.to_string()))
        .expect("a response")
}

/// A DynamoDB error answer: `{"__type": "com.amazonaws.dynamodb.v20120810#<code>", ...}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    answer(
        status,
        json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
            "message": message,
        }),
    )
}

fn internal_error() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "Internal server error",
    )
}

/// The cancellation DynamoDB answers when a transaction met another on its first item:
/// one reason per action, `TransactionConflict` first and `None` for the rest.
fn transaction_conflict(request: &str) -> Response {
    let actions = serde_json::from_str::<Value>(request)
        .ok()
        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        .unwrap_or(1)
        .max(1);
    let reasons: Vec<Value> = (0..actions)
        .map(|n| {
            if n == 0 {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = (0..actions)
        .map(|n| {
            if n == 0 {
                "TransactionConflict"
            } else {
                "None"
            }
        })
        .collect();
    answer(
        StatusCode::BAD_REQUEST,
        json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "Message": format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            "CancellationReasons": reasons,
        }),
    )
}

/// A `BatchGetItem` that read nothing: every requested key comes back unprocessed.
fn all_unprocessed(request: &str) -> Response {
    let requested = serde_json::from_str::<Value>(request)
        .ok()
        .and_then(|v| v.get("RequestItems").cloned())
        .unwrap_or_else(|| json!({}));
    let responses: serde_json::Map<String, Value> = requested
        .as_object()
        .map(|tables| tables.keys().map(|t| (t.clone(), json!([]))).collect())
        .unwrap_or_default();
    answer(
        StatusCode::OK,
        json!({"Responses": responses, "UnprocessedKeys": requested}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_operation_text_and_count() {
        let faults = Faults::default();
        faults.add(Rule::on("DynamoDB_20120810.GetItem", Fault::InternalError).times(1));
        faults.add(Rule::on("TransactWriteItems", Fault::Throttle).containing("lead-7"));
        assert_eq!(faults.pick("GetItem", "{}"), Some(Fault::InternalError));
        assert_eq!(faults.pick("GetItem", "{}"), None, "spent after one call");
        assert_eq!(faults.pick("TransactWriteItems", "lead-6"), None);
        for _ in 0..3 {
            assert_eq!(
                faults.pick("TransactWriteItems", "..lead-7.."),
                Some(Fault::Throttle)
            );
        }
        assert_eq!(faults.seen("GetItem"), 2);
        assert_eq!(faults.injected("GetItem"), 1);
        assert_eq!(faults.seen("TransactWriteItems"), 4);
        assert_eq!(faults.injected("TransactWriteItems"), 3);
        faults.clear();
        assert_eq!(faults.pick("TransactWriteItems", "lead-7"), None);
        faults.add(Rule::on("*", Fault::LoseResponse));
        assert_eq!(faults.pick("Query", ""), Some(Fault::LoseResponse));
    }
}
