//! The tenant's audit log: what an entry says (who did what to which resource, from where,
//! what changed) and how long it is kept. Every write of the service builds one entry and
//! commits it in the write's own transaction; the store decides where entries live.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::Error;
use crate::query::QueryParams;
use crate::validate::{Choice, FieldErrors};

crate::choice_enum! {
    /// What an entry is about (`user`: a user's sign-ins). Every resource id is a UUID
    /// (a tenant's settings are the tenant's id, a member's and a user's the user's id).
    ResourceType {
        Lead = "lead",
        Source = "source",
        Tag = "tag",
        Activity = "activity",
        Note = "note",
        CustomField = "custom_field",
        Tenant = "tenant",
        ScoringSettings = "scoring_settings",
        Member = "member",
        Invitation = "invitation",
        ApiKey = "api_key",
        User = "user",
        Domain = "domain",
        Webhook = "webhook",
    }
}

crate::choice_enum! {
    /// What was done (`deactivate`: the service switched a webhook off after 3 days of
    /// failed deliveries; `logout` and `password_change`: a user's, in the tenant they are
    /// signed in to).
    AuditAction {
        Create = "create",
        Update = "update",
        Delete = "delete",
        Score = "score",
        Login = "login",
        LoginFailed = "login_failed",
        Accept = "accept",
        Revoke = "revoke",
        Deactivate = "deactivate",
        Logout = "logout",
        PasswordChange = "password_change",
    }
}

/// Where a request came from, as API Gateway saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The origin of a write no request made (the workers').
pub static NO_ORIGIN: Origin = Origin {
    ip: None,
    user_agent: None,
};

/// What every entry of one actor's write shares: who, from where, and how long the
/// tenant's plan keeps the entry.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    pub actor: &'a str,
    pub origin: &'a Origin,
    pub retention_days: u64,
}

impl<'a> Provenance<'a> {
    /// A write no request made (a worker's, the admin command's).
    pub fn system(actor: &'a str, retention_days: u64) -> Self {
        Provenance {
            actor,
            origin: &NO_ORIGIN,
            retention_days,
        }
    }
}

/// The longest a user agent is kept: a client chooses it, and an entry stays small.
pub const MAX_USER_AGENT: usize = 512;

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Uuid,
    /// Entries written before the log covered more than leads have no type: leads.
    #[serde(default = "lead_type")]
    pub resource_type: ResourceType,
    #[serde(alias = "lead_id")]
    pub resource_id: Uuid,
    pub action: AuditAction,
    /// A user id, `api-key:<id>`, or `system:<worker>`.
    pub actor: String,
    pub at: DateTime<Utc>,
    /// `{field: {"old": .., "new": ..}}`; never a secret or a digest of one.
    pub changes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// When the table's TTL removes the entry (epoch seconds): `at` plus the plan's
    /// `audit_retention_days` at the time of the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The operation the write was one of (`bulk`), when it was not a request of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

fn lead_type() -> ResourceType {
    ResourceType::Lead
}

impl AuditEntry {
    pub fn new(
        by: Provenance<'_>,
        resource_type: ResourceType,
        resource_id: Uuid,
        action: AuditAction,
        at: DateTime<Utc>,
        changes: Map<String, Value>,
    ) -> Self {
        let retention = i64::try_from(by.retention_days)
            .ok()
            .and_then(Duration::try_days)
            .unwrap_or(Duration::MAX);
        let expires_at = at.checked_add_signed(retention).map(|t| t.timestamp());
        Self {
            id: Uuid::new_v4(),
            resource_type,
            resource_id,
            action,
            actor: by.actor.to_string(),
            at,
            changes,
            ip: by.origin.ip.clone(),
            user_agent: by
                .origin
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
            expires_at,
            via: None,
        }
    }

    /// The entry, noted as one write of a larger operation (`bulk`).
    pub fn via(mut self, operation: Option<&str>) -> Self {
        self.via = operation.map(str::to_string);
        self
    }

