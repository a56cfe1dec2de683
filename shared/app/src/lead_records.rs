//! What notes and activities share as records on a lead: the lead they are written on,
//! checked against the caller's edit rule; the lead of a timeline, which must exist; and
//! their lists, read from an index a page at a time with a bound on what one request reads.

use std::future::Future;

use uuid::Uuid;

use crate::resource::{Ctx, Resource};
use crm_domain::cursor::Page;
use crm_domain::identity::Caller;
use crm_domain::lead::Lead;
use crm_domain::query::QueryParams;
use crm_domain::Error;
use crm_store::keys::LeadIndex;
use crm_store::{Conflict, IndexScan, Store};

/// Index entries one list request may examine when most are skipped (filters, privacy).
const READ_BUDGET: usize = 1_000;

/// The lead of a record deleted between the check and the write: a 400 on `lead`.
pub fn lead_deleted(conflict: Conflict) -> Option<Error> {
    (conflict == Conflict::Lead).then(|| Error::field("lead", "The lead was deleted meanwhile."))
}

/// The lead a record is written on, checked against the caller's edit rule. A lead of
/// another tenant (or none) is a 400 naming `lead`, as DRF answers an unknown related id.
pub async fn editable_lead(store: &Store, caller: &Caller, id: Uuid) -> Result<Lead, Error> {
    let lead = store
        .get_lead(caller.tenant, id)
        .await?
        .ok_or_else(|| crate::sources::missing("lead", id))?;
    crate::leads::require_can_edit(caller, &lead)?;
    Ok(lead)
}

/// A record kept on a lead's timeline (`leads/{id}/activities/`, `leads/{id}/notes/`).
pub trait OnTimeline: Resource {
    /// One page of the lead's records: 404 for a lead the tenant does not have.
    fn timeline(
        ctx: Ctx<'_>,
        caller: &Caller,
        lead: Uuid,
        query: &QueryParams,
    ) -> impl Future<Output = Result<Page<Self>, Error>> + Send;
}

/// Before a lead's timeline (`leads/{id}/activities/`, `leads/{id}/notes/`): only paging
/// parameters, and a 404 for a lead the tenant does not have.
pub async fn require_timeline(
    store: &Store,
    caller: &Caller,
    lead: Uuid,
    query: &QueryParams,
) -> Result<(), Error> {
    query.reject_unknown(&["page_size", "cursor"])?;
    store
        .get_lead(caller.tenant, lead)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(())
}

/// One index partition, newest first.
pub fn newest_first(index: LeadIndex, partition: String) -> IndexScan {
    IndexScan {
        index,
        partitions: vec![partition],
        lo: None,
        hi: None,
        descending: true,
    }
}

/// One page of an index read: the records `keep` accepts, from `after` (the position the
/// request's cursor names in `scope`), reading at most [`READ_BUDGET`] entries.
pub async fn scan_page<R: Resource>(
    ctx: Ctx<'_>,
    caller: &Caller,
    scope: &str,
    scan: &IndexScan,
    after: Option<String>,
    page_size: usize,
    keep: &(dyn Fn(&R) -> bool + Sync),
) -> Result<Page<R>, Error> {
    let (rows, next) = ctx
        .store
        .scan_records(scan, after.as_deref(), page_size, READ_BUDGET, keep)
        .await?;
    Ok(Page {
        items: rows.into_iter().map(|(_, r)| r).collect(),
        next: next.map(|position| ctx.cursors.forward(caller.tenant, scope, position)),
        previous: None,
    })
}
