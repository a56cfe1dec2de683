//! The HTTP side of the one resource lifecycle (`crm_app::resource`): a handler per
//! method for any [`Resource`], which [`crate::RouteTable::resource`] registers on a
//! collection path and a detail path.
//!
//! The body is parsed into the resource's typed input here, at the edge, with every field
//! error collected; the use case answers those errors after its own checks come first.
//! Handlers extract the verified caller before anything else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crm_app::resource::{self, Resource};
use crm_domain::lead::WriteMode;
use crm_domain::record::Edit;
use crm_domain::Caller;

use crate::{path_id, with_etag, ApiError, AppState, IfMatch, JsonObject, ListQuery};

/// `GET` on the collection: one page, as the resource lists.
pub async fn list<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = resource::list::<R>(state.ctx(), &caller, &query).await?;
    Ok(query.page_response(&page, R::json))
}

/// `POST` on the collection: 201 with the record (as [`Resource::created_json`] shows it)
/// and its `ETag`.
pub async fn create<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let input = R::Input::parse(&body, WriteMode::Create);
    let record = resource::create::<R>(state.ctx(), &caller, input).await?;
    Ok(with_etag(
        StatusCode::CREATED,
        record.version(),
        record.created_json(),
    ))
}

/// `GET` on the detail path.
pub async fn retrieve<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = resource::get::<R>(&state.store, &caller, path_id(&id)?).await?;
    Ok(with_etag(StatusCode::OK, record.version(), record.json()))
}

/// `PUT` (`PARTIAL` false: the required fields must be present) or `PATCH` (`PARTIAL`
/// true: any subset of the fields).
pub async fn update<R: Resource, const PARTIAL: bool>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let id = path_id(&id)?;
    let input = R::Input::parse(&body, WriteMode::update(PARTIAL));
    let record = resource::update::<R>(state.ctx(), &caller, id, input, if_match).await?;
    Ok(with_etag(StatusCode::OK, record.version(), record.json()))
}

/// `DELETE`: 204.
pub async fn destroy<R: Resource>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> Result<Response, ApiError> {
    resource::delete::<R>(state.ctx(), &caller, path_id(&id)?, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
