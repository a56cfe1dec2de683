//! The table's stream, as the changes worker reads it: which items it carries (the one
//! definition of the event source mapping's filter, which `template.yaml` and the local
//! poller follow) and how a record's keys and images become a [`Change`].

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::keys::{self, ACTIVITY_SK, INSIGHTS_SK, LEAD_SK, NOTE_SK, RESCORE_SK};
use crate::StoreError;
use crm_domain::activities::Activity;
use crm_domain::changes::{Change, ChangeKind, Subject};
use crm_domain::lead::Lead;
use crm_domain::lead_insights::StoredInsights;
use crm_domain::notes::Note;
use crm_domain::tenant::TenantId;

/// The event source mapping that feeds the stream to the changes worker: `template.yaml`
/// declares these (a test checks), and the local poller follows them.
#[derive(Clone, Copy, Debug)]
pub struct Mapping {
    /// Records per invocation at most.
    pub batch_size: usize,
    /// Retries of a failing batch (each bisected) before it goes to the on-failure
    /// destination: bounded, so one bad record cannot hold its shard for the stream's 24 h.
    pub maximum_retry_attempts: u32,
    /// Records older than this are not retried (they go to the on-failure destination).
    pub maximum_record_age_seconds: u32,
    /// Where a new mapping starts: the oldest record still in the stream, so changes
    /// committed while the mapping was being created are not skipped.
    pub starting_position: &'static str,
}

pub const MAPPING: Mapping = Mapping {
    batch_size: 100,
    maximum_retry_attempts: 10,
    maximum_record_age_seconds: 86_400,
    starting_position: "TRIM_HORIZON",
};

/// An item image as a stream record carries it (Lambda's and `GetRecords`' JSON shape).
pub type Image = serde_dynamo::Item;

/// The event source mapping's filter criteria (`FilterCriteria.Filters[].Pattern`): every
/// change of a lead (webhooks will want removals too), and inserts and modifications of a
/// lead's insights record and manual rescore request, and new activities and notes (for
/// webhooks' `activity.created` and `note.created`). Everything else (audit entries,
/// guards, counters, search tokens, ...) never reaches the worker, and costs nothing.
pub fn filter_patterns() -> Vec<Value> {
    vec![
        json!({"dynamodb": {"Keys": {"SK": {"S": [LEAD_SK]}}}}),
        json!({
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"Keys": {"SK": {"S": [INSIGHTS_SK, RESCORE_SK]}}},
        }),
        json!({
            "eventName": ["INSERT"],
            "dynamodb": {"Keys": {"SK": {"S": [ACTIVITY_SK, NOTE_SK]}}},
        }),
    ]
}

/// Whether a stream record (Lambda's JSON shape) matches one of `patterns`, as Lambda's
/// filtering decides for the patterns used here: every field a pattern names must hold one
/// of the values it lists (nested objects match field by field).
pub fn matches_filter(patterns: &[Value], record: &Value) -> bool {
    fn matches(pattern: &Value, value: &Value) -> bool {
        match pattern {
            Value::Object(fields) => fields
                .iter()
                .all(|(name, p)| value.get(name).is_some_and(|v| matches(p, v))),
            Value::Array(allowed) => allowed.contains(value),
            _ => false,
        }
    }
    patterns.iter().any(|p| matches(p, record))
}

fn text_key<'a>(keys: &'a Image, name: &str) -> Option<&'a str> {
    match keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

fn decode<T: for<'de> serde::Deserialize<'de>>(image: &Image) -> Result<Option<T>, StoreError> {
    if image.is_empty() {
        return Ok(None);
    }
    serde_dynamo::from_item(image.clone())
        .map(Some)
        .map_err(|e| StoreError::Other(format!("corrupt stream image: {e}")))
}

fn decode_lead(image: &Image) -> Result<Option<Lead>, StoreError> {
    if image.is_empty() {
        return Ok(None);
    }
    crate::lead_item::decode_image(image).map(Some)
}

/// One stream record as the worker receives it.
pub struct Record<'a> {
    pub event_id: &'a str,
    pub event_name: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub keys: &'a Image,
    pub old: &'a Image,
    pub new: &'a Image,
}

