//! Lead notes. A private note is visible only to its author and to the tenant's owners and
//! admins: other callers get a 404 for it and never see it in a list, so nothing reveals
//! that it exists. Creating a note follows the lead's edit rule; changing or deleting one
//! is for its author, or an admin or owner.

pub use crm_domain::notes::*;

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::identity::Caller;
use crm_domain::lead::WriteMode;
use crm_domain::query::QueryParams;
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::{Conflict, IndexScan, Store, StoreError};
const UPDATE_ATTEMPTS: u32 = 10;
/// Index entries one list request may examine (private notes of others are skipped).
const READ_BUDGET: usize = 1_000;

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Lead) => {
            Error::field("lead", "The lead was deleted meanwhile.")
        }
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The note was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

/// A note the caller may see: someone else's private note is a 404, like a missing one.
pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Note, Error> {
    store
        .get_note(caller.tenant, id)
        .await?
        .filter(|n| n.visible_to(caller))
        .ok_or(Error::NotFound)
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Note, Error> {
    let input = NoteInput::parse(body, WriteMode::Create)?;
    let lead_id = input.lead.expect("required on create");
    let lead = store
        .get_lead(caller.tenant, lead_id)
        .await?
        .ok_or_else(|| crate::sources::missing("lead", lead_id))?;
    crate::leads::require_can_edit(caller, &lead)?;
    let now = Utc::now();
    let mut note = Note {
        id: Uuid::new_v4(),
        tenant_id: caller.tenant,
        version: 1,
        lead: lead_id,
        content: String::new(),
        is_private: false,
        user: caller.user_id.clone(),
        created_at: now,
        updated_at: now,
    };
    input.apply(&mut note, now);
    store.create_note(&note).await.map_err(store_error)?;
    Ok(note)
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Note, Error> {
    let mut before = get(store, caller, id).await?;
    require_author_or_admin(caller, &before)?;
    let input = NoteInput::parse(body, mode)?;
    if input.lead.is_some_and(|l| l != before.lead) {
        return Err(Error::field(
            "lead",
            "A note cannot be moved to another lead.",
        ));
    }
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            before = get(store, caller, id).await?;
        }
        if if_match.is_some_and(|v| v != before.version) {
            return Err(Error::PreconditionFailed(format!(
                "The note has changed: If-Match does not match the current version \"{}\".",
                before.version
            )));
        }
        let mut after = before.clone();
        input.clone().apply(&mut after, Utc::now());
        after.version = before.version + 1;
        match store.update_note(&before, &after).await {
            Ok(()) => return Ok(after),
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The note is being changed by other requests; try again.".into(),
    ))
}

pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let note = get(store, caller, id).await?;
    require_author_or_admin(caller, &note)?;
    if if_match.is_some_and(|v| v != note.version) {
        return Err(Error::PreconditionFailed(
            "The note has changed: If-Match does not match.".into(),
        ));
    }
    store.delete_note(&note).await.map_err(store_error)
}

/// One page of the notes the caller may see: the tenant's, or one lead's (`lead`), newest
/// first. Private notes of others are skipped on the read (bounded per request).
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    query: &QueryParams,
    lead: Option<Uuid>,
    scope: &str,
) -> Result<Page<Note>, Error> {
    let t = caller.tenant;
    let (index, partition) = match lead {
        Some(lead) => (LeadIndex::Score, keys::lead_notes_partition(t, lead)),
        None => (LeadIndex::Created, keys::notes_partition(t)),
    };
    let scan = IndexScan {
        index,
        partitions: vec![partition],
        lo: None,
        hi: None,
        descending: true,
    };
    let after = cursors.position(t, scope, query.cursor())?;
    let keep = |n: &Note| n.visible_to(caller);
    let (rows, next) = store
        .scan_records(
            &scan,
            after.as_deref(),
            query.page_size()?,
            READ_BUDGET,
            &keep,
        )
        .await?;
    Ok(Page {
        items: rows.into_iter().map(|(_, n)| n).collect(),
        next: next.map(|position| cursors.forward(t, scope, position)),
        previous: None,
    })
}

/// `notes/`: the tenant's notes, or one lead's with `lead=`.
pub async fn list_all(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    query: &QueryParams,
) -> Result<Page<Note>, Error> {
    query.reject_unknown(&["page_size", "cursor", "lead"])?;
    let lead = match query
        .single("lead")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(raw) => {
            Some(Uuid::parse_str(raw).map_err(|_| Error::field("lead", "Must be a valid UUID."))?)
        }
        None => None,
    };
    let scope = match lead {
        Some(l) => format!("notes?lead={l}"),
        None => "notes".to_string(),
    };
    list(store, cursors, caller, query, lead, &scope).await
}

/// `leads/{id}/notes/`: 404 for a lead the tenant does not have.
pub async fn timeline(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    lead: Uuid,
    query: &QueryParams,
) -> Result<Page<Note>, Error> {
    query.reject_unknown(&["page_size", "cursor"])?;
    store
        .get_lead(caller.tenant, lead)
        .await?
        .ok_or(Error::NotFound)?;
    list(
        store,
        cursors,
        caller,
        query,
        Some(lead),
        &format!("lead-notes:{lead}"),
    )
    .await
}
