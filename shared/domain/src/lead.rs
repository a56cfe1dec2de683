//! The lead: its fields (those of the original model), validation of client input, the
//! rules of a change, and the JSON shapes clients receive.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::choice_enum;
use crate::sources::SourceRef;
use crate::tenant::TenantId;
use crate::validate::{FieldErrors, Input, Patch, Text};

choice_enum!(
    /// Lifecycle of a lead; the description's "Won" is `converted`.
    LeadStatus {
        New = "new",
        Contacted = "contacted",
        Qualified = "qualified",
        Proposal = "proposal",
        Negotiation = "negotiation",
        Converted = "converted",
        Lost = "lost",
        Unresponsive = "unresponsive",
    }
);

impl LeadStatus {
    /// `new` through `negotiation`: the leads still being worked.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            LeadStatus::New
                | LeadStatus::Contacted
                | LeadStatus::Qualified
                | LeadStatus::Proposal
                | LeadStatus::Negotiation
        )
    }
}

choice_enum!(Priority {
    Low = "low",
    Medium = "medium",
    High = "high",
    Urgent = "urgent",
});

choice_enum!(CompanySize {
    Startup = "startup",
    Small = "small",
    Medium = "medium",
    Large = "large",
    Enterprise = "enterprise",
});

/// Money fields: decimals with two places, at most 12 digits (DRF `max_digits=12`).
pub const MONEY_DIGITS: u32 = 12;
pub const MONEY_PLACES: u32 = 2;

/// A lead as stored (without its key attributes) and as the service reasons about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Lead {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub version: u64,

    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,

    pub company: Option<String>,
    pub job_title: Option<String>,
    pub company_website: Option<String>,
    pub company_size: Option<CompanySize>,
    pub industry: Option<String>,
    pub annual_revenue: Option<Decimal>,

    pub status: LeadStatus,
    pub priority: Priority,
    /// The lead's source (a [`crate::sources::Source`] of the tenant).
    #[serde(default)]
    pub source_id: Option<Uuid>,
    /// The source's name as of the lead's last write. Responses show the source's current
    /// name (see `leads::with_current_sources`); this copy serves scoring and the audit.
    pub source: Option<String>,
    /// A user id.
    pub assigned_to: Option<String>,
    /// Ids of the lead's tags.
    #[serde(default)]
    pub tag_ids: Vec<String>,
    /// Values of the tenant's custom fields, by field name (see `custom_fields`).
    #[serde(default)]
    pub custom_fields: Map<String, Value>,

    pub score: u8,
    #[serde(default)]
    pub score_factors: Vec<Value>,
    pub last_scored_at: Option<DateTime<Utc>>,
    /// The formula behind `score` (`explainable-v1`, `legacy-v1`); None until scored.
    #[serde(default)]
    pub score_model: Option<String>,
    /// Activities logged on the lead (calls, emails, meetings, ...), and the latest one's
    /// time: kept by the activity writes, read by the score's engagement factor.
    #[serde(default)]
    pub activity_count: u32,
    #[serde(default)]
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The lead version the score was computed at. A scoring request triggered at this
    /// version or an older one has nothing left to do (duplicates, reordered deliveries).
    #[serde(default)]
    pub scored_version: u64,
    /// The version of the lead's last change to what clients write (see
    /// [`crate::lead_writes::edited_version`]): an `If-Match` naming this version or a later
    /// one matches, since only the system's bookkeeping (score, engagement counters) changed
    /// since. Set by the lead repository on every write; absent on leads stored before it
    /// existed, which then match their current version only.
    #[serde(default)]
    pub edited_version: Option<u64>,

    pub notes: Option<String>,
    pub first_contact_date: Option<DateTime<Utc>>,
    pub last_contact_date: Option<DateTime<Utc>>,
    pub next_follow_up: Option<DateTime<Utc>>,

    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub referrer: Option<String>,

    pub budget: Option<Decimal>,
    pub timeline: Option<String>,
    pub decision_maker: bool,
    pub pain_points: Option<String>,
    pub requirements: Option<String>,

    pub converted_at: Option<DateTime<Utc>>,
    pub conversion_value: Option<Decimal>,
    pub lost_reason: Option<String>,

    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How much of the lead a request must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// POST: the required fields must be present.
    Create,
    /// PUT: as DRF, the required fields must be present; others left out keep their values.
    Replace,
    /// PATCH: any subset.
    Partial,
}

