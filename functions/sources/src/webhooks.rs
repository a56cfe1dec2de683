//! Webhook subscriptions under `/api/leads/api/v1/webhooks/`: the resource lifecycle
//! (`crm_app::resource`) with the reads, like the writes, for admins and owners only, the
//! create that shows the signing secret once, and the delivery log, redeliver and test.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use crm_app::resource::{self, Resource};
use crm_app::webhooks::{self, Attempted, Delivery, Webhook};
use crm_domain::lead::WriteMode;
use crm_domain::record::{Edit, Record};
use crm_domain::{Caller, Role};
use crm_http::{
    path_id, with_etag, ApiError, AppState, IfMatch, JsonObject, ListQuery, RouteTable,
};

pub const WEBHOOKS: &str = "/api/leads/api/v1/webhooks";
pub const WEBHOOK: &str = "/api/leads/api/v1/webhooks/{id}";
pub const DELIVERIES: &str = "/api/leads/api/v1/webhooks/{id}/deliveries";
pub const REDELIVER: &str = "/api/leads/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver";
pub const TEST: &str = "/api/leads/api/v1/webhooks/{id}/test";

pub fn routes(table: RouteTable) -> RouteTable {
    table
        .route(WEBHOOKS, get(list).post(create))
        .route(
            WEBHOOK,
            get(retrieve)
                .put(resource_update::<false>)
                .patch(resource_update::<true>)
                .delete(destroy),
        )
        .route(DELIVERIES, get(deliveries))
        .route(REDELIVER, post(redeliver))
        .route(TEST, post(test))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    caller.require(Role::Admin)?;
    let page = Webhook::list(state.ctx(), &caller, &query).await?;
    Ok(query.page_response(page, Webhook::json))
}

/// 201 with the subscription and, this once, its signing secret.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let input = webhooks::WebhookInput::parse(&body, WriteMode::Create);
    let record = resource::create::<Webhook>(state.ctx(), &caller, input).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        record.version(),
        record.json_with_secret(),
    ))
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = webhooks::get(state.ctx(), &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, record.version(), record.json()))
}

async fn resource_update<const PARTIAL: bool>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input = webhooks::WebhookInput::parse(&body, WriteMode::update(PARTIAL));
    let record = resource::update::<Webhook>(state.ctx(), &caller, id, input, if_match).await?;
    Ok(with_etag(StatusCode::OK, record.version(), record.json()))
}

async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    resource::delete::<Webhook>(state.ctx(), &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = webhooks::deliveries(state.ctx(), &caller, path_id(&id)?, &query).await?;
    Ok(query.page_response(page, Delivery::json))
}

async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (id, delivery_id) = (path_id(&id)?, path_id(&delivery_id)?);
    let attempted = webhooks::redeliver(state.ctx(), &caller, id, delivery_id).await?;
    Ok(attempt_response(attempted))
}

async fn test(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let attempted = webhooks::test(state.ctx(), &caller, path_id(&id)?).await?;
    Ok(attempt_response(attempted))
}

/// 200 with the logged delivery, whatever the receiver answered (the attempt was made).
fn attempt_response(attempted: Attempted) -> Response {
    if let Some(webhook) = &attempted.deactivated {
        // The seam for the audit log: the subscription this failure deactivated.
        tracing::warn!(webhook_id = %webhook.id, "webhook deactivated after failing for 3 days");
    }
    Json(attempted.delivery.json()).into_response()
}
