//! A lead's AI insights: when they are fresh, how a client asks for new ones, and the step
//! the insights worker runs.
//!
//! Insights are stored per lead with the lead version they describe. They are fresh while
//! the lead is still at that version and younger than [`MAX_AGE`]. Otherwise `GET
//! ai-insights` queues a request and answers 202 (`"status": "pending"`) for the client to
//! poll; a request already queued in the last [`PENDING_WINDOW`] is not queued again, so
//! polling costs reads only. Without an insights queue (`INSIGHTS_QUEUE_URL` unset) the
//! insights are produced inline and returned at once.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::insights::Insights;
use crate::lead::Lead;
use crate::scoring::{Factor, ScoreCard, ScoringSettings, Signals};
/// Insights older than this are produced again (engagement decays; advice goes stale).
pub const MAX_AGE: Duration = Duration::hours(24);
/// A request queued this recently is still being worked on: polls do not queue another.
pub const PENDING_WINDOW: Duration = Duration::seconds(60);
/// What a 202 suggests as the polling interval (the `Retry-After` header).
pub const POLL_AFTER_SECONDS: u64 = 2;

/// The stored record: the latest insights (if any) and the last time new ones were asked
/// for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredInsights {
    pub insights: Option<Insights>,
    /// The lead version the insights describe.
    pub lead_version: Option<u64>,
    pub requested_at: Option<DateTime<Utc>>,
}

impl StoredInsights {
    pub fn fresh_for(&self, lead: &Lead, now: DateTime<Utc>) -> Option<&Insights> {
        self.insights
            .as_ref()
            .filter(|i| self.lead_version == Some(lead.version) && now - i.generated_at < MAX_AGE)
    }

    pub fn pending(&self, now: DateTime<Utc>) -> bool {
        let generated = self.insights.as_ref().map(|i| i.generated_at);
        self.requested_at.is_some_and(|at| {
            now - at < PENDING_WINDOW && generated.is_none_or(|generated| at > generated)
        })
    }
}

/// What `ai-insights` answers.
#[derive(Debug)]
pub enum InsightsView {
    /// 200: current insights.
    Ready {
        lead_id: Uuid,
        lead_version: u64,
        insights: Insights,
    },
    /// 202: new insights are being produced; `previous` are the stale ones, if any.
    Pending {
        lead_id: Uuid,
        requested_at: DateTime<Utc>,
        previous: Option<Insights>,
    },
}

impl InsightsView {
    pub fn body(&self) -> Value {
        match self {
            InsightsView::Ready {
                lead_id,
                lead_version,
                insights,
            } => {
                let mut body = serde_json::to_value(insights).expect("insights serialise");
                let map = body.as_object_mut().expect("insights are an object");
                map.insert("status".into(), "ready".into());
                map.insert("lead_id".into(), lead_id.to_string().into());
                map.insert("lead_version".into(), (*lead_version).into());
                body
            }
            InsightsView::Pending {
                lead_id,
                requested_at,
                previous,
            } => json!({
                "status": "pending",
                "lead_id": lead_id,
                "requested_at": requested_at,
                "detail": "New insights are being generated; poll this URL.",
                "previous": previous,
            }),
        }
    }
}

/// The lead's stored score as a card. A lead never scored (possible only if scoring failed
/// just before) gets a computation with the default settings.
pub fn current_card(lead: &Lead) -> ScoreCard {
    let stored: Option<Vec<Factor>> = lead
        .score_factors
        .iter()
        .map(|f| serde_json::from_value(f.clone()).ok())
        .collect();
    match (&lead.score_model, stored) {
        (Some(model), Some(factors)) => ScoreCard {
            score: lead.score,
            model: model.clone(),
            factors,
        },
        _ => crate::scoring::score(
            lead,
            &Signals::default(),
            &ScoringSettings::default(),
            Utc::now(),
        ),
    }
}
