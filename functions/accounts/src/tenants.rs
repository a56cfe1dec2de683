//! `/api/tenants/...`: the current tenant's settings, plan and usage, and tenants created
//! by their users.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crm_app::accounts::{audit_log, tenants};
use crm_domain::audit;
use crm_domain::plan::Usage;
use crm_domain::tenant_settings;
use crm_domain::{Caller, Role};
use crm_http::{ApiError, AppState, JsonObject, ListQuery, RequestOrigin, Session};

pub async fn current(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let (tenant, usage) = tenants::current(&state.store, &caller).await?;
    Ok(Json(tenant_settings::json(&tenant, usage)).into_response())
}

/// The role check comes before the body is read: a manager's PATCH is a 403 whatever it
/// sends.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let JsonObject(body) = body?;
    let (tenant, usage) = tenants::update(&state.store, &caller, &body).await?;
    Ok(Json(tenant_settings::json(&tenant, usage)).into_response())
}

/// The tenant's audit log, newest first.
pub async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = audit_log::page(&state.store, &state.cursors, &caller, &query).await?;
    Ok(query.page_response(&page, audit::json))
}

pub async fn create(
    State(state): State<AppState>,
    Session(session): Session,
    RequestOrigin(origin): RequestOrigin,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    let JsonObject(body) = body?;
    let (tenant, owner) = tenants::create(
        &state.store,
        &state.config.accounts,
        session,
        &body,
        &origin,
    )
    .await?;
    let mut answer = tenant_settings::json(&tenant, Usage { leads: 0, users: 1 });
    answer["role"] = serde_json::json!(owner.role);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
