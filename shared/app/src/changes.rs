//! The follow-up work of committed changes: what the changes worker (the table's stream
//! consumer) does with each batch of [`Change`]s.
//!
//! Every handler takes the whole batch in stream order and says which change is the first
//! it could not handle; the worker reports that record, and Lambda retries the batch from
//! there (the changes before it are done; those after it come again, which the consumers
//! treat as duplicates). The handlers: scoring and insight requests
//! ([`request_follow_ups`]) and webhook deliveries ([`deliver_events`], whose event ids
//! come from the change's `event_id`, so a redelivered record yields the same ids).

use crm_domain::changes::{follow_ups, Change, FollowUp, RescoreReason};
use crm_store::Store;

use crate::queue::{reason, InsightRequest, Queues, ScoreRequest};

/// What the follow-up handlers need, built once per cold start: the queues, and the table
/// (the tenants' webhook subscriptions).
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub queues: Queues,
}

/// The index (in the batch) of the first change whose follow-up work could not be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedAt(pub usize);

/// Runs every follow-up handler over the batch; the first change any of them failed.
pub async fn handle(services: &Services, changes: &[Change]) -> Result<(), FailedAt> {
    // Boxed: the webhook path's future is deep enough to overflow the compiler's layout
    // depth in the worker's binary.
    let (requested, delivered) = tokio::join!(
        request_follow_ups(&services.queues, changes),
        Box::pin(deliver_events(services, changes)),
    );
    match (requested.err(), delivered.err()) {
        (Some(a), Some(b)) => Err(FailedAt(a.0.min(b.0))),
        (Some(failed), None) | (None, Some(failed)) => Err(failed),
        (None, None) => Ok(()),
    }
}

/// Queues the webhook deliveries of each change's events, change by change in stream
/// order; the first change whose deliveries could not all be queued. (Its events may be
/// queued again with the retried batch: receivers drop repeats by event id.)
pub async fn deliver_events(services: &Services, changes: &[Change]) -> Result<(), FailedAt> {
    for (n, change) in changes.iter().enumerate() {
        let events = crm_domain::events::of_change(change);
        if events.is_empty() {
            continue;
        }
        if let Err(e) = crate::webhooks::dispatch(&services.store, &services.queues, &events).await
        {
            tracing::error!(error = %e, event_id = %change.event_id, "webhook deliveries not queued");
            return Err(FailedAt(n));
        }
    }
    Ok(())
}

fn reason_text(reason: RescoreReason) -> &'static str {
    match reason {
        RescoreReason::Created => reason::CREATED,
        RescoreReason::Updated => reason::UPDATED,
        RescoreReason::Activity => reason::ACTIVITY,
        RescoreReason::Manual => reason::MANUAL,
    }
}

/// Queue messages, each tagged with the index of the change that asked for it.
pub type Tagged<T> = Vec<(usize, T)>;

/// The scoring and insight requests the changes ask for, tagged with their change's index.
pub fn requests(changes: &[Change]) -> (Tagged<ScoreRequest>, Tagged<InsightRequest>) {
    let mut scores = Vec::new();
    let mut insights = Vec::new();
    for (n, change) in changes.iter().enumerate() {
        for follow_up in follow_ups(change) {
            match follow_up {
                FollowUp::Rescore {
                    tenant,
                    lead_id,
                    version,
                    reason,
                } => scores.push((
                    n,
                    ScoreRequest {
                        tenant_id: tenant.as_uuid(),
                        lead_id,
                        version,
                        reason: reason_text(reason).to_string(),
                    },
                )),
                FollowUp::Insights {
                    tenant,
                    lead_id,
                    requested_at,
                } => insights.push((
                    n,
                    InsightRequest {
                        tenant_id: tenant.as_uuid(),
                        lead_id,
                        requested_at,
                        // Not forced: a redelivered request finds its insights produced
                        // after `requested_at` and stops after one read.
                        force: false,
                    },
                )),
            }
        }
    }
    (scores, insights)
}

/// Sends the scoring and insight requests of the batch (`SendMessageBatch`). A queue that
/// is not configured fails the changes that need it: they wait in the stream (and end at
/// the on-failure destination) rather than being dropped.
pub async fn request_follow_ups(queues: &Queues, changes: &[Change]) -> Result<(), FailedAt> {
    let (scores, insights) = requests(changes);
    let mut failed = send(queues, "scoring", queues.scoring_url(), &scores).await;
    failed.extend(send(queues, "insights", queues.insights_url(), &insights).await);
    match failed.into_iter().min() {
        Some(n) => Err(FailedAt(n)),
        None => Ok(()),
    }
}

/// Sends `messages` to the queue at `url`; the tags of those not sent.
async fn send<T: serde::Serialize>(
    queues: &Queues,
    queue: &'static str,
    url: Option<&str>,
    messages: &[(usize, T)],
) -> Vec<usize> {
    if messages.is_empty() {
        return Vec::new();
    }
    match url {
        Some(url) => queues.send_all(queue, url, messages).await,
        None => {
            tracing::error!(queue, "queue not configured; follow-ups not sent");
            messages.iter().map(|(n, _)| *n).collect()
        }
    }
}