/// The change a stream record describes: `Ok(None)` for an item the worker has no use for
/// (outside the filter, which AWS applies before invoking), an error for a record that
/// names one but cannot be read (it is reported failed, and ends at the on-failure
/// destination after the mapping's retries).
pub fn change(record: &Record<'_>) -> Result<Option<Change>, StoreError> {
    let (Some(pk), Some(sk)) = (
        text_key(record.keys, keys::PK),
        text_key(record.keys, keys::SK),
    ) else {
        return Ok(None);
    };
    let kind = ChangeKind::from_event_name(record.event_name).ok_or_else(|| {
        StoreError::Other(format!("unknown stream event {:?}", record.event_name))
    })?;
    if let Some(subject) = created_record(pk, sk, kind, record.new)? {
        return Ok(Some(Change {
            tenant: subject.0,
            kind,
            subject: subject.1,
            event_id: record.event_id.to_string(),
            occurred_at: record.occurred_at,
        }));
    }
    let Some((tenant, lead_id)) = keys::parse_lead_partition(pk) else {
        return Ok(None);
    };
    let subject = match sk {
        LEAD_SK => {
            let old = decode_lead(record.old)?;
            let new = decode_lead(record.new)?;
            // The key already scopes the item; this guards against a key-building mistake.
            if [&old, &new]
                .into_iter()
                .flatten()
                .any(|l| l.tenant_id != tenant || l.id != lead_id)
            {
                return Err(StoreError::Other(format!("lead image under the key {pk}")));
            }
            Subject::Lead {
                old: old.map(Box::new),
                new: new.map(Box::new),
            }
        }
        INSIGHTS_SK => Subject::Insights {
            lead_id,
            old: decode::<StoredInsights>(record.old)?.map(Box::new),
            new: decode::<StoredInsights>(record.new)?.map(Box::new),
        },
        RESCORE_SK => Subject::Rescore {
            lead_id,
            old: decode::<RescoreRequest>(record.old)?.map(|r| r.requested_at),
            new: decode::<RescoreRequest>(record.new)?.map(|r| r.requested_at),
        },
        _ => return Ok(None),
    };
    Ok(Some(Change {
        tenant,
        kind,
        subject,
        event_id: record.event_id.to_string(),
        occurred_at: record.occurred_at,
    }))
}

/// A new activity or note (their inserts are events for webhooks; edits and deletes are
/// not), with its tenant; None for any other record.
fn created_record(
    pk: &str,
    sk: &str,
    kind: ChangeKind,
    new: &Image,
) -> Result<Option<(TenantId, Subject)>, StoreError> {
    let partition = match sk {
        ACTIVITY_SK => "ACTIVITY",
        NOTE_SK => "NOTE",
        _ => return Ok(None),
    };
    let Some((tenant, _)) = keys::parse_record_partition(pk, partition) else {
        return Ok(None);
    };
    if kind != ChangeKind::Inserted {
        return Ok(None);
    }
    let subject = match sk {
        ACTIVITY_SK => decode::<Activity>(new)?.map(|a| Subject::Activity { new: Box::new(a) }),
        _ => decode::<Note>(new)?.map(|n| Subject::Note { new: Box::new(n) }),
    };
    match subject {
        Some(subject) => Ok(Some((tenant, subject))),
        None => Err(StoreError::Other(format!(
            "an insert without its image under {pk}"
        ))),
    }
}

/// The manual rescore request item's attributes (see `Store::request_rescore`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RescoreRequest {
    pub requested_at: DateTime<Utc>,
    /// Epoch seconds: the request is only a signal for the stream, gone after a day.
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sk: &str, event: &str) -> Value {
        json!({"eventName": event, "dynamodb": {"Keys": {"PK": {"S": "t#LEAD#x"}, "SK": {"S": sk}}}})
    }

    #[test]
    fn the_filter_passes_leads_insights_and_rescore_requests_only() {
        let p = filter_patterns();
        assert!(matches_filter(&p, &record("LEAD", "INSERT")));
        assert!(matches_filter(&p, &record("LEAD", "REMOVE")));
        assert!(matches_filter(&p, &record("INSIGHTS", "MODIFY")));
        assert!(matches_filter(&p, &record("RESCORE", "INSERT")));
        assert!(!matches_filter(&p, &record("RESCORE", "REMOVE")));
        assert!(!matches_filter(&p, &record("AUDIT#2026", "INSERT")));
        assert!(!matches_filter(&p, &json!({"eventName": "INSERT"})));
    }
}
