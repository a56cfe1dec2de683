//! `crm-local serve`: every HTTP function's router in one process, over plain HTTP. The
//! quick way to run the API locally without the gateway, and what `make loadtest` measures:
//! one process whose CPU time is the functions' own, not a gateway's or a build tool's.
//!
//! Each request is handed to the routers exactly as Lambda would hand it over (a
//! `lambda_http::Request` with the whole body), and its DynamoDB cost is measured with
//! `crm_store::usage`; `GET /_local/usage` answers the totals so far.

use std::sync::{Arc, Mutex};

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use crm_http::{App, AppState};
use crm_store::usage::{measure, Usage};
use serde_json::json;
use tower::ServiceExt;

/// The largest request body passed on (API Gateway's own limit is 10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// What `GET /_local/usage` reports: the requests served and their DynamoDB cost.
#[derive(Default)]
struct Totals {
    requests: u64,
    usage: Usage,
}

#[derive(Clone)]
struct Served {
    app: App,
    totals: Arc<Mutex<Totals>>,
}

/// One router for every HTTP function (`accounts`, `actions`, `bulk`, `leads`, `sources`).
pub fn all_functions(state: AppState) -> App {
    leads::routes()
        .merge(actions::routes())
        .merge(bulk::routes())
        .merge(sources::routes())
        .merge(accounts::routes())
        .into_app(state)
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let served = Served {
        app,
        totals: Arc::default(),
    };
    let router = Router::new()
        .route("/_local/usage", get(usage))
        .fallback(dispatch)
        .with_state(served);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn usage(State(served): State<Served>) -> Json<serde_json::Value> {
    let totals = served.totals.lock().unwrap_or_else(|e| e.into_inner());
    Json(json!({
        "requests": totals.requests,
        "round_trips": totals.usage.round_trips,
        "read_units": totals.usage.read_units,
        "write_units": totals.usage.write_units,
    }))
}

async fn dispatch(State(served): State<Served>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    let request = lambda_http::Request::from_parts(parts, body);
    let (answer, cost) = measure(served.app.clone().oneshot(request)).await;
    {
        let mut totals = served.totals.lock().unwrap_or_else(|e| e.into_inner());
        totals.requests += 1;
        totals.usage.round_trips += cost.round_trips;
        totals.usage.read_units += cost.read_units;
        totals.usage.write_units += cost.write_units;
    }
    match answer {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
