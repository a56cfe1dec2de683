//! Every DynamoDB key the service writes or reads is built here, and nowhere else.
//!
//! Single-table design with generic attribute names. Every partition key of the table and of
//! its indexes starts with the tenant id (`{tenant}#...`), so a request can only reach the
//! partitions of the tenant it was authorised for, and IAM `dynamodb:LeadingKeys` can
//! enforce the same in AWS. The one exception is the slug registry (`SLUG#{slug}`), a global
//! lookup that keeps tenant slugs unique; a request's host (`{slug}.{TENANT_BASE_DOMAIN}`)
//! reads it before the tenant is known, as it reads the domain guard (`DOMAIN#{name}`).
//!
//! | item            | PK                          | SK                       |
//! |-----------------|-----------------------------|--------------------------|
//! | tenant          | `{t}#TENANT`                | `TENANT`                 |
//! | scoring settings| `{t}#TENANT`                | `SCORING`                |
//! | lead count      | `{t}#STATS`                 | `STATS`                  |
//! | counters shard  | `{t}#STATS#{shard}`         | `STATS`                  |
//! | lead            | `{t}#LEAD#{id}`             | `LEAD`                   |
//! | lead audit      | `{t}#LEAD#{id}`             | `AUDIT#{at}#{audit id}`  |
//! | other audit     | `{t}#AUDITOF#{resource id}` | `AUDIT#{at}#{audit id}`  |
//! | lead insights   | `{t}#LEAD#{id}`             | `INSIGHTS`               |
//! | rescore request | `{t}#LEAD#{id}`             | `RESCORE`                |
//! | email guard     | `{t}#EMAIL#{lower(email)}`  | `EMAIL`                  |
//! | search token    | `{t}#SEARCH#{first char}`   | `{token}#{lead id}`      |
//! | lead search sync| `{t}#LEAD#{id}`             | `SEARCH`                 |
//! | idempotency key | `{t}#IDEMPOTENCY#{key}`     | `IDEMPOTENCY`            |
//! | lead source     | `{t}#SOURCES`               | `SOURCE#{id}`            |
//! | source name     | `{t}#SOURCENAME#{lower(n)}` | `SOURCENAME`             |
//! | lead tag        | `{t}#TAGS`                  | `TAG#{id}`               |
//! | tag name        | `{t}#TAGNAME#{lower(n)}`    | `TAGNAME`                |
//! | tag membership  | `{t}#LEAD#{lead id}`        | `TAG#{tag id}`           |
//! | activity        | `{t}#ACTIVITY#{id}`         | `ACTIVITY`               |
//! | note            | `{t}#NOTE#{id}`             | `NOTE`                   |
//! | custom field    | `{t}#CUSTOMFIELDS`          | `FIELD#{id}`             |
//! | field name      | `{t}#FIELDNAME#{lower(n)}`  | `FIELDNAME`              |
//! | slug registry   | `SLUG#{slug}`               | `SLUG`                   |
//! | tenant member   | `{t}#MEMBERS`               | `MEMBER#{user id}`       |
//! | member counts   | `{t}#MEMBERS`               | `COUNTS`                 |
//! | invitation      | `{t}#INVITES`               | `INVITE#{id}`            |
//! | user            | `USER#{id}`                 | `USER`                   |
//! | user's tenant   | `USER#{id}`                 | `TENANT#{t}`             |
//! | sign-in session | `USER#{id}`                 | `FAMILY#{family id}`     |
//! | user email      | `USEREMAIL#{lower(email)}`  | `USEREMAIL`              |
//! | refresh token   | `REFRESH#{sha256(secret)}`  | `REFRESH`                |
//! | invitation token| `INVITETOKEN#{sha256(s)}`   | `INVITETOKEN`            |
//! | login failures  | `LOGINFAIL#{lower(email)}`  | `LOGINFAIL`              |
//! | API key         | `{t}#APIKEYS`               | `APIKEY#{id}`            |
//! | API key lookup  | `APIKEY#{prefix}`           | `APIKEY`                 |
//! | rate window     | `{t}#RATE#{subject}#{start}`| `RATE`                   |
//! | webhook         | `{t}#WEBHOOKS`              | `WEBHOOK#{id}`           |
//! | webhook delivery| `{t}#WEBHOOK#{id}`          | `DELIVERY#{at}#{d id}`   |
//! | custom domain   | `{t}#DOMAINS`               | `DOMAIN#{id}`            |
//! | domain counts   | `{t}#DOMAINS`               | `COUNTS`                 |
//! | domain guard    | `DOMAIN#{name}`             | `DOMAIN`                 |
//!
//! Users, and what is found before a tenant is known (an email at sign-in, a refresh or
//! invitation secret, a request's host through the slug registry or the domain guard),
//! are the other exceptions to the tenant prefix: a user may belong to
//! several tenants. A membership is written twice in one transaction, under the tenant
//! (its member list, and the per-request membership check) and under the user (the
//! tenants a sign-in may choose from).
//!
//! A lead also carries the key attributes of the indexes it belongs to (see
//! [`lead_indexes`]); the sparse ones exist only while their condition holds, and since a
//! lead is always written whole, an attribute that no longer applies simply disappears.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crm_domain::tenant::TenantId;

