//! Every file in `events/<binary>/` is a real-shaped Lambda event for that function of the
//! template, replayed through the function's real code, so the files cannot rot:
//! - HTTP functions: API Gateway HTTP API (payload 2.0) requests, through the function's
//!   router; `expected.json` maps each file to the status it gets.
//! - Workers: SQS batches, through the worker's handler (`scoring::handle`,
//!   `insights::handle`) with a `Worker` on the test table; `expected.json` maps each file to
//!   the batch response (`batchItemFailures`: the ids of the messages that failed).
//!
//! The files carry no secret and no live ids: `Authorization: Bearer {{TOKEN}}` is replaced
//! by a token minted for the claims in `requestContext.authorizer.jwt.claims`; the tenant
//! is created with the files' fixed id; the lead they name ([`EXAMPLE_LEAD_ID`]) is created
//! first and its id put in place of the example. Each file runs on a fresh table, with the
//! function's DynamoDB calls recorded and checked against its IAM permissions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use aws_lambda_events::event::sqs::SqsEvent;
use crm_auth::{issue_token, TokenRequest};
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use crm_testkit::TestApp;
use uuid::Uuid;

use crate::common::*;
use crate::recorder::{assert_granted, recorded_function, recorded_worker};

/// The tenant every event file belongs to.
const TENANT_ID: &str = "3f2b8c1e-7d4a-4e6b-9a51-2c8d0f6e1a47";
const TOKEN_PLACEHOLDER: &str = "{{TOKEN}}";
/// The stack name `samconfig.toml` deploys by default: the queues are `crm-leads-<name>`.
const STACK: &str = "crm-leads";

fn events_dir(binary: &str) -> PathBuf {
    repo_path(&format!("events/{binary}"))
}

fn event_files(binary: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir(binary))
        .unwrap_or_else(|e| panic!("events/{binary}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    names.sort();
    names
}

fn expected(binary: &str) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(events_dir(binary).join("expected.json"))
        .unwrap_or_else(|e| panic!("events/{binary}/expected.json: {e}"));
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&text).expect("expected.json maps file names to outcomes");
    assert_eq!(
        event_files(binary),
        expected.keys().cloned().collect::<Vec<_>>(),
        "events/{binary}/expected.json must name every event file, and only those"
    );
    expected
}

