//! Helpers shared by the test modules: the two functions on one emulator, tenants, tokens
//! and leads.
#![allow(dead_code)]

pub use crm_domain::tenant::Tenant;
pub use crm_domain::Role;
pub use crm_testkit::{TestApp, TestResponse};
pub use serde_json::{json, Value};
pub use uuid::Uuid;

pub const LEADS: &str = "/api/leads/api/v1/leads/";
pub const BULK_UPDATE: &str = "/api/leads/api/v1/leads/bulk-update/";
pub const BULK_ASSIGN: &str = "/api/leads/api/v1/leads/bulk-assign/";

pub fn lead_url(id: &str) -> String {
    format!("{LEADS}{id}/")
}

/// The bulk function, and the leads function on the same emulator and table.
pub struct Apps {
    pub bulk: TestApp,
    pub leads: TestApp,
}

pub async fn start() -> Apps {
    let bulk = TestApp::start(bulk::app).await;
    let leads = bulk.with_function(leads::app);
    Apps { bulk, leads }
}

/// A tenant with a manager token (the least role that may run bulk operations).
pub async fn tenant_manager(apps: &Apps, name: &str) -> (Tenant, String) {
    let tenant = apps.bulk.tenant(name).await;
    let token = apps.bulk.token(&tenant, "manager-1", Role::Manager);
    (tenant, token)
}

pub fn person(n: usize) -> Value {
    json!({
        "first_name": format!("First{n}"),
        "last_name": format!("Last{n}"),
        "email": format!("person{n}@example.com"),
    })
}

/// Creates `count` leads through the leads function; returns their ids in creation order.
pub async fn create_leads(apps: &Apps, token: &str, count: usize, extra: Value) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        let mut body = person(n);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = apps
            .leads
            .post(LEADS)
            .bearer(token)
            .json(body)
            .send()
            .await
            .expect(201);
        ids.push(res.body["id"].as_str().unwrap().to_string());
    }
    ids
}

pub async fn get_lead(apps: &Apps, token: &str, id: &str) -> Value {
    apps.leads
        .get(&lead_url(id))
        .bearer(token)
        .send()
        .await
        .expect(200)
        .body
}

pub async fn bulk(apps: &Apps, token: &str, path: &str, body: Value) -> TestResponse {
    apps.bulk.post(path).bearer(token).json(body).send().await
}

/// The audit entries of a lead (the store's own read: the API exposes no audit yet).
pub async fn audit_len(apps: &Apps, tenant: &Tenant, id: &str) -> usize {
    apps.bulk
        .state
        .store
        .lead_audit(tenant.id, id.parse().unwrap())
        .await
        .unwrap()
        .len()
}

/// `(id, status)` of each result.
pub fn outcomes(res: &TestResponse) -> Vec<(String, String)> {
    res.body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results in {}", res.text))
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every lead of the tenant, following `next` links.
pub async fn all_leads(apps: &Apps, token: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = format!("{LEADS}?page_size=100");
    loop {
        let res = apps.leads.get(&url).bearer(token).send().await.expect(200);
        rows.extend(res.body["results"].as_array().unwrap().iter().cloned());
        match res.body["next"].as_str() {
            Some(next) => {
                url = next
                    .trim_start_matches("https://api.example.com")
                    .to_string()
            }
            None => return rows,
        }
    }
}
