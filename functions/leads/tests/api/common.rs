//! What the test modules share: the function on its own emulator, and the testkit's
//! helpers, paths and fixtures.
pub use crm_domain::Role;
pub use crm_testkit::fixtures::*;
pub use crm_testkit::paths::{self, LEADS};
pub use crm_testkit::{all_pages, TestApp, TestResponse};
pub use serde_json::{json, Value};

pub async fn start() -> TestApp {
    TestApp::start(leads::app).await
}

/// The 400 for a second lead with an email the tenant already has.
pub fn email_taken() -> Value {
    json!({"email": ["lead with this email already exists."]})
}