#[test]
fn every_events_folder_is_a_function_of_the_template() {
    let folders: BTreeSet<String> = std::fs::read_dir(repo_path("events"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let deployed: BTreeSet<String> = template_functions(&template()).into_keys().collect();
    for folder in &folders {
        assert!(
            deployed.contains(folder) || NOT_DEPLOYED_YET.contains(&folder.as_str()),
            "events/{folder} names no function of the template"
        );
    }
    for binary in &deployed {
        assert!(folders.contains(binary), "events/{binary}/ is missing");
        assert!(!event_files(binary).is_empty(), "events/{binary}/ is empty");
    }
}

/// A fresh table with the events' tenant and one lead (created through the leads function);
/// returns the app that created them and the lead's id.
async fn seeded() -> (TestApp, Tenant, String) {
    let app = TestApp::start(leads::app).await;
    let tenant = Tenant::new(
        "Events Co".into(),
        "events-co".into(),
        Some(TENANT_ID.parse::<Uuid>().unwrap()),
    );
    app.state.store.create_tenant(&tenant).await.unwrap();
    let seeder = app.token(&tenant, "seeder", Role::Manager);
    let lead = json!({"first_name": "Seed", "last_name": "Lead", "email": "seed@example.com",
                      "company": "Acme Seed", "job_title": "CTO", "budget": 50000});
    let id = crm_testkit::fixtures::id(&app.create_lead(&seeder, lead).await);
    (app, tenant, id)
}

fn role(name: &str) -> Role {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == name)
        .unwrap_or_else(|| panic!("unknown role {name}"))
}

/// The HTTP event with its placeholders filled in for this test's tenant, lead and secret.
fn prepare_http(app: &TestApp, name: &str, raw: &str, lead_id: &str) -> Value {
    let mut event: Value = serde_json::from_str(&raw.replace(EXAMPLE_LEAD_ID, lead_id))
        .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
    let claims = event["requestContext"]["authorizer"]["jwt"]["claims"].clone();
    let auth = event["headers"]["authorization"]
        .as_str()
        .map(str::to_string);
    match auth {
        Some(auth) => {
            assert_eq!(
                auth,
                format!("Bearer {TOKEN_PLACEHOLDER}"),
                "{name}: the authorization header must be the placeholder"
            );
            assert!(
                claims.is_object(),
                "{name}: an authorised event needs JWT claims"
            );
            assert_eq!(claims["tenant_id"], TENANT_ID, "{name}");
            let exp: i64 = claims["exp"]
                .as_str()
                .expect("claims are strings")
                .parse()
                .unwrap();
            assert!(claims["iat"].as_str().unwrap().parse::<i64>().unwrap() < exp);
            let token = issue_token(
                &app.state.config.jwt,
                &TokenRequest {
                    tenant_id: TENANT_ID.parse().unwrap(),
                    user_id: claims["sub"].as_str().expect("sub"),
                    role: role(claims["role"].as_str().expect("role")),
                    email: claims["email"].as_str(),
                    ttl_seconds: 600,
                },
            );
            event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
        }
        None => assert!(
            claims.is_null(),
            "{name}: claims without an authorization header"
        ),
    }
    event
}

/// Fields that must agree with each other, and with the template, in a real event.
fn check_http_shape(binary: &str, name: &str, event: &Value, routes: &[Route]) {
    let ctx = &event["requestContext"];
    assert_eq!(event["version"], "2.0", "{name}");
    assert_eq!(event["rawPath"], ctx["http"]["path"], "{name}");
    assert_eq!(event["routeKey"], ctx["routeKey"], "{name}");
    assert_eq!(ctx["stage"], "$default", "{name}");
    assert_eq!(event["headers"]["host"], ctx["domainName"], "{name}");
    if let Some(body) = event["body"].as_str() {
        assert_eq!(
            event["headers"]["content-length"],
            body.len().to_string(),
            "{name}: content-length"
        );
    }
    let route = ctx["routeKey"].as_str().unwrap();
    let (method, route_path) = route.split_once(' ').expect("routeKey is `METHOD /path`");
    let raw_path = event["rawPath"].as_str().unwrap();
    // The route API Gateway would have matched: this function's, in the template.
    let matched = template_route_for(routes, ctx["http"]["method"].as_str().unwrap(), raw_path)
        .unwrap_or_else(|| panic!("{name}: no template route serves {raw_path}"));
    assert_eq!(
        matched.binary, binary,
        "{name}: the template routes {raw_path} elsewhere"
    );
    assert_eq!(
        (method, route_path),
        (matched.method.as_str(), matched.path.as_str()),
        "{name}: routeKey"
    );
    let params: BTreeSet<String> = event["pathParameters"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let in_route: BTreeSet<String> = route_path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect();
    assert_eq!(params, in_route, "{name}: pathParameters");
    for value in event["pathParameters"].as_object().into_iter().flatten() {
        assert!(raw_path.contains(value.1.as_str().unwrap()), "{name}");
    }
}

async fn replay_http(binary: &'static str) {
    let build = function(binary).http_app().expect("an HTTP function");
    let routes = template_routes(&template());
    let expected = expected(binary);
    for (name, outcome) in &expected {
        let raw = std::fs::read_to_string(events_dir(binary).join(name)).unwrap();
        let (seeder, _, lead) = seeded().await;
        let (app, calls) = recorded_function(&seeder, build).await;
        let event = prepare_http(&app, name, &raw, &lead);
        check_http_shape(binary, name, &event, &routes);

        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("{name} is not a valid API Gateway event: {e}"));
        let response = tower::ServiceExt::oneshot(app.app.clone(), request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert_eq!(
            Some(u64::from(status)),
            outcome.as_u64(),
            "events/{binary}/{name}: {text}"
        );
        assert_eq!(request_id, event["requestContext"]["requestId"], "{name}");
        if status != 204 {
            serde_json::from_slice::<Value>(&body)
                .unwrap_or_else(|_| panic!("{name}: the body is not JSON: {text}"));
        }
        let calls = calls.take();
        if event["headers"]["authorization"].is_string() {
            // The tenant is read on every authorised request: the recorder sees the calls.
            assert!(
                calls.contains(&("dynamodb:GetItem".to_string(), "table".to_string())),
                "{name}: recorded {calls:?}"
            );
        }
        assert_granted(binary, &format!("events/{binary}/{name}"), &calls);
    }
}

/// Fields that must agree in a real SQS event, and with the worker's queue.
fn check_sqs_shape(binary: &str, name: &str, event: &Value) {
    let Kind::Worker { queue, .. } = function(binary).kind else {
        unreachable!()
    };
    let records = event["Records"].as_array().expect("Records");
    assert!(
        !records.is_empty() && records.len() <= 10,
        "{name}: BatchSize 10"
    );
    let mut ids = BTreeSet::new();
    for record in records {
        assert_eq!(record["eventSource"], "aws:sqs", "{name}");
        let arn = record["eventSourceARN"].as_str().expect("eventSourceARN");
        assert!(
            arn.starts_with("arn:aws:sqs:") && arn.ends_with(&format!(":{STACK}-{}", queue.name)),
            "{name}: {arn} is not the {} queue of stack {STACK}",
            queue.name
        );
        assert_eq!(
            Some(arn.split(':').nth(3).unwrap()),
            record["awsRegion"].as_str(),
            "{name}"
        );
        let id = record["messageId"].as_str().expect("messageId");
        assert!(
            ids.insert(id.to_string()),
            "{name}: duplicate messageId {id}"
        );
        assert!(record["receiptHandle"].is_string(), "{name}");
        assert!(record["body"].is_string(), "{name}");
        assert!(
            record["attributes"]["ApproximateReceiveCount"].is_string(),
            "{name}"
        );
    }
}

fn failures(response: &Value) -> BTreeSet<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("a batch response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

async fn replay_sqs(binary: &'static str) {
    let Kind::Worker { handle, .. } = function(binary).kind else {
        panic!("{binary} is not a worker")
    };
    let expected = expected(binary);
    let mut all_calls = BTreeSet::new();
    for (name, outcome) in &expected {
        let raw = std::fs::read_to_string(events_dir(binary).join(name)).unwrap();
        let (seeder, tenant, lead) = seeded().await;
        if binary == "webhooks" {
            seed_webhook(&seeder, &tenant).await;
        }
        let tenant = tenant.id;
        let (worker, calls) = recorded_worker(&seeder).await;
        let event: Value = serde_json::from_str(&raw.replace(EXAMPLE_LEAD_ID, &lead))
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        check_sqs_shape(binary, name, &event);
        let sqs: SqsEvent = serde_json::from_value(event.clone())
            .unwrap_or_else(|e| panic!("{name} is not a valid SQS event: {e}"));
        let response = serde_json::to_value(handle(&worker, sqs).await).unwrap();
        assert_eq!(
            failures(&response),
            failures(outcome),
            "events/{binary}/{name}: {response}"
        );
        // The messages about the seeded lead that succeeded did their work.
        let about_lead = event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !failures(outcome).contains(r["messageId"].as_str().unwrap()))
            .any(|r| r["body"].as_str().unwrap().contains(&lead));
        if about_lead {
            let id: Uuid = lead.parse().unwrap();
            let store = &seeder.state.store;
            match binary {
                "scoring" => {
                    let scored = store.get_lead(tenant, id).await.unwrap().unwrap();
                    assert!(
                        scored.last_scored_at.is_some(),
                        "{name}: the lead was scored"
                    );
                }
                "insights" => {
                    let stored = store.lead_insights(tenant, id).await.unwrap();
                    assert!(
                        stored.is_some_and(|s| s.insights.is_some()),
                        "{name}: the insights were stored"
                    );
                }
                "webhooks" => {
                    let webhook = WEBHOOK_ID.parse().unwrap();
                    let (log, _) = store.deliveries(tenant, webhook, None, 10).await.unwrap();
                    assert!(
                        log.iter().any(|(_, d)| !d.success
                            && d.error.as_deref().is_some_and(|e| e.contains("loopback"))),
                        "{name}: the refused delivery was logged"
                    );
                }
                other => panic!("say what {other}'s events should have done"),
            }
        }
        let calls = calls.take();
        assert!(!calls.is_empty(), "{name}: the recorder saw no call");
        assert_granted(binary, &format!("events/{binary}/{name}"), &calls);
        all_calls.extend(calls);
    }
    // And the other way round: the worker's events use every DynamoDB permission it has.
    let template = template();
    let (function_name, function) = function_of(&template, binary);
    let (granted, _) = crate::functions::permissions(&template, &function_name, &function);
    for (action, resource) in granted {
        if action.starts_with("dynamodb:") {
            assert!(
                all_calls.contains(&(action.clone(), resource.clone())),
                "{function_name} may call {action} on {resource}, which no event made it do"
            );
        }
    }
}

/// The subscription the webhooks events name: its target is refused (a loopback address,
/// and the worker's settings allow no private target), so the delivery is logged failed.
const WEBHOOK_ID: &str = "9c1d7e2f-4a6b-4c8d-9e0f-1a2b3c4d5e6f";

async fn seed_webhook(app: &TestApp, tenant: &Tenant) {
    let now = chrono::Utc::now();
    let webhook = crm_app::webhooks::Webhook {
        id: WEBHOOK_ID.parse().unwrap(),
        tenant_id: tenant.id,
        version: 1,
        url: "https://127.0.0.1:9/hooks".into(),
        events: vec!["lead.created".into()],
        fields: Vec::new(),
        is_active: true,
        description: None,
        signing_secret: crm_app::webhooks::new_secret(),
        failing_since: None,
        deactivated_reason: None,
        created_by: "seeder".into(),
        created_at: now,
        updated_at: now,
    };
    let setup = crm_testkit::fixtures::setup_entry(crm_store::ResourceType::Webhook, webhook.id);
    app.state
        .store
        .create_record(&webhook, &setup)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_leads_events_get_their_statuses() {
    replay_http("leads").await;
}

#[tokio::test]
async fn the_actions_events_get_their_statuses() {
    replay_http("actions").await;
}

#[tokio::test]
async fn the_bulk_events_get_their_statuses() {
    replay_http("bulk").await;
}

#[tokio::test]
async fn the_sources_events_get_their_statuses() {
    replay_http("sources").await;
}

#[tokio::test]
async fn the_accounts_events_get_their_statuses() {
    replay_http("accounts").await;
}

#[tokio::test]
async fn the_scoring_events_get_their_batch_responses() {
    replay_sqs("scoring").await;
}

#[tokio::test]
async fn the_insights_events_get_their_batch_responses() {
    replay_sqs("insights").await;
}

/// Fields that must agree in a real DynamoDB stream event, and with the mapping's filter.
fn check_stream_shape(name: &str, event: &Value) {
    let records = event["Records"].as_array().expect("Records");
    assert!(
        !records.is_empty() && records.len() <= crm_store::stream::MAPPING.batch_size,
        "{name}: BatchSize"
    );
    let patterns = crm_store::stream::filter_patterns();
    for record in records {
        assert_eq!(record["eventSource"], "aws:dynamodb", "{name}");
        let arn = record["eventSourceARN"].as_str().expect("eventSourceARN");
        assert!(
            arn.starts_with("arn:aws:dynamodb:")
                && arn.contains(":table/")
                && arn.contains("/stream/"),
            "{name}: {arn} is not a table stream"
        );
        assert_eq!(
            Some(arn.split(':').nth(3).unwrap()),
            record["awsRegion"].as_str(),
            "{name}"
        );
        assert!(record["eventID"].is_string(), "{name}");
        assert_eq!(
            record["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES",
            "{name}"
        );
        assert!(record["dynamodb"]["SequenceNumber"].is_string(), "{name}");
        assert!(
            crm_store::stream::matches_filter(&patterns, record),
            "{name}: a record the mapping's filter would not pass"
        );
    }
}

async fn replay_stream(binary: &'static str) {
    let Kind::Stream { handle } = function(binary).kind else {
        panic!("{binary} is not a stream worker")
    };
    for (name, outcome) in &expected(binary) {
        let raw = std::fs::read_to_string(events_dir(binary).join(name)).unwrap();
        let (seeder, _, lead) = seeded().await;
        let queues = crm_testkit::TestQueues::create().await;
        let services = queues.changes_services(&seeder.state.store);
        let event: Value = serde_json::from_str(&raw.replace(EXAMPLE_LEAD_ID, &lead))
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
        check_stream_shape(name, &event);
        let stream: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(event.clone())
                .unwrap_or_else(|e| panic!("{name} is not a valid DynamoDB stream event: {e}"));
        let response = serde_json::to_value(handle(&services, stream).await).unwrap();
        assert_eq!(
            failures(&response),
            failures(outcome),
            "events/{binary}/{name}: {response}"
        );
        // The records before the first failure asked for the seeded lead's score.
        let sent = queues.peek(&queues.scoring.url).await;
        let failed_first = event["Records"][0]["dynamodb"]["SequenceNumber"]
            .as_str()
            .is_some_and(|s| failures(outcome).contains(s));
        assert_eq!(
            sent.iter().any(|m| m.contains(&lead)),
            !failed_first,
            "{name}: the scoring requests sent: {sent:?}"
        );
        drop(seeder);
    }
}

#[tokio::test]
async fn the_changes_events_get_their_batch_responses() {
    replay_stream("changes").await;
}

#[tokio::test]
async fn the_webhooks_events_get_their_batch_responses() {
    replay_sqs("webhooks").await;
}

#[test]
fn every_function_has_its_events_replayed() {
    // The tests above; a new function needs its own.
    let all: BTreeSet<&str> = functions().iter().map(|f| f.binary).collect();
    assert_eq!(
        all,
        BTreeSet::from([
            "leads", "actions", "bulk", "sources", "accounts", "scoring", "insights", "changes",
            "webhooks",
        ])
    );
}
