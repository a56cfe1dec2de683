//! Lead writes: create, update (PUT and PATCH) and delete.

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{get, require_can_assign, require_can_edit, stale, store_error, Modified};
use crate::retry::Attempts;
use crate::sources::{self, Resolved};
use crate::tags;
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::{Lead, LeadInput};
use crm_domain::lead_size;
use crm_domain::plan::leads_exhausted;
use crm_domain::validate::Patch;
use crm_domain::Error;
use crm_store::{AuditAction, AuditEntry, Conflict, Store, StoreError};

/// Resolves the source a write names (one read; `None` when the write names none).
async fn resolve_source(
    store: &Store,
    caller: &Caller,
    input: &LeadInput,
) -> Result<Option<Resolved>, Error> {
    match &input.source {
        Patch::Set(reference) => Ok(Some(
            sources::resolve(store, caller, reference, input.source_field).await?,
        )),
        _ => Ok(None),
    }
}

/// The lead's custom-field values after a write, checked against the tenant's definitions
/// (one Query; on create always, since required fields and defaults apply).
async fn custom_values(
    store: &Store,
    caller: &Caller,
    input: &LeadInput,
    current: &Lead,
    creating: bool,
) -> Result<Map<String, Value>, Error> {
    let defs = store.custom_fields(caller.tenant).await?;
    if defs.is_empty() && input.custom_fields.as_ref().is_none_or(Map::is_empty) {
        return Ok(current.custom_fields.clone());
    }
    Ok(crate::custom_fields::lead_values(
        &defs,
        input.custom_fields.as_ref(),
        &current.custom_fields,
        creating,
    )?)
}

/// Whether the write names its source by name (which may create it).
fn names_source(input: &LeadInput) -> bool {
    matches!(input.source, Patch::Set(sources::SourceRef::Name(_)))
}

/// Attempts at a write that creates a source on first use: losing that race to another
/// request means the source now exists, and the next attempt uses it.
const SOURCE_ATTEMPTS: u32 = 3;

/// The assignee a write sets must be a member (once the tenant has members).
async fn require_member(store: &Store, caller: &Caller, input: &LeadInput) -> Result<(), Error> {
    match &input.assigned_to {
        Patch::Set(user) => {
            crate::accounts::members::require_assignable(
                store,
                caller.tenant,
                &[user.as_str()],
                "assigned_to",
            )
            .await
        }
        _ => Ok(()),
    }
}

/// Who may create leads: checked before the body is parsed, so a role that may not write
/// learns nothing from a 400.
pub fn require_can_create(caller: &Caller) -> Result<(), Error> {
    caller.require(Role::User)
}

