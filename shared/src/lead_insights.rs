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

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::insights::{self, AiAgentsClient, Insights};
use crate::lead::Lead;
use crate::queue::{InsightRequest, Queues};
use crate::rescoring::{self, Rescored};
use crate::scoring::{Factor, ScoreCard, ScoringSettings, Signals};
use crate::store::{Conflict, Store, StoreError};
use crate::tenant::TenantId;

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
    fn fresh_for(&self, lead: &Lead, now: DateTime<Utc>) -> Option<&Insights> {
        self.insights
            .as_ref()
            .filter(|i| self.lead_version == Some(lead.version) && now - i.generated_at < MAX_AGE)
    }

    fn pending(&self, now: DateTime<Utc>) -> bool {
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
fn current_card(lead: &Lead) -> ScoreCard {
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
        _ => rescoring::card_for(
            lead,
            &Signals::default(),
            &ScoringSettings::default(),
            Utc::now(),
        ),
    }
}

/// Produces and stores insights for the lead as it is now, scoring it first if its score
/// is behind its fields. Returns the view, or None when the lead is gone.
async fn produce_and_store(
    store: &Store,
    ai: Option<&AiAgentsClient>,
    tenant: TenantId,
    lead: Lead,
) -> Result<Option<InsightsView>, ApiError> {
    let lead = if lead.scored_version < lead.version {
        match rescoring::rescore(store, tenant, lead.id, None, rescoring::SCORING_WORKER).await? {
            Rescored::Written { lead, .. } | Rescored::Unchanged { lead, .. } => lead,
            Rescored::AlreadyCurrent => lead,
            Rescored::Gone => return Ok(None),
        }
    } else {
        lead
    };
    let card = current_card(&lead);
    let now = Utc::now();
    let produced = insights::produce(&lead, &card, ai, now).await;
    let record = StoredInsights {
        insights: Some(produced.clone()),
        lead_version: Some(lead.version),
        requested_at: None,
    };
    match store.put_lead_insights(tenant, lead.id, &record).await {
        Ok(()) => Ok(Some(InsightsView::Ready {
            lead_id: lead.id,
            lead_version: lead.version,
            insights: produced,
        })),
        Err(StoreError::Conflict(Conflict::Version)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn queue_request(
    store: &Store,
    queues: &Queues,
    lead: &Lead,
    force: bool,
    now: DateTime<Utc>,
    previous: Option<Insights>,
) -> Result<InsightsView, ApiError> {
    let request = InsightRequest {
        tenant_id: lead.tenant_id.as_uuid(),
        lead_id: lead.id,
        requested_at: now,
        force,
    };
    queues.request_insights(&request).await.map_err(|e| {
        tracing::error!(error = %e, "insights request not queued");
        ApiError::Unavailable("The insights queue is unavailable; try again shortly.".into())
    })?;
    store
        .mark_insights_requested(lead.tenant_id, lead.id, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::NotFound,
            other => other.into(),
        })?;
    Ok(InsightsView::Pending {
        lead_id: lead.id,
        requested_at: now,
        previous,
    })
}

/// `GET ai-insights`: fresh insights, or a pending answer after queueing a request (inline
/// production when no queue is configured). Every member of the tenant may read.
pub async fn view(
    store: &Store,
    queues: &Queues,
    ai: Option<&AiAgentsClient>,
    caller: &Caller,
    lead_id: Uuid,
) -> Result<InsightsView, ApiError> {
    let lead = crate::leads::get(store, caller, lead_id).await?;
    let now = Utc::now();
    let stored = store
        .lead_insights(caller.tenant, lead_id)
        .await?
        .unwrap_or_default();
    if let Some(insights) = stored.fresh_for(&lead, now) {
        return Ok(InsightsView::Ready {
            lead_id,
            lead_version: lead.version,
            insights: insights.clone(),
        });
    }
    if !queues.insights_enabled() {
        return produce_and_store(store, ai, caller.tenant, lead)
            .await?
            .ok_or(ApiError::NotFound);
    }
    if stored.pending(now) {
        return Ok(InsightsView::Pending {
            lead_id,
            requested_at: stored.requested_at.expect("pending has a request time"),
            previous: stored.insights,
        });
    }
    queue_request(store, queues, &lead, false, now, stored.insights).await
}

/// `POST ai-insights`: new insights whatever the stored ones (users and above; it may cost
/// a call to the AI service).
pub async fn refresh(
    store: &Store,
    queues: &Queues,
    ai: Option<&AiAgentsClient>,
    caller: &Caller,
    lead_id: Uuid,
) -> Result<InsightsView, ApiError> {
    if !caller.is_at_least(Role::User) {
        return Err(ApiError::forbidden());
    }
    let lead = crate::leads::get(store, caller, lead_id).await?;
    if !queues.insights_enabled() {
        return produce_and_store(store, ai, caller.tenant, lead)
            .await?
            .ok_or(ApiError::NotFound);
    }
    let previous = store
        .lead_insights(caller.tenant, lead_id)
        .await?
        .and_then(|s| s.insights);
    queue_request(store, queues, &lead, true, Utc::now(), previous).await
}

/// The insights worker's step for one request. Idempotent: a request whose insights were
/// produced after it was sent (and still describe the lead) is skipped unless forced.
pub async fn handle_request(
    store: &Store,
    ai: Option<&AiAgentsClient>,
    request: &InsightRequest,
) -> Result<(), ApiError> {
    let tenant = request.tenant();
    let Some(lead) = store.get_lead(tenant, request.lead_id).await? else {
        tracing::info!(lead_id = %request.lead_id, "lead deleted; nothing to do");
        return Ok(());
    };
    if !request.force {
        let stored = store
            .lead_insights(tenant, lead.id)
            .await?
            .unwrap_or_default();
        let answered = stored
            .insights
            .as_ref()
            .is_some_and(|i| i.generated_at >= request.requested_at);
        if answered && stored.lead_version == Some(lead.version) {
            tracing::info!(lead_id = %lead.id, "insights already produced for this request");
            return Ok(());
        }
    }
    produce_and_store(store, ai, tenant, lead).await.map(|_| ())
}
