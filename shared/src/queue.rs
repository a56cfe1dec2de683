//! Queue messages between the API and the workers, and the one batch helper every SQS
//! worker uses.
//!
//! The event source mappings enable `ReportBatchItemFailures`: a worker answers with the ids
//! of the messages that failed, SQS deletes the rest and redelivers only those. After the
//! queue's `maxReceiveCount` deliveries a message moves to the dead-letter queue, so a
//! poison message (one that can never succeed, such as a body that does not parse) costs a
//! few retries and then waits in the DLQ for a human instead of blocking the queue.
//!
//! SQS delivers at least once, so handlers must be idempotent; the messages carry what a
//! handler needs to recognise work already done (see each type).

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use uuid::Uuid;

/// Messages handled at once within a batch. SQS batches hold at most 10 messages (more
/// with a batching window), and the handlers mostly wait on DynamoDB or HTTP.
pub const BATCH_CONCURRENCY: usize = 10;

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
    pub fn new(lead: &crate::lead::Lead, reason: &str) -> Self {
        Self {
            tenant_id: lead.tenant_id.as_uuid(),
            lead_id: lead.id,
            version: lead.version,
            reason: reason.to_string(),
        }
    }
}

/// The tenant of a queued request. Only the API writes to these queues, after verifying
/// the caller's token, so a message's tenant is as trusted as a stored record's.
fn trusted_tenant(id: Uuid) -> crate::tenant::TenantId {
    crate::tenant::TenantId::from_uuid(id)
}

impl ScoreRequest {
    pub fn tenant(&self) -> crate::tenant::TenantId {
        trusted_tenant(self.tenant_id)
    }
}

impl InsightRequest {
    pub fn tenant(&self) -> crate::tenant::TenantId {
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

/// The API's side of the queues: sends scoring and insight requests to the queues named
/// by `SCORING_QUEUE_URL` and `INSIGHTS_QUEUE_URL`. A queue left unconfigured is off:
/// nothing is sent, and callers fall back to doing the work inline where they can.
#[derive(Clone, Debug)]
pub struct Queues {
    sqs: aws_sdk_sqs::Client,
    scoring_url: Option<String>,
    insights_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not send to {queue}: {detail}")]
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

    /// Asks for a rescore. The lead change that prompted it is already committed, so a
    /// failure here must not fail the request (a retried create would then be a duplicate):
    /// it is logged, and the lead keeps its previous score until its next change or an
    /// explicit `update-score`.
    pub async fn request_score(&self, request: &ScoreRequest) {
        let Some(url) = &self.scoring_url else {
            return;
        };
        if let Err(e) = self.send(url, "scoring", request).await {
            tracing::error!(
                lead_id = %request.lead_id,
                tenant_id = %request.tenant_id,
                version = request.version,
                error = %e,
                "scoring request not sent; the lead keeps its previous score"
            );
        }
    }

    /// Asks for many rescores (`SendMessageBatch`, ten per call, a few calls at once).
    /// Returns the leads whose request could not be sent (logged).
    pub async fn request_scores(&self, requests: &[ScoreRequest]) -> Vec<Uuid> {
        let Some(url) = &self.scoring_url else {
            return Vec::new();
        };
        let batches: Vec<Vec<ScoreRequest>> = requests.chunks(10).map(<[_]>::to_vec).collect();
        let batches = batches.into_iter().map(|chunk| self.send_batch(url, chunk));
        stream::iter(batches)
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// One `SendMessageBatch` of up to ten requests; the leads whose request failed.
    async fn send_batch(&self, url: &str, chunk: Vec<ScoreRequest>) -> Vec<Uuid> {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(n, r)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .message_body(serde_json::to_string(r).expect("queue messages serialise"))
                    .build()
                    .expect("entry has id and body")
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
            Ok(out) => out
                .failed
                .iter()
                .filter_map(|f| f.id.parse::<usize>().ok())
                .map(|n| chunk[n].lead_id)
                .collect(),
            Err(e) => {
                tracing::error!(error = %crate::store::describe(&e), "scoring batch not sent");
                chunk.iter().map(|r| r.lead_id).collect()
            }
        }
    }

    /// Asks for insights. `Ok(false)` when the insights queue is not configured.
    pub async fn request_insights(&self, request: &InsightRequest) -> Result<bool, SendError> {
        let Some(url) = &self.insights_url else {
            return Ok(false);
        };
        self.send(url, "insights", request).await.map(|()| true)
    }

    async fn send<T: Serialize>(
        &self,
        url: &str,
        queue: &'static str,
        message: &T,
    ) -> Result<(), SendError> {
        let body = serde_json::to_string(message).expect("queue messages serialise");
        self.sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                queue,
                detail: crate::store::describe(&e),
            })
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
                    detail: crate::store::describe(&e),
                })?;
        }
        Ok(())
    }
}

