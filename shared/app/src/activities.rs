//! Lead activities: calls, emails, meetings, tasks (a task is an activity with a
//! `scheduled_at` that is not completed).
//!
//! Side effects, as in the original: an `email`, `call`, `meeting` or `contact` activity
//! sets its lead's `last_contact_date`; an `email`, `call` or `contact` activity moves a
//! `new` lead to `contacted`. The lead's change (with its audit entry and dashboard
//! counters) commits in the activity's own transaction. Writing an activity follows the
//! lead's edit rule (a `user` writes on leads assigned to them or to nobody).

pub use crm_domain::activities::*;

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::queue::{reason, Queues, ScoreRequest};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::identity::Caller;
use crm_domain::lead::{Lead, WriteMode};
use crm_domain::query::QueryParams;
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::{AuditAction, AuditEntry, Conflict, IndexScan, Store, StoreError};
const UPDATE_ATTEMPTS: u32 = 10;
/// Index entries one list request may examine when filters reject most of them.
const READ_BUDGET: usize = 1_000;

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Lead) => {
            Error::field("lead", "The lead was deleted meanwhile.")
        }
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The activity was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Activity, Error> {
    store
        .get_activity(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

/// The lead an activity is written on, checked against the caller's edit rule. A lead of
/// another tenant (or none) is a 400 naming `lead`, as DRF answers an unknown related id.
async fn editable_lead(store: &Store, caller: &Caller, id: Uuid) -> Result<Lead, Error> {
    let lead = store
        .get_lead(caller.tenant, id)
        .await?
        .ok_or_else(|| crate::sources::missing("lead", id))?;
    crate::leads::require_can_edit(caller, &lead)?;
    Ok(lead)
}

/// Creates an activity, applies its side effects to the lead in the same transaction, and
/// asks for a rescore (the activity changes the lead's engagement).
pub async fn create(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Activity, Error> {
    let input = ActivityInput::parse(body, WriteMode::Create)?;
    let lead_id = input.lead.expect("required on create");
    for _ in 0..UPDATE_ATTEMPTS {
        let lead = editable_lead(store, caller, lead_id).await?;
        let now = Utc::now();
        let mut activity = Activity {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            version: 1,
            lead: lead_id,
            activity_type: ActivityType::Note,
            title: String::new(),
            description: String::new(),
            metadata: Map::new(),
            scheduled_at: None,
            is_completed: true,
            user: caller.user_id.clone(),
            created_at: now,
            updated_at: now,
        };
        input.clone().apply(&mut activity, now);
        let after = side_effects(&lead, activity.activity_type, now);
        let audit = after.as_ref().map(|after| {
            AuditEntry::new(
                lead_id,
                AuditAction::Update,
                &caller.user_id,
                now,
                Lead::diff(Some(&lead), Some(after)),
            )
        });
        let change = after
            .as_ref()
            .zip(audit.as_ref())
            .map(|(a, au)| (&lead, a, au));
        match store.create_activity(&activity, change).await {
            Ok(()) => {
                if let Some(after) = &after {
                    queues
                        .request_score(&ScoreRequest::new(after, reason::ACTIVITY))
                        .await;
                }
                return Ok(activity);
            }
            // The lead changed between the read and the write: apply to the new version.
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Activity, Error> {
    let mut before = get(store, caller, id).await?;
    let input = ActivityInput::parse(body, mode)?;
    if input.lead.is_some_and(|l| l != before.lead) {
        return Err(Error::field(
            "lead",
            "An activity cannot be moved to another lead.",
        ));
    }
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            before = get(store, caller, id).await?;
        }
        editable_lead(store, caller, before.lead).await?;
        if if_match.is_some_and(|v| v != before.version) {
            return Err(Error::PreconditionFailed(format!(
                "The activity has changed: If-Match does not match the current version \"{}\".",
                before.version
            )));
        }
        let mut after = before.clone();
        input.clone().apply(&mut after, Utc::now());
        after.version = before.version + 1;
        match store.update_activity(&before, &after).await {
            Ok(()) => return Ok(after),
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The activity is being changed by other requests; try again.".into(),
    ))
}

pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let activity = get(store, caller, id).await?;
    // A deleted lead's activities stay as history; deleting one then is an admin's job.
    match store.get_lead(caller.tenant, activity.lead).await? {
        Some(lead) => crate::leads::require_can_edit(caller, &lead)?,
        None if caller.is_at_least(crm_domain::identity::Role::Admin) => {}
        None => return Err(Error::forbidden()),
    }
    if if_match.is_some_and(|v| v != activity.version) {
        return Err(Error::PreconditionFailed(
            "The activity has changed: If-Match does not match.".into(),
        ));
    }
    store.delete_activity(&activity).await.map_err(store_error)
}

/// One page of activities: the tenant's (or, with `lead`, one lead's timeline, newest
/// first), or the open tasks of a view, each read from its index and bounded per request.
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    query: &ActivityQuery,
    view: View,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Activity>, Error> {
    let t = caller.tenant;
    let now = Utc::now();
    let scan = match (view, query.lead) {
        (View::All, Some(lead)) => IndexScan {
            index: LeadIndex::Score,
            partitions: vec![keys::lead_activities_partition(t, lead)],
            lo: None,
            hi: None,
            descending: true,
        },
        (View::All, None) => IndexScan {
            index: LeadIndex::Created,
            partitions: vec![keys::activities_partition(t)],
            lo: None,
            hi: None,
            descending: true,
        },
        (View::Upcoming, _) => IndexScan {
            index: LeadIndex::FollowUp,
            partitions: vec![keys::tasks_partition(t)],
            lo: Some(keys::sortable_time(now)),
            hi: None,
            descending: false,
        },
        (View::Overdue, _) => IndexScan {
            index: LeadIndex::FollowUp,
            partitions: vec![keys::tasks_partition(t)],
            lo: None,
            // `$` sorts above `#`: every key at or before now.
            hi: Some(format!("{}$", keys::sortable_time(now))),
            descending: false,
        },
    };
    let scope = &query.fingerprint;
    let after = cursors.position(t, scope, cursor)?;
    let keep = |a: &Activity| query.matches(a);
    let (rows, next) = store
        .scan_records(&scan, after.as_deref(), page_size, READ_BUDGET, &keep)
        .await?;
    Ok(Page {
        items: rows.into_iter().map(|(_, a)| a).collect(),
        next: next.map(|position| cursors.forward(t, scope, position)),
        previous: None,
    })
}

/// A lead's timeline (`leads/{id}/activities/`): 404 for a lead the tenant does not have.
pub async fn timeline(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    lead: Uuid,
    query: &QueryParams,
) -> Result<Page<Activity>, Error> {
    query.reject_unknown(&["page_size", "cursor"])?;
    store
        .get_lead(caller.tenant, lead)
        .await?
        .ok_or(Error::NotFound)?;
    let filters = ActivityQuery {
        lead: Some(lead),
        fingerprint: format!("timeline:{lead}"),
        ..ActivityQuery::default()
    };
    list(
        store,
        cursors,
        caller,
        &filters,
        View::All,
        query.page_size()?,
        query.cursor(),
    )
    .await
}
