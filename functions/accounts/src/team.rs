//! The caller's profile and password, the current tenant's members and invitations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crm_app::accounts::{self, Invitation};
use crm_domain::accounts::members::sees_emails;
use crm_domain::{Caller, Role};
use crm_http::{path_id, ApiError, AppState, JsonObject, ListQuery, Session};

pub async fn profile(
    State(state): State<AppState>,
    Session(session): Session,
) -> Result<Response, ApiError> {
    let user = accounts::profile::get(&state.store, session).await?;
    Ok(Json(user.json()).into_response())
}

pub async fn update_profile(
    State(state): State<AppState>,
    caller: Caller,
    Session(session): Session,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let user = accounts::profile::update(&state.store, &caller, session, &body).await?;
    Ok(Json(user.json()).into_response())
}

pub async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Session(session): Session,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    accounts::profile::change_password(&state.store, &caller, session, &body).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page_size = query.page_size()?;
    let page = accounts::members::list(
        &state.store,
        &state.cursors,
        &caller,
        page_size,
        query.cursor(),
    )
    .await?;
    let emails = sees_emails(&caller);
    Ok(query.page_response(&page, |(m, u)| m.json(u.as_ref(), emails)))
}

/// The role check comes before the body is read: a manager's PATCH is a 403 whatever it
/// sends.
pub async fn update_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let JsonObject(body) = body?;
    let (member, user) =
        accounts::members::update(&state.store, &caller, path_id(&id)?, &body).await?;
    Ok(Json(member.json(user.as_ref(), sees_emails(&caller))).into_response())
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::members::remove(&state.store, &caller, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn invitations(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let page_size = query.page_size()?;
    let page = accounts::invitations::list(
        &state.store,
        &state.cursors,
        &caller,
        page_size,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(&page, Invitation::json))
}

pub async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<JsonObject, ApiError>,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let JsonObject(body) = body?;
    let (invitation, token) = accounts::invitations::create(&state.store, &caller, &body).await?;
    let mut answer = invitation.json();
    answer["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn revoke_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts::invitations::revoke(&state.store, &caller, path_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
