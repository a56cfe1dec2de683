//! The legacy model: the original code's formula, point for point.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{factor, present, Factor, ScoreCard, LEGACY_MODEL};
use crate::lead::{CompanySize, Lead, LeadStatus};

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
    super::decision_maker_worth(lead, 15)
}

fn legacy_completeness(lead: &Lead) -> Factor {
    let fields = [
        ("phone", present(&lead.phone).is_some()),
        ("company", present(&lead.company).is_some()),
        ("job_title", present(&lead.job_title).is_some()),
    ];
    let (have, reason) = super::presence(&fields, "phone, company and job title given");
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
