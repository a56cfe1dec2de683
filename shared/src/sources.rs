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

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::auth::{Caller, Role};
use crate::cursor::{CursorCodec, Page};
use crate::error::ApiError;
use crate::lead::WriteMode;
use crate::store::{Conflict, Store, StoreError};
use crate::tenant::TenantId;
use crate::validate::{Input, Patch, Text};

pub const NAME_MAX: usize = 100;
pub const NAME_TAKEN: &str = "lead source with this name already exists.";
const DESCRIPTION_MAX: usize = 10_000;
const UPDATE_ATTEMPTS: u32 = 10;

/// How a lead names its source in a write.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceRef {
    Id(Uuid),
    Name(String),
}

impl SourceRef {
    /// `source_id` (an id), else `source` (an id or a name); null or blank clears.
    pub fn parse(i: &mut Input<'_>) -> Patch<SourceRef> {
        if i.contains("source_id") {
            return match i.uuid("source_id") {
                Patch::Set(id) => Patch::Set(SourceRef::Id(id)),
                Patch::Clear => Patch::Clear,
                Patch::Absent => Patch::Absent,
            };
        }
        match i.text("source", Text::optional(NAME_MAX)) {
            Patch::Set(text) => Patch::Set(match Uuid::parse_str(&text) {
                Ok(id) => SourceRef::Id(id),
                Err(_) => SourceRef::Name(text),
            }),
            Patch::Clear => Patch::Clear,
            Patch::Absent => Patch::Absent,
        }
    }

    /// The request field the reference came from, for error messages.
    pub fn field(&self, body: &Map<String, Value>) -> &'static str {
        if body.contains_key("source_id") {
            "source_id"
        } else {
            "source"
        }
    }
}

/// A lead source as stored (without its key attributes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// Bumped by edits of the source itself, not by the counters.
    pub version: u64,
    pub name: String,
    pub description: Option<String>,
    pub is_active: bool,
    /// Maintained by the lead writes' `ADD`s; never written by a source edit.
    #[serde(default)]
    pub total_leads: i64,
    #[serde(default)]
    pub converted_leads: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Source {
    pub fn new(tenant_id: TenantId, name: String, created_by: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            tenant_id,
            version: 1,
            name,
            description: None,
            is_active: true,
            total_leads: 0,
            converted_leads: 0,
            created_by: created_by.to_string(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Converted leads as a percentage of all, two decimals (the original's field).
    pub fn conversion_rate(&self) -> f64 {
        if self.total_leads <= 0 {
            return 0.0;
        }
        (Decimal::from(self.converted_leads.max(0)) * Decimal::from(100)
            / Decimal::from(self.total_leads))
        .round_dp(2)
        .to_f64()
        .unwrap_or(0.0)
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "is_active": self.is_active,
            "total_leads": self.total_leads.max(0),
            "converted_leads": self.converted_leads.max(0),
            "conversion_rate": self.conversion_rate(),
            "leads_count": self.total_leads.max(0),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A validated source create or update.
#[derive(Clone, Debug, Default)]
pub struct SourceInput {
    pub name: Option<String>,
    pub description: Patch<String>,
    pub is_active: Option<bool>,
}

impl SourceInput {
    pub fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, ApiError> {
        let mut i = Input::new(body);
        i.require("name", mode != WriteMode::Partial);
        let name = match i.text("name", Text::required(NAME_MAX)) {
            Patch::Set(n) => Some(n),
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
            description,
            is_active,
        })
    }

    fn apply(self, s: &mut Source, now: DateTime<Utc>) {
        if let Some(name) = self.name {
            s.name = name;
        }
        self.description.apply_to(&mut s.description);
        if let Some(active) = self.is_active {
            s.is_active = active;
        }
        s.updated_at = now;
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(Conflict::Name) => ApiError::field("name", NAME_TAKEN),
        StoreError::Conflict(Conflict::Version) => ApiError::PreconditionFailed(
            "The source was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Source, ApiError> {
    store
        .get_source(caller.tenant, id)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Source, ApiError> {
    caller.require(Role::Admin)?;
    let input = SourceInput::parse(body, WriteMode::Create)?;
    let now = Utc::now();
    let mut source = Source::new(caller.tenant, String::new(), &caller.user_id, now);
    input.apply(&mut source, now);
    store.create_source(&source).await.map_err(store_error)?;
    Ok(source)
}

fn stale(current: u64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "The source has changed: If-Match does not match the current version \"{current}\"."
    ))
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Source, ApiError> {
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
    Err(ApiError::Conflict(
        "The source is being changed by other requests; try again.".into(),
    ))
}

/// Deletes a source that has no leads; 409 while it has some.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), ApiError> {
    let source = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    if if_match.is_some_and(|v| v != source.version) {
        return Err(stale(source.version));
    }
    let in_use = || {
        ApiError::Conflict(
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
            None => Err(ApiError::NotFound),
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
) -> Result<Page<Source>, ApiError> {
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

/// What a lead write's source reference comes to.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// An existing source: `(id, name)`.
    Existing(Uuid, String),
    /// A name no source has: this source is created in the lead's transaction.
    New(Source),
}

impl Resolved {
    pub fn id_and_name(&self) -> (Uuid, String) {
        match self {
            Resolved::Existing(id, name) => (*id, name.clone()),
            Resolved::New(s) => (s.id, s.name.clone()),
        }
    }

    pub fn new_source(&self) -> Option<&Source> {
        match self {
            Resolved::New(s) => Some(s),
            Resolved::Existing(..) => None,
        }
    }
}

/// DRF's wording for a related id that names nothing.
pub fn missing(field: &str, id: Uuid) -> ApiError {
    ApiError::field(
        field,
        format!("Invalid pk \"{id}\" - object does not exist."),
    )
}

/// Resolves a lead's source reference within the caller's tenant (one read).
pub async fn resolve(
    store: &Store,
    caller: &Caller,
    reference: &SourceRef,
    field: &str,
) -> Result<Resolved, ApiError> {
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
pub async fn filter_id(store: &Store, tenant: TenantId, raw: &str) -> Result<String, ApiError> {
    if let Ok(id) = Uuid::parse_str(raw) {
        return Ok(id.to_string());
    }
    Ok(store
        .source_by_name(tenant, raw)
        .await?
        .map_or(Uuid::nil(), |(id, _)| id)
        .to_string())
}
