//! A role that may not write learns nothing from its request's problems: every documented
//! write operation of the lead API answers a readonly caller 403 before it looks at the
//! `If-Match` header, the content type or the body (DESIGN.md: "Permission checks come
//! before body parsing").

use std::collections::BTreeMap;

use crate::common::*;
use crm_domain::Role;
use crm_testkit::fixtures::{id, person};
use crm_testkit::paths::{ACTIVITIES, CUSTOM_FIELDS, NOTES, SOURCES, TAGS};
use crm_testkit::TestApp;

#[tokio::test]
async fn readonly_writes_are_403_before_a_bad_if_match_content_type_or_body() {
    let leads_app = TestApp::start(leads::app).await;
    let sources_app = leads_app.with_function(sources::app);
    let (tenant, owner) = leads_app.owner("Acme").await;
    let readonly = leads_app.token(&tenant, "reader", Role::Readonly);
    // A real record behind every `{id}`, so no answer can be a 404 instead.
    let lead = id(&leads_app.create_lead(&owner, person(1)).await);
    let on_lead = |extra: Value| {
        let mut body = extra;
        body["lead"] = json!(lead);
        body
    };
    let mut ids = BTreeMap::from([("leads", lead.clone())]);
    for (segment, path, body) in [
        ("sources", SOURCES, json!({"name": "Web"})),
        ("tags", TAGS, json!({"name": "vip"})),
        (
            "activities",
            ACTIVITIES,
            on_lead(json!({"activity_type": "call", "title": "Call", "description": "Hi"})),
        ),
        ("notes", NOTES, on_lead(json!({"content": "A note"}))),
        (
            "custom-fields",
            CUSTOM_FIELDS,
            json!({"name": "tier", "field_type": "text"}),
        ),
    ] {
        ids.insert(segment, id(&sources_app.create(path, &owner, body).await));
    }
    let apps = [
        (leads::routes(), leads_app.clone()),
        (actions::routes(), leads_app.with_function(actions::app)),
        (bulk::routes(), leads_app.with_function(bulk::app)),
        (sources::routes(), sources_app.clone()),
    ];
    let document: Value = serde_json::from_str(&repo_file("openapi.json")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            // A readonly member still manages their own session and profile
            // (`/api/auth/`, `/api/profile/`); the lead API is where readonly only reads.
            let lead_api = path.starts_with("/api/leads/");
            if method == "GET" || operation["security"] == json!([]) || !lead_api {
                continue;
            }
            let bare = path.trim_end_matches('/');
            let Some((_, app)) = apps
                .iter()
                .find(|(t, _)| t.paths().iter().any(|p| p == bare))
            else {
                panic!("no function serves {path}");
            };
            let segment = path.split('/').nth(5).unwrap_or_default();
            let url = instantiate(path, ids.get(segment).map_or(&lead, |v| v));
            let res = app
                .request(&method, &url)
                .bearer(&readonly)
                .header("if-match", "not a version")
                .raw_body("text/plain", "{{{ not json")
                .send()
                .await;
            if res.status != 403 {
                wrong.push(format!("{method} {url}: {} {}", res.status, res.text));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "not 403 first:\n{}", wrong.join("\n"));
    assert!(checked > 30, "only {checked} write operations checked");
}
