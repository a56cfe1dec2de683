//! The lead list's query language: the original's filters, orderings and views, parsed from
//! the query string with 400s naming the parameter, and the predicate every row must pass.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::str::FromStr;

use crate::error::Error;
use crate::lead::{CompanySize, Lead, LeadStatus, Priority};
use crate::query::QueryParams;
use crate::search;
use crate::validate::{Choice, FieldErrors};

/// The three views of the original, each a list with a built-in condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Active leads whose `next_follow_up` has passed.
    Overdue,
    /// Active leads with priority high or urgent, or a score of at least 70.
    HighPriority,
    Unassigned,
}

pub const HIGH_SCORE: u8 = 70;

impl View {
    pub fn name(self) -> &'static str {
        match self {
            View::Overdue => "overdue",
            View::HighPriority => "high-priority",
            View::Unassigned => "unassigned",
        }
    }
}

/// Whether a lead belongs in the high-priority view.
pub fn is_hot(lead: &Lead) -> bool {
    lead.status.is_active()
        && (matches!(lead.priority, Priority::High | Priority::Urgent) || lead.score >= HIGH_SCORE)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderField {
    Score,
    CreatedAt,
    UpdatedAt,
    LastContactDate,
    NextFollowUp,
    Company,
    LastName,
}

impl OrderField {
    const ALL: [(&'static str, OrderField); 7] = [
        ("score", OrderField::Score),
        ("created_at", OrderField::CreatedAt),
        ("updated_at", OrderField::UpdatedAt),
        ("last_contact_date", OrderField::LastContactDate),
        ("next_follow_up", OrderField::NextFollowUp),
        ("company", OrderField::Company),
        ("last_name", OrderField::LastName),
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ordering {
    pub field: OrderField,
    pub descending: bool,
}

/// A text filter on one field: exact (case-insensitive) or contains.
#[derive(Clone, Debug, PartialEq)]
pub struct TextFilter {
    pub field: &'static str,
    pub value: String,
    pub contains: bool,
}

/// Every filter of the list, already validated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeadQuery {
    pub view: Option<View>,
    pub status: Vec<LeadStatus>,
    pub priority: Vec<Priority>,
    /// Source ids or names as asked; the lead service turns names into ids
    /// (`sources::filter_id`) before the query is planned or matched.
    pub source: Vec<String>,
    pub tags: Vec<String>,
    pub company_size: Vec<CompanySize>,
    pub score_min: Option<u8>,
    pub score_max: Option<u8>,
    pub budget_min: Option<Decimal>,
    pub budget_max: Option<Decimal>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub contacted_after: Option<DateTime<Utc>>,
    pub contacted_before: Option<DateTime<Utc>>,
    pub decision_maker: Option<bool>,
    pub has_budget: Option<bool>,
    pub has_phone: Option<bool>,
    pub is_assigned: Option<bool>,
    pub is_overdue: Option<bool>,
    pub timeline_urgent: Option<bool>,
    pub assigned_to: Vec<String>,
    pub industry: Option<String>,
    pub no_activity_days: Option<u32>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub text: Vec<TextFilter>,
    /// `cf_<name>=value`: `(name, value)`.
    pub custom: Vec<(String, String)>,
    pub search: Vec<String>,
    /// `search` was given but has no words (`search=!!!`): no lead matches.
    pub search_without_words: bool,
    pub ordering: Vec<Ordering>,
    /// The time the query was asked: relative filters (`created_today`, overdue) use it.
    pub now: DateTime<Utc>,
    /// The query's parameters but the page position and size, in a stable order: cursors
    /// are signed with it, so one cannot be replayed against a different query.
    pub fingerprint: String,
}

const TEXT_FIELDS: [&str; 6] = [
    "email",
    "phone",
    "company",
    "job_title",
    "first_name",
    "last_name",
];
/// The parameters a lead list knows by name; `cf_<name>` and the text fields' lookups
/// (`email__icontains`, ...) come besides.
pub const LEAD_LIST_PARAMS: [&str; 33] = [
    "page_size",
    "cursor",
    "ordering",
    "status",
    "priority",
    "source",
    "tags",
    "company_size",
    "score_min",
    "score_max",
    "budget_min",
    "budget_max",
    "created_after",
    "created_before",
    "contacted_after",
    "contacted_before",
    "created_today",
    "created_this_week",
    "created_this_month",
    "decision_maker",
    "has_budget",
    "has_phone",
    "is_assigned",
    "is_overdue",
    "timeline_urgent",
    "assigned_to",
    "industry",
    "no_activity_days",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "search",
    "tag",
];

/// `no_activity_days` at most this (a century): a count of days the calendar can hold.
pub const MAX_NO_ACTIVITY_DAYS: u32 = 36_500;

/// The longest value a list filter takes: longer than any name, id or searchable text a
/// record carries, and short enough that a filter turned into an index key stays within
/// DynamoDB's key sizes (1,024 bytes for a sort key).
pub const MAX_FILTER_VALUE: usize = 255;

/// `now` moved back by `days`, or `None` before the calendar's start (nothing is older).
fn days_before(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(TimeDelta::try_days(i64::from(days))?)
}

/// `cf_<name>=value` filters on custom-field values.
const CUSTOM_PREFIX: &str = "cf_";

fn is_known(param: &str) -> bool {
    LEAD_LIST_PARAMS.contains(&param)
        || param
            .strip_prefix(CUSTOM_PREFIX)
            .is_some_and(|name| !name.is_empty())
        || TEXT_FIELDS.iter().any(|f| {
            param == *f
                || param.strip_prefix(f).is_some_and(|rest| {
                    matches!(rest, "__contains" | "__icontains" | "__exact" | "__iexact")
                })
        })
}

struct Parser<'a> {
    q: &'a QueryParams,
    errors: FieldErrors,
}

impl Parser<'_> {
    fn choices<C: Choice + PartialEq>(&mut self, name: &str) -> Vec<C> {
        let mut out = Vec::new();
        for raw in self.q.values(name) {
            match C::parse(raw) {
                Some(v) if !out.contains(&v) => out.push(v),
                Some(_) => {}
                None => self.errors.add(
                    name,
                    format!("Select a valid choice. {raw} is not one of the available choices."),
                ),
            }
        }
        out
    }

    fn strings(&mut self, name: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in self.q.values(name) {
            if !self.fits(name, v) {
                continue;
            }
            if !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
        out
    }

    fn one(&mut self, name: &str) -> Option<String> {
        self.q
            .single(name)
            .map(str::trim)
            .filter(|v| !v.is_empty() && self.fits(name, v))
            .map(str::to_string)
    }

    /// Whether a value is short enough to mean something (see [`MAX_FILTER_VALUE`]); if not,
    /// the parameter's error says so.
    fn fits(&mut self, name: &str, value: &str) -> bool {
        let fits = value.chars().count() <= MAX_FILTER_VALUE;
        if !fits {
            self.errors.add(
                name,
                format!("Ensure this value has at most {MAX_FILTER_VALUE} characters."),
            );
        }
        fits
    }

    fn number<T: FromStr>(
        &mut self,
        name: &str,
        check: impl Fn(&T) -> bool,
        msg: &str,
    ) -> Option<T> {
        let raw = self.one(name)?;
        match raw.parse::<T>() {
            Ok(v) if check(&v) => Some(v),
            _ => {
                self.errors.add(name, msg);
                None
            }
        }
    }

    fn flag(&mut self, name: &str) -> Option<bool> {
        let raw = self.one(name)?;
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => {
                self.errors.add(name, "Enter true or false.");
                None
            }
        }
    }

    /// A date (`2026-01-31`, meaning its start in UTC) or an RFC 3339 date-time.
    fn time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let raw = self.one(name)?;
        if let Ok(t) = DateTime::parse_from_rfc3339(&raw) {
            return Some(t.with_timezone(&Utc));
        }
        if let Ok(d) = NaiveDate::parse_from_str(&raw, "%Y-%m-%d") {
            return Some(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
        }
        self.errors.add(
            name,
            "Enter a valid date (YYYY-MM-DD) or date-time (RFC 3339).",
        );
        None
    }
}

impl Parser<'_> {
    /// `tags` and `tag`, in that order, each value once per name.
    fn tags(&mut self) -> Vec<String> {
        let mut t = self.strings("tags");
        t.extend(self.strings("tag"));
        t
    }

    /// `created_today` and friends narrow `created_after` (the original's windows).
    fn created_windows(
        &mut self,
        now: DateTime<Utc>,
        created_after: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        const MIN: DateTime<Utc> = DateTime::<Utc>::MIN_UTC;
        let mut after = created_after;
        for (name, since) in [
            (
                "created_today",
                now.date_naive()
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc(),
            ),
            ("created_this_week", days_before(now, 7).unwrap_or(MIN)),
            ("created_this_month", days_before(now, 30).unwrap_or(MIN)),
        ] {
            if self.flag(name) == Some(true) {
                after = Some(after.map_or(since, |a| a.max(since)));
            }
        }
        after
    }

    /// `email=`, `company__icontains=`, ...: the text filters, field by field.
    fn text_filters(&mut self) -> Vec<TextFilter> {
        let mut out = Vec::new();
        for field in TEXT_FIELDS {
            for (suffix, contains) in [
                ("", false),
                ("__exact", false),
                ("__iexact", false),
                ("__contains", true),
                ("__icontains", true),
            ] {
                if let Some(value) = self.one(&format!("{field}{suffix}")) {
                    out.push(TextFilter {
                        field,
                        value: value.to_lowercase(),
                        contains,
                    });
                }
            }
        }
        out
    }

    /// `ordering=-score,created_at`; by default score then creation, newest first (the
    /// overdue view: the longest overdue first).
    fn ordering(&mut self, view: Option<View>) -> Vec<Ordering> {
        // `ordering=,` names no key: the default, like no `ordering` (an empty list made
        // the list code index past its end, a 500 schemathesis found).
        let raw = self
            .q
            .single("ordering")
            .map(str::trim)
            .filter(|o| o.split(',').any(|part| !part.trim().is_empty()));
        let Some(raw) = raw else {
            return if view == Some(View::Overdue) {
                vec![Ordering {
                    field: OrderField::NextFollowUp,
                    descending: false,
                }]
            } else {
                vec![
                    Ordering {
                        field: OrderField::Score,
                        descending: true,
                    },
                    Ordering {
                        field: OrderField::CreatedAt,
                        descending: true,
                    },
                ]
            };
        };
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (descending, name) = match part.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, part),
            };
            match OrderField::ALL.iter().find(|(n, _)| *n == name) {
                Some((_, field)) => out.push(Ordering {
                    field: *field,
                    descending,
                }),
                None => self.errors.add(
                    "ordering",
                    format!(
                        "Cannot order by \"{name}\". Choices: {}.",
                        OrderField::ALL.map(|(n, _)| n).join(", ")
                    ),
                ),
            }
        }
        out
    }
}

