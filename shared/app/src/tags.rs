//! Lead tags: name unique per tenant (case-insensitively), a hex colour, admins to write.
//!
//! A lead carries `tag_ids`; each of its tags also holds a membership copy of the lead
//! (see `keys::tag_membership`), written in the lead's own transaction together with the
//! tag's exact `leads_count`. The `tags=` list filter reads those memberships, and deleting
//! a tag walks them, page by page, removing the tag from each lead before the tag goes.

pub use crm_domain::tags::*;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::leads::{self, Actor};
use crate::resource::{self, Ctx, Resource};
use crm_domain::cursor::Page;
use crm_domain::identity::{Caller, Role};
use crm_domain::query::QueryParams;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{AuditAction, Conflict, Store};
/// Leads a tag deletion untags per request; beyond, the client repeats the DELETE.
const DELETE_BUDGET: usize = 500;
const DELETE_PAGE: usize = 25;

/// Admins write tags; deleting one first removes it from its leads.
impl Resource for Tag {
    type Input = TagInput;

    const WRITER: Option<Role> = Some(Role::Admin);

    fn conflict(conflict: Conflict) -> Option<Error> {
        (conflict == Conflict::Name).then(|| Error::field("name", NAME_TAKEN))
    }

    fn blank(caller: &Caller, _: &TagInput, now: DateTime<Utc>) -> Self {
        Tag {
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
        }
    }

    async fn before_delete(ctx: Ctx<'_>, caller: &Caller, tag: &Self) -> Result<(), Error> {
        untag_all(ctx.store, caller, tag.id).await
    }

    async fn list(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Self>, Error> {
        resource::list_by_key(ctx, caller, query, "tags").await
    }
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

/// Removes the tag from one lead through the lead's own versioned write (audit entry,
/// membership and count in its transaction). A lead deleted meanwhile has no tag left.
async fn untag(store: &Store, caller: &Caller, lead: Uuid, tag: Uuid) -> Result<(), Error> {
    let tag = tag.to_string();
    let actor = Actor::caller(caller, AuditAction::Update);
    let untagged = leads::modify(store, actor, lead, None, None, |_, after, _| {
        after.tag_ids.retain(|t| *t != tag);
        Ok(())
    });
    match untagged.await {
        Ok(_) | Err(Error::NotFound) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the tag from its leads (found through their memberships, a page at a time), so
/// that its exact count says no lead has it. A tag on more leads than one request may
/// untag answers 409 after that much progress; repeating the request continues.
async fn untag_all(store: &Store, caller: &Caller, id: Uuid) -> Result<(), Error> {
    let mut untagged = 0;
    while untagged < DELETE_BUDGET {
        let leads = store
            .tagged_lead_ids(caller.tenant, id, DELETE_PAGE)
            .await?;
        if leads.is_empty() {
            return Ok(());
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
