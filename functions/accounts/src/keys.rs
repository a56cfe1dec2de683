//! The current tenant's API keys: created (the key shown once), listed, revoked.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crm_app::api_keys;
use crm_domain::api_keys::ApiKey;
use crm_domain::Caller;
use crm_http::{path_id, ApiError, AppState, JsonObject, ListQuery};

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    api_keys::require_manager(&caller)?;
    let page_size = query.page_size()?;
    let page = api_keys::list(
        &state.store,
        &state.cursors,
        &caller,
        page_size,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(&page, ApiKey::json))
}

/// The role check comes before the body is read.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    api_keys::require_manager(&caller)?;
    let JsonObject(body) = body?;
    let (key, secret) = api_keys::create(&state.store, &caller, &body).await?;
    let mut answer = key.json();
    answer["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api_keys::revoke(&state.store, &caller, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
