//! Helpers shared by the test modules: both apps on one emulator, tenants and tokens.
pub use crm_domain::Role;
pub use crm_testkit::TestApp;
pub use serde_json::{json, Value};

pub const SOURCES: &str = "/api/leads/api/v1/sources/";
pub const LEADS: &str = "/api/leads/api/v1/leads/";

pub fn source_url(id: &str) -> String {
    format!("{SOURCES}{id}/")
}

pub fn lead_url(id: &str) -> String {
    format!("{LEADS}{id}/")
}

/// This function and the leads function, sharing one emulator and state.
pub struct Apps {
    pub sources: TestApp,
    pub leads: TestApp,
}

pub async fn start() -> Apps {
    let sources = TestApp::start(sources::app).await;
    let leads = sources.with_function(leads::app);
    Apps { sources, leads }
}

/// A tenant with an owner token.
pub async fn tenant_owner(app: &TestApp, name: &str) -> (crm_domain::tenant::Tenant, String) {
    let tenant = app.tenant(name).await;
    let token = app.token(&tenant, "owner-1", Role::Owner);
    (tenant, token)
}

pub async fn create_source(app: &TestApp, token: &str, name: &str) -> Value {
    app.post(SOURCES)
        .bearer(token)
        .json(json!({"name": name}))
        .send()
        .await
        .expect(201)
        .body
}

pub fn person(n: usize) -> Value {
    json!({
        "first_name": format!("First{n}"),
        "last_name": format!("Last{n}"),
        "email": format!("person{n}@example.com"),
    })
}

pub async fn create_lead(app: &TestApp, token: &str, body: Value) -> Value {
    app.post(LEADS)
        .bearer(token)
        .json(body)
        .send()
        .await
        .expect(201)
        .body
}

/// Every page of a list, following `next` links.
pub async fn all_pages(app: &TestApp, token: &str, first: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = first.to_string();
    for _ in 0..200 {
        let res = app.get(&url).bearer(token).send().await.expect(200);
        rows.extend(res.body["results"].as_array().unwrap().iter().cloned());
        match res.body["next"].as_str() {
            Some(next) => {
                url = next
                    .trim_start_matches("https://api.example.com")
                    .to_string()
            }
            None => break,
        }
    }
    rows
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

pub const TAGS: &str = "/api/leads/api/v1/tags/";

pub fn tag_url(id: &str) -> String {
    format!("{TAGS}{id}/")
}

pub async fn create_tag(app: &TestApp, token: &str, name: &str) -> Value {
    app.post(TAGS)
        .bearer(token)
        .json(json!({"name": name}))
        .send()
        .await
        .expect(201)
        .body
}

pub const ACTIVITIES: &str = "/api/leads/api/v1/activities/";

pub fn activity_url(id: &str) -> String {
    format!("{ACTIVITIES}{id}/")
}

pub fn activity(lead: &str, kind: &str) -> Value {
    json!({"lead": lead, "activity_type": kind, "title": format!("A {kind}"), "description": "Talked."})
}

pub const NOTES: &str = "/api/leads/api/v1/notes/";

pub fn note_url(id: &str) -> String {
    format!("{NOTES}{id}/")
}
