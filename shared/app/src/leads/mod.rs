//! Lead operations: the role rules, validation, optimistic locking and audit trail around
//! the store. Handlers call these and only map the result to a response.
//!
//! This module holds the rules every lead change shares (who may edit or assign, the
//! read-modify-write [`modify`]); `write` creates, updates and deletes leads, `list` plans
//! and pages lists (with `search` for text queries), `related` adds what lead responses
//! show of other records and the dashboard.

mod history;
mod list;
mod related;
mod search;
mod write;

pub use history::{history, history_json};
pub use list::list;
pub use related::{dashboard, detail_extras, Related, DETAIL_NOTES, RECENT_ACTIVITIES};
pub use write::{create, delete, editable, require_can_create, update};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::retry::Attempts;
use crm_domain::audit::{Origin, Provenance};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::Lead;
use crm_domain::tenant::TenantId;
use crm_domain::validate::Patch;
use crm_domain::Error;
use crm_store::{AuditAction, AuditEntry, Conflict, Store, StoreError};

pub const EMAIL_TAKEN: &str = "lead with this email already exists.";
fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Email) => Error::field("email", EMAIL_TAKEN),
        StoreError::Conflict(Conflict::Source) => {
            Error::field("source_id", "The source was deleted; choose another.")
        }
        StoreError::Conflict(Conflict::Tag) => {
            Error::field("tag_ids", "A tag was deleted meanwhile; choose again.")
        }
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The lead was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

/// A `user` edits only leads assigned to them or to nobody; managers and above edit any.
pub fn require_can_edit(caller: &Caller, lead: &Lead) -> Result<(), Error> {
    caller.require(Role::User)?;
    let mine_or_free = lead
        .assigned_to
        .as_deref()
        .is_none_or(|user| user == caller.user_id);
    if caller.is_at_least(Role::Manager) || mine_or_free {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "You can only edit leads assigned to you or unassigned.".into(),
        ))
    }
}

