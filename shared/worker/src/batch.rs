//! The one batch helper every SQS worker uses.
//!
//! The event source mappings enable `ReportBatchItemFailures`: a worker answers with the ids
//! of the messages that failed, SQS deletes the rest and redelivers only those. After the
//! queue's `maxReceiveCount` deliveries a message moves to the dead-letter queue, so a
//! poison message (one that can never succeed, such as a body that does not parse) costs a
//! few retries and then waits in the DLQ for a human instead of blocking the queue.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use serde::de::DeserializeOwned;
use tracing::Instrument;

/// Messages handled at once within a batch. SQS batches hold at most 10 messages (more
/// with a batching window), and the handlers mostly wait on DynamoDB or HTTP.
pub const BATCH_CONCURRENCY: usize = 10;

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
    use crm_app::queue::{reason, InsightRequest, ScoreRequest};
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use uuid::Uuid;

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
