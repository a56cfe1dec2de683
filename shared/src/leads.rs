//! Lead operations: the role rules, validation, optimistic locking and audit trail around
//! the store. Handlers call these and only map the result to a response.

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::cursor::{paginate, CursorCodec, Page};
use crate::error::ApiError;
use crate::lead::{Lead, LeadInput, WriteMode};
use crate::store::{lead_position, AuditAction, AuditEntry, Conflict, Store, StoreError};
use crate::validate::Patch;

pub const EMAIL_TAKEN: &str = "lead with this email already exists.";
/// Attempts at a read-modify-write when no `If-Match` pins the version. Each lost race
/// waits a little (with jitter, so racing writers spread out) before reading again.
const UPDATE_ATTEMPTS: u32 = 10;

async fn back_off(attempt: u32) {
    let jitter = (Uuid::new_v4().as_u128() % 10) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(
        5 * u64::from(attempt) + jitter,
    ))
    .await;
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(Conflict::Email) => ApiError::field("email", EMAIL_TAKEN),
        StoreError::Conflict(Conflict::Version) => ApiError::PreconditionFailed(
            "The lead was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

fn require_writer(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_at_least(Role::User) {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// A `user` edits only leads assigned to them or to nobody; managers and above edit any.
fn require_can_edit(caller: &Caller, lead: &Lead) -> Result<(), ApiError> {
    require_writer(caller)?;
    let mine_or_free = lead
        .assigned_to
        .as_deref()
        .is_none_or(|user| user == caller.user_id);
    if caller.is_at_least(Role::Manager) || mine_or_free {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "You can only edit leads assigned to you or unassigned.".into(),
        ))
    }
}

/// Assigning a lead to someone else is a manager's job; a `user` may take a lead or
/// leave it unassigned.
fn require_can_assign(caller: &Caller, assigned: &Patch<String>) -> Result<(), ApiError> {
    match assigned {
        Patch::Set(user) if *user != caller.user_id && !caller.is_at_least(Role::Manager) => Err(
            ApiError::Forbidden("Only managers and above can assign leads to other users.".into()),
        ),
        _ => Ok(()),
    }
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Lead, ApiError> {
    require_writer(caller)?;
    let input = LeadInput::parse(body, WriteMode::Create)?;
    require_can_assign(caller, &input.assigned_to)?;
    let now = Utc::now();
    let lead = Lead::create(caller.tenant, input, &caller.user_id, now);
    let audit = AuditEntry::new(
        lead.id,
        AuditAction::Create,
        &caller.user_id,
        now,
        Lead::diff(None, Some(&lead)),
    );
    store
        .create_lead(&lead, &audit)
        .await
        .map_err(store_error)?;
    Ok(lead)
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Lead, ApiError> {
    store
        .get_lead(caller.tenant, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Updates a lead. With `if_match` the write applies only to that version (else 412);
/// without it, the change is applied to whatever version is current, re-reading on a race
/// so that no concurrent field update is lost.
pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Lead, ApiError> {
    require_writer(caller)?;
    let mut input = None;
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let before = get(store, caller, id).await?;
        require_can_edit(caller, &before)?;
        let input = match &input {
            Some(input) => input,
            None => input.insert(LeadInput::parse(body, mode)?),
        };
        require_can_assign(caller, &input.assigned_to)?;
        if if_match.is_some_and(|v| v != before.version) {
            return Err(stale(before.version));
        }
        let now = Utc::now();
        let mut after = before.clone();
        after.apply(input.clone(), now);
        let changes = Lead::diff(Some(&before), Some(&after));
        if changes.is_empty() {
            return Ok(before);
        }
        after.version = before.version + 1;
        let audit = AuditEntry::new(id, AuditAction::Update, &caller.user_id, now, changes);
        match store.update_lead(&before, &after, &audit).await {
            Ok(()) => return Ok(after),
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

fn stale(current: u64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "The lead has changed: If-Match does not match the current version \"{current}\"."
    ))
}

/// Deletes a lead (admins and owners). `if_match` pins the version as for updates.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), ApiError> {
    if !caller.is_at_least(Role::Admin) {
        return Err(ApiError::forbidden());
    }
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let lead = get(store, caller, id).await?;
        if if_match.is_some_and(|v| v != lead.version) {
            return Err(stale(lead.version));
        }
        let now = Utc::now();
        let audit = AuditEntry::new(
            id,
            AuditAction::Delete,
            &caller.user_id,
            now,
            Lead::diff(Some(&lead), None),
        );
        match store.delete_lead(&lead, &audit).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

/// The tenant's leads, newest first, one page.
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Lead>, ApiError> {
    let tenant = caller.tenant;
    paginate(
        cursors,
        tenant,
        "leads:created",
        page_size,
        cursor,
        lead_position,
        |forward, limit, start| store.leads_by_created(tenant, forward, limit, start),
    )
    .await
    .map_err(|_| ApiError::field("cursor", "Invalid cursor."))?
    .map_err(ApiError::from)
}
