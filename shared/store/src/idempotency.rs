//! `Idempotency-Key`: a client that retries a non-idempotent request (a bulk operation,
//! say, after a timeout) with the same key gets the first answer back instead of a second
//! application.
//!
//! One item per tenant and key (built by [`keys::idempotency`]) records who asked what
//! (a fingerprint of user, operation and body) and, once finished, the response:
//! - the first request claims the key with a conditional put before doing any work, so of
//!   two concurrent duplicates only one does the work; the other is told the key is in use
//!   (409), and a retry after the first finished gets the stored response;
//! - the same key with a different request (another body, operation or user) is a 409;
//! - a request that fails as a whole (throttled, DynamoDB unavailable) releases its claim, so
//!   that its retry runs instead of replaying a failure for a day;
//! - a claim whose request died (a Lambda timeout) can be taken over by a retry of the same
//!   request once [`LEASE`] has passed; until then the retry gets 409.
//!
//! Records carry `expires_at` (epoch seconds), the table's TTL attribute: DynamoDB deletes
//! them after [`RETENTION`], within a day or two; until it does, an expired record counts as
//! absent, so a key can be reused after [`RETENTION`] exactly.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};
use chrono::{Duration, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::keys;
use crate::usage::{record, Kind};
use crate::{classify, s, Store, StoreError};
use crm_domain::tenant::TenantId;
use crm_domain::Error;

/// How long a key's record (and so its stored response) is kept.
pub const RETENTION: Duration = Duration::hours(24);
/// How long a claim blocks a retry before it may be taken over: the longest a Lambda can
/// run (15 minutes), so a live request's claim is never taken from it.
pub const LEASE: Duration = Duration::minutes(15);
/// The table's TTL attribute (the name `template.yaml` reserves for it).
pub const EXPIRES_AT: &str = "expires_at";

const PENDING: &str = "pending";
const DONE: &str = "done";

/// What makes two requests "the same": the user, the operation and the body. Object keys
/// are sorted first, so a client that re-serialises its body in another key order is
/// still recognised.
pub fn fingerprint(user: &str, operation: &str, body: &Map<String, Value>) -> String {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), canonical(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let mut hash = Sha256::new();
    // Lengths first, so that no two (user, operation) pairs run together into one string.
    for part in [user, operation] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.update(
        canonical(&Value::Object(body.clone()))
            .to_string()
            .as_bytes(),
    );
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The outcome of trying to claim a key.
#[derive(Debug)]
pub enum Claim {
    /// The key is ours: do the work, then [`complete`] or [`release`] with this token.
    Claimed(String),
    /// The same request finished before: its response.
    Replay { status: u16, body: Value },
    /// The same request is still running (or died less than [`LEASE`] ago).
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

fn epoch(at: chrono::DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp().to_string())
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Claims `key` for a request with `fingerprint`: one conditional put, which succeeds when
/// the key is new, expired, or held by a lapsed claim of the same request. When it fails,
/// the record that stopped it comes back in the same round trip and says why; a record
/// with this call's own claim token means an earlier attempt of the same put was written
/// and its answer lost (the SDK retried it), so the key is ours.
pub async fn claim(
    store: &Store,
    tenant: TenantId,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, StoreError> {
    let now = Utc::now();
    let token = Uuid::new_v4().to_string();
    let mut item = keys::idempotency(tenant, key).item_key();
    item.insert("fingerprint".into(), s(fingerprint));
    item.insert("state".into(), s(PENDING));
    item.insert("claim".into(), s(&token));
    item.insert("lease_until".into(), epoch(now + LEASE));
    item.insert(EXPIRES_AT.into(), epoch(now + RETENTION));
    let result = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression(
            "attribute_not_exists(PK) OR #exp < :now \
             OR (#state = :pending AND lease_until < :now AND fingerprint = :fp)",
        )
        .expression_attribute_names("#exp", EXPIRES_AT)
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":now", epoch(now))
        .expression_attribute_values(":pending", s(PENDING))
        .expression_attribute_values(":fp", s(fingerprint))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await;
    let existing = match result {
        Ok(out) => {
            record(Kind::Write, out.consumed_capacity.as_slice());
            return Ok(Claim::Claimed(token));
        }
        Err(SdkError::ServiceError(ctx)) if ctx.err().is_conditional_check_failed_exception() => {
            record(Kind::Write, &[]);
            match ctx.err() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                _ => None,
            }
        }
        Err(e) => return Err(classify(e)),
    };
    // Without the old item in the error (an older DynamoDB-compatible server), read it;
    // gone in between (a release): the key is free again, and the caller may retry.
    let existing = match existing {
        Some(item) => item,
        None => store
            .get(&keys::idempotency(tenant, key))
            .await?
            .unwrap_or_default(),
    };
    // Our own claim: an earlier attempt of this same put (retried by the SDK after its
    // answer was lost) wrote it.
    if text(&existing, "claim") == Some(token.as_str()) {
        return Ok(Claim::Claimed(token));
    }
    Ok(held(&existing, fingerprint))
}

/// What the record that refused a claim says: the same request done (its answer to
/// replay) or still in progress, or another request under the same key.
fn held(existing: &HashMap<String, AttributeValue>, fingerprint: &str) -> Claim {
    if text(existing, "fingerprint") != Some(fingerprint) {
        return if existing.is_empty() {
            Claim::InProgress
        } else {
            Claim::Mismatch
        };
    }
    if text(existing, "state") == Some(DONE) {
        let status = existing
            .get("status_code")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(200);
        let body = text(existing, "response")
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or(Value::Null);
        return Claim::Replay { status, body };
    }
    Claim::InProgress
}

/// Stores the response of the claimed request (unless its claim was taken over, which
/// only happens after [`LEASE`]: then the newer claim answers).
pub async fn complete(
    store: &Store,
    tenant: TenantId,
    key: &str,
    token: &str,
    fingerprint: &str,
    status: u16,
    body: &Value,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let mut item = keys::idempotency(tenant, key).item_key();
    item.insert("fingerprint".into(), s(fingerprint));
    item.insert("state".into(), s(DONE));
    item.insert("claim".into(), s(token));
    item.insert("status_code".into(), AttributeValue::N(status.to_string()));
    item.insert("response".into(), s(body.to_string()));
    item.insert(EXPIRES_AT.into(), epoch(now + RETENTION));
    let result = store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .condition_expression("claim = :claim")
        .expression_attribute_values(":claim", s(token))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .map(|out| out.consumed_capacity);
    if !written_while_claimed(result)? {
        tracing::warn!(
            key,
            "idempotency claim was taken over before the response was stored"
        );
    }
    Ok(())
}

/// Gives the key up (the request failed as a whole), if the claim is still ours.
pub async fn release(
    store: &Store,
    tenant: TenantId,
    key: &str,
    token: &str,
) -> Result<(), StoreError> {
    let result = store
        .client()
        .delete_item()
        .table_name(store.table())
        .set_key(Some(keys::idempotency(tenant, key).item_key()))
        .condition_expression("claim = :claim")
        .expression_attribute_values(":claim", s(token))
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .map(|out| out.consumed_capacity);
    written_while_claimed(result)?;
    Ok(())
}

/// Whether a write conditioned on still holding the claim was made (`false`: the claim
/// was taken over or released meanwhile); its write units are counted.
fn written_while_claimed<E, R>(
    result: Result<Option<ConsumedCapacity>, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match result {
        Ok(capacity) => {
            record(Kind::Write, capacity.as_slice());
            Ok(true)
        }
        Err(SdkError::ServiceError(ctx))
            if ctx.err().code() == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(classify(e)),
    }
}

/// A response as an idempotent request answers it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// True when this is the stored answer of an earlier request with the same key.
    pub replayed: bool,
}

/// Runs `work` at most once per key: without a key it simply runs; with one, it claims the
/// key first, stores a successful answer (200) for retries, and releases the key when
/// `work` fails as a whole. `operation` names the endpoint, so that one key cannot be
/// replayed against another endpoint.
pub async fn run<F, Fut>(
    store: &Store,
    tenant: TenantId,
    user: &str,
    key: Option<&str>,
    operation: &str,
    body: &Map<String, Value>,
    work: F,
) -> Result<Answer, Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Value, Error>>,
{
    let Some(key) = key else {
        return Ok(Answer {
            status: 200,
            body: work().await?,
            replayed: false,
        });
    };
    let fingerprint = fingerprint(user, operation, body);
    let token = match claim(store, tenant, key, &fingerprint).await? {
        Claim::Claimed(token) => token,
        Claim::Replay { status, body } => {
            return Ok(Answer {
                status,
                body,
                replayed: true,
            })
        }
        Claim::InProgress => {
            return Err(Error::Conflict(
                "A request with this Idempotency-Key is in progress; retry later.".into(),
            ))
        }
        Claim::Mismatch => {
            return Err(Error::Conflict(
                "This Idempotency-Key was used for a different request.".into(),
            ))
        }
    };
    match work().await {
        Ok(answer) => {
            // The work is done: failing to store its answer must not turn it into an
            // error (a retry would then see "in progress" until the lease ends, not a
            // second application).
            if let Err(e) = complete(store, tenant, key, &token, &fingerprint, 200, &answer).await {
                tracing::warn!(error = %e, "could not store the idempotent response");
            }
            Ok(Answer {
                status: 200,
                body: answer,
                replayed: false,
            })
        }
        Err(e) => {
            if let Err(release_error) = release(store, tenant, key, &token).await {
                tracing::warn!(error = %release_error, "could not release an idempotency key");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a = fingerprint(
            "u",
            "op",
            &body(json!({"a": 1, "b": {"x": 1, "y": [1, 2]}})),
        );
        let b = fingerprint(
            "u",
            "op",
            &body(json!({"b": {"y": [1, 2], "x": 1}, "a": 1})),
        );
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("u", "op", &body(json!({"a": 2}))));
        assert_ne!(
            a,
            fingerprint(
                "v",
                "op",
                &body(json!({"a": 1, "b": {"x": 1, "y": [1, 2]}}))
            )
        );
        assert_ne!(
            fingerprint("ab", "c", &Map::new()),
            fingerprint("a", "bc", &Map::new())
        );
    }
}