/// Parameters the list does not know are refused, all named at once.
fn refuse_unknown(q: &QueryParams) -> Result<(), Error> {
    let mut unknown = FieldErrors::default();
    for (k, _) in &q.params {
        if !is_known(k) && !unknown.has(k) {
            unknown.add(k, "Unknown query parameter.");
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(unknown))
    }
}

/// `cf_<name>=value` filters: `(name, value)`.
fn custom_filters(q: &QueryParams) -> Vec<(String, String)> {
    q.params
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(CUSTOM_PREFIX)?;
            (!name.is_empty()).then(|| (name.to_string(), v.clone()))
        })
        .collect()
}

/// The query's parameters but the page position and size, sorted, after the view's name.
fn fingerprint(q: &QueryParams, view: Option<View>) -> String {
    q.fingerprint(view.map_or("list", View::name))
}

fn urgent(timeline: &Option<String>) -> bool {
    timeline.as_deref().is_some_and(|t| {
        let t = t.to_lowercase();
        ["immediate", "urgent", "asap"]
            .iter()
            .any(|w| t.contains(w))
    })
}

fn text_eq(v: &Option<String>, want: &str) -> bool {
    v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(want))
}

impl LeadQuery {
    /// Parses the list's query string. `view` adds that view's condition.
    pub fn parse(q: &QueryParams, view: Option<View>, now: DateTime<Utc>) -> Result<Self, Error> {
        refuse_unknown(q)?;
        let mut p = Parser {
            q,
            errors: FieldErrors::default(),
        };
        let score = |v: &u8| *v <= 100;
        let budget = |d: &Decimal| !d.is_sign_negative();
        let search = p.one("search");
        let mut query = LeadQuery {
            view,
            status: p.choices("status"),
            priority: p.choices("priority"),
            source: p.strings("source"),
            tags: p.tags(),
            company_size: p.choices("company_size"),
            score_min: p.number("score_min", score, "Enter a whole number from 0 to 100."),
            score_max: p.number("score_max", score, "Enter a whole number from 0 to 100."),
            budget_min: p.number("budget_min", budget, "Enter a non-negative number."),
            budget_max: p.number("budget_max", budget, "Enter a non-negative number."),
            created_after: p.time("created_after"),
            created_before: p.time("created_before"),
            contacted_after: p.time("contacted_after"),
            contacted_before: p.time("contacted_before"),
            decision_maker: p.flag("decision_maker"),
            has_budget: p.flag("has_budget"),
            has_phone: p.flag("has_phone"),
            is_assigned: p.flag("is_assigned"),
            is_overdue: p.flag("is_overdue"),
            timeline_urgent: p.flag("timeline_urgent"),
            assigned_to: p.strings("assigned_to"),
            industry: p.one("industry"),
            no_activity_days: p.number(
                "no_activity_days",
                |d: &u32| *d <= MAX_NO_ACTIVITY_DAYS,
                &format!("Enter a whole number of days from 0 to {MAX_NO_ACTIVITY_DAYS}."),
            ),
            utm_source: p.one("utm_source"),
            utm_medium: p.one("utm_medium"),
            utm_campaign: p.one("utm_campaign"),
            text: Vec::new(),
            custom: custom_filters(q),
            search: search.as_deref().map(search::terms).unwrap_or_default(),
            search_without_words: search.is_some_and(|s| search::terms(&s).is_empty()),
            ordering: Vec::new(),
            now,
            fingerprint: fingerprint(q, view),
        };
        query.created_after = p.created_windows(now, query.created_after);
        query.text = p.text_filters();
        query.ordering = p.ordering(view);
        if let (Some(lo), Some(hi)) = (query.score_min, query.score_max) {
            if lo > hi {
                p.errors
                    .add("score_min", "Must not be greater than score_max.");
            }
        }
        if !p.errors.is_empty() {
            return Err(Error::Validation(p.errors));
        }
        Ok(query)
    }

