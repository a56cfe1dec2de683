//! A lead's AI insights: when they are fresh, how a client asks for new ones, and the step
//! the insights worker runs.
//!
//! Insights are stored per lead with the lead version they describe. They are fresh while
//! the lead is still at that version and younger than [`MAX_AGE`]. Otherwise `GET
//! ai-insights` records a request (the insights record's `requested_at`, which the table's
//! stream turns into a message for the insights worker) and answers 202 (`"status":
//! "pending"`) for the client to poll; a request made in the last [`PENDING_WINDOW`] is not
//! made again, so polling costs reads only. Without an insights worker
//! (`INSIGHTS_QUEUE_URL` unset) the insights are produced inline and returned at once.

pub use crm_domain::lead_insights::*;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ai::{self, AiAgentsClient};
use crate::queue::{InsightRequest, Queues};
use crate::rescoring::{self, Rescored};
use crm_domain::identity::{Caller, Role};
use crm_domain::insights::Insights;
use crm_domain::lead::Lead;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{Conflict, Store, StoreError};

/// Produces and stores insights for the lead as it is now, scoring it first if its score
/// is behind its fields. Returns the view, or None when the lead is gone.
async fn produce_and_store(
    store: &Store,
    ai: Option<&AiAgentsClient>,
    tenant: TenantId,
    lead: Lead,
) -> Result<Option<InsightsView>, Error> {
    let lead = if lead.scored_version < lead.version {
        match rescoring::rescore(
            store,
            tenant,
            lead.id,
            None,
            rescoring::SCORING_WORKER,
            &crm_domain::audit::NO_ORIGIN,
        )
        .await?
        {
            Rescored::Written { lead, .. } | Rescored::Unchanged { lead, .. } => lead,
            Rescored::AlreadyCurrent => lead,
            Rescored::Gone => return Ok(None),
        }
    } else {
        lead
    };
    let card = current_card(&lead);
    let now = Utc::now();
    let produced = ai::produce(&lead, &card, ai, now).await;
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

/// Records the request in the insights record (`requested_at`, with the lead's existence
/// checked in the same transaction); the table's stream carries it to the insights worker,
/// so a committed request cannot be lost.
async fn request(
    store: &Store,
    lead: &Lead,
    now: DateTime<Utc>,
    previous: Option<Insights>,
) -> Result<InsightsView, Error> {
    store
        .mark_insights_requested(lead.tenant_id, lead.id, now)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => Error::NotFound,
            other => other.into(),
        })?;
    Ok(InsightsView::Pending {
        lead_id: lead.id,
        requested_at: now,
        previous,
    })
}

/// What answering `ai-insights` may use: the table, whether an insights worker is deployed
/// (its queue configured), and the AI agents service for inline production without one.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    pub store: &'a Store,
    pub queues: &'a Queues,
    pub ai: Option<&'a AiAgentsClient>,
}

/// `GET ai-insights`: fresh insights, or a pending answer after recording a request (inline
/// production when no queue is configured). Every member of the tenant may read.
pub async fn view(
    services: Services<'_>,
    caller: &Caller,
    lead_id: Uuid,
) -> Result<InsightsView, Error> {
    let Services { store, queues, ai } = services;
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
            .ok_or(Error::NotFound);
    }
    if stored.pending(now) {
        return Ok(InsightsView::Pending {
            lead_id,
            requested_at: stored.requested_at.expect("pending has a request time"),
            previous: stored.insights,
        });
    }
    request(store, &lead, now, stored.insights).await
}

/// `POST ai-insights`: new insights whatever the stored ones (users and above; it may cost
/// a call to the AI service).
pub async fn refresh(
    services: Services<'_>,
    caller: &Caller,
    lead_id: Uuid,
) -> Result<InsightsView, Error> {
    if !caller.is_at_least(Role::User) {
        return Err(Error::forbidden());
    }
    let Services { store, queues, ai } = services;
    let lead = crate::leads::get(store, caller, lead_id).await?;
    if !queues.insights_enabled() {
        return produce_and_store(store, ai, caller.tenant, lead)
            .await?
            .ok_or(Error::NotFound);
    }
    let previous = store
        .lead_insights(caller.tenant, lead_id)
        .await?
        .and_then(|s| s.insights);
    request(store, &lead, Utc::now(), previous).await
}

/// The insights worker's step for one request. Idempotent: a request whose insights were
/// produced after it was sent (and still describe the lead) is skipped unless forced.
pub async fn handle_request(
    store: &Store,
    ai: Option<&AiAgentsClient>,
    request: &InsightRequest,
) -> Result<(), Error> {
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
