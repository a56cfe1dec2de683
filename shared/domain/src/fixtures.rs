//! A fixed lead and its score card for unit tests of the rules that read a lead (insight
//! rules here, the AI agents client in crm-app). Compiled for this crate's tests and for
//! crates that enable the `fixtures` feature in their dev-dependencies.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::lead::{Lead, LeadInput, WriteMode};
use crate::scoring::{self, ScoreCard, ScoringSettings, Signals};
use crate::tenant::TenantId;

/// The fixed "now" of the fixtures.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// Grace Hopper's lead, created a day before [`now`]. Built through the public
/// constructor, so fields added to `Lead` later need no change here.
pub fn lead() -> Lead {
    let body = json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"});
    let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
    let mut lead = Lead::create(
        TenantId::from_uuid(Uuid::from_u128(1)),
        input,
        "u",
        now() - Duration::days(1),
    );
    lead.id = Uuid::from_u128(7);
    lead
}

/// The lead's card with the default settings and no signals, at [`now`].
pub fn card(lead: &Lead) -> ScoreCard {
    scoring::score(
        lead,
        &Signals::default(),
        &ScoringSettings::default(),
        now(),
    )
}