    /// An entry of a lead's trail.
    pub fn lead(
        by: Provenance<'_>,
        lead_id: Uuid,
        action: AuditAction,
        at: DateTime<Utc>,
        changes: Map<String, Value>,
    ) -> Self {
        Self::new(by, ResourceType::Lead, lead_id, action, at, changes)
    }
}

/// `{field: {"old": old, "new": new}}` for the fields whose value differs between two JSON
/// views of a record, leaving out the fields `left_out` names (digests, hashes) whatever
/// they hold.
pub fn diff(
    before: Option<&Value>,
    after: Option<&Value>,
    left_out: &[&str],
) -> Map<String, Value> {
    let empty = Map::new();
    let old = before.and_then(Value::as_object).unwrap_or(&empty);
    let new = after.and_then(Value::as_object).unwrap_or(&empty);
    let mut fields: Vec<&String> = old.keys().chain(new.keys()).collect();
    fields.sort();
    fields.dedup();
    let mut out = Map::new();
    for field in fields {
        if left_out.contains(&field.as_str()) {
            continue;
        }
        let (o, n) = (
            old.get(field).unwrap_or(&Value::Null),
            new.get(field).unwrap_or(&Value::Null),
        );
        if o != n {
            out.insert(
                field.clone(),
                serde_json::json!({"old": o.clone(), "new": n.clone()}),
            );
        }
    }
    out
}

/// [`diff`] of two versions of any serialisable record (`None`: before a create, after a
/// delete), leaving out [`BOOKKEEPING`] and `left_out`.
pub fn changes<T: Serialize>(
    before: Option<&T>,
    after: Option<&T>,
    left_out: &[&str],
) -> Map<String, Value> {
    let view = |r: &T| serde_json::to_value(r).unwrap_or(Value::Null);
    let (before, after) = (before.map(view), after.map(view));
    let mut out = diff(before.as_ref(), after.as_ref(), left_out);
    out.retain(|field, _| !BOOKKEEPING.contains(&field.as_str()));
    out
}

/// The changes of a write that names one value: `{field: {"old": null, "new": value}}`.
pub fn noted(field: &str, value: impl Serialize) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        field.to_string(),
        serde_json::json!({"old": null, "new": value}),
    );
    out
}

/// Fields no entry records, in any record: bookkeeping that changes with every write.
pub const BOOKKEEPING: &[&str] = &["version", "updated_at", "created_at", "tenant_id", "id"];

/// The parameters the audit log knows.
pub const LOG_PARAMS: [&str; 8] = [
    "page_size",
    "cursor",
    "resource_type",
    "resource_id",
    "actor",
    "action",
    "since",
    "until",
];

/// The longest `actor` a filter may name (user ids of outside issuers are free text).
pub const MAX_ACTOR: usize = 200;