/// Assigning a lead to someone else is a manager's job; a `user` may take a lead or
/// leave it unassigned.
fn require_can_assign(caller: &Caller, assigned: &Patch<String>) -> Result<(), Error> {
    match assigned {
        Patch::Set(user) if *user != caller.user_id && !caller.is_at_least(Role::Manager) => Err(
            Error::Forbidden("Only managers and above can assign leads to other users.".into()),
        ),
        _ => Ok(()),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Lead, Error> {
    store
        .get_lead(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

/// A lead before and after a change. When the change altered nothing, nothing was written
/// and both are the stored lead.
#[derive(Debug)]
pub struct Modified {
    pub before: Lead,
    pub after: Lead,
}

impl Modified {
    /// A write that changes nothing: the lead as stored, before and after.
    pub fn unchanged(lead: Lead) -> Self {
        Modified {
            after: lead.clone(),
            before: lead,
        }
    }

    pub fn changed(&self) -> bool {
        self.before.version != self.after.version
    }
}

/// Who changes a lead and how the audit trail names the change.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub tenant: TenantId,
    pub user_id: &'a str,
    pub action: AuditAction,
    /// Where the request came from (nowhere, for a worker's write).
    pub origin: &'a Origin,
    /// The tenant plan's `audit_retention_days`, for the entry's expiry.
    pub retention_days: u64,
    /// The operation the change is one of (`bulk`), noted on its audit entry.
    pub via: Option<&'static str>,
}

impl<'a> Actor<'a> {
    /// A signed-in caller's change.
    pub fn caller(caller: &'a Caller, action: AuditAction) -> Self {
        Actor {
            tenant: caller.tenant,
            user_id: &caller.user_id,
            action,
            origin: &caller.origin,
            retention_days: caller.audit_retention_days,
            via: None,
        }
    }

    pub fn provenance(&self) -> Provenance<'a> {
        Provenance {
            actor: self.user_id,
            origin: self.origin,
            retention_days: self.retention_days,
        }
    }
}

/// The read-modify-write every lead change goes through: read the lead (strongly
/// consistent; or start from `first`, a copy just read, e.g. by a batch read), let
/// `change` edit a copy or refuse, and write it back in one transaction (with its audit
/// entry, index keys and counters) if nobody changed it in between.
///
/// With `if_match` the write applies only if no client-written field changed since that
/// version (else 412; see [`Lead::matches_etag`]: the system's own writes, such as a
/// rescore, leave a client's ETag valid). Without it, a lost race reads again and
/// re-applies `change` to the newer version, so concurrent changes to different fields are
/// all kept. `change` sees the stored lead and the copy to edit, and
/// may be called several times; role checks belong in it, since they depend on the lead.
pub async fn modify<F>(
    store: &Store,
    actor: Actor<'_>,
    id: Uuid,
    if_match: Option<u64>,
    first: Option<Lead>,
    mut change: F,
) -> Result<Modified, Error>
where
    F: FnMut(&Lead, &mut Lead, DateTime<Utc>) -> Result<(), Error>,
{
    let mut first = first.filter(|lead| lead.id == id && lead.tenant_id == actor.tenant);
    // A lost race reads again after the shared policy's back-off (`crate::retry`).
    let mut attempts = Attempts::default();
    while attempts.next().await {
        let before = match first.take() {
            Some(lead) => lead,
            None => store
                .get_lead(actor.tenant, id)
                .await?
                .ok_or(Error::NotFound)?,
        };
        let now = Utc::now();
        let mut after = before.clone();
        change(&before, &mut after, now)?;
        if if_match.is_some_and(|v| !before.matches_etag(v)) {
            return Err(stale(before.version));
        }
        let changes = Lead::diff(Some(&before), Some(&after));
        if changes.is_empty() {
            return Ok(Modified::unchanged(before));
        }
        crm_domain::lead_size::check_size(&after)?;
        after.version = before.version + 1;
        after.updated_at = now;
        let audit =
            AuditEntry::lead(actor.provenance(), id, actor.action, now, changes).via(actor.via);
        let logged = crate::activities::for_lead_change(&before, &after, actor.user_id, now);
        match store
            .update_lead_logged(&before, &after, &audit, None, &logged)
            .await
        {
            Ok(()) => return Ok(Modified { before, after }),
            // Read again: with `if_match`, the check above decides whether what changed
            // meanwhile (a rescore, say) leaves the client's version current.
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

/// A change by a signed-in user: the lead's edit rule applies before `change` runs.
pub async fn modify_as_caller<F>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
    first: Option<Lead>,
    change: F,
) -> Result<Modified, Error>
where
    F: FnMut(&Lead, &mut Lead, DateTime<Utc>) -> Result<(), Error>,
{
    let actor = Actor::caller(caller, AuditAction::Update);
    modify_checked(store, caller, actor, id, if_match, first, change).await
}

/// [`modify_as_caller`] for one lead of a bulk operation: its entry says so.
pub async fn modify_in_bulk<F>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    first: Option<Lead>,
    change: F,
) -> Result<Modified, Error>
where
    F: FnMut(&Lead, &mut Lead, DateTime<Utc>) -> Result<(), Error>,
{
    let actor = Actor {
        via: Some("bulk"),
        ..Actor::caller(caller, AuditAction::Update)
    };
    modify_checked(store, caller, actor, id, None, first, change).await
}

async fn modify_checked<F>(
    store: &Store,
    caller: &Caller,
    actor: Actor<'_>,
    id: Uuid,
    if_match: Option<u64>,
    first: Option<Lead>,
    mut change: F,
) -> Result<Modified, Error>
where
    F: FnMut(&Lead, &mut Lead, DateTime<Utc>) -> Result<(), Error>,
{
    caller.require(Role::User)?;
    modify(store, actor, id, if_match, first, |before, after, now| {
        require_can_edit(caller, before)?;
        change(before, after, now)
    })
    .await
}

fn stale(current: u64) -> Error {
    Error::PreconditionFailed(format!(
        "The lead has changed: If-Match does not match the current version \"{current}\"."
    ))
}
