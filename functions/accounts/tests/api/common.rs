//! What the test modules share: both functions on one emulator, and reading a token.
pub use crm_domain::Role;
pub use crm_testkit::accounts::{LOGIN, PASSWORD};
pub use crm_testkit::{paths, TestApp};
pub use serde_json::{json, Value};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const REFRESH: &str = "/api/auth/refresh/";
pub const LOGOUT: &str = "/api/auth/logout/";
pub const LOGOUT_ALL: &str = "/api/auth/logout-all/";
pub const ACCEPT: &str = "/api/auth/accept-invitation/";
pub const PROFILE: &str = "/api/profile/";
pub const PASSWORD_CHANGE: &str = "/api/profile/password/";
pub const TENANTS: &str = "/api/tenants/";
pub const CURRENT_TENANT: &str = "/api/tenants/current/";
pub const MEMBERS: &str = "/api/tenants/current/members/";
pub const INVITATIONS: &str = "/api/tenants/current/invitations/";
pub const API_KEYS: &str = "/api/tenants/current/api-keys/";

pub fn member_path(user: impl std::fmt::Display) -> String {
    format!("{MEMBERS}{user}/")
}

pub fn invitation_path(id: impl std::fmt::Display) -> String {
    format!("{INVITATIONS}{id}/")
}

/// This function and the leads function, sharing one emulator and state.
pub struct Apps {
    pub accounts: TestApp,
    pub leads: TestApp,
}

pub async fn start() -> Apps {
    let accounts = TestApp::start(accounts::app).await;
    let leads = accounts.with_function(leads::app);
    Apps { accounts, leads }
}

/// The claims of a JWT (not verified: the functions do that).
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("JSON")
}

/// A lead body with a unique email.
pub fn lead_body() -> Value {
    json!({
        "first_name": "Jo",
        "last_name": "Doe",
        "email": format!("{}@lead.example", uuid::Uuid::new_v4().simple()),
    })
}

/// Status of creating a lead with `token` (201 for a member who may, 403, 401).
pub async fn create_lead_status(apps: &Apps, token: &str) -> u16 {
    apps.leads
        .post(paths::LEADS)
        .bearer(token)
        .json(lead_body())
        .send()
        .await
        .status
}

/// Status of reading the lead list with `token`.
pub async fn list_status(apps: &Apps, token: &str) -> u16 {
    apps.leads
        .get(paths::LEADS)
        .bearer(token)
        .send()
        .await
        .status
}