impl WriteMode {
    /// The mode of an update: `Partial` for a PATCH, else `Replace`.
    pub fn update(partial: bool) -> Self {
        if partial {
            WriteMode::Partial
        } else {
            WriteMode::Replace
        }
    }
}

/// A validated create or update request.
#[derive(Clone, Debug, Default)]
pub struct LeadInput {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Patch<String>,
    pub company: Patch<String>,
    pub job_title: Patch<String>,
    pub company_website: Patch<String>,
    pub company_size: Patch<CompanySize>,
    pub industry: Patch<String>,
    pub annual_revenue: Patch<Decimal>,
    pub status: Option<LeadStatus>,
    pub priority: Option<Priority>,
    /// `source_id`, or `source` given as an id or a name; resolved by the lead service.
    pub source: Patch<SourceRef>,
    /// The request field the source came from (`source_id` or `source`), for messages.
    pub source_field: &'static str,
    /// The lead's whole set of tags, when given (checked to exist by the lead service).
    pub tag_ids: Option<Vec<Uuid>>,
    /// Custom-field values as sent; checked against the definitions by the lead service,
    /// which sets the lead's values.
    pub custom_fields: Option<Map<String, Value>>,
    pub assigned_to: Patch<String>,
    pub notes: Patch<String>,
    pub next_follow_up: Patch<DateTime<Utc>>,
    pub utm_source: Patch<String>,
    pub utm_medium: Patch<String>,
    pub utm_campaign: Patch<String>,
    pub utm_term: Patch<String>,
    pub utm_content: Patch<String>,
    pub referrer: Patch<String>,
    pub budget: Patch<Decimal>,
    pub timeline: Patch<String>,
    pub decision_maker: Option<bool>,
    pub pain_points: Patch<String>,
    pub requirements: Patch<String>,
    pub conversion_value: Patch<Decimal>,
    pub lost_reason: Patch<String>,
}

/// Long free text (notes, pain points, requirements): generous but bounded.
const LONG_TEXT: usize = 10_000;

fn required(p: Patch<String>) -> Option<String> {
    match p {
        Patch::Set(v) => Some(v),
        _ => None,
    }
}

fn non_null<T>(p: Patch<T>, input: &mut Input<'_>, field: &str) -> Option<T> {
    match p {
        Patch::Set(v) => Some(v),
        Patch::Clear => {
            input.error(field, crate::validate::NOT_NULL);
            None
        }
        Patch::Absent => None,
    }
}

