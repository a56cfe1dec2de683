//! Every file in `events/leads/` is a real-shaped API Gateway HTTP API (v2) event: this test
//! feeds each through the real router and checks the status `events/leads/expected.json`
//! names for it, so the files cannot rot.
//!
//! The files carry no secret: their `Authorization` header is `Bearer {{TOKEN}}`, replaced
//! here by a token minted for the claims in `requestContext.authorizer.jwt.claims`. Their
//! tenant is created with the files' fixed id, and the lead they name is created first and
//! its id put in place of the files' example id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use crm_shared::auth::{issue_token, TokenRequest};
use crm_shared::tenant::Tenant;
use uuid::Uuid;

/// The tenant every event file belongs to.
const TENANT_ID: &str = "3f2b8c1e-7d4a-4e6b-9a51-2c8d0f6e1a47";
/// The lead id the detail events name; the test substitutes a lead it created.
const EXAMPLE_LEAD_ID: &str = "b7e4f0a2-5c3d-4f81-8e29-6a1d9c0b3e55";
const TOKEN_PLACEHOLDER: &str = "{{TOKEN}}";

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/leads")
}

fn event_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(events_dir())
        .expect("events/leads exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    names.sort();
    names
}

fn expected() -> BTreeMap<String, u16> {
    let text = std::fs::read_to_string(events_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).expect("expected.json maps file names to statuses")
}

fn role(name: &str) -> Role {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == name)
        .unwrap_or_else(|| panic!("unknown role {name}"))
}

/// The event with its placeholders filled in for this test's tenant, lead and secret.
fn prepare(app: &TestApp, raw: &str, lead_id: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(&raw.replace(EXAMPLE_LEAD_ID, lead_id)).expect("event files are JSON");
    let claims = event["requestContext"]["authorizer"]["jwt"]["claims"].clone();
    let auth = event["headers"]["authorization"]
        .as_str()
        .map(str::to_string);
    match auth {
        Some(auth) => {
            assert_eq!(
                auth,
                format!("Bearer {TOKEN_PLACEHOLDER}"),
                "the authorization header must be the placeholder"
            );
            assert!(claims.is_object(), "an authorised event needs JWT claims");
            assert_eq!(claims["tenant_id"], TENANT_ID);
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
        None => assert!(claims.is_null(), "claims without an authorization header"),
    }
    event
}

/// Fields that must agree with each other in a real event.
fn check_shape(name: &str, event: &Value) {
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
    let (_, route_path) = route.split_once(' ').expect("routeKey is `METHOD /path`");
    if let Some(params) = event["pathParameters"].as_object() {
        for (param, value) in params {
            assert!(
                route_path.contains(&format!("{{{param}}}")),
                "{name}: {param}"
            );
            assert!(event["rawPath"]
                .as_str()
                .unwrap()
                .contains(value.as_str().unwrap()));
        }
    }
}

#[tokio::test]
async fn every_event_file_gets_its_expected_status() {
    let expected = expected();
    let files = event_files();
    assert_eq!(
        files,
        expected.keys().cloned().collect::<Vec<_>>(),
        "events/leads/expected.json must name every event file, and only those"
    );
    assert!(files.len() >= 5, "{files:?}");
    for name in files {
        let raw = std::fs::read_to_string(events_dir().join(&name)).unwrap();
        // A fresh emulator per file: the files are independent (one deletes the lead).
        let app = start().await;
        let tenant = Tenant::new(
            "Events Co".into(),
            "events-co".into(),
            Some(TENANT_ID.parse::<Uuid>().unwrap()),
        );
        app.state.store.create_tenant(&tenant).await.unwrap();
        let seeder = app.token(&tenant, "seeder", Role::Manager);
        let lead = create(
            &app,
            &seeder,
            json!({"first_name": "Seed", "last_name": "Lead", "email": "seed@example.com",
                   "company": "Acme Seed"}),
        )
        .await;
        let event = prepare(&app, &raw, lead["id"].as_str().unwrap());
        check_shape(&name, &event);

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
        assert_eq!(status, expected[&name], "{name}: {text}");
        assert_eq!(request_id, event["requestContext"]["requestId"], "{name}");
        if status != 204 {
            serde_json::from_slice::<Value>(&body)
                .unwrap_or_else(|_| panic!("{name}: the body is not JSON: {text}"));
        }
    }
}
