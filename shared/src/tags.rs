//! Lead tags: name unique per tenant (case-insensitively), a hex colour, admins to write.
//!
//! A lead carries `tag_ids`; each of its tags also holds a membership copy of the lead
//! (see `keys::tag_membership`), written in the lead's own transaction together with the
//! tag's exact `leads_count`. The `tags=` list filter reads those memberships, and deleting
//! a tag walks them, page by page, removing the tag from each lead before the tag goes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::cursor::{CursorCodec, Page};
use crate::error::ApiError;
use crate::lead::{Lead, WriteMode};
use crate::store::{AuditAction, AuditEntry, Conflict, Store, StoreError};
use crate::tenant::TenantId;
use crate::validate::{Input, Patch, Text};

pub const NAME_MAX: usize = 50;
pub const NAME_TAKEN: &str = "lead tag with this name already exists.";
pub const DEFAULT_COLOR: &str = "#007bff";
/// Tags per lead. Each tag adds a membership write to every write of the lead, and a
/// transaction holds at most 100 actions.
pub const MAX_PER_LEAD: usize = 10;
const DESCRIPTION_MAX: usize = 10_000;
const UPDATE_ATTEMPTS: u32 = 10;
/// Leads a tag deletion untags per request; beyond, the client repeats the DELETE.
const DELETE_BUDGET: usize = 500;
const DELETE_PAGE: usize = 25;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub version: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
    pub is_active: bool,
    /// Maintained by the lead writes' `ADD`s; never written by a tag edit.
    #[serde(default)]
    pub leads_count: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Tag {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "color": self.color,
            "description": self.description,
            "is_active": self.is_active,
            "leads_count": self.leads_count.max(0),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The nested shape a lead shows.
    pub fn summary(&self) -> Value {
        json!({"id": self.id, "name": self.name, "color": self.color})
    }
}

fn is_hex_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
}

#[derive(Clone, Debug, Default)]
pub struct TagInput {
    pub name: Option<String>,
    pub color: Option<String>,
    pub description: Patch<String>,
    pub is_active: Option<bool>,
}

impl TagInput {
    pub fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, ApiError> {
        let mut i = Input::new(body);
        i.require("name", mode != WriteMode::Partial);
        let name = match i.text("name", Text::required(NAME_MAX)) {
            Patch::Set(n) => Some(n),
            _ => None,
        };
        let color = match i.text("color", Text::required(7)) {
            Patch::Set(c) if is_hex_color(&c) => Some(c.to_lowercase()),
            Patch::Set(_) => {
                i.error("color", "Enter a hex colour such as #007bff.");
                None
            }
            _ => None,
        };
        let description = i.text("description", Text::optional(DESCRIPTION_MAX));
        let is_active = match i.boolean("is_active") {
            Patch::Set(b) => Some(b),
            Patch::Clear => {
                i.error("is_active", crate::validate::NOT_NULL);
                None
            }
            Patch::Absent => None,
        };
        i.finish()?;
        Ok(Self {
            name,
            color,
            description,
            is_active,
        })
    }

    fn apply(self, t: &mut Tag, now: DateTime<Utc>) {
        if let Some(name) = self.name {
            t.name = name;
        }
        if let Some(color) = self.color {
            t.color = color;
        }
        self.description.apply_to(&mut t.description);
        if let Some(active) = self.is_active {
            t.is_active = active;
        }
        t.updated_at = now;
    }
}

