//! Lambda's SQS event source mapping, for the local stack and the tests: receive a batch,
//! hand it to the worker as a real `SqsEvent`, delete the messages the worker did not
//! report in `batchItemFailures`, and leave the others for redelivery. The queue's own
//! redrive policy moves a message to its dead-letter queue after `maxReceiveCount`
//! receives, as in AWS.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};

/// Where to poll and how.
#[derive(Clone, Debug)]
pub struct Source {
    pub queue_url: String,
    pub queue_arn: String,
    /// Messages per batch (SQS allows up to 10 per receive).
    pub batch_size: i32,
    /// Long-poll wait; 0 returns at once when the queue is empty.
    pub wait_seconds: i32,
    /// How long a failed message stays invisible before its next delivery. Lambda leaves
    /// it for the whole visibility timeout; locally a short delay keeps retries quick.
    pub retry_after_seconds: i32,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

fn region_of(arn: &str) -> Option<String> {
    arn.split(':').nth(3).map(str::to_string)
}

/// An SQS message as Lambda delivers it in an event.
pub fn lambda_message(message: Message, source: &Source) -> SqsMessage {
    let mut out = SqsMessage::default();
    out.message_id = message.message_id;
    out.receipt_handle = message.receipt_handle;
    out.body = message.body;
    out.md5_of_body = message.md5_of_body;
    out.attributes = message
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.as_str().to_string(), v))
        .collect();
    out.event_source = Some("aws:sqs".into());
    out.event_source_arn = Some(source.queue_arn.clone());
    out.aws_region = region_of(&source.queue_arn);
    out
}

/// One receive → invoke → delete round. `invoke` is the worker (in-process in tests, an
/// HTTP call to the local Lambda runtime in `make dev`); an `Err` from it fails the whole
/// batch, as a failed invocation does in AWS.
pub async fn poll_once<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    source: &Source,
    invoke: F,
) -> Result<Round, String>
where
    F: FnOnce(SqsEvent) -> Fut,
    Fut: Future<Output = Result<SqsBatchResponse, String>>,
{
    let messages = receive(sqs, source).await?;
    if messages.is_empty() {
        return Ok(Round::default());
    }
    let mut event = SqsEvent::default();
    event.records = messages.clone();
    let failed: Vec<String> = match invoke(event).await {
        Ok(response) => response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect(),
        Err(e) => {
            eprintln!("poller: the worker failed the whole batch: {e}");
            messages
                .iter()
                .filter_map(|m| m.message_id.clone())
                .collect()
        }
    };
    settle(sqs, source, &messages, &failed).await
}

/// Up to a batch of messages, as the Lambda event carries them.
async fn receive(sqs: &aws_sdk_sqs::Client, source: &Source) -> Result<Vec<SqsMessage>, String> {
    let received = sqs
        .receive_message()
        .queue_url(&source.queue_url)
        .max_number_of_messages(source.batch_size)
        .wait_time_seconds(source.wait_seconds)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| format!("receive: {}", crm_store::describe(&e)))?;
    Ok(received
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| lambda_message(m, source))
        .collect())
}

/// Deletes the messages the worker handled and makes the failed ones visible again after
/// the retry delay, as Lambda's SQS integration does with a partial batch response.
async fn settle(
    sqs: &aws_sdk_sqs::Client,
    source: &Source,
    messages: &[SqsMessage],
    failed: &[String],
) -> Result<Round, String> {
    let mut round = Round {
        received: messages.len(),
        ..Round::default()
    };
    let mut done = Vec::new();
    for (n, message) in messages.iter().enumerate() {
        let id = message.message_id.clone().unwrap_or_default();
        let handle = message.receipt_handle.clone().unwrap_or_default();
        if failed.contains(&id) {
            round.failed += 1;
            sqs.change_message_visibility()
                .queue_url(&source.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(source.retry_after_seconds)
                .send()
                .await
                .map_err(|e| format!("change visibility: {}", crm_store::describe(&e)))?;
        } else {
            done.push(
                DeleteMessageBatchRequestEntry::builder()
                    .id(n.to_string())
                    .receipt_handle(handle)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    if !done.is_empty() {
        round.deleted = done.len();
        sqs.delete_message_batch()
            .queue_url(&source.queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .map_err(|e| format!("delete: {}", crm_store::describe(&e)))?;
    }
    Ok(round)
}
