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

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::WriteMode;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{Conflict, Store, StoreError};
const UPDATE_ATTEMPTS: u32 = 10;

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Name) => Error::field("name", NAME_TAKEN),
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The source was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Source, Error> {
    store
        .get_source(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Source, Error> {
    caller.require(Role::Admin)?;
    let input = SourceInput::parse(body, WriteMode::Create)?;
    let now = Utc::now();
    let mut source = Source::new(caller.tenant, String::new(), &caller.user_id, now);
    input.apply(&mut source, now);
    store.create_source(&source).await.map_err(store_error)?;
    Ok(source)
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Source, Error> {
    let before = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    let input = SourceInput::parse(body, mode)?;
    let mut before = before;
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
        match store.update_source(&before, &after).await {
            // The counters may have moved since the read; the write did not touch them.
            Ok(()) => return get(store, caller, id).await,
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The source is being changed by other requests; try again.".into(),
    ))
}

/// Deletes a source that has no leads; 409 while it has some.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let source = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    if if_match.is_some_and(|v| v != source.version) {
        return Err(stale(source.version));
    }
    let in_use = || {
        Error::Conflict(
            "This source still has leads; move them to another source (or clear their source) before deleting it."
                .into(),
        )
    };
    if source.total_leads > 0 {
        return Err(in_use());
    }
    match store.delete_source(&source).await {
        Ok(()) => Ok(()),
        // The condition (same version, no leads) failed: tell which.
        Err(StoreError::Conflict(_)) => match store.get_source(caller.tenant, id).await? {
            None => Err(Error::NotFound),
            Some(now) if now.total_leads > 0 => Err(in_use()),
            Some(now) => Err(stale(now.version)),
        },
        Err(e) => Err(store_error(e)),
    }
}

/// One page of the tenant's sources, in id order (stable; one Query).
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Source>, Error> {
    const SCOPE: &str = "sources";
    let tenant = caller.tenant;
    let after = cursors.position(tenant, SCOPE, cursor)?;
    let (items, more) = store
        .list_sources(tenant, after.as_deref(), page_size)
        .await?;
    Ok(Page {
        next: more
            .then(|| {
                items
                    .last()
                    .map(|(k, _)| cursors.forward(tenant, SCOPE, k.clone()))
            })
            .flatten(),
        // Forward-only: the source list is short, and a client restarts from the top.
        previous: None,
        items: items.into_iter().map(|(_, s)| s).collect(),
    })
}

/// Resolves a lead's source reference within the caller's tenant (one read).
pub async fn resolve(
    store: &Store,
    caller: &Caller,
    reference: &SourceRef,
    field: &str,
) -> Result<Resolved, Error> {
    match reference {
        SourceRef::Id(id) => match store.get_source(caller.tenant, *id).await? {
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