impl LeadInput {
    /// Validates a request body. Every problem is reported, each under its field's name.
    pub fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, FieldErrors> {
        let mut i = Input::new(body);
        let must = mode != WriteMode::Partial;
        for field in ["first_name", "last_name", "email"] {
            i.require(field, must);
        }
        let first_name = i.text("first_name", Text::required(100));
        let last_name = i.text("last_name", Text::required(100));
        let email = i.email("email", Text::required(254));
        let status = i.choice("status", false);
        let priority = i.choice("priority", false);
        let decision_maker = i.boolean("decision_maker");
        // `assigned_to_id` is the original's write name for the same field.
        let assigned_field = if i.contains("assigned_to_id") && !i.contains("assigned_to") {
            "assigned_to_id"
        } else {
            "assigned_to"
        };
        let source_field = if i.contains("source_id") {
            "source_id"
        } else {
            "source"
        };
        let input = LeadInput {
            first_name: required(first_name),
            last_name: required(last_name),
            email: required(email),
            phone: i.text("phone", Text::optional(20)),
            company: i.text("company", Text::optional(200)),
            job_title: i.text("job_title", Text::optional(100)),
            company_website: i.url("company_website", Text::optional(200)),
            company_size: i.choice("company_size", true),
            industry: i.text("industry", Text::optional(100)),
            annual_revenue: i.money("annual_revenue", MONEY_DIGITS, MONEY_PLACES),
            status: non_null(status, &mut i, "status"),
            priority: non_null(priority, &mut i, "priority"),
            source: SourceRef::parse(&mut i),
            source_field,
            tag_ids: crate::tags::parse_tag_ids(&mut i, body),
            custom_fields: match body.get("custom_fields") {
                None => None,
                Some(Value::Object(m)) => Some(m.clone()),
                Some(_) => {
                    i.error("custom_fields", "Expected a JSON object of field values.");
                    None
                }
            },
            assigned_to: i.text(assigned_field, Text::optional(128)),
            notes: i.text("notes", Text::optional(LONG_TEXT)),
            next_follow_up: i.datetime("next_follow_up"),
            utm_source: i.text("utm_source", Text::optional(100)),
            utm_medium: i.text("utm_medium", Text::optional(100)),
            utm_campaign: i.text("utm_campaign", Text::optional(100)),
            utm_term: i.text("utm_term", Text::optional(100)),
            utm_content: i.text("utm_content", Text::optional(100)),
            referrer: i.text("referrer", Text::optional(500)),
            budget: i.money("budget", MONEY_DIGITS, MONEY_PLACES),
            timeline: i.text("timeline", Text::optional(100)),
            decision_maker: non_null(decision_maker, &mut i, "decision_maker"),
            pain_points: i.text("pain_points", Text::optional(LONG_TEXT)),
            requirements: i.text("requirements", Text::optional(LONG_TEXT)),
            conversion_value: i.money("conversion_value", MONEY_DIGITS, MONEY_PLACES),
            lost_reason: i.text("lost_reason", Text::optional(LONG_TEXT)),
        };
        i.finish()?;
        Ok(input)
    }
}

/// The fields a list row shows (the original's lighter shape), in order.
pub const ROW_FIELDS: [&str; 19] = [
    "id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "phone",
    "company",
    "job_title",
    "status",
    "priority",
    "score",
    "source_name",
    "assigned_to",
    "tags",
    "days_since_created",
    "is_overdue",
    "next_follow_up",
    "created_at",
    "updated_at",
];

/// A lead as a list row shows it ([`Lead::row`]): [`ROW_FIELDS`] with the assignee as an id
/// and a name, serialised straight to the response. A page of 20 rows built as JSON values
/// first (a map per row, a string per key) spent a sixth of a list request's CPU building
/// and freeing them (#15's profiles, docs/benchmark.md).
///
/// The fields are in alphabetical order, the order in which a JSON object value writes its
/// keys, so a row reads exactly as it did when it was one.
#[derive(Clone, Debug, Serialize)]
pub struct LeadRow<'a> {
    pub assigned_to: Option<&'a str>,
    /// The assignee's full name, known only from the membership: filled in by the caller.
    pub assigned_to_name: Option<String>,
    pub company: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub days_since_created: i64,
    pub email: &'a str,
    pub first_name: &'a str,
    pub full_name: String,
    pub id: Uuid,
    pub is_overdue: bool,
    pub job_title: Option<&'a str>,
    pub last_name: &'a str,
    pub next_follow_up: Option<DateTime<Utc>>,
    pub phone: Option<&'a str>,
    pub priority: Priority,
    pub score: u8,
    pub source_name: Option<&'a str>,
    pub status: LeadStatus,
    /// The tags' summaries: filled in by the caller, which has them.
    pub tags: Value,
    pub updated_at: DateTime<Utc>,
}

