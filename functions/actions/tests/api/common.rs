//! Helpers shared by the test modules.
pub use crm_domain::Role;
pub use crm_testkit::TestApp;
pub use serde_json::{json, Value};

pub const LEADS: &str = "/api/leads/api/v1/leads/";
pub const SETTINGS: &str = "/api/leads/api/v1/scoring-settings/";

/// `actions` routes on an app, with a `leads` sibling on the same table for setting up.
pub struct Apps {
    pub actions: TestApp,
    pub leads: TestApp,
}

pub async fn start() -> Apps {
    start_with(crm_testkit::test_config()).await
}

pub async fn start_with(config: crm_http::config::Config) -> Apps {
    let actions = TestApp::start_with(actions::app, config).await;
    let leads = actions.with_function(leads::app);
    Apps { actions, leads }
}

pub fn action_url(id: &str, action: &str) -> String {
    format!("{LEADS}{id}/{action}/")
}

/// Creates a lead through the leads function and returns its id.
pub async fn create(apps: &Apps, token: &str, body: Value) -> String {
    let res = apps.leads.post(LEADS).bearer(token).json(body).send().await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.body["id"].as_str().unwrap().to_string()
}

pub async fn get_lead(apps: &Apps, token: &str, id: &str) -> Value {
    apps.leads
        .get(&format!("{LEADS}{id}/"))
        .bearer(token)
        .send()
        .await
        .expect(200)
        .body
}

pub fn person(n: usize) -> Value {
    json!({
        "first_name": format!("First{n}"),
        "last_name": format!("Last{n}"),
        "email": format!("person{n}@example.com"),
    })
}
