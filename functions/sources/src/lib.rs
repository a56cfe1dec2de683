//! The sources function: the lead's related resources under `/api/leads/api/v1/`.
//!
//! Handlers extract input (the verified [`Caller`] first), call the shared services and map
//! the outcome to a response; the rules live in `crm_app::sources`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crm_app::activities::{self, ActivityQuery, View};
use crm_app::{custom_fields, notes, sources, tags};
use crm_domain::lead::WriteMode;
use crm_domain::Caller;
use crm_http::ApiError;
use crm_http::{path_id, with_etag, App, AppState, IfMatch, JsonObject, ListQuery, RouteTable};

pub const SERVICE: &str = "crm-sources";
pub const SOURCES: &str = "/api/leads/api/v1/sources";
pub const SOURCE: &str = "/api/leads/api/v1/sources/{id}";
pub const TAGS: &str = "/api/leads/api/v1/tags";
pub const TAG: &str = "/api/leads/api/v1/tags/{id}";
pub const ACTIVITIES: &str = "/api/leads/api/v1/activities";
pub const ACTIVITY: &str = "/api/leads/api/v1/activities/{id}";
pub const UPCOMING_ACTIVITIES: &str = "/api/leads/api/v1/activities/upcoming";
pub const OVERDUE_ACTIVITIES: &str = "/api/leads/api/v1/activities/overdue";
pub const LEAD_ACTIVITIES: &str = "/api/leads/api/v1/leads/{id}/activities";
pub const NOTES: &str = "/api/leads/api/v1/notes";
pub const NOTE: &str = "/api/leads/api/v1/notes/{id}";
pub const LEAD_NOTES: &str = "/api/leads/api/v1/leads/{id}/notes";
pub const CUSTOM_FIELDS: &str = "/api/leads/api/v1/custom-fields";
pub const CUSTOM_FIELD: &str = "/api/leads/api/v1/custom-fields/{id}";

/// Every route of this function; its router, the local gateway and the template follow it.
pub fn routes() -> RouteTable {
    RouteTable::new(SERVICE)
        .route(SOURCES, get(list).post(create))
        .route(
            SOURCE,
            get(retrieve).put(replace).patch(patch).delete(destroy),
        )
        .route(TAGS, get(tag_list).post(tag_create))
        .route(
            TAG,
            get(tag_retrieve)
                .put(tag_replace)
                .patch(tag_patch)
                .delete(tag_destroy),
        )
        .route(ACTIVITIES, get(activity_list).post(activity_create))
        .route(UPCOMING_ACTIVITIES, get(activity_upcoming))
        .route(OVERDUE_ACTIVITIES, get(activity_overdue))
        .route(
            ACTIVITY,
            get(activity_retrieve)
                .put(activity_replace)
                .patch(activity_patch)
                .delete(activity_destroy),
        )
        .route(LEAD_ACTIVITIES, get(lead_activities))
        .route(NOTES, get(note_list).post(note_create))
        .route(
            NOTE,
            get(note_retrieve)
                .put(note_replace)
                .patch(note_patch)
                .delete(note_destroy),
        )
        .route(LEAD_NOTES, get(lead_notes))
        .route(CUSTOM_FIELDS, get(field_list).post(field_create))
        .route(
            CUSTOM_FIELD,
            get(field_retrieve)
                .put(field_replace)
                .patch(field_patch)
                .delete(field_destroy),
        )
}

pub fn app(state: AppState) -> App {
    routes().into_app(state)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    query.reject_unknown(&["page_size", "cursor"])?;
    let page = sources::list(
        &state.store,
        &state.cursors,
        &caller,
        query.page_size()?,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(page, sources::Source::json))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let source = sources::create(&state.store, &caller, &body).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        source.version,
        source.json(),
    ))
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let source = sources::get(&state.store, &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, source.version, source.json()))
}

async fn update(
    state: AppState,
    caller: Caller,
    id: String,
    if_match: IfMatch,
    body: JsonObject,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let source = sources::update(
        &state.store,
        &caller,
        path_id(&id)?,
        &body.0,
        mode,
        if_match.0,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, source.version, source.json()))
}

async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    update(state, caller, id, if_match, body, WriteMode::Replace).await
}

async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    update(state, caller, id, if_match, body, WriteMode::Partial).await
}

async fn destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    sources::delete(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- tags ------------------------------------------------------------------------------

async fn tag_list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    query.reject_unknown(&["page_size", "cursor"])?;
    let page = tags::list(
        &state.store,
        &state.cursors,
        &caller,
        query.page_size()?,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(page, tags::Tag::json))
}

async fn tag_create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let tag = tags::create(&state.store, &caller, &body).await?;
    Ok(with_etag(StatusCode::CREATED, tag.version, tag.json()))
}

async fn tag_retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tag = tags::get(&state.store, &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, tag.version, tag.json()))
}