/// `tag_ids` in a lead write: a list of distinct tag ids (at most [`MAX_PER_LEAD`]).
pub fn parse_tag_ids(i: &mut Input<'_>, body: &Map<String, Value>) -> Option<Vec<Uuid>> {
    let raw = body.get("tag_ids")?;
    let Value::Array(items) = raw else {
        let message = if raw.is_null() {
            crate::validate::NOT_NULL.to_string()
        } else {
            "Expected a list of items.".to_string()
        };
        i.error("tag_ids", message);
        return None;
    };
    let mut ids: Vec<Uuid> = Vec::new();
    for item in items {
        match item.as_str().map(|s| Uuid::parse_str(s.trim())) {
            Some(Ok(id)) => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => {
                i.error(
                    "tag_ids",
                    format!("\u{201c}{item}\u{201d} is not a valid UUID."),
                );
                return None;
            }
        }
    }
    if ids.len() > MAX_PER_LEAD {
        i.error(
            "tag_ids",
            format!("Ensure this field has no more than {MAX_PER_LEAD} elements."),
        );
        return None;
    }
    Some(ids)
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(Conflict::Name) => ApiError::field("name", NAME_TAKEN),
        StoreError::Conflict(Conflict::Version) => ApiError::PreconditionFailed(
            "The tag was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Tag, ApiError> {
    store
        .get_tag(caller.tenant, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Checks that every id names a tag of the tenant (one batch read): 400 on `tag_ids`.
pub async fn require_existing(
    store: &Store,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = store.get_tags(tenant, ids).await?;
    match ids.iter().find(|id| !found.iter().any(|t| t.id == **id)) {
        Some(missing) => Err(crate::sources::missing("tag_ids", *missing)),
        None => Ok(()),
    }
}

/// A tag reference in a list filter (`tags=`): an id, or a name resolved to its tag's id.
/// An unknown name matches no lead.
pub async fn filter_id(store: &Store, tenant: TenantId, raw: &str) -> Result<String, ApiError> {
    if let Ok(id) = Uuid::parse_str(raw) {
        return Ok(id.to_string());
    }
    Ok(store
        .tag_by_name(tenant, raw)
        .await?
        .unwrap_or(Uuid::nil())
        .to_string())
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Tag, ApiError> {
    caller.require(Role::Admin)?;
    let input = TagInput::parse(body, WriteMode::Create)?;
    let now = Utc::now();
    let mut tag = Tag {
        id: Uuid::new_v4(),
        tenant_id: caller.tenant,
        version: 1,
        name: String::new(),
        color: DEFAULT_COLOR.into(),
        description: None,
        is_active: true,
        leads_count: 0,
        created_by: caller.user_id.clone(),
        created_at: now,
        updated_at: now,
    };
    input.apply(&mut tag, now);
    store.create_tag(&tag).await.map_err(store_error)?;
    Ok(tag)
}

fn stale(current: u64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "The tag has changed: If-Match does not match the current version \"{current}\"."
    ))
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Tag, ApiError> {
    let mut before = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    let input = TagInput::parse(body, mode)?;
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            before = get(store, caller, id).await?;
        }
        if if_match.is_some_and(|v| v != before.version) {
            return Err(stale(before.version));
        }
        let mut after = before.clone();
        input.clone().apply(&mut after, Utc::now());
        after.version = before.version + 1;
        match store.update_tag(&before, &after).await {
            Ok(()) => return get(store, caller, id).await,
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(ApiError::Conflict(
        "The tag is being changed by other requests; try again.".into(),
    ))
}

/// Removes the tag from one lead through the lead's own versioned write (audit entry,
/// membership and count in its transaction).
async fn untag(store: &Store, caller: &Caller, lead_id: Uuid, tag: Uuid) -> Result<(), ApiError> {
    let tag = tag.to_string();
    for _ in 0..UPDATE_ATTEMPTS {
        let Some(before) = store.get_lead(caller.tenant, lead_id).await? else {
            return Ok(());
        };
        if !before.tag_ids.contains(&tag) {
            return Ok(());
        }
        let now = Utc::now();
        let mut after: Lead = before.clone();
        after.tag_ids.retain(|t| *t != tag);
        after.updated_at = now;
        after.version = before.version + 1;
        let audit = AuditEntry::new(
            lead_id,
            AuditAction::Update,
            &caller.user_id,
            now,
            Lead::diff(Some(&before), Some(&after)),
        );
        let logged = crate::activities::for_lead_change(&before, &after, &caller.user_id, now);
        match store
            .update_lead_logged(&before, &after, &audit, None, &logged)
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(
        "A lead of this tag is being changed by other requests; try again.".into(),
    ))
}

/// Deletes a tag: removes it from its leads (found through their memberships, a page at a
/// time), then deletes it once its exact count says no lead has it. A tag on more leads
/// than one request may untag answers 409 after that much progress; repeating continues.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), ApiError> {
    let tag = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    if if_match.is_some_and(|v| v != tag.version) {
        return Err(stale(tag.version));
    }
    let mut untagged = 0;
    let mut retries = 0;
    while untagged < DELETE_BUDGET {
        let leads = store
            .tagged_lead_ids(caller.tenant, id, DELETE_PAGE)
            .await?;
        if leads.is_empty() {
            let Some(current) = store.get_tag(caller.tenant, id).await? else {
                return Ok(());
            };
            match store.delete_tag(&current).await {
                Ok(()) => return Ok(()),
                // A lead gained the tag meanwhile, or the tag was renamed: look again.
                Err(StoreError::Conflict(_)) if retries < 5 => {
                    retries += 1;
                    continue;
                }
                Err(StoreError::Conflict(_)) => {
                    return Err(ApiError::Conflict(
                        "The tag is being changed by other requests; try again.".into(),
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
        for lead in leads {
            untag(store, caller, lead, id).await?;
            untagged += 1;
        }
    }
    Err(ApiError::Conflict(format!(
        "The tag was removed from {DELETE_BUDGET} leads and is still on others; repeat the request to continue."
    )))
}

pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Tag>, ApiError> {
    const SCOPE: &str = "tags";
    let tenant = caller.tenant;
    let after = cursors.position(tenant, SCOPE, cursor)?;
    let (items, more) = store.list_tags(tenant, after.as_deref(), page_size).await?;
    Ok(Page {
        next: more
            .then(|| {
                items
                    .last()
                    .map(|(k, _)| cursors.forward(tenant, SCOPE, k.clone()))
            })
            .flatten(),
        previous: None,
        items: items.into_iter().map(|(_, t)| t).collect(),
    })
}
