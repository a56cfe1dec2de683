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

use crate::error::Error;
use crate::lead::WriteMode;
use crate::record::{record, Edit};
use crate::tenant::TenantId;
use crate::validate::{Input, Patch, Text};
pub const NAME_MAX: usize = 100;
pub const NAME_TAKEN: &str = "lead source with this name already exists.";
const DESCRIPTION_MAX: usize = 10_000;

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

record!(Source, "source");

/// A validated source create or update.
#[derive(Clone, Debug, Default)]
pub struct SourceInput {
    pub name: Option<String>,
    pub description: Patch<String>,
    pub is_active: Option<bool>,
}

impl Edit<Source> for SourceInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error> {
        let mut i = Input::new(body);
        i.require("name", mode != WriteMode::Partial);
        let name = i.text("name", Text::required(NAME_MAX)).into_set();
        let description = i.text("description", Text::optional(DESCRIPTION_MAX));
        let is_active = i.flag("is_active");
        i.finish()?;
        Ok(Self {
            name,
            description,
            is_active,
        })
    }

    fn apply(self, s: &mut Source, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(name) = self.name {
            s.name = name;
        }
        self.description.apply_to(&mut s.description);
        if let Some(active) = self.is_active {
            s.is_active = active;
        }
        s.updated_at = now;
        Ok(())
    }
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
pub fn missing(field: &str, id: Uuid) -> Error {
    Error::field(
        field,
        format!("Invalid pk \"{id}\" - object does not exist."),
    )
}
