//! The follow-up work of committed changes: what the changes worker (the table's stream
//! consumer) does with each batch of [`Change`]s.
//!
//! Every handler takes the whole batch in stream order and says which change is the first
//! it could not handle; the worker reports that record, and Lambda retries the batch from
//! there (the changes before it are done; those after it come again, which the consumers
//! treat as duplicates). Today's handlers: scoring and insight requests
//! ([`request_follow_ups`]). Webhook deliveries plug in beside them in [`handle`], with the
//! change's `event_id` as the delivery's stable event id.

use crm_domain::changes::{follow_ups, Change, FollowUp, RescoreReason};

use crate::queue::{reason, InsightRequest, Queues, ScoreRequest};

/// What the follow-up handlers need, built once per cold start.
#[derive(Clone, Debug)]
pub struct Services {
    pub queues: Queues,
}

/// The index (in the batch) of the first change whose follow-up work could not be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedAt(pub usize);

/// Runs every follow-up handler over the batch; the first change any of them failed.
pub async fn handle(services: &Services, changes: &[Change]) -> Result<(), FailedAt> {
    // Webhook deliveries go here too (`webhooks::dispatch(services, changes)`), each
    // handler's failure folded in with `min`.
    request_follow_ups(&services.queues, changes).await
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
