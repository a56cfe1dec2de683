//! The accounts function: sign-in and sessions (`/api/auth/...`), the caller's profile
//! (`/api/profile/...`), tenants created by their users (`/api/tenants/`), and the current
//! tenant's settings, members, invitations, API keys, custom domains and audit log
//! (`/api/tenants/current/...`): the original's Core and Tenants apps.
//!
//! The use cases live in `crm_app::accounts`; this crate signs the access tokens
//! (`crm_auth::issue_access_token`) and shapes the answers.

use axum::routing::{delete, get, patch, post};
use crm_http::{App, AppState, RouteTable};

mod auth;
mod domains;
mod keys;
mod team;
mod tenants;

pub const SERVICE: &str = "crm-accounts";
pub const LOGIN: &str = "/api/auth/login";
pub const REFRESH: &str = "/api/auth/refresh";
pub const LOGOUT: &str = "/api/auth/logout";
pub const LOGOUT_ALL: &str = "/api/auth/logout-all";
pub const ACCEPT_INVITATION: &str = "/api/auth/accept-invitation";
pub const PROFILE: &str = "/api/profile";
pub const PASSWORD: &str = "/api/profile/password";
pub const TENANTS: &str = "/api/tenants";
pub const CURRENT_TENANT: &str = "/api/tenants/current";
pub const MEMBERS: &str = "/api/tenants/current/members";
pub const MEMBER: &str = "/api/tenants/current/members/{id}";
pub const INVITATIONS: &str = "/api/tenants/current/invitations";
pub const INVITATION: &str = "/api/tenants/current/invitations/{id}";
pub const API_KEYS: &str = "/api/tenants/current/api-keys";
pub const API_KEY: &str = "/api/tenants/current/api-keys/{id}";
pub const AUDIT_LOG: &str = "/api/tenants/current/audit-log";
pub const DOMAINS: &str = "/api/tenants/current/domains";
pub const DOMAIN: &str = "/api/tenants/current/domains/{id}";
pub const DOMAIN_VERIFY: &str = "/api/tenants/current/domains/{id}/verify";

/// Every route of this function; its router, the local gateway and the template follow it.
pub fn routes() -> RouteTable {
    RouteTable::new(SERVICE)
        .route(LOGIN, post(auth::login))
        .route(REFRESH, post(auth::refresh))
        .route(LOGOUT, post(auth::logout))
        .route(LOGOUT_ALL, post(auth::logout_all))
        .route(ACCEPT_INVITATION, post(auth::accept_invitation))
        .route(PROFILE, get(team::profile).patch(team::update_profile))
        .route(PASSWORD, post(team::change_password))
        .route(TENANTS, post(tenants::create))
        .route(CURRENT_TENANT, get(tenants::current).patch(tenants::update))
        .route(MEMBERS, get(team::members))
        .route(
            MEMBER,
            patch(team::update_member).delete(team::remove_member),
        )
        .route(INVITATIONS, get(team::invitations).post(team::invite))
        .route(INVITATION, delete(team::revoke_invitation))
        .route(API_KEYS, get(keys::list).post(keys::create))
        .route(API_KEY, delete(keys::revoke))
        .route(AUDIT_LOG, get(tenants::audit_log))
        .route(DOMAINS, get(domains::list).post(domains::create))
        .route(
            DOMAIN,
            get(domains::retrieve)
                .patch(domains::update)
                .delete(domains::delete),
        )
        .route(DOMAIN_VERIFY, post(domains::verify))
}

pub fn app(state: AppState) -> App {
    routes().into_app(state)
}