    /// No lead can match (a search without words): the list is empty without a read.
    pub fn matches_nothing(&self) -> bool {
        self.search_without_words
    }

    /// Does the lead pass every filter (and the view's condition)?
    pub fn matches(&self, lead: &Lead) -> bool {
        self.matches_given(lead, |terms| search::matches_all(lead, terms))
    }

    /// [`Self::matches`] with the lead's search tokens at hand (`search::tokens`): a search
    /// has computed them for its hit already, and they are most of the cost of a check.
    pub fn matches_tokens(&self, lead: &Lead, tokens: &BTreeSet<String>) -> bool {
        self.matches_given(lead, |terms| search::all_start_tokens(tokens, terms))
    }

    /// Every filter, the search terms last, checked by `terms_match`.
    fn matches_given(&self, lead: &Lead, terms_match: impl FnOnce(&[String]) -> bool) -> bool {
        self.in_view(lead)
            && self.matches_choices(lead)
            && self.matches_ranges(lead)
            && self.matches_flags(lead)
            && self.matches_text(lead)
            && (self.search.is_empty() || terms_match(&self.search))
    }

    fn in_view(&self, lead: &Lead) -> bool {
        match self.view {
            None => true,
            Some(View::Overdue) => lead.is_overdue(self.now),
            Some(View::HighPriority) => is_hot(lead),
            Some(View::Unassigned) => lead.assigned_to.is_none(),
        }
    }

