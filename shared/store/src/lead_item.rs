//! How a lead is laid out in its items (the lead item and its tag-membership copies).
//!
//! The lead is one attribute, `body`: its JSON text. Beside it stay only the key attributes
//! (table and indexes, see `keys`) and the three fields an expression names: `id` (the
//! projection of a tag's member ids), `version` (the condition of every update) and
//! `status` (the filter of an assignee's open-lead count).
//!
//! Why one attribute: a list page arrives as up to 20 index entries, and every lead index
//! projects the whole item. With one attribute per field (about 40), the SDK decoded each
//! row as 40 typed values into a hash map, and serde_dynamo converted that map into the
//! lead: that was most of a list request's CPU (the profile in docs/benchmark.md). One text
//! attribute is one string to unescape and one `serde_json` parse. It is also smaller:
//! no attribute name or type per field, no `NULL` for each empty one, and the score
//! factors' names are not stored as nested maps. Every index entry carries the item, so the
//! saving counts once per index a lead is in, in stored bytes and in write units.
//!
//! Items written before this layout (one attribute per field, no `body`) are still read:
//! [`decode`] falls back to them, so a table needs no migration to keep working, and
//! `crm-admin migrate` rewrites them in this layout (see `Store::migrate_leads`).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::{from_item, s, Item, StoreError};
use crm_domain::lead::Lead;

/// The attribute that holds the lead's JSON.
pub const BODY: &str = "body";

/// The attributes of a lead's items other than their keys.
pub(crate) fn attributes(lead: &Lead) -> Item {
    let body = serde_json::to_string(lead).expect("a lead serialises to JSON");
    Item::from([
        ("id".to_string(), s(lead.id.to_string())),
        (
            "version".to_string(),
            AttributeValue::N(lead.version.to_string()),
        ),
        ("status".to_string(), s(lead.status.to_string())),
        (BODY.to_string(), s(body)),
    ])
}

/// The lead in a lead item or a membership copy, in this layout or the one before it.
pub fn decode(item: Item) -> Result<Lead, StoreError> {
    match item.get(BODY) {
        Some(AttributeValue::S(json)) => parse(json),
        _ => from_item(item),
    }
}

/// [`decode`] for an image of the table's stream (the changes worker's records).
pub(crate) fn decode_image(image: &serde_dynamo::Item) -> Result<Lead, StoreError> {
    match image.get(BODY) {
        Some(serde_dynamo::AttributeValue::S(json)) => parse(json),
        _ => serde_dynamo::from_item(image.clone())
            .map_err(|e| StoreError::Other(format!("corrupt stream image: {e}"))),
    }
}

/// Whether an item is in the layout before this one (a lead without `body`).
pub(crate) fn is_previous_layout(item: &Item) -> bool {
    !item.contains_key(BODY)
}

fn parse(json: &str) -> Result<Lead, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Other(format!("corrupt lead body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_item;
    use crm_domain::fixtures;

    /// Every field survives the round trip, in both layouts, including what the previous
    /// one stored differently (decimals, custom fields, score factors, times).
    #[test]
    fn both_layouts_decode_to_the_same_lead() {
        let mut lead = fixtures::lead();
        lead.annual_revenue = Some("1234567.89".parse().unwrap());
        lead.custom_fields
            .insert("tier".into(), serde_json::json!({"a": [1, 2.5, "x", null]}));
        lead.score_factors = vec![serde_json::json!({"name": "email", "points": 10})];
        lead.tag_ids = vec!["t1".into()];
        lead.next_follow_up = Some(chrono::Utc::now());

        let compact = attributes(&lead);
        assert_eq!(decode(compact.clone()).unwrap(), lead);
        assert_eq!(decode(to_item(&lead)).unwrap(), lead);
        assert!(!is_previous_layout(&compact));
        assert!(is_previous_layout(&to_item(&lead)));
    }
}
