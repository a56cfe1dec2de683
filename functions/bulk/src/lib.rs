//! The bulk function: `bulk-update`, `bulk-assign`, `bulk-tag` and `update-scores` on up
//! to 1,000 leads per request.
//!
//! Handlers check the role first (403 before the body is even parsed), validate the body,
//! and hand the work to `crm_app::bulk` under the request's `Idempotency-Key`
//! (`crm_store::idempotency`); the rules live in the shared crate.

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use crm_app::bulk;
use crm_domain::Caller;
use crm_http::{idempotency, ApiError};
use crm_http::{App, AppState, JsonObject, RouteTable};
use crm_store::idempotency as idempotent;
use serde_json::{Map, Value};
use std::future::Future;

pub const SERVICE: &str = "crm-bulk";
pub const BULK_UPDATE: &str = "/api/leads/api/v1/leads/bulk-update";
/// The name the original deployment actually served (its hyphenated route was shadowed).
pub const BULK_UPDATE_ALIAS: &str = "/api/leads/api/v1/leads/bulk_update";
pub const BULK_ASSIGN: &str = "/api/leads/api/v1/leads/bulk-assign";
pub const BULK_TAG: &str = "/api/leads/api/v1/leads/bulk-tag";
pub const UPDATE_SCORES: &str = "/api/leads/api/v1/leads/update-scores";
/// The name the original deployment served.
pub const UPDATE_SCORES_ALIAS: &str = "/api/leads/api/v1/leads/update_scores";
/// Every route of this function; its router, the local gateway and the template follow it.
pub fn routes() -> RouteTable {
    RouteTable::new(SERVICE)
        .aliases(&[BULK_UPDATE, BULK_UPDATE_ALIAS], post(bulk_update))
        .route(BULK_ASSIGN, post(bulk_assign))
        .route(BULK_TAG, post(bulk_tag))
        .aliases(&[UPDATE_SCORES, UPDATE_SCORES_ALIAS], post(update_scores))
}

pub fn app(state: AppState) -> App {
    routes().into_app(state)
}

/// The header a replayed answer carries (Stripe's name for it).
pub const REPLAYED: &str = "idempotent-replayed";

fn respond(answer: idempotent::Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Json(answer.body)).into_response();
    if answer.replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

/// The role check comes before the body is read, so a `user` learns nothing from a 400.
/// Returns the body and the request's `Idempotency-Key`.
async fn read(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    req: Request,
) -> Result<(Map<String, Value>, Option<String>), ApiError> {
    bulk::require_bulk(caller)?;
    let JsonObject(body) = JsonObject::from_request(req, state).await?;
    let key = idempotency::key_from_headers(headers)?;
    Ok((body, key))
}

/// Runs a validated request's work under its idempotency key and answers with its result
/// (or the first result of the same request).
async fn answer<F, Fut>(
    state: &AppState,
    caller: &Caller,
    key: Option<String>,
    operation: &str,
    body: &Map<String, Value>,
    work: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Value, crm_domain::Error>>,
{
    let answer = idempotent::run(
        &state.store,
        caller.tenant,
        &caller.user_id,
        key.as_deref(),
        operation,
        body,
        work,
    )
    .await?;
    Ok(respond(answer))
}

async fn bulk_update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let (body, key) = read(&state, &caller, &headers, req).await?;
    let request = crm_domain::bulk::parse_update(&body)?;
    answer(&state, &caller, key, "bulk-update", &body, || async {
        let report = bulk::update(&state.store, &state.queues, &caller, &request).await?;
        Ok(report.to_json())
    })
    .await
}

async fn bulk_assign(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let (body, key) = read(&state, &caller, &headers, req).await?;
    let request = crm_domain::bulk::parse_assign(&body)?;
    answer(&state, &caller, key, "bulk-assign", &body, || async {
        let report = bulk::assign(&state.store, &state.queues, &caller, &request).await?;
        Ok(report.to_json())
    })
    .await
}

async fn bulk_tag(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let (body, key) = read(&state, &caller, &headers, req).await?;
    let request = crm_domain::bulk::parse_tag(&body)?;
    answer(&state, &caller, key, "bulk-tag", &body, || async {
        let report = bulk::tag(&state.store, &state.queues, &caller, &request).await?;
        Ok(report.to_json())
    })
    .await
}

async fn update_scores(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let (body, key) = read(&state, &caller, &headers, req).await?;
    let targets = crm_domain::bulk::parse_ids_only(&body)?;
    answer(&state, &caller, key, "update-scores", &body, || async {
        bulk::update_scores(&state.store, &state.queues, &caller, &targets).await
    })
    .await
}