/// What `GET /api/tenants/current/audit-log/` asks for; each filter optional, all of
/// them together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_id: Option<Uuid>,
    pub actor: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl LogFilter {
    /// Every problem of the query at once, as a 400 naming each parameter.
    pub fn parse(query: &QueryParams) -> Result<Self, Error> {
        query.reject_unknown(&LOG_PARAMS)?;
        let mut errors = FieldErrors::default();
        let mut filter = LogFilter::default();
        if let Some(raw) = query.single("resource_type") {
            filter.resource_type = choice(raw, "resource_type", &mut errors);
        }
        if let Some(raw) = query.single("action") {
            filter.action = choice(raw, "action", &mut errors);
        }
        if let Some(raw) = query.single("resource_id") {
            match Uuid::parse_str(raw.trim()) {
                Ok(id) => filter.resource_id = Some(id),
                Err(_) => errors.add("resource_id", "Must be a valid UUID."),
            }
        }
        if let Some(raw) = query.single("actor") {
            let raw = raw.trim();
            if raw.is_empty() || raw.chars().count() > MAX_ACTOR || raw.contains('#') {
                errors.add(
                    "actor",
                    format!("Must be a user id or api-key:<id> of at most {MAX_ACTOR} characters."),
                );
            } else {
                filter.actor = Some(raw.to_string());
            }
        }
        for (name, slot) in [("since", &mut filter.since), ("until", &mut filter.until)] {
            if let Some(raw) = query.single(name) {
                match parse_time(raw.trim()) {
                    Some(t) => *slot = Some(t),
                    None => errors.add(
                        name,
                        "Must be an RFC 3339 date-time (2026-01-31T12:00:00Z) or a date (2026-01-31).",
                    ),
                }
            }
        }
        if let (Some(since), Some(until)) = (filter.since, filter.until) {
            if since > until {
                errors.add("until", "Must not be before since.");
            }
        }
        errors.into_result().map_err(Error::Validation)?;
        Ok(filter)
    }

    /// Whether an entry read matches every filter (those the read's key already
    /// applied match trivially).
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.resource_type.is_none_or(|t| t == entry.resource_type)
            && self.resource_id.is_none_or(|id| id == entry.resource_id)
            && self.actor.as_ref().is_none_or(|a| *a == entry.actor)
            && self.action.is_none_or(|a| a == entry.action)
            && self.since.is_none_or(|t| entry.at >= t)
            && self.until.is_none_or(|t| entry.at <= t)
    }
}

fn choice<T: Choice>(raw: &str, name: &str, errors: &mut FieldErrors) -> Option<T> {
    let parsed = T::parse(raw.trim());
    if parsed.is_none() {
        let choices: Vec<&str> = T::CHOICES.iter().map(|(s, _)| *s).collect();
        errors.add(
            name,
            format!(
                "\"{raw}\" is not a valid choice: one of {}.",
                choices.join(", ")
            ),
        );
    }
    parsed
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

/// An entry as the log shows it.
pub fn json(entry: &AuditEntry) -> Value {
    serde_json::json!({
        "id": entry.id,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "changes": entry.changes,
        "ip": entry.ip,
        "user_agent": entry.user_agent,
        "via": entry.via,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_names_changed_fields_and_leaves_secrets_out() {
        let before = json!({"name": "a", "digest": "x", "same": 1});
        let after = json!({"name": "b", "digest": "y", "same": 1, "new": true});
        let changes = diff(Some(&before), Some(&after), &["digest"]);
        assert_eq!(
            Value::Object(changes),
            json!({"name": {"old": "a", "new": "b"}, "new": {"old": null, "new": true}})
        );
    }

    #[test]
    fn the_log_filter_names_each_bad_parameter() {
        let q = QueryParams::parse(
            "resource_type=planet&action=x&resource_id=1&actor=a%23b&since=soon&until=2026-01-01",
        );
        let Err(Error::Validation(errors)) = LogFilter::parse(&q) else {
            panic!("a 400");
        };
        let text = format!("{errors:?}");
        for field in ["resource_type", "action", "resource_id", "actor", "since"] {
            assert!(text.contains(field), "{field}: {text}");
        }
        let q = QueryParams::parse("resource_type=tag&action=create&since=2026-01-01&actor=u1");
        let filter = LogFilter::parse(&q).unwrap();
        assert_eq!(filter.resource_type, Some(ResourceType::Tag));
        assert_eq!(filter.action, Some(AuditAction::Create));
        assert_eq!(filter.actor.as_deref(), Some("u1"));
        assert!(filter.since.is_some() && filter.until.is_none());
    }

    #[test]
    fn an_entry_expires_after_the_retention() {
        let origin = Origin::default();
        let by = Provenance {
            actor: "u",
            origin: &origin,
            retention_days: 30,
        };
        let at = Utc::now();
        let entry = AuditEntry::new(
            by,
            ResourceType::Tag,
            Uuid::nil(),
            AuditAction::Create,
            at,
            Map::new(),
        );
        assert_eq!(entry.expires_at, Some(at.timestamp() + 30 * 86_400));
    }
}
