//! Lead activities: calls, emails, meetings, tasks (a task is an activity with a
//! `scheduled_at` that is not completed).
//!
//! Side effects, as in the original: an `email`, `call`, `meeting` or `contact` activity
//! sets its lead's `last_contact_date`; an `email`, `call` or `contact` activity moves a
//! `new` lead to `contacted`. The lead's change (with its audit entry and dashboard
//! counters) commits in the activity's own transaction. Writing an activity follows the
//! lead's edit rule (a `user` writes on leads assigned to them or to nobody).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::choice_enum;
use crate::error::Error;
use crate::lead::{Lead, LeadStatus, WriteMode};
use crate::query::QueryParams;
use crate::record::{lead_field, record, Edit};
use crate::validate::{Choice, FieldErrors, Input, Patch, Text};
choice_enum!(ActivityType {
    Note = "note",
    Email = "email",
    Call = "call",
    Meeting = "meeting",
    Contact = "contact",
    FollowUp = "follow_up",
    Proposal = "proposal",
    Convert = "convert",
    Lost = "lost",
    StatusChange = "status_change",
    Assignment = "assignment",
});

impl ActivityType {
    /// Types that count as contact with the lead (`last_contact_date`).
    pub fn is_contact(self) -> bool {
        matches!(
            self,
            ActivityType::Email
                | ActivityType::Call
                | ActivityType::Meeting
                | ActivityType::Contact
        )
    }

