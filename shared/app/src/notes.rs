//! Lead notes. A private note is visible only to its author and to the tenant's owners and
//! admins: other callers get a 404 for it and never see it in a list, so nothing reveals
//! that it exists. Creating a note follows the lead's edit rule; changing or deleting one
//! is for its author, or an admin or owner.

pub use crm_domain::notes::*;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::lead_records::{
    editable_lead, lead_deleted, newest_first, require_timeline, scan_page, OnTimeline,
};
use crate::resource::{Ctx, Resource};
use crm_domain::cursor::Page;
use crm_domain::identity::Caller;
use crm_domain::query::QueryParams;
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::Conflict;

/// A note follows its lead's edit rule to be written, and its privacy to be seen.
impl Resource for Note {
    type Input = NoteInput;

    fn may_change(caller: &Caller, note: &Self) -> Result<(), Error> {
        require_author_or_admin(caller, note)
    }

    /// Someone else's private note is a 404, like a missing one.
    fn visible_to(&self, caller: &Caller) -> bool {
        Note::visible_to(self, caller)
    }

    fn conflict(conflict: Conflict) -> Option<Error> {
        lead_deleted(conflict)
    }

    fn blank(caller: &Caller, input: &NoteInput, now: DateTime<Utc>) -> Self {
        Note {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            version: 1,
            lead: input.lead.expect("required on create"),
            content: String::new(),
            is_private: false,
            user: caller.user_id.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    async fn check_create(ctx: Ctx<'_>, caller: &Caller, input: &NoteInput) -> Result<(), Error> {
        let lead = input.lead.expect("required on create");
        editable_lead(ctx.store, caller, lead).await?;
        Ok(())
    }

    async fn check_update(
        _: Ctx<'_>,
        _: &Caller,
        before: &Self,
        input: &NoteInput,
    ) -> Result<(), Error> {
        if input.lead.is_some_and(|l| l != before.lead) {
            return Err(Error::field(
                "lead",
                "A note cannot be moved to another lead.",
            ));
        }
        Ok(())
    }

    async fn list(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Self>, Error> {
        list_all(ctx, caller, query).await
    }
}

/// One page of the notes the caller may see: the tenant's, or one lead's (`lead`), newest
/// first. Private notes of others are skipped on the read (bounded per request).
async fn list(
    ctx: Ctx<'_>,
    caller: &Caller,
    query: &QueryParams,
    lead: Option<Uuid>,
    scope: &str,
) -> Result<Page<Note>, Error> {
    let t = caller.tenant;
    let scan = match lead {
        Some(lead) => newest_first(
            LeadIndex::OwnerTimeline,
            keys::lead_notes_partition(t, lead),
        ),
        None => newest_first(LeadIndex::Timeline, keys::notes_partition(t)),
    };
    let after = ctx.cursors.position(t, scope, query.cursor())?;
    let keep = |n: &Note| n.visible_to(caller);
    scan_page(ctx, caller, scope, &scan, after, query.page_size()?, &keep).await
}

/// `notes/`: the tenant's notes, or one lead's with `lead=`.
async fn list_all(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Note>, Error> {
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
    list(ctx, caller, query, lead, &scope).await
}

/// `leads/{id}/notes/`.
impl OnTimeline for Note {
    async fn timeline(
        ctx: Ctx<'_>,
        caller: &Caller,
        lead: Uuid,
        query: &QueryParams,
    ) -> Result<Page<Note>, Error> {
        require_timeline(ctx.store, caller, lead, query).await?;
        let scope = format!("lead-notes:{lead}");
        list(ctx, caller, query, Some(lead), &scope).await
    }
}
