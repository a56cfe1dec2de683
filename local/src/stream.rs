//! Lambda's DynamoDB stream event source mapping, for the local stack and the tests: read
//! the emulator's stream (dynoxide: one shard per table), keep the records the mapping's
//! filter passes (`crm_store::stream::filter_patterns`, the template's), hand them to the
//! changes worker as a real DynamoDB stream event, and continue after what it handled; on
//! `batchItemFailures` the next round starts again at the record it names, as Lambda does.
//!
//! The emulator's stream API is called over its JSON protocol directly (the emulator
//! checks that a request carries a SigV4-shaped `Authorization` header, never its
//! signature), so the local stack links no streams SDK.

use std::future::Future;
use std::path::PathBuf;

use serde_json::{json, Value};

/// A table's stream in the emulator.
#[derive(Clone, Debug)]
pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
    pub stream_arn: String,
    pub shard_id: String,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamRound {
    /// Records read from the stream.
    pub read: usize,
    /// Records the filter passed, delivered to the worker.
    pub delivered: usize,
    /// The sequence number the worker reported failed, if any.
    pub failed: Option<String>,
}

impl StreamReader {
    /// Finds `table`'s stream (`DescribeTable` → `LatestStreamArn` → `DescribeStream`).
    pub async fn open(endpoint: &str, table: &str) -> Result<Self, String> {
        let mut reader = Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            stream_arn: String::new(),
            shard_id: String::new(),
        };
        let described = reader
            .call(
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": table}),
            )
            .await?;
        reader.stream_arn = described["Table"]["LatestStreamArn"]
            .as_str()
            .ok_or(format!(
                "table {table} has no stream: create it afresh (make clean-data)"
            ))?
            .to_string();
        let stream = reader
            .call(
                "DynamoDBStreams_20120810.DescribeStream",
                json!({"StreamArn": reader.stream_arn}),
            )
            .await?;
        reader.shard_id = stream["StreamDescription"]["Shards"]
            .get(0)
            .and_then(|s| s["ShardId"].as_str())
            .ok_or(format!("stream {} has no shard", reader.stream_arn))?
            .to_string();
        Ok(reader)
    }

    async fn call(&self, target: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("X-Amz-Target", target)
            .header("Content-Type", "application/x-amz-json-1.0")
            // The form DynamoDB requires; the emulator verifies no signature.
            .header("X-Amz-Date", "20260101T000000Z")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=local",
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{target} ({status}): {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{target} answered {text}: {e}"))
    }

    /// Up to `limit` records after `after` (from the oldest without it), each as Lambda
    /// puts it in an event (`eventSourceARN` added to `GetRecords`' shape).
    pub async fn read(&self, after: Option<&str>, limit: usize) -> Result<Vec<Value>, String> {
        let mut request = json!({
            "StreamArn": self.stream_arn,
            "ShardId": self.shard_id,
            "ShardIteratorType": if after.is_some() { "AFTER_SEQUENCE_NUMBER" } else { "TRIM_HORIZON" },
        });
        if let Some(seq) = after {
            request["SequenceNumber"] = json!(seq);
        }
        let iterator = self
            .call("DynamoDBStreams_20120810.GetShardIterator", request)
            .await?;
        let iterator = iterator["ShardIterator"]
            .as_str()
            .ok_or("GetShardIterator gave no iterator")?;
        let mut out = self
            .call(
                "DynamoDBStreams_20120810.GetRecords",
                json!({"ShardIterator": iterator, "Limit": limit}),
            )
            .await?;
        let mut records = match out["Records"].take() {
            Value::Array(records) => records,
            _ => Vec::new(),
        };
        for record in &mut records {
            record["eventSourceARN"] = json!(self.stream_arn);
        }
        Ok(records)
    }
}

fn sequence_number(record: &Value) -> Option<&str> {
    record["dynamodb"]["SequenceNumber"].as_str()
}

/// One read → filter → invoke round from `position` (the last sequence number handled;
/// None: from the stream's oldest record), which it moves past what the worker handled.
/// `invoke` is the worker (in-process in tests, the local gateway in `make dev`) with a
/// `{"Records": [...]}` event, answering its `batchItemFailures` response; an `Err` from
/// it retries the whole batch next round, as a failed invocation does in AWS.
pub async fn deliver_once<F, Fut>(
    reader: &StreamReader,
    position: &mut Option<String>,
    batch_size: usize,
    invoke: F,
) -> Result<StreamRound, String>
where
    F: FnOnce(Value) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    let patterns = crm_store::stream::filter_patterns();
    let read = reader.read(position.as_deref(), 1000).await?;
    let mut round = StreamRound {
        read: read.len(),
        ..StreamRound::default()
    };
    // The records considered this round: everything up to the batch's last record (or
    // all that was read when the batch is not full). Filtered-out records are passed over.
    let mut considered = Vec::new();
    let mut batch = Vec::new();
    for record in read {
        if crm_store::stream::matches_filter(&patterns, &record) {
            if batch.len() == batch_size {
                break;
            }
            batch.push(record.clone());
        }
        considered.push(record);
    }
    let last = considered
        .last()
        .and_then(sequence_number)
        .map(str::to_string);
    if batch.is_empty() {
        if last.is_some() {
            *position = last;
        }
        return Ok(round);
    }
    round.delivered = batch.len();
    let response = invoke(json!({ "Records": batch })).await?;
    let failed = response["batchItemFailures"]
        .as_array()
        .and_then(|f| f.first())
        .map(|f| f["itemIdentifier"].as_str().unwrap_or_default().to_string());
    match failed {
        None => *position = last,
        Some(failed) => {
            // Resume at the failed record: after the one before it (an unknown or empty
            // identifier retries the whole batch, as Lambda does).
            if let Some(at) = considered
                .iter()
                .position(|r| sequence_number(r) == Some(failed.as_str()))
            {
                if let Some(before) = at.checked_sub(1).and_then(|i| considered.get(i)) {
                    *position = sequence_number(before).map(str::to_string);
                }
            }
            round.failed = Some(failed);
        }
    }
    Ok(round)
}

/// Where `crm-local stream` keeps its position, so a restart continues where it stopped.
pub fn position_file(table: &str) -> PathBuf {
    PathBuf::from(format!(".local/stream-{table}.position"))
}
