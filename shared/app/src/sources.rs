//! Lead sources: records of their own (name unique per tenant, case-insensitively), with
//! lead counts kept exact by the lead writes themselves.
//!
//! - `total_leads` and `converted_leads` are attributes of the source item, changed by
//!   `ADD` inside each lead's own transaction (see `Store::create_lead_with`), so they are
//!   exact without a recount; `conversion_rate` is computed from them on read.
//! - A lead names its source by id (`source_id`, or `source` given a UUID) or by name
//!   (`"source": "website"`). A name no source has yet **creates the source on first use**,
//!   in the lead's transaction (the original's clients send free-text names, as the
//!   description's example does). Creating, renaming and deleting sources explicitly is an
//!   admin's job.
//! - A source with leads cannot be deleted (409): its leads would otherwise dangle, and
//!   clearing them is a write per lead. Reassign or clear the leads' source first.

pub use crm_domain::sources::*;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::resource::{self, Ctx, Resource};
use crm_domain::cursor::Page;
use crm_domain::identity::{Caller, Role};
use crm_domain::query::QueryParams;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{Conflict, Store};

/// Admins write sources; a source with leads cannot be deleted.
impl Resource for Source {
    type Input = SourceInput;

    const WRITER: Option<Role> = Some(Role::Admin);

    fn conflict(conflict: Conflict) -> Option<Error> {
        (conflict == Conflict::Name).then(|| Error::field("name", NAME_TAKEN))
    }

    fn blank(caller: &Caller, _: &SourceInput, now: DateTime<Utc>) -> Self {
        Source::new(caller.tenant, String::new(), &caller.user_id, now)
    }

    async fn before_delete(_: Ctx<'_>, _: &Caller, source: &Self) -> Result<(), Error> {
        if source.total_leads > 0 {
            return Err(Error::Conflict(
                "This source still has leads; move them to another source (or clear their source) before deleting it."
                    .into(),
            ));
        }
        Ok(())
    }

    async fn list(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Self>, Error> {
        resource::list_by_key(ctx, caller, query, "sources").await
    }
}

/// Resolves a lead's source reference within the caller's tenant (one read).
pub async fn resolve(
    store: &Store,
    caller: &Caller,
    reference: &SourceRef,
    field: &str,
) -> Result<Resolved, Error> {
    match reference {
        SourceRef::Id(id) => match store.get_record::<Source>(caller.tenant, *id).await? {
            Some(s) => Ok(Resolved::Existing(s.id, s.name)),
            None => Err(missing(field, *id)),
        },
        SourceRef::Name(name) => match store.source_by_name(caller.tenant, name).await? {
            Some((id, name)) => Ok(Resolved::Existing(id, name)),
            None => Ok(Resolved::New(Source::new(
                caller.tenant,
                name.clone(),
                &caller.user_id,
                Utc::now(),
            ))),
        },
    }
}

/// A source reference in a list filter (`source=`): an id, or a name resolved to its
/// source's id. An unknown name matches no lead (the nil id names no source).
pub async fn filter_id(store: &Store, tenant: TenantId, raw: &str) -> Result<String, Error> {
    if let Ok(id) = Uuid::parse_str(raw) {
        return Ok(id.to_string());
    }
    Ok(store
        .source_by_name(tenant, raw)
        .await?
        .map_or(Uuid::nil(), |(id, _)| id)
        .to_string())
}