impl Lead {
    /// A new lead from a validated create request.
    pub fn create(
        tenant_id: TenantId,
        input: LeadInput,
        created_by: &str,
        now: DateTime<Utc>,
    ) -> Lead {
        let mut lead = Lead {
            id: Uuid::new_v4(),
            tenant_id,
            version: 1,
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            phone: None,
            company: None,
            job_title: None,
            company_website: None,
            company_size: None,
            industry: None,
            annual_revenue: None,
            status: LeadStatus::New,
            priority: Priority::Medium,
            source_id: None,
            source: None,
            assigned_to: None,
            tag_ids: Vec::new(),
            custom_fields: Map::new(),
            score: 0,
            score_factors: Vec::new(),
            last_scored_at: None,
            score_model: None,
            activity_count: 0,
            last_activity_at: None,
            scored_version: 0,
            edited_version: Some(1),
            notes: None,
            first_contact_date: None,
            last_contact_date: None,
            next_follow_up: None,
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            utm_term: None,
            utm_content: None,
            referrer: None,
            budget: None,
            timeline: None,
            decision_maker: false,
            pain_points: None,
            requirements: None,
            converted_at: None,
            conversion_value: None,
            lost_reason: None,
            created_by: created_by.to_string(),
            created_at: now,
            updated_at: now,
        };
        lead.apply(input, now);
        lead
    }

    /// Applies a validated change with the original's side effects: entering `converted`
    /// stamps `converted_at`; leaving it clears `converted_at` and `conversion_value`.
    pub fn apply(&mut self, input: LeadInput, now: DateTime<Utc>) {
        let before = self.status;
        if let Some(v) = input.first_name {
            self.first_name = v;
        }
        if let Some(v) = input.last_name {
            self.last_name = v;
        }
        if let Some(v) = input.email {
            self.email = v;
        }
        if let Some(v) = input.status {
            self.status = v;
        }
        if let Some(v) = input.priority {
            self.priority = v;
        }
        if let Some(v) = input.decision_maker {
            self.decision_maker = v;
        }
        input.phone.apply_to(&mut self.phone);
        input.company.apply_to(&mut self.company);
        input.job_title.apply_to(&mut self.job_title);
        input.company_website.apply_to(&mut self.company_website);
        input.company_size.apply_to(&mut self.company_size);
        input.industry.apply_to(&mut self.industry);
        input.annual_revenue.apply_to(&mut self.annual_revenue);
        if let Some(ids) = input.tag_ids {
            self.tag_ids = ids.iter().map(Uuid::to_string).collect();
        }
        // A source to set is resolved to a record by the service (`set_source`).
        if input.source == Patch::Clear {
            self.set_source(None);
        }
        input.assigned_to.apply_to(&mut self.assigned_to);
        input.notes.apply_to(&mut self.notes);
        input.next_follow_up.apply_to(&mut self.next_follow_up);
        input.utm_source.apply_to(&mut self.utm_source);
        input.utm_medium.apply_to(&mut self.utm_medium);
        input.utm_campaign.apply_to(&mut self.utm_campaign);
        input.utm_term.apply_to(&mut self.utm_term);
        input.utm_content.apply_to(&mut self.utm_content);
        input.referrer.apply_to(&mut self.referrer);
        input.budget.apply_to(&mut self.budget);
        input.timeline.apply_to(&mut self.timeline);
        input.pain_points.apply_to(&mut self.pain_points);
        input.requirements.apply_to(&mut self.requirements);
        input.conversion_value.apply_to(&mut self.conversion_value);
        input.lost_reason.apply_to(&mut self.lost_reason);

        if self.status == LeadStatus::Converted && self.converted_at.is_none() {
            self.converted_at = Some(now);
        }
        if before == LeadStatus::Converted && self.status != LeadStatus::Converted {
            self.converted_at = None;
            self.conversion_value = None;
        }
        self.updated_at = now;
    }