    /// Types that move a `new` lead to `contacted`.
    pub fn makes_contacted(self) -> bool {
        matches!(
            self,
            ActivityType::Email | ActivityType::Call | ActivityType::Contact
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: Uuid,
    pub tenant_id: crate::tenant::TenantId,
    pub version: u64,
    /// The lead's id.
    pub lead: Uuid,
    pub activity_type: ActivityType,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub metadata: Map<String, Value>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub is_completed: bool,
    /// The author's user id.
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Activity {
    /// When the activity is an open task: its scheduled time.
    pub fn task_time(&self) -> Option<DateTime<Utc>> {
        self.scheduled_at.filter(|_| !self.is_completed)
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "lead": self.lead,
            "activity_type": self.activity_type,
            "title": self.title,
            "description": self.description,
            "metadata": self.metadata,
            "scheduled_at": self.scheduled_at,
            "is_completed": self.is_completed,
            "user": self.user,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

record!(Activity, "activity");

pub const TITLE_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 10_000;
/// Metadata is stored with the activity; keep it well inside an item.
pub const METADATA_MAX_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug, Default)]
pub struct ActivityInput {
    pub lead: Option<Uuid>,
    activity_type: Option<ActivityType>,
    title: Option<String>,
    description: Option<String>,
    metadata: Option<Map<String, Value>>,
    scheduled_at: Patch<DateTime<Utc>>,
    is_completed: Option<bool>,
}

impl Edit<Activity> for ActivityInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error> {
        let mut i = Input::new(body);
        let must = mode != WriteMode::Partial;
        for field in ["activity_type", "title", "description"] {
            i.require(field, must);
        }
        let lead = lead_field(&mut i, mode);
        let activity_type = i.choice::<ActivityType>("activity_type", false).into_set();
        let title = i.text("title", Text::required(TITLE_MAX)).into_set();
        let description = i
            .text("description", Text::required(DESCRIPTION_MAX))
            .into_set();
        let metadata = match body.get("metadata") {
            None => None,
            Some(Value::Null) => Some(Map::new()),
            Some(Value::Object(m))
                if Value::Object(m.clone()).to_string().len() > METADATA_MAX_BYTES =>
            {
                i.error(
                    "metadata",
                    format!("Ensure this field is at most {METADATA_MAX_BYTES} bytes of JSON."),
                );
                None
            }
            // Stored as it is: what DynamoDB cannot hold is the client's mistake, not a 500.
            Some(Value::Object(m)) => match crate::validate::storable(&Value::Object(m.clone())) {
                Ok(()) => Some(m.clone()),
                Err(message) => {
                    i.error("metadata", message);
                    None
                }
            },
            Some(_) => {
                i.error("metadata", "Expected a JSON object.");
                None
            }
        };
        let scheduled_at = i.datetime("scheduled_at");
        let is_completed = i.flag("is_completed");
        i.finish()?;
        Ok(Self {
            lead,
            activity_type,
            title,
            description,
            metadata,
            scheduled_at,
            is_completed,
        })
    }

    fn apply(self, a: &mut Activity, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(v) = self.activity_type {
            a.activity_type = v;
        }
        if let Some(v) = self.title {
            a.title = v;
        }
        if let Some(v) = self.description {
            a.description = v;
        }
        if let Some(v) = self.metadata {
            a.metadata = v;
        }
        self.scheduled_at.apply_to(&mut a.scheduled_at);
        if let Some(v) = self.is_completed {
            a.is_completed = v;
        }
        a.updated_at = now;
        Ok(())
    }
}

fn logged(
    lead: &Lead,
    kind: ActivityType,
    title: String,
    metadata: Value,
    user: &str,
    now: DateTime<Utc>,
) -> Activity {
    let Value::Object(metadata) = metadata else {
        unreachable!("metadata is built as an object")
    };
    Activity {
        id: Uuid::new_v4(),
        tenant_id: lead.tenant_id,
        version: 1,
        lead: lead.id,
        activity_type: kind,
        description: title.clone(),
        title,
        metadata,
        scheduled_at: None,
        is_completed: true,
        user: user.to_string(),
        created_at: now,
        updated_at: now,
    }
}

/// The activities that record a lead change, as the original's side effects: one for a
/// status change (`status_change`), one for an assignment change (`assignment`), and one
/// (`note`) listing the tags added and removed. Written in the change's transaction.
pub fn for_lead_change(
    before: &Lead,
    after: &Lead,
    user: &str,
    now: DateTime<Utc>,
) -> Vec<Activity> {
    let mut out = Vec::new();
    if before.status != after.status {
        out.push(logged(
            after,
            ActivityType::StatusChange,
            format!("Status changed from {} to {}", before.status, after.status),
            json!({"old_status": before.status, "new_status": after.status}),
            user,
            now,
        ));
    }
    if before.assigned_to != after.assigned_to {
        let title = match &after.assigned_to {
            Some(to) => format!("Assigned to {to}"),
            None => "Unassigned".to_string(),
        };
        out.push(logged(
            after,
            ActivityType::Assignment,
            title,
            json!({"old_assigned_to": before.assigned_to, "new_assigned_to": after.assigned_to}),
            user,
            now,
        ));
    }
    let added: Vec<&String> = after
        .tag_ids
        .iter()
        .filter(|t| !before.tag_ids.contains(t))
        .collect();
    let removed: Vec<&String> = before
        .tag_ids
        .iter()
        .filter(|t| !after.tag_ids.contains(t))
        .collect();
    if !added.is_empty() || !removed.is_empty() {
        let title = match (added.len(), removed.len()) {
            (_, 0) => format!("Tags added ({})", added.len()),
            (0, _) => format!("Tags removed ({})", removed.len()),
            (a, r) => format!("Tags changed ({a} added, {r} removed)"),
        };
        out.push(logged(
            after,
            ActivityType::Note,
            title,
            json!({"tags_added": added, "tags_removed": removed}),
            user,
            now,
        ));
    }
    out
}

/// The lead after an activity's side effects, if it changes. A new activity always
/// changes it: the lead counts its activities for the score's engagement factor.
pub fn side_effects(lead: &Lead, kind: ActivityType, now: DateTime<Utc>) -> Option<Lead> {
    let mut after = lead.clone();
    after.activity_count += 1;
    after.last_activity_at = Some(now);
    if kind.is_contact() {
        after.last_contact_date = Some(now);
    }
    if kind.makes_contacted() && after.status == LeadStatus::New {
        after.status = LeadStatus::Contacted;
    }
    (after != *lead).then(|| {
        after.updated_at = now;
        after.version = lead.version + 1;
        after
    })
}

/// Which activities a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `activities/`: every activity (or one lead's), newest first.
    All,
    /// Open tasks scheduled from now on, soonest first.
    Upcoming,
    /// Open tasks whose time has passed, longest overdue first.
    Overdue,
}

/// The list filters: `lead`, `type` (also `activity_type`), `is_completed`,
/// `scheduled_after`, `scheduled_before`.
#[derive(Clone, Debug, Default)]
pub struct ActivityQuery {
    pub lead: Option<Uuid>,
    pub types: Vec<ActivityType>,
    pub is_completed: Option<bool>,
    pub scheduled_after: Option<DateTime<Utc>>,
    pub scheduled_before: Option<DateTime<Utc>>,
    pub fingerprint: String,
}

fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

/// The parameters an activity list knows.
pub const ACTIVITY_LIST_PARAMS: [&str; 8] = [
    "page_size",
    "cursor",
    "lead",
    "type",
    "activity_type",
    "is_completed",
    "scheduled_after",
    "scheduled_before",
];

impl ActivityQuery {
    pub fn parse(q: &QueryParams, route: &str) -> Result<Self, Error> {
        q.reject_unknown(&ACTIVITY_LIST_PARAMS)?;
        let mut errors = FieldErrors::default();
        let lead = q.single("lead").filter(|v| !v.is_empty()).and_then(|v| {
            Uuid::parse_str(v.trim())
                .map_err(|_| errors.add("lead", "Must be a valid UUID."))
                .ok()
        });
        let mut types = Vec::new();
        for name in ["type", "activity_type"] {
            for raw in q.values(name) {
                match ActivityType::parse(raw) {
                    Some(t) if !types.contains(&t) => types.push(t),
                    Some(_) => {}
                    None => errors.add(
                        name,
                        format!(
                            "Select a valid choice. {raw} is not one of the available choices."
                        ),
                    ),
                }
            }
        }
        let is_completed =
            q.single("is_completed")
                .and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => Some(true),
                    "false" | "0" | "no" | "off" => Some(false),
                    _ => {
                        errors.add("is_completed", "Enter true or false.");
                        None
                    }
                });
        let mut time = |name: &str| {
            q.single(name).filter(|v| !v.is_empty()).and_then(|v| {
                let t = parse_time(v.trim());
                if t.is_none() {
                    errors.add(
                        name,
                        "Enter a valid date (YYYY-MM-DD) or date-time (RFC 3339).",
                    );
                }
                t
            })
        };
        let scheduled_after = time("scheduled_after");
        let scheduled_before = time("scheduled_before");
        errors.into_result()?;
        Ok(Self {
            lead,
            types,
            is_completed,
            scheduled_after,
            scheduled_before,
            fingerprint: q.fingerprint(route),
        })
    }

    pub fn matches(&self, a: &Activity) -> bool {
        self.lead.is_none_or(|l| a.lead == l)
            && (self.types.is_empty() || self.types.contains(&a.activity_type))
            && self.is_completed.is_none_or(|c| a.is_completed == c)
            && self
                .scheduled_after
                .is_none_or(|t| a.scheduled_at.is_some_and(|s| s >= t))
            && self
                .scheduled_before
                .is_none_or(|t| a.scheduled_at.is_some_and(|s| s <= t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(body: Value) -> Option<FieldErrors> {
        match ActivityInput::parse(body.as_object().unwrap(), WriteMode::Partial) {
            Ok(_) => None,
            Err(Error::Validation(e)) => Some(e),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn metadata_that_dynamodb_cannot_store_is_a_field_error() {
        // Found by `make fuzz`: these were 500s (DynamoDB's ValidationException).
        for bad in [
            json!({"metadata": {"": 1}}),
            json!({"metadata": {"a": -1.8649886411930822e256}}),
            json!({"metadata": {"a": [4.7e-200]}}),
        ] {
            assert!(
                errors(bad.clone()).is_some_and(|e| e.has("metadata")),
                "{bad}"
            );
        }
        assert!(errors(json!({"metadata": {"a": [1.5, {"b": null}], "c": "d"}})).is_none());
    }
}
