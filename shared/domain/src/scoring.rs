//! Lead scoring: two deterministic models behind one entry point, [`score`].
//!
//! - **explainable** (default): twelve factors whose maxima sum to 100, covering what the
//!   original's description promised (company presence, decision-maker title, source
//!   quality, engagement with decay, industry, geography, behaviour) and what its code
//!   actually scored (company size, budget, decision maker, timeline, completeness).
//! - **legacy**: the original code's formula, point for point, for tenants whose users
//!   are used to its numbers.
//!
//! Every factor is reported even when it scores nothing, each with a sentence saying why,
//! so a salesperson can see what would raise the score. The functions here are pure: the
//! caller passes the lead, what else it knows ([`Signals`]), the tenant's settings and the
//! time, and the same inputs always give the same card. `docs/scoring.md` has the tables.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::lead::{CompanySize, Lead, LeadStatus};
use crate::validate::{FieldErrors, Input, Patch, NOT_BLANK, NOT_NULL};

crate::choice_enum!(
    /// Which formula a tenant's leads are scored with.
    ScoringModel {
        Explainable = "explainable",
        Legacy = "legacy",
    }
);

// `choice_enum!` owns the derive list, so `#[derive(Default)]` cannot be added there.
#[allow(clippy::derivable_impls)]
impl Default for ScoringModel {
    fn default() -> Self {
        ScoringModel::Explainable
    }
}

/// Model identifiers stored with every score, so a score can be traced to its formula
/// after the formula changes. Bump the suffix whenever points or rules change.
pub const EXPLAINABLE_MODEL: &str = "explainable-v1";
pub const LEGACY_MODEL: &str = "legacy-v1";

/// Bounds on the settings lists: they are matched against every lead on every rescoring
/// and stored on the tenant item, so they stay small.
pub const MAX_LIST_ITEMS: usize = 50;
pub const MAX_ITEM_CHARS: usize = 100;

/// Titles that usually carry buying authority. Matched as whole words, case-insensitively
/// ("cto" does not match "director"). "manager" is left out on purpose: managers more often
/// influence than decide; a tenant selling to managers can add it.
pub const DEFAULT_TITLE_KEYWORDS: &[&str] = &[
    "ceo",
    "cto",
    "cfo",
    "coo",
    "cmo",
    "cio",
    "chief",
    "founder",
    "owner",
    "president",
    "vice president",
    "vp",
    "svp",
    "evp",
    "director",
    "head",
    "partner",
];

/// A tenant's ideal-customer profile and model choice. Stored on the tenant; missing
/// fields read back as their defaults so older items stay valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringSettings {
    pub model: ScoringModel,
    pub ideal_industries: Vec<String>,
    pub target_countries: Vec<String>,
    pub title_keywords: Vec<String>,
}