    /// Points the lead at a source record: `(id, current name)`.
    pub fn set_source(&mut self, source: Option<(Uuid, String)>) {
        (self.source_id, self.source) = match source {
            Some((id, name)) => (Some(id), Some(name)),
            None => (None, None),
        };
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    /// An active lead whose follow-up time has passed.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.status.is_active() && self.next_follow_up.is_some_and(|t| t < now)
    }

    /// The lead as a JSON object of its stored fields, without internal bookkeeping.
    pub(crate) fn fields(&self) -> Map<String, Value> {
        let Value::Object(mut map) = serde_json::to_value(self).expect("lead serialises") else {
            unreachable!("a struct serialises to an object")
        };
        map.remove("tenant_id");
        map.remove("scored_version");
        map.remove("edited_version");
        map
    }

    /// The version of the last change to client-written fields (the current version for a
    /// lead stored without the record).
    pub fn edited_version(&self) -> u64 {
        self.edited_version
            .unwrap_or(self.version)
            .min(self.version)
    }

    /// Whether an `If-Match` naming `version` (an ETag this lead had) still holds: no
    /// client-written field changed since that version; only the system's did, if anything.
    pub fn matches_etag(&self, version: u64) -> bool {
        (self.edited_version()..=self.version).contains(&version)
    }

    /// The detail shape (GET/PUT/PATCH/POST responses): every field plus computed ones.
    pub fn detail(&self, now: DateTime<Utc>) -> Value {
        let mut map = self.fields();
        map.insert("full_name".into(), self.full_name().into());
        // The original's name for the same values.
        map.insert(
            "custom_field_values".into(),
            Value::Object(self.custom_fields.clone()),
        );
        map.insert("source_name".into(), self.source.clone().into());
        map.insert(
            "source".into(),
            match (self.source_id, &self.source) {
                (Some(id), name) => serde_json::json!({"id": id, "name": name}),
                _ => Value::Null,
            },
        );
        map.insert("tags".into(), Value::Array(Vec::new()));
        map.insert("assigned_to".into(), self.unknown_assignee());
        map.insert(
            "days_since_created".into(),
            (now - self.created_at).num_days().into(),
        );
        map.insert(
            "days_until_follow_up".into(),
            self.next_follow_up.map(|t| (t - now).num_days()).into(),
        );
        map.insert("is_overdue".into(), self.is_overdue(now).into());
        Value::Object(map)
    }

