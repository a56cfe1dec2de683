//! The changes worker's step: a batch of the table's stream records (Lambda's DynamoDB
//! event) in, `batchItemFailures` out.
//!
//! The records of a shard come in commit order and must be handled in order: the answer
//! names the first record that could not be handled (its `SequenceNumber`), and Lambda
//! retries the batch from that record (`ReportBatchItemFailures`; with
//! `BisectBatchOnFunctionError` and bounded retries, a record that keeps failing ends at
//! the on-failure destination instead of blocking the shard).

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use crm_app::changes::{self, FailedAt, Services};
use crm_domain::changes::Change;
use crm_store::stream::{self, Record};

/// The changes of the batch, in order, up to the first record that cannot be read: the
/// changes and their records' positions in the batch, and that record's position.
fn read(records: &[EventRecord]) -> (Vec<(usize, Change)>, Option<usize>) {
    let mut changes = Vec::new();
    for (n, record) in records.iter().enumerate() {
        let read = stream::change(&Record {
            event_id: &record.event_id,
            event_name: &record.event_name,
            occurred_at: record.change.approximate_creation_date_time,
            keys: &record.change.keys,
            old: &record.change.old_image,
            new: &record.change.new_image,
        });
        match read {
            Ok(Some(change)) => changes.push((n, change)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(
                    event_id = %record.event_id,
                    sequence_number = ?record.change.sequence_number,
                    error = %e,
                    "stream record not readable"
                );
                return (changes, Some(n));
            }
        }
    }
    (changes, None)
}

/// Handles one batch: its changes' follow-up work ([`crm_app::changes::handle`]), and the
/// first record not handled as the batch's one failure.
pub async fn handle(services: &Services, event: Event) -> DynamoDbEventResponse {
    let (read, unreadable) = read(&event.records);
    let (positions, changes): (Vec<usize>, Vec<Change>) = read.into_iter().unzip();
    let not_handled = match changes::handle(services, &changes).await {
        Ok(()) => None,
        Err(FailedAt(n)) => positions.get(n).copied(),
    };
    let first_failed = [unreadable, not_handled].into_iter().flatten().min();
    tracing::info!(
        records = event.records.len(),
        changes = changes.len(),
        failed_at = ?first_failed,
        "stream batch handled"
    );
    let mut response = DynamoDbEventResponse::default();
    if let Some(n) = first_failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        // A record without a sequence number (never seen from a stream) is reported with
        // an empty one, which makes Lambda retry the whole batch: safer than losing it.
        failure.item_identifier = Some(
            event
                .records
                .get(n)
                .and_then(|r| r.change.sequence_number.clone())
                .unwrap_or_default(),
        );
        response.batch_item_failures.push(failure);
    }
    response
}
