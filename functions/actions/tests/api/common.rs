//! What the test modules share: both functions on one emulator, and the testkit's helpers,
//! paths and fixtures.
pub use crm_domain::Role;
pub use crm_testkit::fixtures::*;
pub use crm_testkit::paths::{self, SCORING_SETTINGS as SETTINGS};
pub use crm_testkit::{TestApp, TestRequest};
pub use serde_json::{json, Value};

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

impl Apps {
    /// `action` on lead `id`, POSTed as `token` (with no body unless one is added).
    pub fn act(&self, token: &str, id: &str, action: &str) -> TestRequest {
        self.actions
            .post(&paths::lead_path(id, action))
            .bearer(token)
    }
}

/// Creates a lead through the leads function and returns its id.
pub async fn create(apps: &Apps, token: &str, body: Value) -> String {
    id(&apps.leads.create_lead(token, body).await)
}