    /// The lighter list-row shape of the original: the detail's [`ROW_FIELDS`].
    ///
    /// Built field by field rather than cut from [`Self::detail`]: a page makes 20 rows,
    /// and serialising every field of each only to drop most of them was about a fifth of
    /// a list request's CPU. A test holds the two shapes together.
    pub fn row(&self, now: DateTime<Utc>) -> LeadRow<'_> {
        LeadRow {
            assigned_to: self.assigned_to.as_deref(),
            assigned_to_name: None,
            company: self.company.as_deref(),
            created_at: self.created_at,
            days_since_created: (now - self.created_at).num_days(),
            email: &self.email,
            first_name: &self.first_name,
            full_name: self.full_name(),
            id: self.id,
            is_overdue: self.is_overdue(now),
            job_title: self.job_title.as_deref(),
            last_name: &self.last_name,
            next_follow_up: self.next_follow_up,
            phone: self.phone.as_deref(),
            priority: self.priority,
            score: self.score,
            source_name: self.source.as_deref(),
            status: self.status,
            tags: Value::Array(Vec::new()),
            updated_at: self.updated_at,
        }
    }

    /// The detail's `assigned_to` when the assignee is not (or no longer) a member of the
    /// tenant: the id, nothing else known; `null` when unassigned.
    pub fn unknown_assignee(&self) -> Value {
        match &self.assigned_to {
            Some(id) => serde_json::json!({
                "id": id,
                "email": null,
                "first_name": null,
                "last_name": null,
                "full_name": null,
            }),
            None => Value::Null,
        }
    }

    /// What changed between two versions of a lead: `{field: {"old": .., "new": ..}}`,
    /// for the audit trail. Bookkeeping fields are left out.
    pub fn diff(before: Option<&Lead>, after: Option<&Lead>) -> Map<String, Value> {
        let a = before.map(Lead::fields).unwrap_or_default();
        let b = after.map(Lead::fields).unwrap_or_default();
        let mut changes = Map::new();
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            if matches!(key.as_str(), "version" | "updated_at" | "created_at" | "id") {
                continue;
            }
            let old = a.get(key).unwrap_or(&Value::Null);
            let new = b.get(key).unwrap_or(&Value::Null);
            if old != new {
                changes.insert(key.clone(), serde_json::json!({ "old": old, "new": new }));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn tenant() -> TenantId {
        TenantId::from_uuid(Uuid::new_v4())
    }

    /// The row built field by field is the detail's [`ROW_FIELDS`], with the assignee as
    /// an id and a name to fill in.
    #[test]
    fn a_row_is_the_details_row_fields() {
        let now = Utc::now();
        let mut lead = crate::fixtures::lead();
        for assignee in [None, Some("user-7".to_string())] {
            lead.assigned_to = assignee;
            lead.next_follow_up = Some(now - chrono::Duration::days(2));
            let Value::Object(mut detail) = lead.detail(now) else {
                unreachable!()
            };
            let mut expected = Map::new();
            for key in ROW_FIELDS {
                expected.insert(key.into(), detail.remove(key).unwrap_or(Value::Null));
            }
            expected.insert("assigned_to".into(), lead.assigned_to.clone().into());
            expected.insert("assigned_to_name".into(), Value::Null);
            let row = lead.row(now);
            assert_eq!(serde_json::to_value(&row).unwrap(), Value::Object(expected));
            // Written in the order a JSON object value writes its keys, as rows were.
            let text = serde_json::to_string(&row).unwrap();
            let as_value = serde_json::from_str::<Value>(&text).unwrap().to_string();
            assert_eq!(text, as_value);
        }
    }

    #[test]
    fn create_requires_names_and_email() {
        let errors = LeadInput::parse(&body(json!({})), WriteMode::Create).unwrap_err();
        for f in ["first_name", "last_name", "email"] {
            assert!(errors.has(f), "{f}");
        }
        assert!(LeadInput::parse(&body(json!({})), WriteMode::Partial).is_ok());
    }

    #[test]
    fn leaving_converted_clears_the_outcome() {
        let now = Utc::now();
        let input = LeadInput::parse(
            &body(
                json!({"first_name": "A", "last_name": "B", "email": "a@b.example",
                         "status": "converted", "conversion_value": "10.5"}),
            ),
            WriteMode::Create,
        )
        .unwrap();
        let mut lead = Lead::create(tenant(), input, "u", now);
        assert_eq!(lead.converted_at, Some(now));
        assert_eq!(lead.conversion_value.unwrap().to_string(), "10.50");
        let change =
            LeadInput::parse(&body(json!({"status": "qualified"})), WriteMode::Partial).unwrap();
        lead.apply(change, now);
        assert_eq!(lead.converted_at, None);
        assert_eq!(lead.conversion_value, None);
    }

    #[test]
    fn diff_names_changed_fields_only() {
        let now = Utc::now();
        let input = LeadInput::parse(
            &body(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"})),
            WriteMode::Create,
        )
        .unwrap();
        let before = Lead::create(tenant(), input, "u", now);
        let mut after = before.clone();
        after.apply(
            LeadInput::parse(&body(json!({"phone": "123"})), WriteMode::Partial).unwrap(),
            now,
        );
        let diff = Lead::diff(Some(&before), Some(&after));
        assert_eq!(diff.keys().collect::<Vec<_>>(), vec!["phone"]);
        assert_eq!(diff["phone"], json!({"old": null, "new": "123"}));
    }
}