impl Default for ScoringSettings {
    fn default() -> Self {
        Self {
            model: ScoringModel::Explainable,
            ideal_industries: Vec::new(),
            target_countries: Vec::new(),
            title_keywords: DEFAULT_TITLE_KEYWORDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl ScoringSettings {
    /// Validates a full settings document (PUT). Fields left out take their defaults.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        Self::default().merge(body)
    }

    /// Validates a partial change (PATCH): fields left out keep their current values.
    /// Every problem is reported under its field's name, as DRF does.
    pub fn merge(&self, body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        let mut next = self.clone();
        // Not nullable: `choice` itself reports null and unknown names.
        if let Patch::Set(model) = input.choice::<ScoringModel>("model", false) {
            next.model = model;
        }
        for (field, slot) in [
            ("ideal_industries", &mut next.ideal_industries),
            ("target_countries", &mut next.target_countries),
            ("title_keywords", &mut next.title_keywords),
        ] {
            if let Some(list) = string_list(&mut input, body, field) {
                *slot = list;
            }
        }
        input.finish()?;
        Ok(next)
    }
}

/// A list of short strings: trimmed, blanks refused, duplicates (ignoring case) dropped.
/// DRF nests item errors under the index; our error map is flat, so the message names it.
fn string_list(
    input: &mut Input<'_>,
    body: &Map<String, Value>,
    field: &str,
) -> Option<Vec<String>> {
    let items = match body.get(field)? {
        Value::Null => {
            input.error(field, NOT_NULL);
            return None;
        }
        Value::Array(items) => items,
        other => {
            input.error(
                field,
                format!(
                    "Expected a list of items but got type \"{}\".",
                    json_type(other)
                ),
            );
            return None;
        }
    };
    if items.len() > MAX_LIST_ITEMS {
        input.error(
            field,
            format!("Ensure this field has no more than {MAX_LIST_ITEMS} elements."),
        );
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let Value::String(s) = item else {
            input.error(field, format!("Item {i}: Not a valid string."));
            ok = false;
            continue;
        };
        let s = s.trim();
        if s.is_empty() {
            input.error(field, format!("Item {i}: {NOT_BLANK}"));
            ok = false;
        } else if s.chars().count() > MAX_ITEM_CHARS {
            input.error(
                field,
                format!(
                    "Item {i}: Ensure this field has no more than {MAX_ITEM_CHARS} characters."
                ),
            );
            ok = false;
        } else if !out.iter().any(|o| normalise(o) == normalise(s)) {
            out.push(s.to_string());
        }
    }
    ok.then_some(out)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        // Python's names, as DRF's message has them.
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// What the caller knows about a lead besides its own fields. `Default` is "nothing
/// known", and every factor that depends on a missing signal says so in its reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Signals {
    /// Activities logged on the lead (calls, emails, meetings, ...).
    pub activity_count: u32,
    /// When the latest activity happened.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// The lead source's converted / total leads, between 0 and 1.
    pub source_conversion_rate: Option<f64>,
    /// The lead has no country field; it comes from enrichment or a form.
    pub country: Option<String>,
    pub web_visits: u32,
    pub email_opens: u32,
}

/// One line of a score's explanation, stored in the lead's `score_factors`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub factor: String,
    /// The input the factor looked at, as JSON (`null` when unknown).
    pub value: Value,
    pub points: u32,
    pub max: u32,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreCard {
    pub score: u8,
    /// [`EXPLAINABLE_MODEL`] or [`LEGACY_MODEL`].
    pub model: String,
    pub factors: Vec<Factor>,
}

impl ScoreCard {
    fn from_factors(model: &str, factors: Vec<Factor>) -> Self {
        let total: u32 = factors.iter().map(|f| f.points).sum();
        Self {
            score: total.min(100) as u8,
            model: model.to_string(),
            factors,
        }
    }

    /// The factors as JSON values, the shape the lead's `score_factors` stores.
    pub fn factors_json(&self) -> Vec<Value> {
        self.factors
            .iter()
            .map(|f| serde_json::to_value(f).expect("a factor serialises"))
            .collect()
    }
}

fn factor(name: &str, value: Value, points: u32, max: u32, reason: impl Into<String>) -> Factor {
    debug_assert!(points <= max, "{name}: {points} > {max}");
    Factor {
        factor: name.to_string(),
        value,
        points: points.min(max),
        max,
        reason: reason.into(),
    }
}

/// Scores a lead with the tenant's chosen model.
pub fn score(
    lead: &Lead,
    signals: &Signals,
    settings: &ScoringSettings,
    now: DateTime<Utc>,
) -> ScoreCard {
    match settings.model {
        ScoringModel::Explainable => explainable(lead, signals, settings, now),
        ScoringModel::Legacy => legacy(lead),
    }
}

/// Fields either model reads. A change to any of them means the stored score is stale.
/// Wider than the original's list (company_size, budget, decision_maker, status, timeline),
/// because the explainable model also reads the others.
pub const SCORED_FIELDS: &[&str] = &[
    "company_size",
    "budget",
    "decision_maker",
    "status",
    "timeline",
    "company",
    "company_website",
    "job_title",
    "phone",
    "industry",
    "source",
];

/// Whether an update changed anything the score depends on (so a rescore is due).
pub fn is_scored_field_change(before: &Lead, after: &Lead) -> bool {
    before.company_size != after.company_size
        || before.budget != after.budget
        || before.decision_maker != after.decision_maker
        || before.status != after.status
        || before.timeline != after.timeline
        || before.company != after.company
        || before.company_website != after.company_website
        || before.job_title != after.job_title
        || before.phone != after.phone
        || before.industry != after.industry
        || before.source != after.source
}

// ---------------------------------------------------------------------------------------
// Explainable model
// ---------------------------------------------------------------------------------------

/// Maxima of the explainable model; they sum to 100 (checked by a test), so the score
/// needs no cap and each factor's share is visible at a glance.
pub mod max {
    pub const COMPANY_PRESENCE: u32 = 8;
    pub const TITLE_RELEVANCE: u32 = 12;
    pub const COMPANY_SIZE: u32 = 10;
    pub const BUDGET: u32 = 12;
    pub const DECISION_MAKER: u32 = 8;
    pub const TIMELINE: u32 = 8;
    pub const COMPLETENESS: u32 = 5;
    pub const SOURCE_QUALITY: u32 = 10;
    pub const ENGAGEMENT: u32 = 12;
    pub const INDUSTRY_MATCH: u32 = 5;
    pub const GEOGRAPHY: u32 = 5;
    pub const BEHAVIOUR: u32 = 5;
}

/// Engagement halves every 14 days without activity: recent conversations matter much more
/// than old ones, but a month-old one still counts a little.
pub const ENGAGEMENT_HALF_LIFE_DAYS: f64 = 14.0;
/// Activities beyond this add nothing: five touches is a well-worked lead.
pub const ENGAGEMENT_SATURATION: u32 = 5;
/// A source converting this share of its leads (or more) earns full source points;
/// typical B2B sources convert well under this.
pub const SOURCE_RATE_FOR_FULL_POINTS: f64 = 0.25;

/// The explainable model. See `docs/scoring.md` for the table.
pub fn explainable(
    lead: &Lead,
    signals: &Signals,
    settings: &ScoringSettings,
    now: DateTime<Utc>,
) -> ScoreCard {
    let factors = vec![
        company_presence(lead),
        title_relevance(lead, settings),
        company_size(lead),
        budget(lead),
        decision_maker(lead),
        timeline(lead),
        completeness(lead),
        source_quality(lead, signals),
        engagement(lead, signals, now),
        industry_match(lead, settings),
        geography(signals, settings),
        behaviour(signals),
    ];
    ScoreCard::from_factors(EXPLAINABLE_MODEL, factors)
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Lowercase, trimmed, inner whitespace collapsed: how settings and lead text are compared.
fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Lowercase alphanumeric words: "Co-Founder & CEO" → ["co", "founder", "ceo"].
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn company_presence(lead: &Lead) -> Factor {
    let company = present(&lead.company);
    let website = present(&lead.company_website);
    let points = company.map_or(0, |_| 5) + website.map_or(0, |_| 3);
    let reason = match (company, website) {
        (Some(c), Some(_)) => format!("company \"{c}\" given, with a website"),
        (Some(c), None) => format!("company \"{c}\" given, no website"),
        (None, Some(_)) => "company website given, no company name".to_string(),
        (None, None) => "no company given".to_string(),
    };
    factor(
        "company_presence",
        json!({"company": company, "company_website": website}),
        points,
        max::COMPANY_PRESENCE,
        reason,
    )
}

fn title_relevance(lead: &Lead, settings: &ScoringSettings) -> Factor {
    let Some(title) = present(&lead.job_title) else {
        return factor(
            "title_relevance",
            Value::Null,
            0,
            max::TITLE_RELEVANCE,
            "no job title given",
        );
    };
    let title_words = words(title);
    let matched = settings.title_keywords.iter().find(|k| {
        let kw = words(k);
        !kw.is_empty() && title_words.windows(kw.len()).any(|w| w == kw.as_slice())
    });
    let (points, reason) = match matched {
        Some(k) => (
            max::TITLE_RELEVANCE,
            format!("job title \"{title}\" matches decision-maker keyword \"{k}\""),
        ),
        // A title at least tells us who we are talking to.
        None => (
            3,
            format!("job title \"{title}\" matches no decision-maker keyword"),
        ),
    };
    factor(
        "title_relevance",
        json!(title),
        points,
        max::TITLE_RELEVANCE,
        reason,
    )
}

fn company_size(lead: &Lead) -> Factor {
    let points = match lead.company_size {
        None => 0,
        Some(CompanySize::Startup) => 2,
        Some(CompanySize::Small) => 4,
        Some(CompanySize::Medium) => 6,
        Some(CompanySize::Large) => 8,
        Some(CompanySize::Enterprise) => 10,
    };
    let reason = match lead.company_size {
        None => "company size not given".to_string(),
        Some(s) => format!("{s} company"),
    };
    factor(
        "company_size",
        json!(lead.company_size),
        points,
        max::COMPANY_SIZE,
        reason,
    )
}

fn budget(lead: &Lead) -> Factor {
    let (points, reason) = match lead.budget {
        None => (0, "no budget given".to_string()),
        Some(b) if b >= Decimal::from(100_000) => (12, format!("budget {b} is 100k or more")),
        Some(b) if b >= Decimal::from(50_000) => (9, format!("budget {b} is 50k or more")),
        Some(b) if b >= Decimal::from(10_000) => (6, format!("budget {b} is 10k or more")),
        Some(b) if b > Decimal::ZERO => (3, format!("budget {b} is under 10k")),
        Some(b) => (0, format!("budget {b} is zero")),
    };
    factor(
        "budget",
        json!(lead.budget.map(|b| b.to_string())),
        points,
        max::BUDGET,
        reason,
    )
}

fn decision_maker(lead: &Lead) -> Factor {
    let (points, reason) = if lead.decision_maker {
        (max::DECISION_MAKER, "contact is the decision maker")
    } else {
        (0, "contact is not marked as the decision maker")
    };
    factor(
        "decision_maker",
        json!(lead.decision_maker),
        points,
        max::DECISION_MAKER,
        reason,
    )
}

/// Urgency words, most urgent first; the first found decides. Includes the lead list's
/// `timeline_urgent` words (immediate, urgent, asap) and the original's month/quarter.
const TIMELINE_TIERS: &[(&[&str], u32, &str)] = &[
    (&["immediate", "urgent", "asap"], 8, "buying now"),
    (&["week", "month"], 6, "buying within weeks or months"),
    (&["quarter"], 4, "buying this quarter or next"),
];

fn timeline(lead: &Lead) -> Factor {
    let Some(text) = present(&lead.timeline) else {
        return factor(
            "timeline",
            Value::Null,
            0,
            max::TIMELINE,
            "no timeline given",
        );
    };
    let lower = text.to_lowercase();
    let tier = TIMELINE_TIERS.iter().find_map(|(words, points, what)| {
        words.iter().find(|w| lower.contains(*w)).map(|w| {
            (
                *points,
                format!("timeline \"{text}\" mentions \"{w}\": {what}"),
            )
        })
    });
    // A stated timeline without urgency is still a sign of intent.
    let (points, reason) =
        tier.unwrap_or((2, format!("timeline \"{text}\" given, with no urgency")));
    factor("timeline", json!(text), points, max::TIMELINE, reason)
}

fn completeness(lead: &Lead) -> Factor {
    let fields = [
        ("phone", present(&lead.phone).is_some()),
        ("company", present(&lead.company).is_some()),
        ("job_title", present(&lead.job_title).is_some()),
        ("industry", present(&lead.industry).is_some()),
        ("company_size", lead.company_size.is_some()),
    ];
    let have: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
    let missing: Vec<&str> = fields.iter().filter(|f| !f.1).map(|f| f.0).collect();
    let reason = if missing.is_empty() {
        "contact record complete".to_string()
    } else {
        format!("missing {}", missing.join(", "))
    };
    factor(
        "completeness",
        json!(have),
        have.len() as u32,
        max::COMPLETENESS,
        reason,
    )
}

fn source_quality(lead: &Lead, signals: &Signals) -> Factor {
    let source = present(&lead.source);
    let value = json!({"source": source, "conversion_rate": signals.source_conversion_rate});
    let rate = signals
        .source_conversion_rate
        .filter(|r| r.is_finite())
        .map(|r| r.clamp(0.0, 1.0));
    let (points, reason) = match (source, rate) {
        (None, _) => (0, "no lead source given".to_string()),
        (Some(s), None) => (0, format!("no conversion history for source \"{s}\"")),
        (Some(s), Some(r)) => {
            let share = (r / SOURCE_RATE_FOR_FULL_POINTS).min(1.0);
            let points = (share * max::SOURCE_QUALITY as f64).round() as u32;
            (
                points,
                format!("source \"{s}\" converts {:.1}% of its leads", r * 100.0),
            )
        }
    };
    factor("source_quality", value, points, max::SOURCE_QUALITY, reason)
}

/// `0.5 ^ (days / half-life)`: 1 today, 0.5 after 14 days, 0.25 after 28.
pub fn engagement_decay(days_since: f64) -> f64 {
    0.5_f64.powf(days_since.max(0.0) / ENGAGEMENT_HALF_LIFE_DAYS)
}

fn engagement(lead: &Lead, signals: &Signals, now: DateTime<Utc>) -> Factor {
    // The lead's own last contact date counts as an activity if the caller knew of none.
    let count = signals
        .activity_count
        .max(u32::from(lead.last_contact_date.is_some()));
    let last = signals.last_activity_at.max(lead.last_contact_date);
    if count == 0 {
        return factor(
            "engagement",
            json!({"activities": 0, "days_since_last_activity": null}),
            0,
            max::ENGAGEMENT,
            "no activity yet",
        );
    }
    // Activities with no known time are dated from the lead's creation: conservative.
    let since = last.unwrap_or(lead.created_at);
    let days = ((now - since).num_seconds().max(0) as f64) / 86_400.0;
    let decay = engagement_decay(days);
    let volume = count.min(ENGAGEMENT_SATURATION) as f64 / ENGAGEMENT_SATURATION as f64;
    let points = (volume * decay * max::ENGAGEMENT as f64).round() as u32;
    let whole_days = days.floor() as i64;
    let noun = if count == 1 { "activity" } else { "activities" };
    let ago = match whole_days {
        0 => "less than a day".to_string(),
        1 => "1 day".to_string(),
        d => format!("{d} days"),
    };
    let reason = format!(
        "{count} {noun}, the latest {ago} ago (weight {decay:.2}, halving every \
         {ENGAGEMENT_HALF_LIFE_DAYS} days)"
    );
    factor(
        "engagement",
        json!({
            "activities": count,
            "days_since_last_activity": whole_days,
            "decay": (decay * 1000.0).round() / 1000.0,
        }),
        points,
        max::ENGAGEMENT,
        reason,
    )
}

fn industry_match(lead: &Lead, settings: &ScoringSettings) -> Factor {
    let industry = present(&lead.industry);
    let value = json!(industry);
    if settings.ideal_industries.is_empty() {
        return factor(
            "industry_match",
            value,
            0,
            max::INDUSTRY_MATCH,
            "no ideal industries configured",
        );
    }
    let Some(industry) = industry else {
        return factor(
            "industry_match",
            value,
            0,
            max::INDUSTRY_MATCH,
            "no industry given",
        );
    };
    let n = normalise(industry);
    let (points, reason) = if settings.ideal_industries.iter().any(|i| normalise(i) == n) {
        (
            max::INDUSTRY_MATCH,
            format!("industry \"{industry}\" is an ideal industry"),
        )
    } else {
        (
            0,
            format!("industry \"{industry}\" is not among the ideal industries"),
        )
    };
    factor("industry_match", value, points, max::INDUSTRY_MATCH, reason)
}

fn geography(signals: &Signals, settings: &ScoringSettings) -> Factor {
    let country = present(&signals.country);
    let value = json!(country);
    let (points, reason) = match country {
        _ if settings.target_countries.is_empty() => {
            (0, "no target countries configured".to_string())
        }
        None => (0, "country unknown".to_string()),
        Some(c) => {
            let n = normalise(c);
            if settings.target_countries.iter().any(|t| normalise(t) == n) {
                (
                    max::GEOGRAPHY,
                    format!("country \"{c}\" is a target market"),
                )
            } else {
                (0, format!("country \"{c}\" is not a target market"))
            }
        }
    };
    factor("geography", value, points, max::GEOGRAPHY, reason)
}

/// One point per two website visits (up to 3) and per two email opens (up to 2): single
/// visits and opens are noise (previews, bots); repeated ones are interest.
fn behaviour(signals: &Signals) -> Factor {
    let visits = (signals.web_visits / 2).min(3);
    let opens = (signals.email_opens / 2).min(2);
    let reason = if signals.web_visits == 0 && signals.email_opens == 0 {
        "no website visits or email opens recorded".to_string()
    } else {
        format!(
            "{} website visits and {} email opens",
            signals.web_visits, signals.email_opens
        )
    };
    factor(
        "behaviour",
        json!({"web_visits": signals.web_visits, "email_opens": signals.email_opens}),
        visits + opens,
        max::BEHAVIOUR,
        reason,
    )
}

// ---------------------------------------------------------------------------------------
// Legacy model
// ---------------------------------------------------------------------------------------

/// The original code's formula (`original-behaviour.md`, "Scoring as coded"). Its factor
/// maxima sum past 100 and the total is capped there, exactly as the original did.
pub fn legacy(lead: &Lead) -> ScoreCard {
    ScoreCard::from_factors(
        LEGACY_MODEL,
        vec![
            legacy_company_size(lead),
            legacy_budget(lead),
            legacy_decision_maker(lead),
            legacy_completeness(lead),
            legacy_status(lead),
            legacy_timeline(lead),
        ],
    )
}

fn legacy_company_size(lead: &Lead) -> Factor {
    // The original looked the size up with a default of 10, so a lead without a size got
    // 10 as well; our enum admits no unrecognised values, leaving "absent" as that case.
    let (points, reason) = match lead.company_size {
        None => (
            10,
            "company size not given (the formula's default)".to_string(),
        ),
        Some(s) => {
            let p = match s {
                CompanySize::Startup => 10,
                CompanySize::Small => 20,
                CompanySize::Medium => 40,
                CompanySize::Large => 60,
                CompanySize::Enterprise => 80,
            };
            (p, format!("{s} company"))
        }
    };
    factor("company_size", json!(lead.company_size), points, 80, reason)
}

fn legacy_budget(lead: &Lead) -> Factor {
    let (points, reason) = match lead.budget {
        None => (0, "no budget given".to_string()),
        Some(b) if b >= Decimal::from(100_000) => (30, format!("budget {b} is 100k or more")),
        Some(b) if b >= Decimal::from(50_000) => (20, format!("budget {b} is 50k or more")),
        Some(b) if b >= Decimal::from(10_000) => (10, format!("budget {b} is 10k or more")),
        Some(b) => (0, format!("budget {b} is under 10k")),
    };
    factor(
        "budget",
        json!(lead.budget.map(|b| b.to_string())),
        points,
        30,
        reason,
    )
}

fn legacy_decision_maker(lead: &Lead) -> Factor {
    let (points, reason) = if lead.decision_maker {
        (15, "contact is the decision maker")
    } else {
        (0, "contact is not marked as the decision maker")
    };
    factor(
        "decision_maker",
        json!(lead.decision_maker),
        points,
        15,
        reason,
    )
}

fn legacy_completeness(lead: &Lead) -> Factor {
    let fields = [
        ("phone", present(&lead.phone).is_some()),
        ("company", present(&lead.company).is_some()),
        ("job_title", present(&lead.job_title).is_some()),
    ];
    let have: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
    let missing: Vec<&str> = fields.iter().filter(|f| !f.1).map(|f| f.0).collect();
    let reason = if missing.is_empty() {
        "phone, company and job title given".to_string()
    } else {
        format!("missing {}", missing.join(", "))
    };
    factor(
        "completeness",
        json!(have),
        5 * have.len() as u32,
        15,
        reason,
    )
}

fn legacy_status(lead: &Lead) -> Factor {
    let points = match lead.status {
        LeadStatus::New => 5,
        LeadStatus::Contacted => 10,
        LeadStatus::Qualified => 25,
        LeadStatus::Proposal => 40,
        LeadStatus::Negotiation => 60,
        LeadStatus::Converted => 100,
        LeadStatus::Lost | LeadStatus::Unresponsive => 0,
    };
    factor(
        "status",
        json!(lead.status),
        points,
        100,
        format!("status is {}", lead.status),
    )
}

fn legacy_timeline(lead: &Lead) -> Factor {
    let Some(text) = present(&lead.timeline) else {
        return factor("timeline", Value::Null, 0, 20, "no timeline given");
    };
    let lower = text.to_lowercase();
    // Checked in this order, the first match wins, as in the original's if/elif chain.
    let hit = [("immediate", 20), ("month", 15), ("quarter", 10)]
        .into_iter()
        .find(|(w, _)| lower.contains(w));
    let (points, reason) = match hit {
        Some((w, p)) => (p, format!("timeline \"{text}\" mentions \"{w}\"")),
        None => (
            0,
            format!("timeline \"{text}\" mentions neither immediate, month nor quarter"),
        ),
    };
    factor("timeline", json!(text), points, 20, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lead::{LeadInput, WriteMode};
    use crate::tenant::TenantId;
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    /// A lead with nothing but the required fields, created ten days before [`now`].
    fn bare() -> Lead {
        // Built through the public constructor, so fields added to `Lead` later need no
        // change here.
        let body =
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
        let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
        let mut lead = Lead::create(
            TenantId::from_uuid(Uuid::nil()),
            input,
            "u",
            now() - Duration::days(10),
        );
        lead.id = Uuid::nil();
        lead
    }

    fn rich() -> Lead {
        Lead {
            phone: Some("+44 20 7946 0000".into()),
            company: Some("Analytical Engines Ltd".into()),
            company_website: Some("https://engines.example".into()),
            job_title: Some("Co-Founder & CEO".into()),
            company_size: Some(CompanySize::Enterprise),
            industry: Some("Software".into()),
            source: Some("website".into()),
            budget: Some(Decimal::from(150_000)),
            timeline: Some("Immediate".into()),
            decision_maker: true,
            last_contact_date: Some(now()),
            ..bare()
        }
    }

    fn get<'a>(card: &'a ScoreCard, name: &str) -> &'a Factor {
        card.factors
            .iter()
            .find(|f| f.factor == name)
            .unwrap_or_else(|| panic!("factor {name} missing"))
    }

    fn legacy_points(lead: &Lead, name: &str) -> u32 {
        get(&legacy(lead), name).points
    }

    // --- explainable -------------------------------------------------------------------

    #[test]
    fn explainable_maxima_sum_to_100_and_every_factor_is_reported() {
        let card = explainable(
            &bare(),
            &Signals::default(),
            &ScoringSettings::default(),
            now(),
        );
        assert_eq!(card.model, EXPLAINABLE_MODEL);
        assert_eq!(card.factors.len(), 12);
        assert_eq!(card.factors.iter().map(|f| f.max).sum::<u32>(), 100);
        for f in &card.factors {
            assert!(!f.reason.is_empty(), "{} has no reason", f.factor);
        }
        assert_eq!(card.score, 0, "{:#?}", card.factors);
    }

    #[test]
    fn a_perfect_lead_scores_100() {
        let settings = ScoringSettings {
            ideal_industries: vec!["software".into()],
            target_countries: vec!["GB".into()],
            ..ScoringSettings::default()
        };
        let signals = Signals {
            activity_count: 7,
            last_activity_at: Some(now()),
            source_conversion_rate: Some(0.4),
            country: Some("gb".into()),
            web_visits: 10,
            email_opens: 9,
        };
        let card = score(&rich(), &signals, &settings, now());
        for f in &card.factors {
            assert_eq!(f.points, f.max, "{f:?}");
        }
        assert_eq!(card.score, 100);
    }

    #[test]
    fn same_inputs_same_card() {
        let signals = Signals {
            activity_count: 2,
            last_activity_at: Some(now() - Duration::days(3)),
            source_conversion_rate: Some(0.1),
            ..Signals::default()
        };
        let s = ScoringSettings::default();
        let a = score(&rich(), &signals, &s, now());
        let b = score(&rich(), &signals, &s, now());
        assert_eq!(a, b);
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }

    #[test]
    fn engagement_halves_every_fourteen_days() {
        assert!((engagement_decay(0.0) - 1.0).abs() < 1e-12);
        assert!((engagement_decay(14.0) - 0.5).abs() < 1e-12);
        assert!((engagement_decay(28.0) - 0.25).abs() < 1e-12);
        assert_eq!(engagement_decay(-3.0), 1.0, "future dates do not boost");

        let lead = bare();
        let at = |days: i64| {
            let signals = Signals {
                activity_count: 5,
                last_activity_at: Some(now() - Duration::days(days)),
                ..Signals::default()
            };
            get(
                &explainable(&lead, &signals, &ScoringSettings::default(), now()),
                "engagement",
            )
            .points
        };
        assert_eq!(at(0), 12);
        assert_eq!(at(14), 6);
        assert_eq!(at(28), 3);
        assert_eq!(at(120), 0);
        assert!(at(7) < at(0) && at(7) > at(14));
    }

    #[test]
    fn engagement_uses_the_lead_contact_date_when_no_activities_are_known() {
        let lead = Lead {
            last_contact_date: Some(now() - Duration::days(14)),
            ..bare()
        };
        let f = get(
            &explainable(
                &lead,
                &Signals::default(),
                &ScoringSettings::default(),
                now(),
            ),
            "engagement",
        )
        .clone();
        // One activity out of five, at half weight: 12 * 0.2 * 0.5 = 1.2 → 1.
        assert_eq!(f.points, 1);
        assert_eq!(f.value["days_since_last_activity"], 14);
        assert_eq!(f.value["decay"], 0.5);
    }

    #[test]
    fn title_keywords_match_whole_words_only() {
        let s = ScoringSettings::default();
        let points = |title: &str| {
            let lead = Lead {
                job_title: Some(title.into()),
                ..bare()
            };
            get(
                &explainable(&lead, &Signals::default(), &s, now()),
                "title_relevance",
            )
            .points
        };
        assert_eq!(points("Director of Sales"), 12);
        assert_eq!(points("Vice-President, Operations"), 12);
        assert_eq!(points("VP Marketing"), 12);
        assert_eq!(points("Software Engineer"), 3);
        // "cto" is inside "director" and "hEADhunter" contains "head": neither is a word.
        let only_cto = ScoringSettings {
            title_keywords: vec!["cto".into()],
            ..ScoringSettings::default()
        };
        let lead = Lead {
            job_title: Some("Director".into()),
            ..bare()
        };
        assert_eq!(
            get(
                &explainable(&lead, &Signals::default(), &only_cto, now()),
                "title_relevance"
            )
            .points,
            3
        );
        assert_eq!(points("Headhunter"), 3);
    }

    #[test]
    fn industry_and_geography_count_only_when_configured() {
        let lead = Lead {
            industry: Some("  Health  care ".into()),
            ..bare()
        };
        let signals = Signals {
            country: Some("Germany".into()),
            ..Signals::default()
        };
        let none = explainable(&lead, &signals, &ScoringSettings::default(), now());
        assert_eq!(get(&none, "industry_match").points, 0);
        assert_eq!(
            get(&none, "industry_match").reason,
            "no ideal industries configured"
        );
        assert_eq!(
            get(&none, "geography").reason,
            "no target countries configured"
        );

        let settings = ScoringSettings {
            ideal_industries: vec!["health care".into()],
            target_countries: vec!["germany".into(), "France".into()],
            ..ScoringSettings::default()
        };
        let card = explainable(&lead, &signals, &settings, now());
        assert_eq!(get(&card, "industry_match").points, 5);
        assert_eq!(get(&card, "geography").points, 5);

        let elsewhere = Signals {
            country: Some("Spain".into()),
            ..Signals::default()
        };
        let card = explainable(&bare(), &elsewhere, &settings, now());
        assert_eq!(get(&card, "industry_match").reason, "no industry given");
        assert_eq!(get(&card, "geography").points, 0);
        assert!(get(&card, "geography")
            .reason
            .contains("not a target market"));
    }

    #[test]
    fn source_quality_scales_with_the_conversion_rate() {
        let lead = Lead {
            source: Some("referral".into()),
            ..bare()
        };
        let points = |rate: Option<f64>| {
            let signals = Signals {
                source_conversion_rate: rate,
                ..Signals::default()
            };
            get(
                &explainable(&lead, &signals, &ScoringSettings::default(), now()),
                "source_quality",
            )
            .points
        };
        assert_eq!(points(None), 0);
        assert_eq!(points(Some(0.0)), 0);
        assert_eq!(points(Some(0.05)), 2);
        assert_eq!(points(Some(0.125)), 5);
        assert_eq!(points(Some(0.25)), 10);
        assert_eq!(points(Some(0.9)), 10);
        assert_eq!(points(Some(f64::NAN)), 0);
        assert_eq!(points(Some(7.0)), 10, "out-of-range rates are clamped");
    }

    #[test]
    fn explainable_point_values() {
        let s = ScoringSettings::default();
        let card = |lead: Lead| explainable(&lead, &Signals::default(), &s, now());
        let sizes = [
            (CompanySize::Startup, 2),
            (CompanySize::Small, 4),
            (CompanySize::Medium, 6),
            (CompanySize::Large, 8),
            (CompanySize::Enterprise, 10),
        ];
        for (size, p) in sizes {
            let l = Lead {
                company_size: Some(size),
                ..bare()
            };
            assert_eq!(get(&card(l), "company_size").points, p, "{size}");
        }
        for (b, p) in [(0, 0), (500, 3), (10_000, 6), (50_000, 9), (100_000, 12)] {
            let l = Lead {
                budget: Some(Decimal::from(b)),
                ..bare()
            };
            assert_eq!(get(&card(l), "budget").points, p, "{b}");
        }
        for (t, p) in [
            ("ASAP please", 8),
            ("next month", 6),
            ("in two weeks", 6),
            ("Q3, next quarter", 4),
            ("someday", 2),
        ] {
            let l = Lead {
                timeline: Some(t.into()),
                ..bare()
            };
            assert_eq!(get(&card(l), "timeline").points, p, "{t}");
        }
        let l = Lead {
            company: Some("Acme".into()),
            ..bare()
        };
        assert_eq!(get(&card(l.clone()), "company_presence").points, 5);
        assert_eq!(get(&card(l), "completeness").points, 1);
        let l = Lead {
            decision_maker: true,
            ..bare()
        };
        assert_eq!(get(&card(l), "decision_maker").points, 8);

        let b = |visits, opens| {
            let signals = Signals {
                web_visits: visits,
                email_opens: opens,
                ..Signals::default()
            };
            get(&explainable(&bare(), &signals, &s, now()), "behaviour").points
        };
        assert_eq!(b(1, 1), 0);
        assert_eq!(b(4, 2), 3);
        assert_eq!(b(100, 100), 5);
    }

    // --- legacy ------------------------------------------------------------------------

    #[test]
    fn legacy_company_size_points() {
        let cases = [
            (None, 10),
            (Some(CompanySize::Startup), 10),
            (Some(CompanySize::Small), 20),
            (Some(CompanySize::Medium), 40),
            (Some(CompanySize::Large), 60),
            (Some(CompanySize::Enterprise), 80),
        ];
        for (size, p) in cases {
            let l = Lead {
                company_size: size,
                ..bare()
            };
            assert_eq!(legacy_points(&l, "company_size"), p, "{size:?}");
        }
    }

    #[test]
    fn legacy_budget_points() {
        for (cents, p) in [
            (None, 0),
            (Some(999_999), 0),
            (Some(1_000_000), 10),
            (Some(4_999_999), 10),
            (Some(5_000_000), 20),
            (Some(9_999_999), 20),
            (Some(10_000_000), 30),
            (Some(500_000_000), 30),
        ] {
            let l = Lead {
                budget: cents.map(|c| Decimal::new(c, 2)),
                ..bare()
            };
            assert_eq!(legacy_points(&l, "budget"), p, "{cents:?}");
        }
    }

    #[test]
    fn legacy_decision_maker_and_completeness_points() {
        let l = Lead {
            decision_maker: true,
            ..bare()
        };
        assert_eq!(legacy_points(&l, "decision_maker"), 15);
        assert_eq!(legacy_points(&bare(), "decision_maker"), 0);

        assert_eq!(legacy_points(&bare(), "completeness"), 0);
        let phone = Lead {
            phone: Some("1".into()),
            ..bare()
        };
        assert_eq!(legacy_points(&phone, "completeness"), 5);
        let two = Lead {
            company: Some("Acme".into()),
            job_title: Some("CTO".into()),
            ..bare()
        };
        assert_eq!(legacy_points(&two, "completeness"), 10);
        let all = Lead {
            phone: Some("1".into()),
            ..two
        };
        assert_eq!(legacy_points(&all, "completeness"), 15);
    }

    #[test]
    fn legacy_status_points() {
        for (status, p) in [
            (LeadStatus::New, 5),
            (LeadStatus::Contacted, 10),
            (LeadStatus::Qualified, 25),
            (LeadStatus::Proposal, 40),
            (LeadStatus::Negotiation, 60),
            (LeadStatus::Converted, 100),
            (LeadStatus::Lost, 0),
            (LeadStatus::Unresponsive, 0),
        ] {
            let l = Lead { status, ..bare() };
            assert_eq!(legacy_points(&l, "status"), p, "{status}");
        }
    }

    #[test]
    fn legacy_timeline_points_first_match_wins() {
        for (t, p) in [
            (None, 0),
            (Some("IMMEDIATELY"), 20),
            (Some("this month"), 15),
            (Some("next quarter"), 10),
            (Some("a month or a quarter"), 15),
            (Some("immediate, within the month"), 20),
            (Some("next year"), 0),
        ] {
            let l = Lead {
                timeline: t.map(Into::into),
                ..bare()
            };
            assert_eq!(legacy_points(&l, "timeline"), p, "{t:?}");
        }
    }

    #[test]
    fn legacy_totals_and_the_cap() {
        // A bare new lead: the size default (10) plus new (5).
        let card = legacy(&bare());
        assert_eq!(card.model, LEGACY_MODEL);
        assert_eq!(card.score, 15);
        assert_eq!(card.factors.len(), 6);

        // medium 40 + 50k budget 20 + decision maker 15 + phone 5 + contacted 10 = 90.
        let l = Lead {
            company_size: Some(CompanySize::Medium),
            budget: Some(Decimal::from(50_000)),
            decision_maker: true,
            phone: Some("1".into()),
            status: LeadStatus::Contacted,
            ..bare()
        };
        assert_eq!(legacy(&l).score, 90);

        // 80 + 30 + 15 + 15 + 60 + 20 = 220, capped at 100.
        let l = Lead {
            status: LeadStatus::Negotiation,
            ..rich()
        };
        let card = legacy(&l);
        assert_eq!(card.factors.iter().map(|f| f.points).sum::<u32>(), 220);
        assert_eq!(card.score, 100);
    }

    #[test]
    fn the_tenant_setting_picks_the_model() {
        let legacy_settings = ScoringSettings {
            model: ScoringModel::Legacy,
            ..ScoringSettings::default()
        };
        let card = score(&bare(), &Signals::default(), &legacy_settings, now());
        assert_eq!(card, legacy(&bare()));
        let card = score(
            &bare(),
            &Signals::default(),
            &ScoringSettings::default(),
            now(),
        );
        assert_eq!(card.model, EXPLAINABLE_MODEL);
    }

    // --- changes and settings ----------------------------------------------------------

    #[test]
    fn scored_field_changes() {
        let before = bare();
        assert!(!is_scored_field_change(&before, &before.clone()));
        let unscored = Lead {
            notes: Some("hello".into()),
            first_name: "Augusta".into(),
            ..bare()
        };
        assert!(!is_scored_field_change(&before, &unscored));
        let changes: Vec<Lead> = vec![
            Lead {
                company_size: Some(CompanySize::Small),
                ..bare()
            },
            Lead {
                budget: Some(Decimal::ONE),
                ..bare()
            },
            Lead {
                decision_maker: true,
                ..bare()
            },
            Lead {
                status: LeadStatus::Lost,
                ..bare()
            },
            Lead {
                timeline: Some("soon".into()),
                ..bare()
            },
            Lead {
                company: Some("Acme".into()),
                ..bare()
            },
            Lead {
                company_website: Some("https://a.example".into()),
                ..bare()
            },
            Lead {
                job_title: Some("CEO".into()),
                ..bare()
            },
            Lead {
                phone: Some("1".into()),
                ..bare()
            },
            Lead {
                industry: Some("Retail".into()),
                ..bare()
            },
            Lead {
                source: Some("ads".into()),
                ..bare()
            },
        ];
        assert_eq!(changes.len(), SCORED_FIELDS.len());
        for after in &changes {
            assert!(is_scored_field_change(&before, after), "{after:?}");
        }
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn settings_parse_defaults_and_round_trip() {
        let s = ScoringSettings::parse(&body(json!({}))).unwrap();
        assert_eq!(s, ScoringSettings::default());
        assert!(s.title_keywords.contains(&"vice president".to_string()));

        let s = ScoringSettings::parse(&body(json!({
            "model": "legacy",
            "ideal_industries": [" Software ", "software", "Retail"],
            "target_countries": ["DE"],
            "title_keywords": [],
        })))
        .unwrap();
        assert_eq!(s.model, ScoringModel::Legacy);
        assert_eq!(s.ideal_industries, vec!["Software", "Retail"]);
        assert!(s.title_keywords.is_empty());

        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["model"], "legacy");
        let back: ScoringSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
        // Stored items written before a field existed read back with its default.
        let old: ScoringSettings = serde_json::from_value(json!({"model": "legacy"})).unwrap();
        assert_eq!(
            old.title_keywords,
            ScoringSettings::default().title_keywords
        );
    }

    #[test]
    fn settings_merge_keeps_fields_left_out() {
        let current = ScoringSettings {
            target_countries: vec!["FR".into()],
            ..ScoringSettings::default()
        };
        let next = current
            .merge(&body(json!({"ideal_industries": ["Banking"]})))
            .unwrap();
        assert_eq!(next.target_countries, vec!["FR"]);
        assert_eq!(next.ideal_industries, vec!["Banking"]);
    }

    #[test]
    fn settings_errors_name_their_fields() {
        let long = "x".repeat(101);
        let many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
        let errors = ScoringSettings::parse(&body(json!({
            "model": "magic",
            "ideal_industries": "Software",
            "target_countries": ["DE", 3, " ", long],
            "title_keywords": many,
        })))
        .unwrap_err();
        let v = serde_json::to_value(&errors).unwrap();
        assert_eq!(
            v["model"][0],
            "\"magic\" is not a valid choice. Valid choices: explainable, legacy."
        );
        assert_eq!(
            v["ideal_industries"][0],
            "Expected a list of items but got type \"str\"."
        );
        assert_eq!(
            v["target_countries"],
            json!([
                "Item 1: Not a valid string.",
                "Item 2: This field may not be blank.",
                "Item 3: Ensure this field has no more than 100 characters."
            ])
        );
        assert_eq!(
            v["title_keywords"][0],
            "Ensure this field has no more than 50 elements."
        );

        let errors = ScoringSettings::parse(&body(json!({"model": null, "title_keywords": null})))
            .unwrap_err();
        assert!(errors.has("model") && errors.has("title_keywords"));
    }
}
