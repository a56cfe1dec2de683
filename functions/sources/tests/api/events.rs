//! Every file in `events/sources/` is a real-shaped API Gateway HTTP API (v2) event for
//! this function: each is fed through the real router and must get the status
//! `events/sources/expected.json` names, so the files cannot rot. Placeholders as in
//! `events/leads/` (see `events/README.md`): the token is minted for the file's claims,
//! and the example lead id is replaced by a lead created first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use crm_shared::auth::{issue_token, TokenRequest};
use crm_shared::tenant::Tenant;

const TENANT_ID: &str = "3f2b8c1e-7d4a-4e6b-9a51-2c8d0f6e1a47";
const EXAMPLE_LEAD_ID: &str = "b7e4f0a2-5c3d-4f81-8e29-6a1d9c0b3e55";

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/sources")
}

#[tokio::test]
async fn every_event_file_gets_its_expected_status() {
    let expected: BTreeMap<String, u16> =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("expected.json")).unwrap())
            .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    files.sort();
    assert_eq!(files, expected.keys().cloned().collect::<Vec<_>>());
    for name in files {
        let apps = start().await;
        let tenant = Tenant::new(
            "Events Co".into(),
            "events-co".into(),
            Some(TENANT_ID.parse().unwrap()),
        );
        apps.sources
            .state
            .store
            .create_tenant(&tenant)
            .await
            .unwrap();
        let seeder = apps.sources.token(&tenant, "seeder", Role::Manager);
        let lead = id(&create_lead(&apps.leads, &seeder, person(1)).await);
        let raw = std::fs::read_to_string(events_dir().join(&name)).unwrap();
        let mut event: Value = serde_json::from_str(&raw.replace(EXAMPLE_LEAD_ID, &lead)).unwrap();
        let claims = event["requestContext"]["authorizer"]["jwt"]["claims"].clone();
        assert_eq!(
            event["headers"]["authorization"], "Bearer {{TOKEN}}",
            "{name}"
        );
        assert_eq!(
            event["rawPath"], event["requestContext"]["http"]["path"],
            "{name}"
        );
        assert_eq!(
            event["routeKey"], event["requestContext"]["routeKey"],
            "{name}"
        );
        if let Some(body) = event["body"].as_str() {
            assert_eq!(
                event["headers"]["content-length"],
                body.len().to_string(),
                "{name}"
            );
        }
        let role = Role::ALL
            .into_iter()
            .find(|r| r.as_str() == claims["role"].as_str().unwrap())
            .unwrap();
        let token = issue_token(
            &apps.sources.state.config.jwt,
            &TokenRequest {
                tenant_id: TENANT_ID.parse().unwrap(),
                user_id: claims["sub"].as_str().unwrap(),
                role,
                email: claims["email"].as_str(),
                ttl_seconds: 600,
            },
        );
        event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("{name} is not a valid API Gateway event: {e}"));
        let response = tower::ServiceExt::oneshot(apps.sources.app.clone(), request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(
            status,
            expected[&name],
            "{name}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}
