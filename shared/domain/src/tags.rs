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

use crate::error::Error;
use crate::lead::WriteMode;
use crate::record::{record, Edit};
use crate::tenant::TenantId;
use crate::validate::{Input, Patch, Text};
pub const NAME_MAX: usize = 50;
pub const NAME_TAKEN: &str = "lead tag with this name already exists.";
pub const DEFAULT_COLOR: &str = "#007bff";
/// Tags per lead. Each tag adds a membership write to every write of the lead, and a
/// transaction holds at most 100 actions.
pub const MAX_PER_LEAD: usize = 10;
const DESCRIPTION_MAX: usize = 10_000;

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

record!(Tag, "tag");

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

impl Edit<Tag> for TagInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error> {
        let mut i = Input::new(body);
        i.require("name", mode != WriteMode::Partial);
        let name = i.text("name", Text::required(NAME_MAX)).into_set();
        let color = match i.text("color", Text::required(7)) {
            Patch::Set(c) if is_hex_color(&c) => Some(c.to_lowercase()),
            Patch::Set(_) => {
                i.error("color", "Enter a hex colour such as #007bff.");
                None
            }
            _ => None,
        };
        let description = i.text("description", Text::optional(DESCRIPTION_MAX));
        let is_active = i.flag("is_active");
        i.finish()?;
        Ok(Self {
            name,
            color,
            description,
            is_active,
        })
    }

    fn apply(self, t: &mut Tag, now: DateTime<Utc>) -> Result<(), Error> {
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
        Ok(())
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
