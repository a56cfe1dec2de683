//! The sources function: the lead's related resources under `/api/leads/api/v1/`.
//!
//! Sources, tags, activities, notes and custom fields share one lifecycle
//! (`crm_app::resource`, served by `crm_http::resource`); this file lists their routes and
//! the few views that are their own: the open tasks (upcoming, overdue) and a lead's
//! timelines of activities and notes. Webhook subscriptions and their delivery log are
//! in [`webhooks`].

pub mod webhooks;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use crm_app::activities::{self, Activity, ActivityQuery, View};
use crm_app::custom_fields::CustomField;
use crm_app::lead_records::OnTimeline;
use crm_app::notes::Note;
use crm_app::sources::Source;
use crm_app::tags::Tag;
use crm_domain::Caller;
use crm_http::{path_id, ApiError, App, AppState, ListQuery, RouteTable};

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
    let table = RouteTable::new(SERVICE)
        .resource::<Source>(SOURCES, SOURCE)
        .resource::<Tag>(TAGS, TAG)
        .resource::<Activity>(ACTIVITIES, ACTIVITY)
        .route(
            UPCOMING_ACTIVITIES,
            open_tasks(View::Upcoming, "activities/upcoming"),
        )
        .route(
            OVERDUE_ACTIVITIES,
            open_tasks(View::Overdue, "activities/overdue"),
        )
        .route(LEAD_ACTIVITIES, get(lead_timeline::<Activity>))
        .resource::<Note>(NOTES, NOTE)
        .route(LEAD_NOTES, get(lead_timeline::<Note>))
        .resource::<CustomField>(CUSTOM_FIELDS, CUSTOM_FIELD);
    webhooks::routes(table)
}

pub fn app(state: AppState) -> App {
    routes().into_app(state)
}

/// The open tasks of a view (`activities/upcoming/`, `activities/overdue/`), with the
/// activity list's filters.
fn open_tasks(view: View, route: &'static str) -> MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, caller: Caller, query: ListQuery| async move {
            let filters = ActivityQuery::parse(&query, route)?;
            let page_size = query.page_size()?;
            let page = activities::list(
                state.ctx(),
                &caller,
                &filters,
                view,
                page_size,
                query.cursor(),
            )
            .await?;
            Ok::<_, ApiError>(query.page_response(&page, Activity::json))
        },
    )
}

/// A lead's timeline of activities or notes.
async fn lead_timeline<R: OnTimeline>(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    query: ListQuery,
) -> Result<Response, ApiError> {
    let page = R::timeline(state.ctx(), &caller, path_id(&id)?, &query).await?;
    Ok(query.page_response(&page, R::json))
}
