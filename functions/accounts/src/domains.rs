//! The current tenant's custom domains: registered (with the TXT record that proves them),
//! verified, made primary, listed, deleted. The rules are `crm_app::domains`'.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crm_app::domains;
use crm_domain::domains::CustomDomain;
use crm_domain::{Caller, Role};
use crm_http::{path_id, ApiError, AppState, JsonObject, ListQuery};

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page_size = query.page_size()?;
    let page = domains::list(
        &state.store,
        &state.cursors,
        &caller,
        page_size,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(&page, CustomDomain::json))
}

/// The role check comes before the body is read.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let JsonObject(body) = body?;
    let domain = domains::create(&state.store, &state.config.domains, &caller, &body).await?;
    Ok((StatusCode::CREATED, Json(domain.json())).into_response())
}

pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let domain = domains::get(&state.store, &caller, path_id(&id)?).await?;
    Ok(Json(domain.json()).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let JsonObject(body) = body?;
    let domain = domains::update(&state.store, &caller, path_id(&id)?, &body).await?;
    Ok(Json(domain.json()).into_response())
}

/// Looks the domain's TXT record up now; 200 with the domain verified, else a 400 that
/// says what the DNS answered.
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let domain =
        domains::verify(&state.store, &state.config.domains, &caller, path_id(&id)?).await?;
    Ok(Json(domain.json()).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    domains::delete(&state.store, &caller, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
