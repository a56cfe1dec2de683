//! Exact dashboard counters. Each lead write adds its delta to the tenant's counters in
//! the same transaction, so the dashboard is one read whatever the tenant's size.
//!
//! The counters are spread over items so that concurrent writes in one tenant rarely meet
//! on one (DynamoDB cancels a transaction that meets another on an item): the lead count
//! (`total`, also the plan's limit, a condition of the create's transaction) stays in one
//! item that only creates and deletes touch, and every other counter lives in one of
//! [`SHARDS`] shard items, chosen by the lead's id ([`shard_of`]), so an edit, a rescore
//! or a bulk operation touches only its lead's shard. The dashboard sums them all (one
//! `BatchGetItem` of `SHARDS + 1` keys).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::lead::{Lead, LeadStatus, Priority};
use crate::validate::Choice;

/// Counter name -> change. Names: `total`, `score_sum`, `status:{s}`, `priority:{p}`,
/// `score:{high|medium|low}`, `source:{source id}`, `day:{yyyy-mm-dd}` (creations per UTC day).
pub type Counters = BTreeMap<String, i64>;

/// Counter shards per tenant. 16: two writes in one tenant meet on a shard 1 time in 16
/// (a bulk operation's 10 concurrent writes rarely collide, and a collision is retried),
/// while the dashboard stays one `BatchGetItem` of 17 small items (17 half read units,
/// eventually consistent), far under its 100 keys.
pub const SHARDS: u32 = 16;

/// The lead count: the one counter kept outside the shards (see the module's notes).
pub const TOTAL: &str = "total";

/// The counters shard of a lead: stable (the id never changes), and even (v4 ids are
/// random).
pub fn shard_of(lead_id: uuid::Uuid) -> u32 {
    // The low bits of the id; a v4 id's last bytes are random.
    (lead_id.as_u128() % u128::from(SHARDS)) as u32
}

/// A write's delta split between the lead count item (`total`, when it moves) and the
/// lead's shard (everything else).
pub fn split(mut delta: Counters) -> (Option<i64>, Counters) {
    let total = delta.remove(TOTAL);
    (total, delta)
}

/// The counters of several items (the count item and the shards) added up.
pub fn sum<'a>(items: impl IntoIterator<Item = &'a Counters>) -> Counters {
    let mut out = Counters::new();
    for item in items {
        for (k, v) in item {
            *out.entry(k.clone()).or_default() += v;
        }
    }
    out
}

fn score_band(score: u8) -> &'static str {
    match score {
        70.. => "high",
        40..=69 => "medium",
        _ => "low",
    }
}

fn contributions(lead: &Lead) -> Counters {
    let mut c = Counters::new();
    c.insert(TOTAL.into(), 1);
    c.insert("score_sum".into(), i64::from(lead.score));
    c.insert(format!("status:{}", lead.status.as_str()), 1);
    c.insert(format!("priority:{}", lead.priority.as_str()), 1);
    c.insert(format!("score:{}", score_band(lead.score)), 1);
    if let Some(source) = lead.source_id {
        c.insert(format!("source:{source}"), 1);
    }
    c.insert(format!("day:{}", lead.created_at.format("%Y-%m-%d")), 1);
    c
}

/// What a write changes in the counters (zero entries left out).
pub fn delta(before: Option<&Lead>, after: Option<&Lead>) -> Counters {
    let mut d = Counters::new();
    if let Some(after) = after {
        for (k, v) in contributions(after) {
            *d.entry(k).or_default() += v;
        }
    }
    if let Some(before) = before {
        for (k, v) in contributions(before) {
            *d.entry(k).or_default() -= v;
        }
    }
    d.retain(|_, v| *v != 0);
    d
}

/// The dashboard: the original's shape plus counts by status and priority.
/// `recent_leads` counts the leads created in the last 7 UTC days, today included.
pub fn dashboard(counters: &Counters, now: DateTime<Utc>) -> Value {
    let get = |k: &str| counters.get(k).copied().unwrap_or(0).max(0);
    let total = get("total");
    let converted = get(&format!("status:{}", LeadStatus::Converted.as_str()));
    let today = now.date_naive();
    let recent: i64 = (0..7)
        .map(|d| {
            get(&format!(
                "day:{}",
                (today - Duration::days(d)).format("%Y-%m-%d")
            ))
        })
        .sum();
    let ratio = |num: i64, places: u32| -> Value {
        if total == 0 {
            return json!(0.0);
        }
        let value = Decimal::from(num) / Decimal::from(total);
        json!(value.round_dp(places).to_f64().unwrap_or(0.0))
    };
    let mut sources: Vec<(&str, i64)> = counters
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("source:").map(|id| (id, *v)))
        .filter(|(_, v)| *v > 0)
        .collect();
    sources.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let by_status: serde_json::Map<String, Value> = LeadStatus::CHOICES
        .iter()
        .map(|(name, _)| (name.to_string(), json!(get(&format!("status:{name}")))))
        .collect();
    let by_priority: serde_json::Map<String, Value> = Priority::CHOICES
        .iter()
        .map(|(name, _)| (name.to_string(), json!(get(&format!("priority:{name}")))))
        .collect();
    json!({
        "total_leads": total,
        "new_leads": get("status:new"),
        "converted_leads": converted,
        "recent_leads": recent,
        "conversion_rate": ratio(converted * 100, 2),
        "average_score": ratio(get("score_sum"), 1),
        "score_distribution": {
            "high": get("score:high"),
            "medium": get("score:medium"),
            "low": get("score:low"),
        },
        // Names are the sources' own (the lead service fills them in: a rename shows).
        "top_sources": sources.iter().take(5).map(|(id, n)| json!({
            "id": id, "name": null, "leads_count": n,
        })).collect::<Vec<_>>(),
        "by_status": by_status,
        "by_priority": by_priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_lead_keeps_its_shard_and_ids_spread_over_all_of_them() {
        let id = Uuid::new_v4();
        assert_eq!(shard_of(id), shard_of(id));
        let used: std::collections::BTreeSet<u32> =
            (0..2_000).map(|_| shard_of(Uuid::new_v4())).collect();
        assert_eq!(used.len(), SHARDS as usize);
        assert!(used.iter().all(|s| *s < SHARDS));
    }

    #[test]
    fn only_the_lead_count_leaves_the_shard_and_sums_add_up() {
        let delta = Counters::from([
            (TOTAL.to_string(), 1),
            ("status:new".to_string(), 1),
            ("score_sum".to_string(), 40),
        ]);
        let (total, shard) = split(delta);
        assert_eq!(total, Some(1));
        assert_eq!(shard.len(), 2);
        let (none, edit) = split(Counters::from([("status:new".to_string(), -1)]));
        assert_eq!((none, edit.len()), (None, 1));
        let summed = sum([&shard, &edit, &Counters::from([(TOTAL.to_string(), 3)])]);
        assert_eq!(summed.get("status:new"), Some(&0));
        assert_eq!(summed.get(TOTAL), Some(&3));
        assert_eq!(summed.get("score_sum"), Some(&40));
    }
}
