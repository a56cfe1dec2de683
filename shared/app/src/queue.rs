//! Queue messages between the API and the workers, and the producer that sends them.
//! The workers' batch helper is `crm_worker::batch`.
//!
//! SQS delivers at least once, so handlers must be idempotent; the messages carry what a
//! handler needs to recognise work already done (see each type).

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A queue of the service and its dead-letter queue: the one definition that
/// `template.yaml` (checked by a test), the local stack and the tests follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// The logical name; deployed queues are `{stack}-{name}` and `{stack}-{name}-dlq`.
    pub name: &'static str,
    /// Six times the worker's timeout, as AWS advises for Lambda event sources, so a
    /// message is not redelivered while a slow invocation still holds it.
    pub visibility_timeout_seconds: u32,
    /// Deliveries before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// The worker's Lambda timeout.
    pub worker_timeout_seconds: u32,
}

pub const SCORING_QUEUE: QueueSpec = QueueSpec {
    name: "scoring",
    visibility_timeout_seconds: 60,
    max_receive_count: 5,
    worker_timeout_seconds: 10,
};

/// The AI call may take `(retries + 1) * timeout` plus backoff (about 16 s by default).
pub const INSIGHTS_QUEUE: QueueSpec = QueueSpec {
    name: "insights",
    visibility_timeout_seconds: 180,
    max_receive_count: 3,
    worker_timeout_seconds: 30,
};

pub const QUEUES: [QueueSpec; 2] = [SCORING_QUEUE, INSIGHTS_QUEUE];

/// Why a rescore was asked for, recorded with the score change.
pub mod reason {
    pub const CREATED: &str = "created";
    pub const UPDATED: &str = "updated";
    pub const ACTIVITY: &str = "activity";
    pub const SETTINGS_CHANGED: &str = "settings_changed";
    pub const MANUAL: &str = "manual";
}

/// "Rescore this lead". `version` is the lead version that prompted it: a worker that
/// finds the lead already scored at this version or later does nothing, so duplicates and
/// reordered deliveries are harmless; one that finds an older version reads again strongly
/// consistent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreRequest {
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub version: u64,
    /// One of [`reason`].
    pub reason: String,
}

impl ScoreRequest {
    /// A request to score `lead` as it is now (at its current version).
    pub fn new(lead: &crm_domain::lead::Lead, reason: &str) -> Self {
        Self {
            tenant_id: lead.tenant_id.as_uuid(),
            lead_id: lead.id,
            version: lead.version,
            reason: reason.to_string(),
        }
    }
}

/// The tenant of a queued request. Only the changes worker writes to these queues, from
/// the keys of committed items, so a message's tenant is as trusted as a stored record's.
fn trusted_tenant(id: Uuid) -> crm_domain::tenant::TenantId {
    crm_domain::tenant::TenantId::from_uuid(id)
}

impl ScoreRequest {
    pub fn tenant(&self) -> crm_domain::tenant::TenantId {
        trusted_tenant(self.tenant_id)
    }
}

impl InsightRequest {
    pub fn tenant(&self) -> crm_domain::tenant::TenantId {
        trusted_tenant(self.tenant_id)
    }
}

/// "Produce insights for this lead". Unless `force` is set, a worker skips the work when
/// the stored insights were generated after `requested_at`, so a duplicate costs one read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsightRequest {
    pub tenant_id: Uuid,
    pub lead_id: Uuid,
    pub requested_at: DateTime<Utc>,
    #[serde(default)]
    pub force: bool,
}

/// The queues named by `SCORING_QUEUE_URL` and `INSIGHTS_QUEUE_URL`. Only the changes
/// worker sends to them (`crate::changes`): the request path writes to DynamoDB only, and
/// the table's stream carries every committed change to the worker. On the request path a
/// queue left unconfigured means its worker is not deployed: the work is done inline where
/// it can be (insights, `update-scores`).
#[derive(Clone, Debug)]
pub struct Queues {
    sqs: aws_sdk_sqs::Client,
    scoring_url: Option<String>,
    insights_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not reach {queue}: {detail}")]
pub struct SendError {
    queue: &'static str,
    detail: String,
}

impl Queues {
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        scoring_url: Option<String>,
        insights_url: Option<String>,
    ) -> Self {
        Self {
            sqs,
            scoring_url,
            insights_url,
        }
    }

    pub fn scoring_enabled(&self) -> bool {
        self.scoring_url.is_some()
    }

    pub fn insights_enabled(&self) -> bool {
        self.insights_url.is_some()
    }

    /// The queue URLs that are configured, for the deep health check.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.scoring_url
            .iter()
            .chain(&self.insights_url)
            .map(String::as_str)
    }

    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// Sends `messages` to the queue at `url` with `SendMessageBatch` (ten per call, a few
    /// calls at once). Each message is tagged with a number of the caller's; returns the
    /// numbers of those that could not be sent (logged).
    pub async fn send_all<T: Serialize>(
        &self,
        queue: &'static str,
        url: &str,
        messages: &[(usize, T)],
    ) -> Vec<usize> {
        let batches = messages
            .chunks(10)
            .map(|chunk| self.send_batch(queue, url, chunk));
        stream::iter(batches)
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// One `SendMessageBatch` of up to ten messages; the tags of those that failed.
    async fn send_batch<T: Serialize>(
        &self,
        queue: &'static str,
        url: &str,
        chunk: &[(usize, T)],
    ) -> Vec<usize> {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(n, (_, message))| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message_body(serde_json::to_string(message).ok()?)
                    .build()
                    .ok()
            })
            .collect();
        let sent = self
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(out) => {
                for f in &out.failed {
                    tracing::error!(queue, code = %f.code, message = ?f.message, "message not sent");
                }
                out.failed
                    .iter()
                    .filter_map(|f| f.id.parse::<usize>().ok())
                    .filter_map(|n| chunk.get(n).map(|(tag, _)| *tag))
                    .collect()
            }
            Err(e) => {
                tracing::error!(queue, error = %crm_store::describe(&e), "batch not sent");
                chunk.iter().map(|(tag, _)| *tag).collect()
            }
        }
    }

    /// The scoring queue's URL, when configured.
    pub fn scoring_url(&self) -> Option<&str> {
        self.scoring_url.as_deref()
    }

    /// The insights queue's URL, when configured.
    pub fn insights_url(&self) -> Option<&str> {
        self.insights_url.as_deref()
    }

    /// Reachability of the configured queues (one cheap call each), for `/health-check/`.
    pub async fn ping(&self) -> Result<(), SendError> {
        for (queue, url) in [
            ("scoring", &self.scoring_url),
            ("insights", &self.insights_url),
        ] {
            let Some(url) = url else { continue };
            self.sqs
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .map_err(|e| SendError {
                    queue,
                    detail: crm_store::describe(&e),
                })?;
        }
        Ok(())
    }
}
