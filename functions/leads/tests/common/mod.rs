#![allow(dead_code, unused_imports)]

pub use crm_shared::auth::Role;
pub use crm_testkit::{TestApp, TestResponse};
pub use serde_json::{json, Value};

pub const LEADS: &str = "/api/leads/api/v1/leads/";

pub fn lead_url(id: &str) -> String {
    format!("{LEADS}{id}/")
}

pub async fn start() -> TestApp {
    TestApp::start(leads::app).await
}

/// A tenant with an owner token.
pub async fn tenant_owner(app: &TestApp, name: &str) -> (crm_shared::tenant::Tenant, String) {
    let tenant = app.tenant(name).await;
    let token = app.token(&tenant, "owner-1", Role::Owner);
    (tenant, token)
}

pub fn john() -> Value {
    json!({
        "first_name": "John",
        "last_name": "Doe",
        "email": "john@company.com",
        "company": "Acme Corp",
        "source": "website"
    })
}

pub fn person(n: usize) -> Value {
    json!({
        "first_name": format!("First{n}"),
        "last_name": format!("Last{n}"),
        "email": format!("person{n}@example.com"),
    })
}

/// Creates a lead and returns its body.
pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    app.post(LEADS)
        .bearer(token)
        .json(body)
        .send()
        .await
        .expect(201)
        .body
}