async fn tag_update(
    state: AppState,
    caller: Caller,
    id: String,
    if_match: IfMatch,
    body: JsonObject,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let tag = tags::update(
        &state.store,
        &caller,
        path_id(&id)?,
        &body.0,
        mode,
        if_match.0,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, tag.version, tag.json()))
}

async fn tag_replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    tag_update(state, caller, id, if_match, body, WriteMode::Replace).await
}

async fn tag_patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    tag_update(state, caller, id, if_match, body, WriteMode::Partial).await
}

async fn tag_destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    tags::delete(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- activities ------------------------------------------------------------------------

async fn activity_view(
    state: AppState,
    caller: Caller,
    query: ListQuery,
    view: View,
    route: &str,
) -> Result<Response, ApiError> {
    let filters = ActivityQuery::parse(&query, route)?;
    let page = activities::list(
        &state.store,
        &state.cursors,
        &caller,
        &filters,
        view,
        query.page_size()?,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(page, activities::Activity::json))
}

async fn activity_list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    activity_view(state, caller, query, View::All, "activities").await
}

async fn activity_upcoming(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    activity_view(state, caller, query, View::Upcoming, "activities/upcoming").await
}

async fn activity_overdue(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    activity_view(state, caller, query, View::Overdue, "activities/overdue").await
}

async fn lead_activities(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let lead = path_id(&id)?;
    let page = activities::timeline(&state.store, &state.cursors, &caller, lead, &query).await?;
    Ok(query.page_response(page, activities::Activity::json))
}

async fn activity_create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let activity = activities::create(&state.store, &state.queues, &caller, &body).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        activity.version,
        activity.json(),
    ))
}

async fn activity_retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let activity = activities::get(&state.store, &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, activity.version, activity.json()))
}

async fn activity_update(
    state: AppState,
    caller: Caller,
    id: String,
    if_match: IfMatch,
    body: JsonObject,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let activity = activities::update(
        &state.store,
        &caller,
        path_id(&id)?,
        &body.0,
        mode,
        if_match.0,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, activity.version, activity.json()))
}

async fn activity_replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    activity_update(state, caller, id, if_match, body, WriteMode::Replace).await
}

async fn activity_patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    activity_update(state, caller, id, if_match, body, WriteMode::Partial).await
}

async fn activity_destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    activities::delete(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- notes -----------------------------------------------------------------------------

async fn note_list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = notes::list_all(&state.store, &state.cursors, &caller, &query).await?;
    Ok(query.page_response(page, notes::Note::json))
}

async fn lead_notes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let lead = path_id(&id)?;
    let page = notes::timeline(&state.store, &state.cursors, &caller, lead, &query).await?;
    Ok(query.page_response(page, notes::Note::json))
}

async fn note_create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let note = notes::create(&state.store, &caller, &body).await?;
    Ok(with_etag(StatusCode::CREATED, note.version, note.json()))
}

async fn note_retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let note = notes::get(&state.store, &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, note.version, note.json()))
}

async fn note_update(
    state: AppState,
    caller: Caller,
    id: String,
    if_match: IfMatch,
    body: JsonObject,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let note = notes::update(
        &state.store,
        &caller,
        path_id(&id)?,
        &body.0,
        mode,
        if_match.0,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, note.version, note.json()))
}

async fn note_replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    note_update(state, caller, id, if_match, body, WriteMode::Replace).await
}

async fn note_patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    note_update(state, caller, id, if_match, body, WriteMode::Partial).await
}

async fn note_destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    notes::delete(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- custom fields ---------------------------------------------------------------------

async fn field_list(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    query.reject_unknown(&["page_size", "cursor"])?;
    let page = custom_fields::list(
        &state.store,
        &state.cursors,
        &caller,
        query.page_size()?,
        query.cursor(),
    )
    .await?;
    Ok(query.page_response(page, custom_fields::CustomField::json))
}

async fn field_create(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let field = custom_fields::create(&state.store, &caller, &body).await?;
    Ok(with_etag(StatusCode::CREATED, field.version, field.json()))
}

async fn field_retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let field = custom_fields::get(&state.store, &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, field.version, field.json()))
}

async fn field_update(
    state: AppState,
    caller: Caller,
    id: String,
    if_match: IfMatch,
    body: JsonObject,
    mode: WriteMode,
) -> Result<Response, ApiError> {
    let field = custom_fields::update(
        &state.store,
        &caller,
        path_id(&id)?,
        &body.0,
        mode,
        if_match.0,
    )
    .await?;
    Ok(with_etag(StatusCode::OK, field.version, field.json()))
}

async fn field_replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    field_update(state, caller, id, if_match, body, WriteMode::Replace).await
}

async fn field_patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    if_match: IfMatch,
    body: JsonObject,
) -> Result<Response, ApiError> {
    field_update(state, caller, id, if_match, body, WriteMode::Partial).await
}

async fn field_destroy(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    custom_fields::delete(&state.store, &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
