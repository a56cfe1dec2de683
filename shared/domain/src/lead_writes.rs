//! What a lead write changes besides the lead itself. These are rules of the domain,
//! decided here; the store carries them out in the write's transaction: the sparse
//! indexes the lead belongs to, the search tokens that appear and disappear, the dashboard
//! counters' delta ([`crate::stats::delta`]), its sources' counts and its tags'
//! memberships and counts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::lead::{Lead, LeadStatus};

/// The sparse lead indexes a lead belongs to (every lead is in the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SparseIndexes {
    /// An active lead with a follow-up time is in the follow-up index, by that time.
    pub follow_up: Option<DateTime<Utc>>,
    /// The high-priority view's leads ([`crate::filters::is_hot`]).
    pub hot: bool,
}

pub fn sparse_indexes(lead: &Lead) -> SparseIndexes {
    SparseIndexes {
        follow_up: lead.next_follow_up.filter(|_| lead.status.is_active()),
        hot: crate::filters::is_hot(lead),
    }
}

/// The lead fields the system maintains: the score and its record, the engagement
/// counters the activity writes keep, and the write's own bookkeeping. A write that changes
/// only these does not invalidate a client's ETag; a change to any other field does.
pub const SYSTEM_FIELDS: [&str; 9] = [
    "version",
    "updated_at",
    "score",
    "score_factors",
    "score_model",
    "last_scored_at",
    "scored_version",
    "activity_count",
    "last_activity_at",
];

/// Whether a write changes a field clients write (anything but [`SYSTEM_FIELDS`]).
pub fn client_fields_changed(before: &Lead, after: &Lead) -> bool {
    let (mut a, mut b) = (before.fields(), after.fields());
    for field in SYSTEM_FIELDS {
        a.remove(field);
        b.remove(field);
    }
    a != b
}

/// The `edited_version` the lead has after the write `before` → `after`: the new version
/// when a client-written field changed, else the one it had.
pub fn edited_version(before: &Lead, after: &Lead) -> u64 {
    if client_fields_changed(before, after) {
        after.version
    } else {
        before.edited_version()
    }
}

/// The search tokens a write takes away from the lead and gives it, in token order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenChanges {
    pub removed: Vec<String>,
    pub added: Vec<String>,
}

impl TokenChanges {
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// Every token the write moves, removed or added, in token order.
    pub fn moved(&self) -> Vec<String> {
        let all: BTreeSet<&String> = self.removed.iter().chain(&self.added).collect();
        all.into_iter().cloned().collect()
    }
}

pub fn token_changes(before: Option<&Lead>, after: Option<&Lead>) -> TokenChanges {
    let old = before.map(crate::search::tokens).unwrap_or_default();
    let new = after.map(crate::search::tokens).unwrap_or_default();
    TokenChanges {
        removed: old.difference(&new).cloned().collect(),
        added: new.difference(&old).cloned().collect(),
    }
}

/// `(total, converted)` changes per source id that a lead write makes.
pub fn source_deltas(before: Option<&Lead>, after: Option<&Lead>) -> BTreeMap<Uuid, (i64, i64)> {
    let mut out: BTreeMap<Uuid, (i64, i64)> = BTreeMap::new();
    let mut add = |lead: Option<&Lead>, sign: i64| {
        if let Some(id) = lead.and_then(|l| l.source_id) {
            let converted = lead.is_some_and(|l| l.status == LeadStatus::Converted);
            let e = out.entry(id).or_default();
            e.0 += sign;
            e.1 += sign * i64::from(converted);
        }
    };
    add(after, 1);
    add(before, -1);
    out.retain(|_, d| *d != (0, 0));
    out
}

/// What a lead write does to its tags, in tag order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagChanges<'a> {
    /// Every tag the lead has after the write: each has a copy of the lead to rewrite.
    pub current: Vec<&'a str>,
    /// The tags the lead lost: their copies go.
    pub lost: Vec<&'a str>,
    /// The tags' `leads_count` changes: +1 for each tag gained, then -1 for each lost
    /// (ids that are not UUIDs name no tag and are left out).
    pub counts: Vec<(Uuid, i64)>,
}