    /// Status, priority, source, tags, custom fields and company size.
    fn matches_choices(&self, lead: &Lead) -> bool {
        (self.status.is_empty() || self.status.contains(&lead.status))
            && (self.priority.is_empty() || self.priority.contains(&lead.priority))
            && (self.source.is_empty()
                || lead
                    .source_id
                    .is_some_and(|id| self.source.contains(&id.to_string())))
            && (self.tags.is_empty() || self.tags.iter().any(|t| lead.tag_ids.contains(t)))
            && self.custom.iter().all(|(name, value)| {
                crate::custom_fields::value_matches(lead.custom_fields.get(name), value)
            })
            && (self.company_size.is_empty()
                || lead
                    .company_size
                    .is_some_and(|c| self.company_size.contains(&c)))
    }

    /// Score, budget, creation and contact ranges.
    fn matches_ranges(&self, lead: &Lead) -> bool {
        self.score_min.is_none_or(|m| lead.score >= m)
            && self.score_max.is_none_or(|m| lead.score <= m)
            && self
                .budget_min
                .is_none_or(|m| lead.budget.is_some_and(|b| b >= m))
            && self
                .budget_max
                .is_none_or(|m| lead.budget.is_some_and(|b| b <= m))
            && self.created_after.is_none_or(|t| lead.created_at >= t)
            && self.created_before.is_none_or(|t| lead.created_at <= t)
            && self
                .contacted_after
                .is_none_or(|t| lead.last_contact_date.is_some_and(|c| c >= t))
            && self
                .contacted_before
                .is_none_or(|t| lead.last_contact_date.is_some_and(|c| c <= t))
    }

