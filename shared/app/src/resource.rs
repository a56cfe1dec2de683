//! One lifecycle for the resources a tenant owns: read, create, versioned update with
//! `If-Match`, delete and list, written once over [`Resource`]. A resource states only what
//! is its own: its input, who may write it, what its store conflicts mean, the checks and
//! side effects that are truly its (a source in use, a tag's leads, a note's privacy, an
//! activity's lead), and how it lists.
//!
//! The order of the answers is the same for every resource: a read of a resource the
//! caller may not read at all is a 403 before anything is looked up (the role alone
//! decides it, so the answer tells nothing of the id); for a write, a record the caller
//! cannot see is a 404, then a read or write the caller may not make a 403, then the body's
//! field errors (400), then a stale `If-Match` (412).

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::queue::Queues;
use crate::retry::Attempts;
use crm_domain::audit::{self, AuditAction, AuditEntry};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::identity::{Caller, Role};
use crm_domain::query::QueryParams;
use crm_domain::record::{busy, changed_meanwhile, stale, Edit, Record};
use crm_domain::Error;
use crm_store::{Conflict, Partitioned, Store, StoreError, Versioned};

/// What a use case reaches: the table, the queues and the cursor codec.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub queues: &'a Queues,
    pub cursors: &'a CursorCodec,
}

/// A request body as the edge parsed it: the typed input, or every field error it has.
/// The errors are answered only after the checks that come first (the record exists, the
/// caller may write it), so a body's problems never reveal what a 404 or 403 hides.
pub type Body<I> = Result<I, Error>;

/// A resource of a tenant, with what is its own in the lifecycle. Every item but
/// [`Resource::Input`], [`Resource::blank`] and [`Resource::list`] has the common
/// behaviour as its default.
pub trait Resource: Versioned {
    /// Its validated create or edit.
    type Input: Edit<Self>;

    /// The least role that writes the resource (admins, for a tenant's settings such as
    /// sources); `None` when any role may, as far as the role alone decides.
    const WRITER: Option<Role> = None;

    /// Who may create one, judged before the body (a 403 before a 400).
    fn may_create(caller: &Caller) -> Result<(), Error> {
        Self::WRITER.map_or(Ok(()), |role| caller.require(role))
    }

    /// Who may edit `record`, judged once it is read and before the body.
    fn may_change(caller: &Caller, _record: &Self) -> Result<(), Error> {
        Self::may_create(caller)
    }

    /// Who may delete `record`: by default, who may edit it.
    fn may_delete(
        _ctx: Ctx<'_>,
        caller: &Caller,
        record: &Self,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async move { Self::may_change(caller, record) }
    }

    /// Whether the caller sees the record at all; one it does not is a 404, as if missing.
    fn visible_to(&self, _caller: &Caller) -> bool {
        true
    }

    /// Who may read the resource, its list and its records: by default any member of the
    /// tenant. Judged on the role alone, before the lookup for a read; an edit or a delete
    /// judges it once its record is found (a missing or another tenant's id stays a 404
    /// there, as for its other checks).
    fn may_read(_caller: &Caller) -> Result<(), Error> {
        Ok(())
    }

    /// The create's 201 body: by default the record's API view. (A webhook's also carries
    /// its signing secret, shown this once.)
    fn created_json(&self) -> Value {
        self.json()
    }

    /// The field error a store conflict of this resource means (a taken name, a lead
    /// deleted meanwhile), if it means one.
    fn conflict(_conflict: Conflict) -> Option<Error> {
        None
    }

    /// A new record before the input is applied to it.
    fn blank(caller: &Caller, input: &Self::Input, now: DateTime<Utc>) -> Self;