fn tag_set(lead: Option<&Lead>) -> BTreeSet<&str> {
    lead.map(|l| l.tag_ids.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

pub fn tag_changes<'a>(before: Option<&'a Lead>, after: Option<&'a Lead>) -> TagChanges<'a> {
    let old = tag_set(before);
    let new = tag_set(after);
    let counts = new
        .difference(&old)
        .map(|t| (*t, 1))
        .chain(old.difference(&new).map(|t| (*t, -1)))
        .filter_map(|(tag, change)| Some((tag.parse::<Uuid>().ok()?, change)))
        .collect();
    TagChanges {
        lost: old.difference(&new).copied().collect(),
        current: new.into_iter().collect(),
        counts,
    }
}

/// The most actions one lead write's transaction holds, part by part, whatever the change
/// (DynamoDB allows 100). Search tokens are not among them: the transaction records the
/// tokens it moves in one item, and the tokens move right after the commit (see the lead
/// repository), so a write's size does not grow with its text.
pub mod budget {
    use crate::tags::MAX_PER_LEAD;

    /// The lead itself (put, or delete).
    pub const LEAD: usize = 1;
    /// The email guard: the old one deleted and the new one put when the email changes.
    pub const EMAIL_GUARD: usize = 2;
    /// The lead's audit entry, and the activity's own when the write is an activity's side
    /// effect.
    pub const AUDIT: usize = 2;
    /// The tenant's dashboard counters: the lead count item (creates and deletes) and the
    /// lead's counters shard (`stats::shard_of`), however many counters move.
    pub const STATS: usize = 2;
    /// The record of the search tokens the write moves (one item, however many).
    pub const SEARCH_PENDING: usize = 1;
    /// The lead's insights, deleted with the lead.
    pub const INSIGHTS: usize = 1;
    /// The old source's counts, and the new source's (or, named for the first time, the
    /// new source and its name guard).
    pub const SOURCES: usize = 3;
    /// A membership copy per tag the lead has after the write, a delete per tag it lost,
    /// and a count per tag gained or lost: with every tag replaced, 4 per tag.
    pub const TAGS: usize = 4 * MAX_PER_LEAD;
    /// The activities recording the change (status, assignment, tags), and the activity
    /// whose side effects the write is, when an activity is logged.
    pub const ACTIVITIES: usize = 3 + 1;

    /// The largest transaction of a lead create, update or delete (an update can move
    /// everything at once: email, source, every tag, status, assignee).
    pub const MAX: usize = LEAD
        + EMAIL_GUARD
        + AUDIT
        + STATS
        + SEARCH_PENDING
        + INSIGHTS
        + SOURCES
        + TAGS
        + ACTIVITIES;

    /// DynamoDB's limit on the actions of one `TransactWriteItems`.
    pub const TRANSACTION_LIMIT: usize = 100;

    const _: () = assert!(MAX <= TRANSACTION_LIMIT);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{LeadInput, Priority, WriteMode};
    use crate::tenant::TenantId;
    use serde_json::json;

    fn lead() -> Lead {
        let body =
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
        let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
        Lead::create(
            TenantId::from_uuid(Uuid::from_u128(1)),
            input,
            "u",
            Utc::now(),
        )
    }

    #[test]
    fn sparse_indexes_follow_the_lead_state() {
        let mut l = lead();
        l.next_follow_up = Some(Utc::now());
        l.priority = Priority::Urgent;
        assert_eq!(
            sparse_indexes(&l),
            SparseIndexes {
                follow_up: l.next_follow_up,
                hot: true
            }
        );
        l.status = LeadStatus::Lost;
        assert_eq!(
            sparse_indexes(&l),
            SparseIndexes {
                follow_up: None,
                hot: false
            }
        );
    }

    #[test]
    fn the_largest_lead_write_fits_one_transaction() {
        assert_eq!(budget::MAX, 56);
        const { assert!(budget::MAX <= budget::TRANSACTION_LIMIT) };
        // However long the text, the tokens a write moves cost one action.
        let before = lead();
        let mut after = before.clone();
        after.notes = Some((0..500).map(|n| format!("w{n} ")).collect());
        let moved = token_changes(Some(&before), Some(&after));
        let kept = crate::search::tokens(&before).len();
        assert_eq!(moved.added.len(), crate::search::MAX_TOKENS - kept);
        assert_eq!(moved.moved().len(), moved.added.len());
    }

    #[test]
    fn only_client_written_fields_move_the_edited_version() {
        let before = lead();
        assert_eq!(before.edited_version(), 1);
        let mut scored = before.clone();
        scored.version = 2;
        scored.score = 80;
        scored.scored_version = 2;
        scored.activity_count = 3;
        scored.last_scored_at = Some(Utc::now());
        assert_eq!(edited_version(&before, &scored), 1);
        scored.edited_version = Some(1);
        assert!(scored.matches_etag(1) && scored.matches_etag(2));
        assert!(!scored.matches_etag(0) && !scored.matches_etag(3));

        let mut edited = scored.clone();
        edited.version = 3;
        edited.notes = Some("x".into());
        assert_eq!(edited_version(&scored, &edited), 3);
        edited.edited_version = Some(3);
        assert!(!edited.matches_etag(2) && edited.matches_etag(3));

        // A lead stored before the record matches its current version only.
        edited.edited_version = None;
        assert!(!edited.matches_etag(2) && edited.matches_etag(3));
    }

    #[test]
    fn tokens_counts_and_tags_change_by_difference() {
        let before = lead();
        let mut after = before.clone();
        after.last_name = "Byron".into();
        let tokens = token_changes(Some(&before), Some(&after));
        assert_eq!(tokens.removed, ["lovelace"]);
        assert_eq!(tokens.added, ["byron"]);

        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(3));
        let mut before = before;
        before.source_id = Some(a);
        after.source_id = Some(b);
        after.status = LeadStatus::Converted;
        let deltas = source_deltas(Some(&before), Some(&after));
        assert_eq!(deltas, BTreeMap::from([(a, (-1, 0)), (b, (1, 1))]));
        assert!(source_deltas(Some(&before), Some(&before)).is_empty());

        before.tag_ids = vec![a.to_string(), "x".into()];
        after.tag_ids = vec![b.to_string(), "x".into()];
        let tags = tag_changes(Some(&before), Some(&after));
        assert_eq!(tags.lost, [a.to_string()]);
        assert_eq!(tags.current.len(), 2);
        assert_eq!(tags.counts, [(b, 1), (a, -1)]);
    }
}
