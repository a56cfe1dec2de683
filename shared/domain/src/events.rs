//! Change events: what a committed change of a tenant's data means to the outside world
//! (webhook subscribers). The catalogue of event types, the [`ChangeEvent`] a subscriber
//! receives, and the pure rules that derive the events of one change (a lead's old and new
//! image, a created activity or note).
//!
//! An event's id comes from the change's own id (the stream record's `eventID`) and the
//! event type, never from a clock or a random source: a stream batch delivered twice
//! yields the same ids, so receivers can drop duplicates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::activities::Activity;
use crate::lead::{Lead, LeadStatus};
use crate::lead_writes::SYSTEM_FIELDS;
use crate::notes::Note;
use crate::tenant::TenantId;

pub const LEAD_CREATED: &str = "lead.created";
pub const LEAD_UPDATED: &str = "lead.updated";
pub const LEAD_DELETED: &str = "lead.deleted";
pub const LEAD_STATUS_CHANGED: &str = "lead.status_changed";
pub const LEAD_ASSIGNED: &str = "lead.assigned";
pub const LEAD_CONVERTED: &str = "lead.converted";
pub const LEAD_LOST: &str = "lead.lost";
pub const LEAD_SCORED: &str = "lead.scored";
pub const ACTIVITY_CREATED: &str = "activity.created";
pub const NOTE_CREATED: &str = "note.created";
/// Sent only by `POST /webhooks/{id}/test/`; not subscribable.
pub const WEBHOOK_TEST: &str = "webhook.test";

/// Every event type a subscription may name, in the documented order.
pub const EVENT_TYPES: [&str; 10] = [
    LEAD_CREATED,
    LEAD_UPDATED,
    LEAD_DELETED,
    LEAD_STATUS_CHANGED,
    LEAD_ASSIGNED,
    LEAD_CONVERTED,
    LEAD_LOST,
    LEAD_SCORED,
    ACTIVITY_CREATED,
    NOTE_CREATED,
];

/// The score fields a rescore moves (what `lead.scored` reports).
const SCORE_FIELDS: [&str; 4] = ["score", "score_factors", "score_model", "last_scored_at"];

/// The largest webhook body delivered whole (see [`ChangeEvent::body`]).
pub const MAX_BODY_BYTES: usize = 200_000;

/// One event as a subscriber receives it (the webhook body).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// Stable per change and type (see [`event_id`]).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
    pub tenant_id: TenantId,
    /// The resource as the API shows it (after the change; before it, for a delete).
    pub data: Value,
    /// `{field: {"old": .., "new": ..}}`; empty for creates and deletes.
    pub changes: Map<String, Value>,
}

impl ChangeEvent {
    fn new(change: &Change<'_>, kind: &str, data: Value, changes: Map<String, Value>) -> Self {
        Self {
            id: event_id(change.id, kind),
            kind: kind.to_string(),
            occurred_at: change.occurred_at,
            tenant_id: change.tenant,
            data,
            changes,
        }
    }

    /// The body as delivered: the event's JSON, or, when that is larger than
    /// [`MAX_BODY_BYTES`] (a lead near its size limit, with old and new values of its
    /// largest fields), the event with `data` reduced to `{"id", "truncated": true}` and
    /// each change to `{"truncated": true}`: the receiver reads the resource from the API.
    /// Keeps every delivery within SQS's 256 KB message and DynamoDB's 400 KB item.
    pub fn body(&self) -> String {
        let full = serde_json::to_string(self).unwrap_or_default();
        if full.len() <= MAX_BODY_BYTES {
            return full;
        }
        let truncated = serde_json::json!({"truncated": true});
        let reduced = ChangeEvent {
            data: serde_json::json!({"id": self.data.get("id"), "truncated": true}),
            changes: self
                .changes
                .keys()
                .map(|k| (k.clone(), truncated.clone()))
                .collect(),
            ..self.clone()
        };
        serde_json::to_string(&reduced).unwrap_or_default()
    }

    /// The lead fields whose change this event reports (for a subscription's `fields`).
    pub fn changed_fields(&self) -> impl Iterator<Item = &str> {
        self.changes.keys().map(String::as_str)
    }
}

/// What identifies one committed change: its id (a stream record's `eventID`), when it
/// was committed, and whose data it is.
#[derive(Clone, Copy, Debug)]
pub struct Change<'a> {
    pub id: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub tenant: TenantId,
}

