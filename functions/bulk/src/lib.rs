//! The bulk function: `bulk-update`, `bulk-assign`, `bulk-tag` and `update-scores` on up
//! to 1,000 leads per request.
//!
//! Handlers check the role first (403 before the body is even parsed), validate the body,
//! and hand the work to `crm_app::bulk` under the request's `Idempotency-Key`
//! (`crm_store::idempotency`); the rules live in the shared crate.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use crm_app::bulk;
use crm_domain::Caller;
use crm_http::{idempotency, ApiError};
use crm_http::{App, AppState, JsonObject, RouteTable};
use crm_store::idempotency as idempotent;
use serde::Serialize;
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

/// A bulk request, read in the order the API promises: the caller, then the role check
/// (so a `user` gets 403 and learns nothing from a 400), then the JSON body, then the
/// request's `Idempotency-Key`.
struct BulkRequest {
    state: AppState,
    caller: Caller,
    body: Map<String, Value>,
    key: Option<String>,
}

impl FromRequest<AppState> for BulkRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state).await?;
        bulk::require_bulk(&caller)?;
        let headers = parts.headers.clone();
        let JsonObject(body) =
            JsonObject::from_request(Request::from_parts(parts, body), state).await?;
        let key = idempotency::key_from_headers(&headers)?;
        Ok(Self {
            state: state.clone(),
            caller,
            body,
            key,
        })
    }
}

impl BulkRequest {
    /// Runs the validated request's work under its idempotency key and answers with its
    /// result (or with the first result of the same request).
    async fn answer<T: Serialize>(
        &self,
        operation: &str,
        work: impl Future<Output = Result<T, crm_domain::Error>>,
    ) -> Result<Response, ApiError> {
        let answer = idempotent::run(
            &self.state.store,
            self.caller.tenant,
            &self.caller.user_id,
            self.key.as_deref(),
            operation,
            &self.body,
            || async { Ok(serde_json::to_value(work.await?).expect("a bulk answer serialises")) },
        )
        .await?;
        Ok(respond(answer))
    }
}

async fn bulk_update(req: BulkRequest) -> Result<Response, ApiError> {
    let change = crm_domain::bulk::parse_update(&req.body)?;
    let work = bulk::update(&req.state.store, &req.caller, &change);
    req.answer("bulk-update", work).await
}

async fn bulk_assign(req: BulkRequest) -> Result<Response, ApiError> {
    let assignment = crm_domain::bulk::parse_assign(&req.body)?;
    let work = bulk::assign(&req.state.store, &req.caller, &assignment);
    req.answer("bulk-assign", work).await
}

async fn bulk_tag(req: BulkRequest) -> Result<Response, ApiError> {
    let tagging = crm_domain::bulk::parse_tag(&req.body)?;
    let work = bulk::tag(&req.state.store, &req.caller, &tagging);
    req.answer("bulk-tag", work).await
}

async fn update_scores(req: BulkRequest) -> Result<Response, ApiError> {
    let targets = crm_domain::bulk::parse_ids_only(&req.body)?;
    let work = bulk::update_scores(&req.state.store, &req.state.queues, &req.caller, &targets);
    req.answer("update-scores", work).await
}
