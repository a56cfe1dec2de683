//! Lead tags: name unique per tenant (case-insensitively), a hex colour, admins to write.
//!
//! A lead carries `tag_ids`; each of its tags also holds a membership copy of the lead
//! (see `keys::tag_membership`), written in the lead's own transaction together with the
//! tag's exact `leads_count`. The `tags=` list filter reads those memberships, and deleting
//! a tag walks them, page by page, removing the tag from each lead before the tag goes.

pub use crm_domain::tags::*;

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::{Lead, WriteMode};
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{AuditAction, AuditEntry, Conflict, Store, StoreError};
const UPDATE_ATTEMPTS: u32 = 10;
/// Leads a tag deletion untags per request; beyond, the client repeats the DELETE.
const DELETE_BUDGET: usize = 500;
const DELETE_PAGE: usize = 25;

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Name) => Error::field("name", NAME_TAKEN),
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The tag was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Tag, Error> {
    store
        .get_tag(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

/// Checks that every id names a tag of the tenant (one batch read): 400 on `tag_ids`.
pub async fn require_existing(store: &Store, tenant: TenantId, ids: &[Uuid]) -> Result<(), Error> {
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
pub async fn filter_id(store: &Store, tenant: TenantId, raw: &str) -> Result<String, Error> {
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
) -> Result<Tag, Error> {
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

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Tag, Error> {
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
    Err(Error::Conflict(
        "The tag is being changed by other requests; try again.".into(),
    ))
}

/// Removes the tag from one lead through the lead's own versioned write (audit entry,
/// membership and count in its transaction).
async fn untag(store: &Store, caller: &Caller, lead_id: Uuid, tag: Uuid) -> Result<(), Error> {
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
    Err(Error::Conflict(
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
) -> Result<(), Error> {
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
                    return Err(Error::Conflict(
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
    Err(Error::Conflict(format!(
        "The tag was removed from {DELETE_BUDGET} leads and is still on others; repeat the request to continue."
    )))
}

pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Tag>, Error> {
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
