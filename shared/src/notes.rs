//! Lead notes. A private note is visible only to its author and to the tenant's owners and
//! admins: other callers get a 404 for it and never see it in a list, so nothing reveals
//! that it exists. Creating a note follows the lead's edit rule; changing or deleting one
//! is for its author, or an admin or owner.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::cursor::{CursorCodec, Page};
use crate::error::ApiError;
use crate::http::ListQuery;
use crate::keys::{self, LeadIndex};
use crate::lead::WriteMode;
use crate::store::{Conflict, IndexScan, Store, StoreError};
use crate::validate::{Input, Patch, Text};

const CONTENT_MAX: usize = 10_000;
const UPDATE_ATTEMPTS: u32 = 10;
/// Index entries one list request may examine (private notes of others are skipped).
const READ_BUDGET: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: Uuid,
    pub tenant_id: crate::tenant::TenantId,
    pub version: u64,
    pub lead: Uuid,
    pub content: String,
    pub is_private: bool,
    /// The author's user id.
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Note {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "lead": self.lead,
            "content": self.content,
            "is_private": self.is_private,
            "user": self.user,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The privacy rule, in one place for details, lists and counts.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        !self.is_private || self.user == caller.user_id || caller.is_at_least(Role::Admin)
    }
}

#[derive(Clone, Debug, Default)]
struct NoteInput {
    lead: Option<Uuid>,
    content: Option<String>,
    is_private: Option<bool>,
}

impl NoteInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, ApiError> {
        let mut i = Input::new(body);
        i.require("content", mode != WriteMode::Partial);
        if mode == WriteMode::Create {
            i.require("lead", true);
        }
        let lead = match i.uuid("lead") {
            Patch::Set(id) => Some(id),
            Patch::Clear => {
                i.error("lead", crate::validate::NOT_NULL);
                None
            }
            Patch::Absent => None,
        };
        let content = match i.text("content", Text::required(CONTENT_MAX)) {
            Patch::Set(c) => Some(c),
            _ => None,
        };
        let is_private = match i.boolean("is_private") {
            Patch::Set(b) => Some(b),
            Patch::Clear => {
                i.error("is_private", crate::validate::NOT_NULL);
                None
            }
            Patch::Absent => None,
        };
        i.finish()?;
        Ok(Self {
            lead,
            content,
            is_private,
        })
    }

    fn apply(self, n: &mut Note, now: DateTime<Utc>) {
        if let Some(c) = self.content {
            n.content = c;
        }
        if let Some(p) = self.is_private {
            n.is_private = p;
        }
        n.updated_at = now;
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(Conflict::Lead) => {
            ApiError::field("lead", "The lead was deleted meanwhile.")
        }
        StoreError::Conflict(Conflict::Version) => ApiError::PreconditionFailed(
            "The note was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

/// A note the caller may see: someone else's private note is a 404, like a missing one.
pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Note, ApiError> {
    store
        .get_note(caller.tenant, id)
        .await?
        .filter(|n| n.visible_to(caller))
        .ok_or(ApiError::NotFound)
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Note, ApiError> {
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

fn require_author_or_admin(caller: &Caller, note: &Note) -> Result<(), ApiError> {
    if note.user == caller.user_id || caller.is_at_least(Role::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Only the note's author or an admin can change it.".into(),
        ))
    }
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Note, ApiError> {
    let mut before = get(store, caller, id).await?;
    require_author_or_admin(caller, &before)?;
    let input = NoteInput::parse(body, mode)?;
    if input.lead.is_some_and(|l| l != before.lead) {
        return Err(ApiError::field(
            "lead",
            "A note cannot be moved to another lead.",
        ));
    }
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            before = get(store, caller, id).await?;
        }
        if if_match.is_some_and(|v| v != before.version) {
            return Err(ApiError::PreconditionFailed(format!(
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
    Err(ApiError::Conflict(
        "The note is being changed by other requests; try again.".into(),
    ))
}

pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), ApiError> {
    let note = get(store, caller, id).await?;
    require_author_or_admin(caller, &note)?;
    if if_match.is_some_and(|v| v != note.version) {
        return Err(ApiError::PreconditionFailed(
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
    query: &ListQuery,
    lead: Option<Uuid>,
    scope: &str,
) -> Result<Page<Note>, ApiError> {
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
    query: &ListQuery,
) -> Result<Page<Note>, ApiError> {
    query.reject_unknown(&["page_size", "cursor", "lead"])?;
    let lead = match query
        .single("lead")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(raw) => Some(
            Uuid::parse_str(raw).map_err(|_| ApiError::field("lead", "Must be a valid UUID."))?,
        ),
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
    query: &ListQuery,
) -> Result<Page<Note>, ApiError> {
    query.reject_unknown(&["page_size", "cursor"])?;
    store
        .get_lead(caller.tenant, lead)
        .await?
        .ok_or(ApiError::NotFound)?;
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
