//! Bulk operations on leads: one field change (`bulk-update`) or an assignment
//! (`bulk-assign`, to one user or spread over several) applied to up to [`MAX_IDS`] leads.
//!
//! Each lead goes through the same read-modify-write as a single PATCH
//! ([`crate::leads::modify`]): one transaction per lead with its audit entry, index entries
//! and dashboard counters, conditioned on the version read, re-read and re-applied on a
//! lost race. So a bulk operation is all-or-nothing per lead, not for the whole batch: the
//! response says what happened to each id, in request order.
//!
//! Cost: the leads are read with `BatchGetItem` (one round trip per 100 ids), then written
//! [`IN_FLIGHT`] at a time, one `TransactWriteItems` each, exactly what the same PATCHes
//! would write. Leads that would not change are not written.

mod assign;
mod jobs;
mod scores;

pub use assign::assign;
pub use scores::update_scores;

use std::sync::Arc;

use serde::Serialize;
use uuid::Uuid;

use crate::sources::{self, Resolved, SourceRef};
use crm_domain::bulk::{BulkTag, BulkUpdate, TagChange, Target};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::LeadInput;
use crm_domain::validate::Patch;
use crm_domain::Error;
use crm_store::{Store, StoreError};
use jobs::{read_targets, run, Job};

pub use crm_domain::bulk::{MAX_ASSIGNEES, MAX_IDS};

/// Lead writes (and assignee counts) in flight at once: enough to finish 1,000 leads in a
/// second or two, few enough not to throttle the tenant's partitions. Every lead
/// transaction also adds to the tenant's one counters item, where concurrent transactions
/// can cancel each other (`TransactionConflict`); those are retried per lead.
pub const IN_FLIGHT: usize = 16;
/// Items a least-loaded count reads per assignee at most (see [`Store::count_assigned`]).
pub const COUNT_CAP: usize = 10_000;
/// Tries per lead when its transaction is throttled or cancelled by a concurrent one. In
/// DynamoDB every lead transaction of a tenant also updates the tenant's counters item, and
/// transactions touching one item at the same time cancel each other
/// (`TransactionConflict`), so with 16 in flight some of them lose and must go again; the
/// backoff (doubling from 50 ms, at most 800 ms, with jitter) spreads them out.
const THROTTLE_ATTEMPTS: u32 = 8;

/// Bulk operations are a manager's job (the original's role rules).
pub fn require_bulk(caller: &Caller) -> Result<(), Error> {
    if caller.is_at_least(Role::Manager) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Only managers and above can run bulk operations.".into(),
        ))
    }
}

/// What happened to one requested id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Updated,
    /// The lead already had the values: nothing was written.
    Unchanged,
    /// No such lead in the caller's tenant (or not a UUID). Another tenant's lead is
    /// reported the same way, so a response never tells whether an id exists elsewhere.
    NotFound,
    Forbidden,
    /// The lead could not be written (throttled, a persistent race, DynamoDB trouble); it
    /// is unchanged and the request may be retried for it.
    Error,
    /// A rescore was queued (`update-scores`).
    Queued,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemResult {
    pub id: String,
    pub status: Outcome,
    /// For a balanced assignment: whom the lead was given to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `{"updated_count": n, "results": [...]}`, results in request order.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub updated_count: usize,
    pub results: Vec<ItemResult>,
}

/// The message a client may see for a lead's failure (no internals).
fn public_message(e: &Error) -> String {
    match e {
        Error::Internal(reason) => {
            tracing::error!(error = %reason, "bulk: a lead write failed");
            "A server error occurred.".into()
        }
        Error::Unavailable(_) | Error::Throttled => {
            "Service temporarily unavailable, try again later.".into()
        }
        Error::Validation(errors) => errors.messages().cloned().collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// The source a bulk update sets, resolved once: by id (400 naming `field`, the one the
/// client used, when the tenant has none such), or by name, creating the source first when
/// it is new (as a single lead write would, but once rather than in every lead's
/// transaction).
async fn source_for_all(
    store: &Store,
    caller: &Caller,
    reference: &SourceRef,
    field: &str,
) -> Result<(Uuid, String), Error> {
    for _ in 0..3 {
        match sources::resolve(store, caller, reference, field).await? {
            Resolved::Existing(id, name) => return Ok((id, name)),
            Resolved::New(source) => {
                let audit = crate::resource::audit_entry(
                    caller,
                    crm_domain::audit::AuditAction::Create,
                    None,
                    Some(&source),
                    source.created_at,
                )
                .via(Some("bulk"));
                match store.create_source(&source, &audit).await {
                    Ok(()) => return Ok((source.id, source.name)),
                    // Created by another request meanwhile: resolve again to use it.
                    Err(StoreError::Conflict(_)) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Err(Error::Conflict(
        "The source is being created by other requests; try again.".into(),
    ))
}

/// The same write for every found lead of `targets` (a missing id is reported as such):
/// `change`, and the source (`bulk-update`) or the tag change (`bulk-tag`) resolved once
/// for the whole request.
async fn same_for_all(
    store: &Store,
    caller: &Caller,
    targets: &[Target],
    change: &LeadInput,
    source: Option<(Uuid, String)>,
    tags: Option<Arc<TagChange>>,
) -> Result<Vec<Job>, Error> {
    let found = read_targets(store, caller.tenant, targets).await?;
    Ok(found
        .into_iter()
        .map(|found| match found {
            Ok(lead) => Job::Write {
                lead: Box::new(lead),
                change: Box::new(change.clone()),
                source: source.clone(),
                tags: tags.clone(),
                shown: None,
            },
            Err(id) => Job::Missing(id),
        })
        .collect())
}

/// `bulk-update`: the same change to every lead.
pub async fn update(store: &Store, caller: &Caller, req: &BulkUpdate) -> Result<Report, Error> {
    require_bulk(caller)?;
    if let Patch::Set(user) = &req.change.assigned_to {
        crate::accounts::members::require_assignable(
            store,
            caller.tenant,
            &[user.as_str()],
            "assigned_to",
        )
        .await?;
    }
    if let Some(ids) = &req.change.tag_ids {
        crate::tags::require_existing(store, caller.tenant, ids).await?;
    }
    let source = match &req.change.source {
        Patch::Set(reference) => {
            Some(source_for_all(store, caller, reference, req.change.source_field).await?)
        }
        _ => None,
    };
    let jobs = same_for_all(store, caller, &req.targets, &req.change, source, None).await?;
    Ok(run(store, caller, jobs, "bulk update").await)
}

/// `bulk-tag`: adds and removes tags on every lead, keeping each lead's other tags. The
/// tags to add must exist in the tenant (400 naming `add`); a lead that would end with more
/// than [`crate::tags::MAX_PER_LEAD`] tags is reported as an error and left unchanged.
pub async fn tag(store: &Store, caller: &Caller, req: &BulkTag) -> Result<Report, Error> {
    require_bulk(caller)?;
    crate::tags::require_existing(store, caller.tenant, &req.change.add)
        .await
        .map_err(|e| match e {
            Error::Validation(mut errors) => {
                errors.rename("tag_ids", "add");
                Error::Validation(errors)
            }
            other => other,
        })?;
    let tags = Some(Arc::new(req.change.clone()));
    let no_change = LeadInput::default();
    let jobs = same_for_all(store, caller, &req.targets, &no_change, None, tags).await?;
    Ok(run(store, caller, jobs, "bulk tag").await)
}
