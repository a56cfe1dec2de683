//! The leads function: lead CRUD, the health routes, and the API's OpenAPI document with
//! its docs page ([`docs`]).
//!
//! Handlers extract input (the verified [`Caller`] first), parse the body into a typed
//! [`LeadInput`] once the role (and, for an update, the lead) allows it, call the shared
//! lead service and map the outcome to a response; the rules live in `crm_app::leads`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Json;
use chrono::Utc;
use crm_app::leads;
use crm_domain::filters::{LeadQuery, View};
use crm_domain::lead::{Lead, LeadInput, WriteMode};
use crm_domain::Caller;
use crm_http::ApiError;
use crm_http::{path_id, with_etag, App, AppState, IfMatch, JsonObject, ListQuery, RouteTable};
use serde_json::Value;

pub mod docs;

pub const SERVICE: &str = "crm-leads";
pub const LEADS: &str = "/api/leads/api/v1/leads";
pub const LEAD: &str = "/api/leads/api/v1/leads/{id}";
/// The OpenAPI document (drf-spectacular's path) and its page; no credentials needed.
pub const SCHEMA: &str = "/api/schema";
pub const DOCS: &str = "/api/docs";

/// Every route of this function; its router, the local gateway and the template follow it.
pub fn routes() -> RouteTable {
    RouteTable::new(SERVICE)
        .route(LEADS, lead_list(None).post(create))
        .route(
            LEAD,
            get(retrieve)
                .put(update::<false>)
                .patch(update::<true>)
                .delete(destroy),
        )
        // The hyphenated names of the description, and the names the original deployment
        // actually served (its hyphenated routes were shadowed), for its existing clients.
        .aliases(
            &[
                format!("{LEADS}/dashboard"),
                format!("{LEADS}/dashboard_stats"),
            ],
            get(dashboard),
        )
        .aliases(
            &[
                format!("{LEADS}/overdue"),
                format!("{LEADS}/overdue_followups"),
            ],
            lead_list(Some(View::Overdue)),
        )
        .aliases(
            &[
                format!("{LEADS}/high-priority"),
                format!("{LEADS}/high_priority"),
            ],
            lead_list(Some(View::HighPriority)),
        )
        .route(
            format!("{LEADS}/unassigned"),
            lead_list(Some(View::Unassigned)),
        )
        .route(format!("{LEAD}/history"), get(history))
        .route(SCHEMA, get(docs::schema))
        .route(DOCS, get(docs::docs))
        .with_health()
}

pub fn app(state: AppState) -> App {
    routes().into_app(state)
}

async fn list_view(
    state: AppState,
    caller: Caller,
    query: ListQuery,
    view: Option<View>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let filters = LeadQuery::parse(&query, view, now)?;
    let page = leads::list(
        &state.store,
        &state.cursors,
        &caller,
        &filters,
        &state.config.list,
        query.page_size()?,
        query.cursor(),
    )
    .await?;
    let mut page = page;
    let related = leads::Related::load(&state.store, &caller, &mut page.items).await?;
    Ok(query.page_response(&page, |lead| related.row(lead, now)))
}

/// `GET` on the lead list, or on one of its fixed views (overdue, high priority,
/// unassigned).
fn lead_list(view: Option<View>) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, caller: Caller, query: ListQuery| {
            list_view(state, caller, query, view)
        },
    )
}

async fn dashboard(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    Ok(Json(leads::dashboard(&state.store, &caller).await?))
}

/// A lead's detail response, with its source and tags as they are now.
async fn detail(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    mut lead: Lead,
) -> Result<Response, ApiError> {
    let id = lead.id;
    let (related, (activities, notes)) = futures::future::try_join(
        leads::Related::load(&state.store, caller, std::slice::from_mut(&mut lead)),
        leads::detail_extras(&state.store, caller, id),
    )
    .await?;
    let mut body = related.detail(&lead, Utc::now());
    body["recent_activities"] = Value::Array(activities);
    // `lead_notes`, not the original's `notes`: the lead's own `notes` text keeps its name.
    body["lead_notes"] = Value::Array(notes);
    Ok(with_etag(status, lead.version, body))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // The role first: a role that may not write gets 403, whatever the body.
    leads::require_can_create(&caller)?;
    let input = LeadInput::parse(&body, WriteMode::Create)?;
    let lead = leads::create(&state.store, &caller, &input).await?;
    detail(&state, &caller, StatusCode::CREATED, lead).await
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lead = leads::get(&state.store, &caller, path_id(&id)?).await?;
    detail(&state, &caller, StatusCode::OK, lead).await
}

/// `PUT` (`PARTIAL` false: the required fields must be present) or `PATCH` (`PARTIAL`
/// true: any subset of the fields).
async fn update<const PARTIAL: bool>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // A missing or forbidden lead answers 404/403 before the body's problems do.
    let before = leads::editable(&state.store, &caller, path_id(&id)?).await?;
    let input = LeadInput::parse(&body, WriteMode::update(PARTIAL))?;
    let lead = leads::update(&state.store, &caller, before, &input, if_match)
        .await?
        .after;
    detail(&state, &caller, StatusCode::OK, lead).await
}

async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    leads::delete(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A lead's history: its audit trail, newest first, a page at a time.
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = leads::history(state.ctx(), &caller, path_id(&id)?, &query.query).await?;
    Ok(query.page_response(&page, leads::history_json))
}
