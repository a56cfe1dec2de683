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

mod legacy;
mod settings;
#[cfg(test)]
mod tests;

pub use legacy::legacy;
pub use settings::{
    ScoringSettings, ScoringSettingsInput, DEFAULT_TITLE_KEYWORDS, MAX_ITEM_CHARS, MAX_LIST_ITEMS,
};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::lead::{CompanySize, Lead};

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
    decision_maker_worth(lead, max::DECISION_MAKER)
}

/// The decision-maker factor, worth `max` points when the contact decides (both models
/// score it alike, with their own maximum).
pub(crate) fn decision_maker_worth(lead: &Lead, max: u32) -> Factor {
    let (points, reason) = if lead.decision_maker {
        (max, "contact is the decision maker")
    } else {
        (0, "contact is not marked as the decision maker")
    };
    factor(
        "decision_maker",
        json!(lead.decision_maker),
        points,
        max,
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
    let (have, reason) = presence(&fields, "contact record complete");
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

/// The names of the fields present, and the reason a completeness factor gives:
/// `complete` when none is missing, else "missing a, b".
pub(crate) fn presence<'a>(fields: &[(&'a str, bool)], complete: &str) -> (Vec<&'a str>, String) {
    let have = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
    let missing: Vec<&str> = fields.iter().filter(|f| !f.1).map(|f| f.0).collect();
    let reason = if missing.is_empty() {
        complete.to_string()
    } else {
        format!("missing {}", missing.join(", "))
    };
    (have, reason)
}