pub const PK: &str = "PK";
pub const SK: &str = "SK";

/// The table's indexes. Each is `GSI{n}` with key attributes `GSI{n}PK`/`GSI{n}SK`. The
/// lead indexes hold leads only (and tag copies of leads); activities, notes, audit entries
/// and search-sync items have the two timelines, and open tasks share GSI7 with the leads
/// that have a follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeadIndex {
    /// A tenant's items of one kind by time: its activities, its notes, its audit log, its
    /// leads with search-token moves pending.
    Timeline,
    /// One owner's items by time: a lead's activities, a lead's notes, an actor's audit
    /// entries.
    OwnerTimeline,
    /// Per status, by score: `{t}#STATUS#{status}`.
    Status,
    /// Per priority, by score: `{t}#PRIORITY#{priority}`.
    Priority,
    /// Per assignee, by score: `{t}#ASSIGNEE#{user}`, or `{t}#UNASSIGNED`.
    Assignee,
    /// Per source id, by score; sparse: leads without a source are absent. Also holds the
    /// tag-membership copies of leads (`{t}#TAGGED#{tag}`), one partition per tag.
    Source,
    /// Sparse: active leads with a follow-up time, by that time: `{t}#FOLLOWUP`.
    FollowUp,
    /// Sparse: the high-priority view's leads, by score: `{t}#HOT`.
    Hot,
    /// All leads by creation time: `{t}#LEADS` / `{created}#{id}`.
    Created,
    /// All leads by score (then creation): `{t}#LEADS` / `{score}#{created}#{id}`.
    Score,
}

impl LeadIndex {
    pub const ALL: [LeadIndex; 10] = [
        LeadIndex::Timeline,
        LeadIndex::OwnerTimeline,
        LeadIndex::Status,
        LeadIndex::Priority,
        LeadIndex::Assignee,
        LeadIndex::Source,
        LeadIndex::FollowUp,
        LeadIndex::Hot,
        LeadIndex::Created,
        LeadIndex::Score,
    ];

    fn number(self) -> usize {
        LeadIndex::ALL
            .iter()
            .position(|i| *i == self)
            .expect("listed")
            + 1
    }

    pub fn name(self) -> String {
        format!("GSI{}", self.number())
    }

    pub fn pk_attr(self) -> String {
        format!("GSI{}PK", self.number())
    }

    pub fn sk_attr(self) -> String {
        format!("GSI{}SK", self.number())
    }

    /// Whether the index holds lead items (and tag copies of leads) only. Those indexes
    /// project only what a lead read asks for (`lead_item::INDEXED`), not the whole item;
    /// the others also hold activities, notes, audit entries or search-sync items, whose
    /// readers take the whole item.
    pub fn holds_only_leads(self) -> bool {
        match self {
            LeadIndex::Created
            | LeadIndex::Score
            | LeadIndex::Status
            | LeadIndex::Priority
            | LeadIndex::Assignee
            | LeadIndex::Source
            | LeadIndex::Hot => true,
            LeadIndex::Timeline | LeadIndex::OwnerTimeline | LeadIndex::FollowUp => false,
        }
    }
}

