//! Every file in `events/bulk/` is a real-shaped API Gateway HTTP API (v2) event: this test
//! fills in its placeholders (token, lead id), feeds it through the bulk router and checks
//! the status `events/bulk/expected.json` gives it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use crm_shared::auth::{issue_token, TokenRequest};

const TENANT_ID: &str = "3f2b8c1e-7d4a-4e6b-9a51-2c8d0f6e1a47";
const EXAMPLE_LEAD_ID: &str = "b7e4f0a2-5c3d-4f81-8e29-6a1d9c0b3e55";

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/bulk")
}

fn role(name: &str) -> Role {
    Role::ALL
        .into_iter()
        .find(|r| r.as_str() == name)
        .unwrap_or_else(|| panic!("unknown role {name}"))
}

#[tokio::test]
async fn every_event_file_gets_its_expected_status() {
    let expected: BTreeMap<String, u16> =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("expected.json")).unwrap())
            .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .collect();
    files.sort();
    assert_eq!(files, expected.keys().cloned().collect::<Vec<_>>());
    for name in files {
        let apps = start().await;
        let tenant = Tenant::new(
            "Events Co".into(),
            "events-co".into(),
            Some(TENANT_ID.parse::<Uuid>().unwrap()),
        );
        apps.bulk.state.store.create_tenant(&tenant).await.unwrap();
        let seeder = apps.bulk.token(&tenant, "seeder", Role::Manager);
        let lead = create_leads(&apps, &seeder, 1, json!({})).await.remove(0);
        let raw = std::fs::read_to_string(events_dir().join(&name)).unwrap();
        let mut event: Value = serde_json::from_str(&raw.replace(EXAMPLE_LEAD_ID, &lead)).unwrap();
        let claims = event["requestContext"]["authorizer"]["jwt"]["claims"].clone();
        assert_eq!(claims["tenant_id"], TENANT_ID, "{name}");
        assert_eq!(
            event["rawPath"], event["requestContext"]["http"]["path"],
            "{name}"
        );
        assert_eq!(
            event["headers"]["content-length"],
            event["body"].as_str().unwrap().len().to_string(),
            "{name}: content-length"
        );
        let token = issue_token(
            &apps.bulk.state.config.jwt,
            &TokenRequest {
                tenant_id: TENANT_ID.parse().unwrap(),
                user_id: claims["sub"].as_str().unwrap(),
                role: role(claims["role"].as_str().unwrap()),
                email: claims["email"].as_str(),
                ttl_seconds: 600,
            },
        );
        event["headers"]["authorization"] = json!(format!("Bearer {token}"));
        let request = lambda_http::request::from_str(&event.to_string())
            .unwrap_or_else(|e| panic!("{name} is not a valid API Gateway event: {e}"));
        let response = tower::ServiceExt::oneshot(apps.bulk.app.clone(), request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(status, expected[&name], "{name}: {body}");
        if status == 200 {
            assert_eq!(body["results"][0]["id"], lead.as_str(), "{name}");
            assert_eq!(body["results"][0]["status"], "updated", "{name}: {body}");
        }
    }
}