/// Creates a lead. Its first score comes from the table's stream (the changes worker asks
/// the scoring worker; the lead starts at 0 until that has run, a second or so later).
pub async fn create(store: &Store, caller: &Caller, input: &LeadInput) -> Result<Lead, Error> {
    require_can_create(caller)?;
    require_can_assign(caller, &input.assigned_to)?;
    require_member(store, caller, input).await?;
    if let Some(ids) = &input.tag_ids {
        tags::require_existing(store, caller.tenant, ids).await?;
    }
    let max_leads = crate::plan::limits(store, caller.tenant).await?.max_leads;
    for _ in 0..SOURCE_ATTEMPTS {
        let source = resolve_source(store, caller, input).await?;
        let now = Utc::now();
        let mut lead = Lead::create(caller.tenant, input.clone(), &caller.user_id, now);
        if let Some(source) = &source {
            lead.set_source(Some(source.id_and_name()));
        }
        lead.custom_fields = custom_values(store, caller, input, &lead, true).await?;
        lead_size::check_size(&lead)?;
        let audit = AuditEntry::lead(
            caller.provenance(),
            lead.id,
            AuditAction::Create,
            now,
            Lead::diff(None, Some(&lead)),
        );
        let new_source = source.as_ref().and_then(Resolved::new_source);
        match store
            .create_lead_with(&lead, &audit, new_source, Some(max_leads))
            .await
        {
            Ok(()) => return Ok(lead),
            Err(StoreError::Conflict(Conflict::Name)) => continue,
            // A source named by name was deleted meanwhile: the next attempt creates it.
            Err(StoreError::Conflict(Conflict::Source)) if names_source(input) => continue,
            Err(StoreError::Conflict(Conflict::PlanLimit)) => {
                return Err(Error::PlanLimit(leads_exhausted(max_leads)))
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead's source is being created by other requests; try again.".into(),
    ))
}

/// The lead a caller may change, read (404) and checked against the edit rule (403)
/// before the request's body is parsed, so those answers come before the body's problems.
pub async fn editable(store: &Store, caller: &Caller, id: Uuid) -> Result<Lead, Error> {
    caller.require(Role::User)?;
    let lead = get(store, caller, id).await?;
    require_can_edit(caller, &lead)?;
    Ok(lead)
}

/// Updates a lead from a PUT or PATCH body's input, starting from the lead [`editable`]
/// read (a change to a field the score reads is rescored from the stream). The same
/// read-modify-write as [`super::modify`], with two more steps per attempt that need the
/// store: resolving a source named by name (created in the lead's transaction on first
/// use; a lost race to create it retries with the winner's) and checking custom-field
/// values against the tenant's definitions.
pub async fn update(
    store: &Store,
    caller: &Caller,
    read: Lead,
    input: &LeadInput,
    if_match: Option<u64>,
) -> Result<Modified, Error> {
    caller.require(Role::User)?;
    require_member(store, caller, input).await?;
    if let Some(ids) = &input.tag_ids {
        tags::require_existing(store, caller.tenant, ids).await?;
    }
    let id = read.id;
    let mut first = Some(read);
    let mut attempts = Attempts::default();
    while attempts.next().await {
        let before = match first.take() {
            Some(lead) => lead,
            None => get(store, caller, id).await?,
        };
        require_can_edit(caller, &before)?;
        require_can_assign(caller, &input.assigned_to)?;
        if if_match.is_some_and(|v| !before.matches_etag(v)) {
            return Err(stale(before.version));
        }
        let now = Utc::now();
        let source = resolve_source(store, caller, input).await?;
        let mut after = before.clone();
        after.apply(input.clone(), now);
        if let Some(source) = &source {
            after.set_source(Some(source.id_and_name()));
        }
        if input.custom_fields.is_some() {
            after.custom_fields = custom_values(store, caller, input, &before, false).await?;
        }
        let changes = Lead::diff(Some(&before), Some(&after));
        if changes.is_empty() {
            return Ok(Modified::unchanged(before));
        }
        lead_size::check_size(&after)?;
        after.version = before.version + 1;
        let audit = AuditEntry::lead(caller.provenance(), id, AuditAction::Update, now, changes);
        let new_source = source.as_ref().and_then(Resolved::new_source);
        let logged = crate::activities::for_lead_change(&before, &after, &caller.user_id, now);
        match store
            .update_lead_logged(&before, &after, &audit, new_source, &logged)
            .await
        {
            Ok(()) => return Ok(Modified { before, after }),
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            // Another request created the named source first: use it on the next attempt.
            Err(StoreError::Conflict(Conflict::Name)) => continue,
            Err(StoreError::Conflict(Conflict::Source)) if names_source(input) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

/// Deletes a lead (admins and owners). `if_match` pins the version as for updates.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    if !caller.is_at_least(Role::Admin) {
        return Err(Error::forbidden());
    }
    let mut attempts = Attempts::default();
    while attempts.next().await {
        let lead = get(store, caller, id).await?;
        if if_match.is_some_and(|v| !lead.matches_etag(v)) {
            return Err(stale(lead.version));
        }
        let now = Utc::now();
        let audit = AuditEntry::lead(
            caller.provenance(),
            id,
            AuditAction::Delete,
            now,
            Lead::diff(Some(&lead), None),
        );
        match store.delete_lead(&lead, &audit).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}
