//! `/api/auth/...`: login, refresh, logout (one session or all), accepting an invitation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crm_app::accounts::{self, AcceptInput, LoginInput, SignIn};
use crm_auth::{issue_access_token, AccessToken};
use crm_domain::accounts::Membership;
use crm_domain::accounts::SessionRef;
use crm_domain::tenant::Tenant;
use crm_domain::Caller;
use crm_http::{ApiError, AppState, JsonObject, RequestOrigin, Session};

/// A tenant as a sign-in answer names it, with the user's role there.
fn tenant_json(membership: &Membership, tenant: &Tenant) -> Value {
    json!({
        "id": tenant.id,
        "name": tenant.name,
        "slug": tenant.slug,
        "role": membership.role,
    })
}

/// The access token of a sign-in, and its lifetime.
fn access_token(state: &AppState, sign_in: &SignIn) -> (String, i64) {
    let ttl = state.config.accounts.access_token_seconds;
    let token = issue_access_token(
        &state.config.jwt,
        &AccessToken {
            session: SessionRef {
                user_id: sign_in.user.id,
                family_id: sign_in.family,
            },
            tenant_id: sign_in.tenant.id.as_uuid(),
            role: sign_in.membership.role,
            email: &sign_in.user.email,
            ttl_seconds: ttl,
        },
    );
    (token, ttl)
}

/// What login and an accepted invitation answer: the tokens, the user, the tenant signed
/// in to and the tenants the user may choose from.
fn signed_in(state: &AppState, sign_in: SignIn) -> Response {
    let (token, expires_in) = access_token(state, &sign_in);
    Json(json!({
        "token": token,
        "refresh": sign_in.refresh,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "user": sign_in.user.json(),
        "tenant": tenant_json(&sign_in.membership, &sign_in.tenant),
        "tenants": sign_in
            .tenants
            .iter()
            .map(|(m, t)| tenant_json(m, t))
            .collect::<Vec<_>>(),
    }))
    .into_response()
}

pub async fn login(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let input = LoginInput::parse(&body)?;
    let sign_in =
        accounts::login::login(&state.store, &state.config.accounts, input, &origin).await?;
    Ok(signed_in(&state, sign_in))
}

pub async fn refresh(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let secret = accounts::sessions::parse_refresh(&body)?;
    let sign_in =
        accounts::sessions::refresh(&state.store, &state.config.accounts, &secret).await?;
    let (token, expires_in) = access_token(&state, &sign_in);
    Ok(Json(json!({
        "token": token,
        "refresh": sign_in.refresh,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }))
    .into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    Session(session): Session,
) -> Result<StatusCode, ApiError> {
    accounts::sessions::logout(&state.store, &caller, session).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn logout_all(
    State(state): State<AppState>,
    Session(session): Session,
) -> Result<StatusCode, ApiError> {
    accounts::sessions::logout_all(&state.store, session).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn accept_invitation(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let input = AcceptInput::parse(&body)?;
    let sign_in =
        accounts::invitations::accept(&state.store, &state.config.accounts, input, &origin).await?;
    Ok(signed_in(&state, sign_in))
}
