//! Webhook subscriptions under `/api/leads/api/v1/webhooks/`: the resource lifecycle
//! (`crm_app::resource`, served by `crm_http::resource`) with the reads, like the writes,
//! for admins and owners only, the create that shows the signing secret once, and the
//! delivery log, redeliver and test.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use crm_app::webhooks::{self, Attempted, Delivery, Webhook};
use crm_domain::Caller;
use crm_http::{path_id, ApiError, AppState, ListQuery, RouteTable};

pub const WEBHOOKS: &str = "/api/leads/api/v1/webhooks";
pub const WEBHOOK: &str = "/api/leads/api/v1/webhooks/{id}";
pub const DELIVERIES: &str = "/api/leads/api/v1/webhooks/{id}/deliveries";
pub const REDELIVER: &str = "/api/leads/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver";
pub const TEST: &str = "/api/leads/api/v1/webhooks/{id}/test";

/// The subscriptions on the generic handlers (who reads them and the create's secret are
/// `Webhook`'s `Resource` hooks), and the delivery log's routes.
pub fn routes(table: RouteTable) -> RouteTable {
    table
        .resource::<Webhook>(WEBHOOKS, WEBHOOK)
        .route(DELIVERIES, get(deliveries))
        .route(REDELIVER, post(redeliver))
        .route(TEST, post(test))
}

async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = webhooks::deliveries(state.ctx(), &caller, path_id(&id)?, &query).await?;
    Ok(query.page_response(&page, Delivery::json))
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
