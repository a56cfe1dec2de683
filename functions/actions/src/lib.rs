//! The actions function: what a salesperson does to one lead (`update-score`,
//! `mark-contacted`, `convert`, `mark-lost`, `ai-insights`) and the tenant's scoring
//! settings. The rules live in `crm_app::actions` and `crm_app::lead_insights`.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::Utc;
use crm_app::actions;
use crm_app::lead_insights::{self, InsightsView, POLL_AFTER_SECONDS};
use crm_domain::actions::{ConvertInput, LostInput};
use crm_domain::lead::Lead;
use crm_domain::scoring::ScoringSettingsInput;
use crm_domain::Caller;
use crm_http::ApiError;
use crm_http::{
    path_id, with_etag, App, AppState, IfMatch, JsonObject, OptionalJsonObject, RouteTable,
};
use serde_json::{json, Value};

pub const SERVICE: &str = "crm-actions";
pub const LEAD: &str = "/api/leads/api/v1/leads/{id}";
pub const SCORING_SETTINGS: &str = "/api/leads/api/v1/scoring-settings";

/// Every route of this function; its router, the local gateway and the template follow it.
/// The underscore names are the ones the original deployment actually answered on.
pub fn routes() -> RouteTable {
    let action = |names: &[&str]| -> Vec<String> {
        names.iter().map(|name| format!("{LEAD}/{name}")).collect()
    };
    RouteTable::new(SERVICE)
        .aliases(
            &action(&["update-score", "update_score"]),
            post(update_score),
        )
        .aliases(
            &action(&["mark-contacted", "mark_contacted"]),
            post(mark_contacted),
        )
        .route(format!("{LEAD}/convert"), post(convert))
        .aliases(&action(&["mark-lost", "mark_lost"]), post(mark_lost))
        .aliases(
            &action(&["ai-insights", "ai_insights"]),
            get(insights).post(insights),
        )
        .route(
            SCORING_SETTINGS,
            get(settings).put(replace_settings).patch(patch_settings),
        )
}

pub fn app(state: AppState) -> App {
    routes().into_app(state)
}

fn lead_response(lead: &Lead) -> Response {
    with_etag(StatusCode::OK, lead.version, lead.detail(Utc::now()))
}

async fn mark_contacted(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    let lead = actions::mark_contacted(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(lead_response(&lead))
}

async fn convert(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    OptionalJsonObject(body): OptionalJsonObject,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input = ConvertInput::parse(&body)?;
    let lead = actions::convert(&state.store, &caller, id, &input, if_match).await?;
    Ok(lead_response(&lead))
}

async fn mark_lost(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input = LostInput::parse(&body)?;
    let lead = actions::mark_lost(&state.store, &caller, id, &input, if_match).await?;
    Ok(lead_response(&lead))
}

async fn update_score(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (lead, card) = actions::update_score(&state.store, &caller, path_id(&id)?).await?;
    let body = json!({
        "id": lead.id,
        "score": card.score,
        "score_model": card.model,
        "score_factors": card.factors,
        "last_scored_at": lead.last_scored_at,
    });
    Ok(with_etag(StatusCode::OK, lead.version, body))
}

fn insights_response(view: InsightsView) -> Response {
    let body = Json(view.body());
    match view {
        InsightsView::Ready { .. } => (StatusCode::OK, body).into_response(),
        InsightsView::Pending { .. } => {
            let mut response = (StatusCode::ACCEPTED, body).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(POLL_AFTER_SECONDS));
            response
        }
    }
}

/// `GET` answers a lead's insights as they are (asking for them when there are none),
/// `POST` asks for fresh ones.
async fn insights(
    State(state): State<AppState>,
    method: Method,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let services = lead_insights::Services {
        store: &state.store,
        queues: &state.queues,
        ai: state.ai.as_ref(),
    };
    let id = path_id(&id)?;
    let view = if method == Method::POST {
        lead_insights::refresh(services, &caller, id).await?
    } else {
        lead_insights::view(services, &caller, id).await?
    };
    Ok(insights_response(view))
}

async fn settings(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let settings = actions::scoring_settings(&state.store, &caller).await?;
    Ok(Json(
        serde_json::to_value(settings).expect("settings serialise"),
    ))
}

async fn save_settings(
    state: AppState,
    caller: Caller,
    body: serde_json::Map<String, Value>,
    partial: bool,
) -> Result<Json<Value>, ApiError> {
    // Admins only: the role is checked before the body is parsed.
    actions::require_settings_admin(&caller)?;
    let input = ScoringSettingsInput::parse(&body)?;
    let settings = actions::save_scoring_settings(&state.store, &caller, &input, partial).await?;
    Ok(Json(
        serde_json::to_value(settings).expect("settings serialise"),
    ))
}

async fn replace_settings(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    save_settings(state, caller, body, false).await
}

async fn patch_settings(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    save_settings(state, caller, body, true).await
}