/// Key attributes of one index entry or table item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    /// As a table primary key.
    pub fn item_key(&self) -> HashMap<String, AttributeValue> {
        self.attrs(PK, SK)
    }

    /// As the given attribute pair (table or index).
    pub fn attrs(&self, pk_name: &str, sk_name: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (pk_name.to_string(), AttributeValue::S(self.pk.clone())),
            (sk_name.to_string(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

/// Timestamps in sort keys: fixed-width RFC 3339 so that text order is time order.
pub fn sortable_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn tenant(t: TenantId) -> Key {
    Key::new(format!("{t}#TENANT"), "TENANT")
}

/// The tenant's scoring settings, beside the tenant item (read by the scoring worker and
/// the settings endpoint; the tenant item itself stays small for the per-request check).
pub fn scoring_settings(t: TenantId) -> Key {
    Key::new(format!("{t}#TENANT"), "SCORING")
}

pub fn slug(slug: &str) -> Key {
    Key::new(format!("SLUG#{slug}"), "SLUG")
}

fn lead_partition(t: TenantId, id: Uuid) -> String {
    format!("{t}#LEAD#{id}")
}

pub fn lead(t: TenantId, id: Uuid) -> Key {
    Key::new(lead_partition(t, id), LEAD_SK)
}

/// The latest insights for a lead, in the lead's partition (deleted with the lead).
pub fn lead_insights(t: TenantId, id: Uuid) -> Key {
    Key::new(lead_partition(t, id), INSIGHTS_SK)
}

/// The uniqueness guard for a lead's email: one item per tenant and lowercased address,
/// written in the same transaction as the lead, conditioned on not existing.
/// The sort key of a lead item.
pub const LEAD_SK: &str = "LEAD";
/// The sort key of a lead's insights record.
pub const INSIGHTS_SK: &str = "INSIGHTS";
/// The sort key of a lead's manual rescore request.
pub const RESCORE_SK: &str = "RESCORE";

/// A manual rescore request (`update-scores`) for a lead, in the lead's partition: the
/// table's stream turns each write of it into a scoring request (TTL: it is only a signal).
pub fn rescore_request(t: TenantId, id: Uuid) -> Key {
    Key::new(lead_partition(t, id), RESCORE_SK)
}

/// The tenant and lead of a key in a lead's partition (`{t}#LEAD#{id}`), as a stream
/// record names it; None for any other partition.
pub fn parse_lead_partition(pk: &str) -> Option<(TenantId, Uuid)> {
    parse_record_partition(pk, "LEAD")
}

/// The tenant and id of a key in a record's own partition (`{t}#{KIND}#{id}`: `LEAD`,
/// `ACTIVITY`, `NOTE`), as a stream record names it; None for any other partition.
pub fn parse_record_partition(pk: &str, kind: &str) -> Option<(TenantId, Uuid)> {
    let (tenant, rest) = pk.split_once('#')?;
    let id = rest.strip_prefix(kind)?.strip_prefix('#')?;
    Some((TenantId::from_uuid(tenant.parse().ok()?), id.parse().ok()?))
}

pub fn lead_email(t: TenantId, email: &str) -> Key {
    Key::new(format!("{t}#EMAIL#{}", email.to_lowercase()), "EMAIL")
}

pub fn lead_audit(t: TenantId, lead_id: Uuid, at: DateTime<Utc>, audit_id: Uuid) -> Key {
    audit_entry(t, true, lead_id, at, audit_id)
}

/// Prefix of the sort keys of a lead's audit entries, for `begins_with`.
pub fn lead_audit_prefix(t: TenantId, lead_id: Uuid) -> Key {
    Key::new(lead_partition(t, lead_id), AUDIT_PREFIX)
}

/// Where an audit entry lives: a lead's in the lead's partition (its history is one
/// Query, deleted with nothing: entries expire by TTL), any other resource's in a
/// partition of its own, so the log's `resource_id` filter is a key query too. Resource
/// ids are UUIDs, unique across types, so a type needs no place in the key.
pub fn audit_entry(t: TenantId, lead: bool, resource_id: Uuid, at: DateTime<Utc>, id: Uuid) -> Key {
    Key::new(
        audit_partition(t, lead, resource_id),
        format!("{AUDIT_PREFIX}{}", audit_position(at, id)),
    )
}

pub fn audit_partition(t: TenantId, lead: bool, resource_id: Uuid) -> String {
    if lead {
        lead_partition(t, resource_id)
    } else {
        format!("{t}#AUDITOF#{resource_id}")
    }
}

/// Sort-key prefix of audit entries in their resource's partition.
pub const AUDIT_PREFIX: &str = "AUDIT#";

/// An entry's place in every audit order: its time, then its id (unique).
pub fn audit_position(at: DateTime<Utc>, id: Uuid) -> String {
    time_sort_key(at, id)
}

/// Inclusive bounds of the positions between `since` and `until` (both inclusive).
pub fn audit_bounds(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> (String, String) {
    // Positions are `{time}#{uuid}`: " " sorts below any time, "~" above any uuid.
    (
        since.map(sortable_time).unwrap_or_else(|| " ".into()),
        until
            .map(|t| format!("{}#~", sortable_time(t)))
            .unwrap_or_else(|| "~".into()),
    )
}

/// The tenant's audit timeline (GSI1, by [`audit_position`]).
pub fn audit_timeline(t: TenantId) -> String {
    format!("{t}#AUDIT")
}

/// One actor's audit entries (GSI2, by [`audit_position`]).
pub fn audit_by_actor(t: TenantId, actor: &str) -> String {
    format!("{t}#AUDITBY#{actor}")
}

/// The index of the tenant's audit timeline and the one of an actor's entries.
pub const AUDIT_TIMELINE_INDEX: LeadIndex = LeadIndex::Timeline;
pub const AUDIT_ACTOR_INDEX: LeadIndex = LeadIndex::OwnerTimeline;

pub fn all_leads(t: TenantId) -> String {
    format!("{t}#LEADS")
}

/// Sort key of the score-ordered indexes: zero-padded score, then creation, then id, so
/// that descending order is the list's default `-score,-created_at` and every key is unique.
pub fn score_sort_key(score: u8, created_at: DateTime<Utc>, id: Uuid) -> String {
    format!("{score:03}#{}#{id}", sortable_time(created_at))
}

/// Bounds of the score-ordered keys for a score range (inclusive).
pub fn score_bounds(min: Option<u8>, max: Option<u8>) -> (Option<String>, Option<String>) {
    // `$` sorts just above `#`, so "070$" is above every "070#...".
    (
        min.map(|m| format!("{m:03}")),
        max.map(|m| format!("{m:03}$")),
    )
}

pub fn time_sort_key(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}#{id}", sortable_time(at))
}

pub fn status_partition(t: TenantId, status: &str) -> String {
    format!("{t}#STATUS#{status}")
}

pub fn priority_partition(t: TenantId, priority: &str) -> String {
    format!("{t}#PRIORITY#{priority}")
}

pub fn assignee_partition(t: TenantId, user: Option<&str>) -> String {
    match user {
        Some(user) => format!("{t}#ASSIGNEE#{user}"),
        None => format!("{t}#UNASSIGNED"),
    }
}

/// The lead-source index partition (GSI6). Leads are indexed by their source's id, so a
/// renamed source keeps its leads; `source` is the id's text.
pub fn source_partition(t: TenantId, source: &str) -> String {
    format!("{t}#SOURCE#{}", source.to_lowercase())
}

pub fn follow_up_partition(t: TenantId) -> String {
    format!("{t}#FOLLOWUP")
}

pub fn hot_partition(t: TenantId) -> String {
    format!("{t}#HOT")
}

/// The index entries a lead has: `(index, partition, sort key)`. Which sparse indexes a
/// lead belongs to is decided by the domain (`crm_domain::lead_writes::sparse_indexes`),
/// passed in so that the key module holds no business rules.
pub struct LeadIndexInput<'a> {
    pub tenant: TenantId,
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub score: u8,
    pub status: &'a str,
    pub priority: &'a str,
    pub assigned_to: Option<&'a str>,
    pub source: Option<&'a str>,
    pub follow_up: Option<DateTime<Utc>>,
    pub hot: bool,
}

pub fn lead_indexes(l: &LeadIndexInput<'_>) -> Vec<(LeadIndex, String, String)> {
    let t = l.tenant;
    let by_score = score_sort_key(l.score, l.created_at, l.id);
    let mut out = vec![
        (
            LeadIndex::Created,
            all_leads(t),
            time_sort_key(l.created_at, l.id),
        ),
        (LeadIndex::Score, all_leads(t), by_score.clone()),
        (
            LeadIndex::Status,
            status_partition(t, l.status),
            by_score.clone(),
        ),
        (
            LeadIndex::Priority,
            priority_partition(t, l.priority),
            by_score.clone(),
        ),
        (
            LeadIndex::Assignee,
            assignee_partition(t, l.assigned_to),
            by_score.clone(),
        ),
    ];
    if let Some(source) = l.source {
        out.push((
            LeadIndex::Source,
            source_partition(t, source),
            by_score.clone(),
        ));
    }
    if let Some(at) = l.follow_up {
        out.push((
            LeadIndex::FollowUp,
            follow_up_partition(t),
            time_sort_key(at, l.id),
        ));
    }
    if l.hot {
        out.push((LeadIndex::Hot, hot_partition(t), by_score));
    }
    out
}

/// All of a tenant's lead sources live in one partition: a source list is one Query, and a
/// source is found by id alone (a lead's `source_id`), which the counters' `ADD` needs.
pub fn sources_partition(t: TenantId) -> String {
    format!("{t}#SOURCES")
}

pub fn lead_source(t: TenantId, id: Uuid) -> Key {
    Key::new(sources_partition(t), format!("SOURCE#{id}"))
}

/// Sort-key prefix of the source items, for `begins_with` and cursor bounds.
pub const SOURCE_PREFIX: &str = "SOURCE#";

/// The uniqueness guard of a source name (case-insensitive), written in the same
/// transaction as the source; it also resolves a name to its source (`source_id`).
pub fn lead_source_name(t: TenantId, name: &str) -> Key {
    Key::new(
        format!("{t}#SOURCENAME#{}", name.to_lowercase()),
        "SOURCENAME",
    )
}

pub fn tags_partition(t: TenantId) -> String {
    format!("{t}#TAGS")
}

pub fn lead_tag(t: TenantId, id: Uuid) -> Key {
    Key::new(tags_partition(t), format!("TAG#{id}"))
}

/// Sort-key prefix of the tag items.
pub const TAG_PREFIX: &str = "TAG#";

/// The uniqueness guard of a tag name (case-insensitive); resolves a name to its tag.
pub fn lead_tag_name(t: TenantId, name: &str) -> Key {
    Key::new(format!("{t}#TAGNAME#{}", name.to_lowercase()), "TAGNAME")
}

/// A lead's membership of a tag: a copy of the lead in the lead's own item collection
/// (deleted with it), indexed in GSI6 under [`tagged_partition`] by the score key, so that
/// `tags=` lists and a tag's deletion read the tag's leads, not the tenant's.
pub fn tag_membership(t: TenantId, lead_id: Uuid, tag_id: &str) -> Key {
    Key::new(lead_partition(t, lead_id), format!("TAG#{tag_id}"))
}

pub fn tagged_partition(t: TenantId, tag_id: &str) -> String {
    format!("{t}#TAGGED#{}", tag_id.to_lowercase())
}

/// An activity: its own item, found by id alone (the `activities/{id}/` routes). Its index
/// entries reuse the lead indexes' attributes under partitions of their own:
/// GSI1 [`activities_partition`] (the tenant's, newest first), GSI2
/// [`lead_activities_partition`] (a lead's timeline) and, while it is an open task
/// (scheduled, not completed), GSI7 [`tasks_partition`] by its scheduled time.
/// The sort key of an activity's item (the stream's filter names it).
pub const ACTIVITY_SK: &str = "ACTIVITY";

pub fn activity(t: TenantId, id: Uuid) -> Key {
    Key::new(format!("{t}#ACTIVITY#{id}"), ACTIVITY_SK)
}

pub fn activities_partition(t: TenantId) -> String {
    format!("{t}#ACTIVITIES")
}

pub fn lead_activities_partition(t: TenantId, lead_id: Uuid) -> String {
    format!("{t}#LEADACTIVITIES#{lead_id}")
}

pub fn tasks_partition(t: TenantId) -> String {
    format!("{t}#TASKS")
}

/// A note: its own item, found by id alone, with entries in GSI1 [`notes_partition`] (the
/// tenant's, newest first) and GSI2 [`lead_notes_partition`] (a lead's notes).
/// The sort key of a note's item (the stream's filter names it).
pub const NOTE_SK: &str = "NOTE";

pub fn note(t: TenantId, id: Uuid) -> Key {
    Key::new(format!("{t}#NOTE#{id}"), NOTE_SK)
}

pub fn notes_partition(t: TenantId) -> String {
    format!("{t}#NOTES")
}

pub fn lead_notes_partition(t: TenantId, lead_id: Uuid) -> String {
    format!("{t}#LEADNOTES#{lead_id}")
}

/// The tenant's custom-field definitions: one partition, so a lead write reads them all in
/// one Query (their number is capped).
pub fn custom_fields_partition(t: TenantId) -> String {
    format!("{t}#CUSTOMFIELDS")
}

pub fn custom_field(t: TenantId, id: Uuid) -> Key {
    Key::new(custom_fields_partition(t), format!("FIELD#{id}"))
}

pub const CUSTOM_FIELD_PREFIX: &str = "FIELD#";

/// A custom field's name guard. Kept when the field is deleted: leads may still hold
/// values under the name, so it is never given to a field of another type.
pub fn custom_field_name(t: TenantId, name: &str) -> Key {
    Key::new(
        format!("{t}#FIELDNAME#{}", name.to_lowercase()),
        "FIELDNAME",
    )
}

pub fn stats(t: TenantId) -> Key {
    Key::new(format!("{t}#STATS"), "STATS")
}

/// One of the tenant's dashboard counters shards (`crm_domain::stats::SHARDS` of them;
/// a lead's is `stats::shard_of(id)`): every counter but the lead count.
pub fn stats_shard(t: TenantId, shard: u32) -> Key {
    Key::new(format!("{t}#STATS#{shard:02}"), "STATS")
}

pub fn search_partition(t: TenantId, token: &str) -> String {
    let first: String = token.chars().take(1).collect();
    format!("{t}#SEARCH#{first}")
}

/// A search token item: its sort key is the token and the lead's id, which is all the item
/// needs to say (see [`search_token_lead`]).
pub fn search_token(t: TenantId, token: &str, lead_id: Uuid) -> Key {
    Key::new(search_partition(t, token), format!("{token}#{lead_id}"))
}

/// The lead of a search token item, from its sort key ([`search_token`]).
pub fn search_token_lead(sort_key: &str) -> Option<Uuid> {
    sort_key.rsplit_once('#')?.1.parse().ok()
}

/// A lead's search bookkeeping: the tokens its writes moved that are not settled yet
/// (`pending`), beside the lead. While any are pending, the item is also in the pending
/// partition of GSI1 ([`search_pending_partition`]), where a repair finds it.
pub fn lead_search(t: TenantId, lead_id: Uuid) -> Key {
    Key::new(format!("{t}#LEAD#{lead_id}"), "SEARCH")
}

/// The GSI1 partition of the leads whose search tokens have moves pending (sort key: the
/// lead id). Lead reads never name it.
pub fn search_pending_partition(t: TenantId) -> String {
    format!("{t}#SEARCHPENDING")
}

/// The record of one `Idempotency-Key` of a tenant (a client-chosen string of at most a
/// few hundred visible characters): the tenant prefix keeps one tenant's keys apart from
/// another's even when the clients pick the same key.
pub fn idempotency(t: TenantId, key: &str) -> Key {
    Key::new(format!("{t}#IDEMPOTENCY#{key}"), "IDEMPOTENCY")
}

// ---------------------------------------------------------------------------------------
// Accounts: users, memberships, sessions, invitations.

fn members_partition(t: TenantId) -> String {
    format!("{t}#MEMBERS")
}

/// A membership under its tenant (`MEMBER#{user}` sorts the tenant's members by user id).
pub fn member(t: TenantId, user: Uuid) -> Key {
    Key::new(members_partition(t), format!("MEMBER#{user}"))
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

/// The partition of a tenant's members, for listing them.
pub fn members(t: TenantId) -> String {
    members_partition(t)
}

/// The tenant's counts of members and of active owners, kept by every membership write
/// (the last owner cannot go: a condition on the count; leads may be assigned only to
/// members once there are any).
pub fn member_counts(t: TenantId) -> Key {
    Key::new(members_partition(t), "COUNTS")
}

fn user_partition(user: Uuid) -> String {
    format!("USER#{user}")
}

pub fn user(id: Uuid) -> Key {
    Key::new(user_partition(id), "USER")
}

/// The uniqueness guard of a user's email across the service (case-insensitive); it also
/// finds the user at sign-in.
pub fn user_email(email: &str) -> Key {
    Key::new(
        format!("USEREMAIL#{}", email.trim().to_lowercase()),
        "USEREMAIL",
    )
}

/// A membership under its user.
pub fn user_tenant(user: Uuid, t: TenantId) -> Key {
    Key::new(user_partition(user), format!("TENANT#{t}"))
}

pub const USER_TENANT_PREFIX: &str = "TENANT#";

/// The partition of a user's items (memberships, sessions).
pub fn user_items(user: Uuid) -> String {
    user_partition(user)
}

/// A sign-in session (refresh-token family) of a user.
pub fn family(user: Uuid, family: Uuid) -> Key {
    Key::new(user_partition(user), format!("FAMILY#{family}"))
}

pub const FAMILY_PREFIX: &str = "FAMILY#";

/// A refresh token, by the digest of its secret.
pub fn refresh_token(digest: &str) -> Key {
    Key::new(format!("REFRESH#{digest}"), "REFRESH")
}

fn invitations_partition(t: TenantId) -> String {
    format!("{t}#INVITES")
}

pub fn invitation(t: TenantId, id: Uuid) -> Key {
    Key::new(invitations_partition(t), format!("INVITE#{id}"))
}

pub const INVITATION_PREFIX: &str = "INVITE#";

pub fn invitations(t: TenantId) -> String {
    invitations_partition(t)
}

/// An invitation's secret, by its digest: what accepting it finds first.
pub fn invitation_token(digest: &str) -> Key {
    Key::new(format!("INVITETOKEN#{digest}"), "INVITETOKEN")
}

/// Failed sign-ins of one email within the lockout window.
pub fn login_failures(email: &str) -> Key {
    Key::new(
        format!("LOGINFAIL#{}", email.trim().to_lowercase()),
        "LOGINFAIL",
    )
}

// ---------------------------------------------------------------------------------------
// API keys and rate limits.

/// A tenant's API key (listed by the key routes, usage counters flushed into it).
pub fn api_key(t: TenantId, id: Uuid) -> Key {
    Key::new(format!("{t}#APIKEYS"), format!("APIKEY#{id}"))
}

pub const API_KEY_PREFIX: &str = "APIKEY#";

pub fn api_keys(t: TenantId) -> String {
    format!("{t}#APIKEYS")
}

/// A key by its public prefix: what a request presenting it finds first, before the
/// tenant is known (a copy of the key with its secret's digest, deleted on revocation).
pub fn api_key_lookup(prefix: &str) -> Key {
    Key::new(format!("APIKEY#{prefix}"), "APIKEY")
}

/// One fixed rate-limit window of a tenant (`subject` `TENANT`) or of one of its keys
/// (`KEY#{id}`), starting at `start` (epoch seconds): each window its own item and
/// partition, expired by TTL.
pub fn rate_window(t: TenantId, subject: &str, start: i64) -> Key {
    Key::new(format!("{t}#RATE#{subject}#{start}"), "RATE")
}

// ---------------------------------------------------------------------------------------
// Webhooks.

/// A tenant's webhook subscriptions, in one partition (a dispatch reads them with one
/// Query; a tenant has at most `MAX_SUBSCRIPTIONS`).
pub fn webhooks_partition(t: TenantId) -> String {
    format!("{t}#WEBHOOKS")
}

pub fn webhook(t: TenantId, id: Uuid) -> Key {
    Key::new(webhooks_partition(t), format!("WEBHOOK#{id}"))
}

pub const WEBHOOK_PREFIX: &str = "WEBHOOK#";

/// The delivery log of one subscription, newest last in key order.
pub fn webhook_deliveries(t: TenantId, webhook: Uuid) -> String {
    format!("{t}#WEBHOOK#{webhook}")
}

pub const DELIVERY_PREFIX: &str = "DELIVERY#";

/// One delivery: `at` is the time in its id (`crm_domain::webhooks::new_delivery_id`), so
/// the id alone finds the item; an id without a time (not one of ours) gets the epoch and
/// matches nothing.
pub fn webhook_delivery(t: TenantId, webhook: Uuid, delivery: Uuid) -> Key {
    let at = crm_domain::webhooks::delivery_time(delivery).unwrap_or_default();
    Key::new(
        webhook_deliveries(t, webhook),
        format!("{DELIVERY_PREFIX}{}#{delivery}", sortable_time(at)),
    )
}

// Custom domains.

fn domains_partition(t: TenantId) -> String {
    format!("{t}#DOMAINS")
}

/// A tenant's custom domain (listed by the domain routes).
pub fn custom_domain(t: TenantId, id: Uuid) -> Key {
    Key::new(domains_partition(t), format!("DOMAIN#{id}"))
}

pub const CUSTOM_DOMAIN_PREFIX: &str = "DOMAIN#";

pub fn custom_domains(t: TenantId) -> String {
    domains_partition(t)
}

/// A tenant's number of custom domains and its primary one: the item every domain write
/// conditions on, so the cap and the one primary hold under concurrent writes.
pub fn custom_domain_counts(t: TenantId) -> Key {
    Key::new(domains_partition(t), "COUNTS")
}

/// The guard of a domain name across the service (a normalised host name): the tenant that
/// registered it and whether it is verified, the one item a request's `Host` reads.
pub fn domain_guard(name: &str) -> Key {
    Key::new(format!("DOMAIN#{name}"), "DOMAIN")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_key_starts_with_the_tenant() {
        let t = TenantId::from_uuid(Uuid::new_v4());
        let id = Uuid::new_v4();
        let now = Utc::now();
        for key in [
            tenant(t),
            scoring_settings(t),
            lead(t, id),
            lead_insights(t, id),
            rescore_request(t, id),
            lead_email(t, "A@B.example"),
            lead_audit(t, id, now, Uuid::new_v4()),
            audit_entry(t, false, id, now, Uuid::new_v4()),
            stats(t),
            stats_shard(t, 15),
            search_token(t, "acme", id),
            lead_search(t, id),
            idempotency(t, "retry-1"),
            lead_source(t, id),
            lead_source_name(t, "Website"),
            lead_tag(t, id),
            lead_tag_name(t, "Hot"),
            tag_membership(t, id, "x"),
            activity(t, id),
            note(t, id),
            custom_field(t, id),
            custom_field_name(t, "budget_code"),
            member(t, id),
            member_counts(t),
            invitation(t, id),
            api_key(t, id),
            rate_window(t, "TENANT", 60),
            webhook(t, id),
            webhook_delivery(t, id, crm_domain::webhooks::new_delivery_id(now)),
            custom_domain(t, id),
            custom_domain_counts(t),
        ] {
            assert!(key.pk.starts_with(&t.to_string()), "{key:?}");
        }
        assert_eq!(lead_email(t, "A@B.example"), lead_email(t, "a@b.example"));
        assert_eq!(user_email(" A@B.example"), user_email("a@b.example"));
    }

    #[test]
    fn a_lead_partition_parses_back_and_nothing_else_does() {
        let t = TenantId::from_uuid(Uuid::new_v4());
        let id = Uuid::new_v4();
        assert_eq!(parse_lead_partition(&lead(t, id).pk), Some((t, id)));
        assert_eq!(parse_lead_partition(&stats(t).pk), None);
        assert_eq!(parse_lead_partition("x#LEAD#y"), None);
        assert_eq!(parse_lead_partition(""), None);
    }

    #[test]
    fn sortable_times_sort_as_text() {
        let a = "2026-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap();
        let b = "2026-01-02T03:04:05.5Z".parse::<DateTime<Utc>>().unwrap();
        assert!(sortable_time(a) < sortable_time(b));
    }
}
