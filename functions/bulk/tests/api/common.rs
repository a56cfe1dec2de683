//! What the test modules share: the two functions on one emulator, bulk requests and their
//! outcomes, and the testkit's helpers, paths and fixtures.

pub use crm_domain::tenant::Tenant;
pub use crm_domain::Role;
pub use crm_testkit::fixtures::*;
pub use crm_testkit::paths::{self, BULK_ASSIGN, BULK_UPDATE, LEADS};
pub use crm_testkit::{all_pages, TestApp, TestRequest, TestResponse};
pub use serde_json::{json, Value};
pub use uuid::Uuid;

/// The bulk function, and the leads function on the same emulator and table (leads are
/// created and read through it, as clients do).
pub struct Apps {
    pub bulk: TestApp,
    pub leads: TestApp,
}

pub async fn start() -> Apps {
    let bulk = TestApp::start(bulk::app).await;
    let leads = bulk.with_function(leads::app);
    Apps { bulk, leads }
}

/// What most tests start from: both functions, tenant Acme with a manager's token, and
/// `count` of its leads (`person(n)` with `extra`'s fields), by id in creation order.
pub async fn acme_with_leads(count: usize, extra: Value) -> (Apps, Tenant, String, Vec<String>) {
    let apps = start().await;
    let (tenant, token) = apps.bulk.manager("Acme").await;
    let ids = apps.leads.create_leads(&token, count, extra).await;
    (apps, tenant, token, ids)
}

pub async fn bulk(apps: &Apps, token: &str, path: &str, body: Value) -> TestResponse {
    apps.bulk.post(path).bearer(token).json(body).send().await
}

impl Apps {
    /// POSTs `body` to bulk-update as `token`.
    pub async fn update(&self, token: &str, body: Value) -> TestResponse {
        bulk(self, token, BULK_UPDATE, body).await
    }

    /// POSTs `body` to bulk-assign as `token`.
    pub async fn assign(&self, token: &str, body: Value) -> TestResponse {
        bulk(self, token, BULK_ASSIGN, body).await
    }
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
