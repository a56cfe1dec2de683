//! Helpers shared by the test modules: the app, tenants, tokens and lead payloads.
pub use crm_domain::Role;
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
pub async fn tenant_owner(app: &TestApp, name: &str) -> (crm_domain::tenant::Tenant, String) {
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

pub const STATUSES: [&str; 8] = [
    "new",
    "contacted",
    "qualified",
    "proposal",
    "negotiation",
    "converted",
    "lost",
    "unresponsive",
];
pub const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];

/// Follows `next` links from `first` to the end, checking no row appears twice.
pub async fn all_pages(app: &TestApp, token: &str, first: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = first.to_string();
    for _ in 0..500 {
        let res = app.get(&url).bearer(token).send().await;
        assert_eq!(res.status, 200, "{url}: {}", res.text);
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
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        before,
        ids.len(),
        "a row was repeated across pages of {first}"
    );
    rows
}