    /// The yes/no filters.
    fn matches_flags(&self, lead: &Lead) -> bool {
        self.decision_maker.is_none_or(|f| lead.decision_maker == f)
            && self
                .has_budget
                .is_none_or(|f| lead.budget.is_some_and(|b| !b.is_zero()) == f)
            && self.has_phone.is_none_or(|f| lead.phone.is_some() == f)
            && self
                .is_assigned
                .is_none_or(|f| lead.assigned_to.is_some() == f)
            && self
                .is_overdue
                .is_none_or(|f| lead.is_overdue(self.now) == f)
            && self
                .timeline_urgent
                .is_none_or(|f| urgent(&lead.timeline) == f)
    }

    /// Assignees, inactivity and the text filters (the search terms come last, in
    /// `matches_given`).
    fn matches_text(&self, lead: &Lead) -> bool {
        let no_activity = |days: u32| {
            let last = lead.last_contact_date.unwrap_or(lead.created_at);
            days_before(self.now, days).is_some_and(|cutoff| last <= cutoff)
        };
        (self.assigned_to.is_empty()
            || lead
                .assigned_to
                .as_ref()
                .is_some_and(|a| self.assigned_to.contains(a)))
            && self
                .industry
                .as_deref()
                .is_none_or(|i| text_eq(&lead.industry, i))
            && self.no_activity_days.is_none_or(no_activity)
            && self
                .utm_source
                .as_deref()
                .is_none_or(|v| text_eq(&lead.utm_source, v))
            && self
                .utm_medium
                .as_deref()
                .is_none_or(|v| text_eq(&lead.utm_medium, v))
            && self
                .utm_campaign
                .as_deref()
                .is_none_or(|v| text_eq(&lead.utm_campaign, v))
            && self.text.iter().all(|f| text_matches(lead, f))
            && !self.search_without_words
    }
}

fn text_matches(lead: &Lead, f: &TextFilter) -> bool {
    let value = match f.field {
        "email" => Some(lead.email.as_str()),
        "phone" => lead.phone.as_deref(),
        "company" => lead.company.as_deref(),
        "job_title" => lead.job_title.as_deref(),
        "first_name" => Some(lead.first_name.as_str()),
        "last_name" => Some(lead.last_name.as_str()),
        _ => None,
    };
    value.is_some_and(|v| {
        let v = v.to_lowercase();
        if f.contains {
            v.contains(&f.value)
        } else {
            v == f.value
        }
    })
}
