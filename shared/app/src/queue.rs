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

/// Webhook deliveries: a receiver may take 10 s, and a batch runs its messages at once.
/// Retries are new messages with a delay (`crm_app::webhooks`), so a message is received
/// more than once only when its outcome could not be recorded.
pub const WEBHOOKS_QUEUE: QueueSpec = QueueSpec {
    name: "webhooks",
    visibility_timeout_seconds: 180,
    max_receive_count: 5,
    worker_timeout_seconds: 30,
};

pub const QUEUES: [QueueSpec; 3] = [SCORING_QUEUE, INSIGHTS_QUEUE, WEBHOOKS_QUEUE];

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
    webhooks: WebhookQueue,
}

/// Where webhook deliveries go (`WEBHOOKS_QUEUE_URL`), where they end after 24 hours of
/// failures (`WEBHOOKS_DLQ_URL`), and how deliveries behave.
#[derive(Clone, Debug, Default)]
pub struct WebhookQueue {
    pub url: Option<String>,
    pub dlq_url: Option<String>,
    pub settings: crate::webhooks::WebhookSettings,
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
            webhooks: WebhookQueue::default(),
        }
    }

    /// These queues with the webhook queue and delivery settings.
    pub fn with_webhooks(mut self, webhooks: WebhookQueue) -> Self {
        self.webhooks = webhooks;
        self
    }

    pub fn webhooks_enabled(&self) -> bool {
        self.webhooks.url.is_some()
    }

    pub fn webhook_settings(&self) -> crate::webhooks::WebhookSettings {
        self.webhooks.settings
    }

    /// Queues webhook deliveries (`SendMessageBatch`, ten per call) after `delay_seconds`;
    /// returns how many could not be queued (logged). Without a webhook queue nothing is
    /// sent and nothing fails.
    pub async fn request_deliveries(
        &self,
        requests: &[crate::webhooks::DeliveryRequest],
        delay_seconds: u32,
    ) -> usize {
        let Some(url) = &self.webhooks.url else {
            return 0;
        };
        let delay = i32::try_from(delay_seconds.min(900)).unwrap_or(900);
        let tagged: Vec<(usize, &crate::webhooks::DeliveryRequest)> =
            requests.iter().enumerate().collect();
        self.send_all_after("webhooks", url, &tagged, delay)
            .await
            .len()
    }

    /// Puts a delivery that failed for 24 hours on the dead-letter queue (logged and
    /// dropped when none is configured).
    pub async fn dead_letter_delivery(
        &self,
        request: &crate::webhooks::DeliveryRequest,
    ) -> Result<(), SendError> {
        match &self.webhooks.dlq_url {
            Some(url) => self.send(url, "webhooks-dlq", request).await,
            None => {
                tracing::error!(
                    webhook_id = %request.webhook_id,
                    event_id = %request.event_id,
                    "webhook delivery given up; no dead-letter queue configured"
                );
                Ok(())
            }
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
            .chain(&self.webhooks.url)
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
        self.send_all_after(queue, url, messages, 0).await
    }

    /// [`Queues::send_all`], each message delivered after `delay_seconds` (0 to 900).
    pub async fn send_all_after<T: Serialize>(
        &self,
        queue: &'static str,
        url: &str,
        messages: &[(usize, T)],
        delay_seconds: i32,
    ) -> Vec<usize> {
        let batches = messages
            .chunks(10)
            .map(|chunk| self.send_batch(queue, url, chunk, delay_seconds));
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
        delay_seconds: i32,
    ) -> Vec<usize> {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(n, (_, message))| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message_body(serde_json::to_string(message).ok()?)
                    .delay_seconds(delay_seconds)
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

    /// One message to the queue at `url`.
    async fn send<T: Serialize>(
        &self,
        url: &str,
        queue: &'static str,
        message: &T,
    ) -> Result<(), SendError> {
        let body = serde_json::to_string(message).map_err(|e| SendError {
            queue,
            detail: e.to_string(),
        })?;
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                queue,
                detail: crm_store::describe(&e),
            })
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
            ("webhooks", &self.webhooks.url),
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
