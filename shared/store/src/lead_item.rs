//! How a lead is laid out in its items (the lead item and its tag-membership copies).
//!
//! The lead is one attribute, `body`: its JSON text. Beside it stay only the key attributes
//! (table and indexes, see `keys`) and the fields an expression names: `version` (the
//! condition of every update), `status` (the filter of an assignee's open-lead count) and,
//! on a tag's copies, `id` (the projection of a tag's member ids). The body leaves out the
//! lead's empty fields.
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
use serde_json::Value;

use crate::{from_item, s, Item, StoreError};
use crm_domain::lead::Lead;

/// The attribute that holds the lead's JSON.
pub const BODY: &str = "body";

/// What the indexes that hold only leads project besides their keys and the table's
/// (`LeadIndex::holds_only_leads`): what a lead read asks for (`Returned::LeadBody`), the
/// assignee count's filter (`status`) and a tag's member ids (`id`, on tag copies). An
/// entry then carries its own two keys, not those of the other indexes the lead is in
/// (about 650 bytes), so it is about half the size, in stored bytes and in write units.
pub const INDEXED: [&str; 3] = [BODY, "status", "id"];

/// The attributes of a lead item other than its keys (a tag copy adds `id`, see
/// [`copy_attributes`]).
pub(crate) fn attributes(lead: &Lead) -> Item {
    Item::from([
        (
            "version".to_string(),
            AttributeValue::N(lead.version.to_string()),
        ),
        ("status".to_string(), s(lead.status.to_string())),
        (BODY.to_string(), s(body(lead))),
    ])
}

/// The attributes of a lead's copy under a tag: the lead item's and the lead's `id`, which
/// a tag's member list projects.
pub(crate) fn copy_attributes(lead: &Lead) -> Item {
    let mut item = attributes(lead);
    item.insert("id".to_string(), s(lead.id.to_string()));
    item
}

/// The lead's JSON without its empty (`null`) fields, which are most of a lead's fields:
/// they read back as `None`. Every index entry carries the body, so each byte left out
/// counts once per index too.
fn body(lead: &Lead) -> String {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(lead) else {
        unreachable!("a lead serialises to a JSON object")
    };
    fields.retain(|_, value| !value.is_null());
    Value::Object(fields).to_string()
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

/// Whether a lead item or tag copy is in an earlier layout, which `Store::migrate_leads`
/// rewrites: one attribute per field (no `body`), or a lead indexed on the timelines
/// (GSI1/GSI2) rather than on its own indexes by creation and by score (GSI9/GSI10), as
/// leads were before those held only leads.
pub(crate) fn is_previous_layout(item: &Item) -> bool {
    !item.contains_key(BODY) || item.contains_key(&PREVIOUS_INDEX_KEY.pk_attr())
}

/// [`is_previous_layout`] as a condition expression, for the migration's scan filter and
/// its puts' condition: `#body` names [`BODY`], `#old` the key attribute of
/// [`PREVIOUS_INDEX_KEY`].
pub(crate) const PREVIOUS_LAYOUT_CONDITION: &str =
    "(attribute_not_exists(#body) OR attribute_exists(#old))";

/// The index whose key attribute marks a lead written before leads had indexes of their
/// own for the all-leads lists (see [`is_previous_layout`]).
pub(crate) const PREVIOUS_INDEX_KEY: crate::keys::LeadIndex = crate::keys::LeadIndex::Timeline;

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
        assert_eq!(decode(copy_attributes(&lead)).unwrap(), lead);
        let AttributeValue::S(body) = &compact[BODY] else {
            panic!("the body is a string")
        };
        let fields: serde_json::Map<String, Value> = serde_json::from_str(body).unwrap();
        assert!(fields.values().all(|v| !v.is_null()), "{body}");
        // Nested nulls are the client's data, kept.
        assert_eq!(fields["custom_fields"]["tier"]["a"][3], Value::Null);
        // The fixture's empty fields read back as empty.
        let mut sparse = fixtures::lead();
        sparse.phone = None;
        sparse.company = None;
        assert_eq!(decode(attributes(&sparse)).unwrap(), sparse);
        assert_eq!(decode(to_item(&lead)).unwrap(), lead);
        assert!(!is_previous_layout(&compact));
        assert!(is_previous_layout(&to_item(&lead)));
    }
}