/// Runs `handler` on every message of an SQS batch, concurrently (up to
/// [`BATCH_CONCURRENCY`]), and reports the ones that failed.
///
/// Each body is parsed as `T`; a body that does not parse fails that message only. A
/// handler error fails its message only. Failures are logged with the message id and the
/// delivery count. A message without an id (never seen from SQS) is reported with an
/// empty id, which makes Lambda retry the whole batch: safer than losing it.
///
/// Return `Err` from the Lambda handler only when the whole batch must be retried (say,
/// the function cannot reach its table at all); otherwise return this response.
///
/// Meant for standard queues: a FIFO queue would need processing in order per message
/// group and reporting every message after the first failure.
pub async fn process_batch<T, F, Fut, E>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    T: DeserializeOwned,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let handler = &handler;
    let failures: Vec<String> = stream::iter(event.records)
        .map(|message| {
            let id = message.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("sqs_message", message_id = %id);
            async move {
                match process_one(message, handler).await {
                    Ok(()) => None,
                    Err(()) => Some(id),
                }
            }
            .instrument(span)
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;

    let mut response = SqsBatchResponse::default();
    response.set_failures(failures);
    response
}

async fn process_one<T, F, Fut, E>(message: SqsMessage, handler: &F) -> Result<(), ()>
where
    T: DeserializeOwned,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let receive_count = message
        .attributes
        .get("ApproximateReceiveCount")
        .cloned()
        .unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let parsed: T = match serde_json::from_str(body) {
        Ok(parsed) => parsed,
        Err(e) => {
            // It will fail the same way every time; it is reported so that the redrive
            // policy moves it to the DLQ, where the body can be inspected.
            tracing::error!(
                receive_count,
                error = %e,
                "unreadable message body; it will end in the dead-letter queue"
            );
            return Err(());
        }
    };
    handler(parsed).await.map_err(|e| {
        tracing::warn!(receive_count, error = %e, "message failed; SQS will redeliver it");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        m
    }

    fn event(messages: Vec<SqsMessage>) -> SqsEvent {
        let mut e = SqsEvent::default();
        e.records = messages;
        e
    }

    fn score_body(version: u64) -> String {
        serde_json::to_string(&ScoreRequest {
            tenant_id: Uuid::from_u128(1),
            lead_id: Uuid::from_u128(2),
            version,
            reason: reason::UPDATED.into(),
        })
        .unwrap()
    }

    fn failed_ids(r: &SqsBatchResponse) -> HashSet<String> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect()
    }

    #[tokio::test]
    async fn all_ok_reports_no_failures() {
        let seen = AtomicUsize::new(0);
        let e = event(
            (1..=5)
                .map(|v| message(&format!("m{v}"), &score_body(v)))
                .collect(),
        );
        let r = process_batch(e, |req: ScoreRequest| {
            seen.fetch_add(req.version as usize, Ordering::SeqCst);
            async { Ok::<_, String>(()) }
        })
        .await;
        assert!(r.batch_item_failures.is_empty());
        assert_eq!(
            seen.load(Ordering::SeqCst),
            15,
            "every message handled once"
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"batchItemFailures": []})
        );
    }

    #[tokio::test]
    async fn exactly_the_failed_messages_are_reported() {
        let e = event(vec![
            message("ok-1", &score_body(1)),
            message("bad-json", "{\"tenant_id\": "),
            message("handler-error", &score_body(13)),
            message("wrong-shape", r#"{"lead_id": "x"}"#),
            message("ok-2", &score_body(2)),
        ]);
        let r = process_batch(e, |req: ScoreRequest| async move {
            if req.version == 13 {
                Err(format!("lead {} is unlucky", req.lead_id))
            } else {
                Ok(())
            }
        })
        .await;
        let expected: HashSet<String> = ["bad-json", "handler-error", "wrong-shape"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(failed_ids(&r), expected);
        let wire = serde_json::to_value(&r).unwrap();
        assert!(wire["batchItemFailures"][0]["itemIdentifier"].is_string());
    }

    #[tokio::test]
    async fn messages_run_concurrently() {
        // Ten handlers that each wait for all ten to have started can only finish if the
        // helper runs them at the same time.
        let started = std::sync::Arc::new(tokio::sync::Barrier::new(10));
        let e = event(
            (0..10)
                .map(|i| message(&format!("m{i}"), &score_body(i)))
                .collect(),
        );
        let run = process_batch(e, |_: ScoreRequest| {
            let started = started.clone();
            async move {
                started.wait().await;
                Ok::<_, String>(())
            }
        });
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), run)
            .await
            .expect("handlers ran concurrently");
        assert!(r.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn a_message_without_an_id_fails_the_batch() {
        let mut m = message("", "not json");
        m.message_id = None;
        let r = process_batch(event(vec![m]), |_: InsightRequest| async {
            Ok::<_, String>(())
        })
        .await;
        assert_eq!(failed_ids(&r), HashSet::from([String::new()]));
    }

    #[test]
    fn message_shapes() {
        let req: InsightRequest = serde_json::from_value(serde_json::json!({
            "tenant_id": Uuid::from_u128(1),
            "lead_id": Uuid::from_u128(2),
            "requested_at": "2026-03-01T12:00:00Z",
        }))
        .unwrap();
        assert!(!req.force, "force defaults to false");
        let back = serde_json::to_value(&req).unwrap();
        assert_eq!(back["requested_at"], "2026-03-01T12:00:00Z");
        assert_eq!(back["force"], false);

        let score: ScoreRequest = serde_json::from_str(&score_body(4)).unwrap();
        assert_eq!(score.version, 4);
        assert_eq!(score.reason, "updated");
    }

    #[tokio::test]
    async fn a_real_sqs_event_parses() {
        // The shape Lambda delivers (trimmed from the AWS documentation's example).
        let raw = serde_json::json!({
            "Records": [{
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": score_body(9),
                "attributes": {
                    "ApproximateReceiveCount": "3",
                    "SentTimestamp": "1545082649183",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:scoring",
                "awsRegion": "us-east-2"
            }]
        });
        let e: SqsEvent = serde_json::from_value(raw).unwrap();
        let r = process_batch(e, |req: ScoreRequest| async move {
            Err(format!("version {}", req.version))
        })
        .await;
        assert_eq!(
            failed_ids(&r),
            HashSet::from(["059f36b4-87a3-44ab-83d2-661975830a7d".to_string()])
        );
    }
}