    /// Checks of a create that need the store (the lead it goes on, a limit).
    fn check_create(
        _ctx: Ctx<'_>,
        _caller: &Caller,
        _input: &Self::Input,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Writes a new record from a valid input: by default [`insert`].
    fn insert(
        ctx: Ctx<'_>,
        caller: &Caller,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self, Error>> + Send {
        insert::<Self>(ctx, caller, input)
    }

    /// Checks of an edit against the record as read, on every attempt.
    fn check_update(
        _ctx: Ctx<'_>,
        _caller: &Caller,
        _before: &Self,
        _input: &Self::Input,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// What must hold, or happen, before the record goes (409 while a source has leads;
    /// a tag's leads are untagged first).
    fn before_delete(
        _ctx: Ctx<'_>,
        _caller: &Caller,
        _record: &Self,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// One page of the collection, as the query asks.
    fn list(
        ctx: Ctx<'_>,
        caller: &Caller,
        query: &QueryParams,
    ) -> impl Future<Output = Result<Page<Self>, Error>> + Send;
}

/// A store error as the client sees it.
pub fn store_error<R: Resource>(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(c) => R::conflict(c).unwrap_or_else(|| match c {
            Conflict::Version => changed_meanwhile::<R>(),
            other => StoreError::Conflict(other).into(),
        }),
        other => other.into(),
    }
}

/// The audit entry of a caller's write of a record: the fields of its API view that the
/// write changes (all of them for a create or a delete).
pub fn audit_entry<R: Resource>(
    caller: &Caller,
    action: AuditAction,
    before: Option<&R>,
    after: Option<&R>,
    at: DateTime<Utc>,
) -> AuditEntry {
    let id = after.or(before).map_or_else(Uuid::nil, Record::id);
    let changes = audit::diff(
        before.map(Record::json).as_ref(),
        after.map(Record::json).as_ref(),
        audit::BOOKKEEPING,
    );
    AuditEntry::new(caller.provenance(), R::AUDITED_AS, id, action, at, changes)
}

/// 412 when `If-Match` names another version than the record's.
fn check_version<R: Record>(record: &R, if_match: Option<u64>) -> Result<(), Error> {
    match if_match {
        Some(v) if v != record.version() => Err(stale::<R>(record.version())),
        _ => Ok(()),
    }
}

/// The record, if the caller may read the resource (else 403) and sees the record (else
/// 404).
pub async fn get<R: Resource>(store: &Store, caller: &Caller, id: Uuid) -> Result<R, Error> {
    R::may_read(caller)?;
    find::<R>(store, caller, id).await
}

/// The record, if the caller sees it (else 404); whether the caller may read the resource
/// at all is for the use case to judge, in its own order.
async fn find<R: Resource>(store: &Store, caller: &Caller, id: Uuid) -> Result<R, Error> {
    store
        .get_record::<R>(caller.tenant, id)
        .await?
        .filter(|r| r.visible_to(caller))
        .ok_or(Error::NotFound)
}

/// The record a write starts from: 404 when the caller does not see it, then 403 when it
/// may not read the resource (a write answers for its record first).
async fn find_to_write<R: Resource>(store: &Store, caller: &Caller, id: Uuid) -> Result<R, Error> {
    let record = find::<R>(store, caller, id).await?;
    R::may_read(caller)?;
    Ok(record)
}

/// One page of the collection, as the resource lists it, if the caller may read it (else
/// 403, before the query is looked at).
pub async fn list<R: Resource>(
    ctx: Ctx<'_>,
    caller: &Caller,
    query: &QueryParams,
) -> Result<Page<R>, Error> {
    R::may_read(caller)?;
    R::list(ctx, caller, query).await
}

pub async fn create<R: Resource>(
    ctx: Ctx<'_>,
    caller: &Caller,
    input: Body<R::Input>,
) -> Result<R, Error> {
    R::may_create(caller)?;
    R::insert(ctx, caller, input?).await
}

/// The common create: the checks, a blank record with the input applied, at version 1.
pub async fn insert<R: Resource>(
    ctx: Ctx<'_>,
    caller: &Caller,
    input: R::Input,
) -> Result<R, Error> {
    R::check_create(ctx, caller, &input).await?;
    let now = Utc::now();
    let mut record = R::blank(caller, &input, now);
    input.apply(&mut record, now)?;
    record.set_version(1);
    let audit = audit_entry(caller, AuditAction::Create, None, Some(&record), now);
    ctx.store
        .create_record(&record, &audit)
        .await
        .map_err(store_error::<R>)?;
    Ok(record)
}

/// Applies an edit (PUT or PATCH) at the version read. With `if_match`, only to that
/// version (else 412). A write that loses a race reads the record again and re-applies the
/// input to the newer version (the retry policy of [`crate::retry`]); with `if_match` the
/// newer version is then a 412.
pub async fn update<R: Resource>(
    ctx: Ctx<'_>,
    caller: &Caller,
    id: Uuid,
    input: Body<R::Input>,
    if_match: Option<u64>,
) -> Result<R, Error> {
    let mut before = find_to_write::<R>(ctx.store, caller, id).await?;
    R::may_change(caller, &before)?;
    let input = input?;
    let mut attempts = Attempts::default();
    while attempts.next().await {
        if !attempts.first() {
            before = find_to_write::<R>(ctx.store, caller, id).await?;
        }
        R::check_update(ctx, caller, &before, &input).await?;
        check_version(&before, if_match)?;
        let mut after = before.clone();
        let now = Utc::now();
        input.clone().apply(&mut after, now)?;
        after.set_version(before.version() + 1);
        let audit = audit_entry(
            caller,
            AuditAction::Update,
            Some(&before),
            Some(&after),
            now,
        );
        match ctx.store.update_record(&before, &after, &audit).await {
            Ok(()) if R::COUNTERS.is_empty() => return Ok(after),
            // The counters may have moved since the read; the write did not touch them.
            Ok(()) => return find_to_write::<R>(ctx.store, caller, id).await,
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(store_error::<R>(e)),
        }
    }
    Err(busy::<R>())
}

/// Deletes the record at the version read (`if_match` pins it, as for edits). A delete
/// that loses a race reads again: the record may be gone (404), changed (412 with
/// `if_match`), or refused by [`Resource::before_delete`] now.
pub async fn delete<R: Resource>(
    ctx: Ctx<'_>,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let mut attempts = Attempts::default();
    while attempts.next().await {
        let record = find_to_write::<R>(ctx.store, caller, id).await?;
        R::may_delete(ctx, caller, &record).await?;
        check_version(&record, if_match)?;
        R::before_delete(ctx, caller, &record).await?;
        let audit = audit_entry(caller, AuditAction::Delete, Some(&record), None, Utc::now());
        match ctx.store.delete_record(&record, &audit).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(store_error::<R>(e)),
        }
    }
    Err(busy::<R>())
}

/// One page of a collection kept in key order (stable; one Query). Forward-only: such
/// collections are short, and a client restarts from the top.
pub async fn list_by_key<R: Resource + Partitioned>(
    ctx: Ctx<'_>,
    caller: &Caller,
    query: &QueryParams,
    scope: &str,
) -> Result<Page<R>, Error> {
    query.reject_unknown(&["page_size", "cursor"])?;
    let page_size = query.page_size()?;
    let tenant = caller.tenant;
    let after = ctx.cursors.position(tenant, scope, query.cursor())?;
    let (items, more) = ctx
        .store
        .list_records::<R>(tenant, after.as_deref(), page_size)
        .await?;
    Ok(Page {
        next: more
            .then(|| {
                items
                    .last()
                    .map(|(k, _)| ctx.cursors.forward(tenant, scope, k.clone()))
            })
            .flatten(),
        previous: None,
        items: items.into_iter().map(|(_, r)| r).collect(),
    })
}