/// The event id of `kind` for the change `change_id`: `evt_` and 32 hex digits of
/// SHA-256 over both, so the same change always yields the same id.
pub fn event_id(change_id: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{change_id}\n{kind}").as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("evt_{hex}")
}

/// The events of one change of a lead: `before` and `after` are its old and new images
/// (`None` before a create, after a delete).
pub fn lead_events(
    change: &Change<'_>,
    before: Option<&Lead>,
    after: Option<&Lead>,
) -> Vec<ChangeEvent> {
    let at = change.occurred_at;
    match (before, after) {
        (None, None) => Vec::new(),
        (None, Some(new)) => vec![ChangeEvent::new(
            change,
            LEAD_CREATED,
            new.detail(at),
            Map::new(),
        )],
        (Some(old), None) => vec![ChangeEvent::new(
            change,
            LEAD_DELETED,
            old.detail(at),
            Map::new(),
        )],
        (Some(old), Some(new)) => lead_update_events(change, old, new),
    }
}

fn lead_update_events(change: &Change<'_>, old: &Lead, new: &Lead) -> Vec<ChangeEvent> {
    let data = new.detail(change.occurred_at);
    let all = Lead::diff(Some(old), Some(new));
    let pick = |names: &[&str]| -> Map<String, Value> {
        all.iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let client: Map<String, Value> = all
        .iter()
        .filter(|(k, _)| !SYSTEM_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut events = Vec::new();
    if !client.is_empty() {
        events.push(ChangeEvent::new(change, LEAD_UPDATED, data.clone(), client));
    }
    if old.status != new.status {
        let status = pick(&["status"]);
        events.push(ChangeEvent::new(
            change,
            LEAD_STATUS_CHANGED,
            data.clone(),
            status.clone(),
        ));
        match new.status {
            LeadStatus::Converted => {
                let outcome = pick(&["status", "converted_at", "conversion_value"]);
                events.push(ChangeEvent::new(
                    change,
                    LEAD_CONVERTED,
                    data.clone(),
                    outcome,
                ));
            }
            LeadStatus::Lost => {
                let outcome = pick(&["status", "lost_reason"]);
                events.push(ChangeEvent::new(change, LEAD_LOST, data.clone(), outcome));
            }
            _ => {}
        }
    }
    if old.assigned_to != new.assigned_to {
        let assigned = pick(&["assigned_to"]);
        events.push(ChangeEvent::new(
            change,
            LEAD_ASSIGNED,
            data.clone(),
            assigned,
        ));
    }
    if old.score != new.score {
        events.push(ChangeEvent::new(
            change,
            LEAD_SCORED,
            data,
            pick(&SCORE_FIELDS),
        ));
    }
    events
}

/// `activity.created` for a new activity; edits and deletes of activities are not events.
pub fn activity_events(
    change: &Change<'_>,
    before: Option<&Activity>,
    after: Option<&Activity>,
) -> Vec<ChangeEvent> {
    match (before, after) {
        (None, Some(new)) => vec![ChangeEvent::new(
            change,
            ACTIVITY_CREATED,
            new.json(),
            Map::new(),
        )],
        _ => Vec::new(),
    }
}

/// `note.created` for a new note.
pub fn note_events(
    change: &Change<'_>,
    before: Option<&Note>,
    after: Option<&Note>,
) -> Vec<ChangeEvent> {
    match (before, after) {
        (None, Some(new)) => vec![ChangeEvent::new(
            change,
            NOTE_CREATED,
            new.json(),
            Map::new(),
        )],
        _ => Vec::new(),
    }
}

/// The webhook events of one committed change, as the changes worker reads it from the
/// table's stream; the record's `eventID` makes their ids stable across redeliveries.
pub fn of_change(change: &crate::changes::Change) -> Vec<ChangeEvent> {
    use crate::changes::Subject;
    let at = Change {
        id: &change.event_id,
        occurred_at: change.occurred_at,
        tenant: change.tenant,
    };
    match &change.subject {
        Subject::Lead { old, new } => lead_events(&at, old.as_deref(), new.as_deref()),
        Subject::Activity { new } => activity_events(&at, None, Some(new)),
        Subject::Note { new } => note_events(&at, None, Some(new)),
        Subject::Insights { .. } | Subject::Rescore { .. } => Vec::new(),
    }
}

/// The event `POST /webhooks/{id}/test/` sends: a fresh id each time (it is no change).
pub fn test_event(tenant: TenantId, webhook: uuid::Uuid, now: DateTime<Utc>) -> ChangeEvent {
    let change = Change {
        id: &uuid::Uuid::new_v4().to_string(),
        occurred_at: now,
        tenant,
    };
    ChangeEvent::new(
        &change,
        WEBHOOK_TEST,
        serde_json::json!({"webhook": webhook, "message": "This is a test delivery."}),
        Map::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{LeadInput, WriteMode};
    use serde_json::json;

    fn lead(body: Value) -> Lead {
        let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
        Lead::create(
            TenantId::from_uuid(uuid::Uuid::new_v4()),
            input,
            "u",
            Utc::now(),
        )
    }

    #[test]
    fn an_event_too_large_for_the_queue_is_delivered_truncated() {
        let before =
            lead(json!({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"}));
        let mut after = before.clone();
        after.notes = Some("n".repeat(150_000));
        after.version += 1;
        let small = lead_events(&change(&before), None, Some(&before));
        assert_eq!(small[0].body(), serde_json::to_string(&small[0]).unwrap());

        let events = lead_events(&change(&before), Some(&before), Some(&after));
        let updated = events.iter().find(|e| e.kind == LEAD_UPDATED).unwrap();
        assert!(serde_json::to_string(updated).unwrap().len() > MAX_BODY_BYTES);
        let body: Value = serde_json::from_str(&updated.body()).unwrap();
        assert!(updated.body().len() < 10_000);
        assert_eq!(body["id"], updated.id.as_str());
        assert_eq!(body["data"]["id"], after.id.to_string());
        assert_eq!(body["data"]["truncated"], true);
        assert_eq!(body["changes"]["notes"], json!({"truncated": true}));
    }

    fn change(lead: &Lead) -> Change<'static> {
        Change {
            id: "shard-1:seq-42",
            occurred_at: Utc::now(),
            tenant: lead.tenant_id,
        }
    }

    fn types(events: &[ChangeEvent]) -> Vec<&str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    fn apply(lead: &Lead, body: Value) -> Lead {
        let mut after = lead.clone();
        after.apply(
            LeadInput::parse(body.as_object().unwrap(), WriteMode::Partial).unwrap(),
            Utc::now(),
        );
        after.version += 1;
        after
    }

    #[test]
    fn creates_and_deletes_are_one_event_each() {
        let l = lead(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}));
        let c = change(&l);
        assert_eq!(types(&lead_events(&c, None, Some(&l))), vec![LEAD_CREATED]);
        assert_eq!(types(&lead_events(&c, Some(&l), None)), vec![LEAD_DELETED]);
        assert_eq!(
            lead_events(&c, None, Some(&l))[0].data["email"],
            "a@b.example"
        );
    }

    #[test]
    fn a_conversion_is_an_update_a_status_change_and_a_conversion() {
        let l = lead(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}));
        let after = apply(&l, json!({"status": "converted", "phone": "1"}));
        let events = lead_events(&change(&l), Some(&l), Some(&after));
        assert_eq!(
            types(&events),
            vec![LEAD_UPDATED, LEAD_STATUS_CHANGED, LEAD_CONVERTED]
        );
        assert_eq!(
            events[1].changes["status"],
            json!({"old": "new", "new": "converted"})
        );
        assert!(events[0].changes.contains_key("phone"));
    }

    #[test]
    fn a_rescore_alone_is_only_lead_scored() {
        let l = lead(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}));
        let mut after = l.clone();
        after.score = 70;
        after.version += 1;
        let events = lead_events(&change(&l), Some(&l), Some(&after));
        assert_eq!(types(&events), vec![LEAD_SCORED]);
        assert_eq!(events[0].changes["score"], json!({"old": 0, "new": 70}));
    }

    #[test]
    fn assignment_and_loss_have_their_events() {
        let l = lead(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}));
        let after = apply(&l, json!({"assigned_to": "u-2", "status": "lost"}));
        let events = lead_events(&change(&l), Some(&l), Some(&after));
        assert_eq!(
            types(&events),
            vec![LEAD_UPDATED, LEAD_STATUS_CHANGED, LEAD_LOST, LEAD_ASSIGNED]
        );
    }

    #[test]
    fn the_same_change_yields_the_same_ids() {
        let l = lead(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}));
        let first = lead_events(&change(&l), None, Some(&l));
        let again = lead_events(&change(&l), None, Some(&l));
        assert_eq!(first[0].id, again[0].id);
        assert_ne!(event_id("x", LEAD_CREATED), event_id("x", LEAD_UPDATED));
        assert_ne!(event_id("x", LEAD_CREATED), event_id("y", LEAD_CREATED));
    }
}
