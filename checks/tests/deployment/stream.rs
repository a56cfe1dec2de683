//! The changes worker's event source mapping in template.yaml follows `crm_store::stream`
//! (the filter and settings the local stream reader applies too), and its failures end in
//! its own on-failure queue.

use crate::common::*;
use crm_store::stream::{filter_patterns, MAPPING};

/// The queue (its name after the stack's) that receives what the mapping gives up on.
pub const ON_FAILURE_QUEUE: &str = "changes-dlq";

#[test]
fn the_changes_worker_reads_the_table_stream_as_the_code_expects() {
    let template = template();
    let (name, function) = function_of(&template, "changes");
    let events: Vec<Value> = function["Properties"]["Events"]
        .as_object()
        .into_iter()
        .flat_map(|e| e.values().cloned())
        .collect();
    assert_eq!(events.len(), 1, "{name}: one event source");
    assert_eq!(events[0]["Type"], "DynamoDB", "{name}");
    let props = &events[0]["Properties"];
    assert_eq!(
        props["Stream"],
        json!({"Fn::GetAtt": ["Table", "StreamArn"]})
    );
    assert_eq!(props["StartingPosition"], MAPPING.starting_position);
    assert_eq!(props["BatchSize"].as_u64(), Some(MAPPING.batch_size as u64));
    assert_eq!(
        props["MaximumRetryAttempts"].as_u64(),
        Some(u64::from(MAPPING.maximum_retry_attempts)),
        "bounded retries"
    );
    assert_eq!(
        props["MaximumRecordAgeInSeconds"].as_u64(),
        Some(u64::from(MAPPING.maximum_record_age_seconds))
    );
    assert_eq!(props["BisectBatchOnFunctionError"], true);
    assert_eq!(
        props["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"]),
        "the worker answers batchItemFailures"
    );
    let patterns: Vec<Value> = props["FilterCriteria"]["Filters"]
        .as_array()
        .expect("FilterCriteria.Filters")
        .iter()
        .map(|f| {
            let text = f["Pattern"].as_str().expect("a pattern is a JSON string");
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
        })
        .collect();
    assert_eq!(
        patterns,
        filter_patterns(),
        "the filter of crm_store::stream"
    );
    let destination = &props["DestinationConfig"]["OnFailure"];
    assert_eq!(destination["Type"], "SQS");
    let (queue, resource) = queue_named(&template, ON_FAILURE_QUEUE);
    assert_eq!(
        destination["Destination"],
        json!({"Fn::GetAtt": [queue, "Arn"]})
    );
    assert_eq!(
        resource["Properties"]["MessageRetentionPeriod"].as_u64(),
        Some(14 * 24 * 3600)
    );
    assert_eq!(resource["Properties"]["SqsManagedSseEnabled"], true);
    // The worker's timeout is the Lambda timeout a batch of MAPPING.batch_size records
    // must fit in (SendMessageBatch calls, ten messages each, a few at once).
    assert!(function["Properties"]["Timeout"].as_u64().unwrap_or(3) >= 10);
}
