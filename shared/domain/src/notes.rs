//! Lead notes. A private note is visible only to its author and to the tenant's owners and
//! admins: other callers get a 404 for it and never see it in a list, so nothing reveals
//! that it exists. Creating a note follows the lead's edit rule; changing or deleting one
//! is for its author, or an admin or owner.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::Error;
use crate::identity::{Caller, Role};
use crate::lead::WriteMode;
use crate::record::{lead_field, record, Edit};
use crate::validate::{Input, Text};
pub const CONTENT_MAX: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: Uuid,
    pub tenant_id: crate::tenant::TenantId,
    pub version: u64,
    pub lead: Uuid,
    pub content: String,
    pub is_private: bool,
    /// The author's user id.
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Note {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "lead": self.lead,
            "content": self.content,
            "is_private": self.is_private,
            "user": self.user,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The privacy rule, in one place for details, lists and counts.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        !self.is_private || self.user == caller.user_id || caller.is_at_least(Role::Admin)
    }
}

record!(Note, "note");

#[derive(Clone, Debug, Default)]
pub struct NoteInput {
    pub lead: Option<Uuid>,
    content: Option<String>,
    is_private: Option<bool>,
}

impl Edit<Note> for NoteInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error> {
        let mut i = Input::new(body);
        i.require("content", mode != WriteMode::Partial);
        let lead = lead_field(&mut i, mode);
        let content = i.text("content", Text::required(CONTENT_MAX)).into_set();
        let is_private = i.flag("is_private");
        i.finish()?;
        Ok(Self {
            lead,
            content,
            is_private,
        })
    }

    fn apply(self, n: &mut Note, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(c) = self.content {
            n.content = c;
        }
        if let Some(p) = self.is_private {
            n.is_private = p;
        }
        n.updated_at = now;
        Ok(())
    }
}

pub fn require_author_or_admin(caller: &Caller, note: &Note) -> Result<(), Error> {
    if note.user == caller.user_id || caller.is_at_least(Role::Admin) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Only the note's author or an admin can change it.".into(),
        ))
    }
}
