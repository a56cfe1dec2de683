//! API keys and rate-limit counters.
//!
//! A key is two items written and revoked together: the record under its tenant (listed,
//! and where usage is flushed) and a lookup copy under its public prefix with the digest
//! of its secret (what a request presenting the key reads, before the tenant is known).
//! Revoking deletes the lookup copy and stamps the record.
//!
//! A rate-limit window is one item counted with `UpdateItem ADD n :one` under the condition
//! `n < :limit`: DynamoDB applies updates of one item one at a time, so no more than
//! `limit` requests are admitted per window, across every instance.

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValue, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::keys;
use crate::ops::conditional;
use crate::usage::{record, Kind};
use crate::{from_item, s, to_item, Conflict, Store, StoreError};
use crm_domain::api_keys::ApiKey;
use crm_domain::tenant::TenantId;

const DIGEST: &str = "digest";

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// One rate-limit window to count a request in.
#[derive(Clone, Debug)]
pub struct RateWindow<'a> {
    pub tenant: TenantId,
    /// `TENANT`, or `KEY#{id}`.
    pub subject: &'a str,
    /// Epoch seconds.
    pub start: i64,
    pub seconds: i64,
    pub limit: u32,
}

impl Store {
    pub async fn create_api_key(
        &self,
        key: &ApiKey,
        digest: &str,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut record = to_item(key);
        record.extend(keys::api_key(key.tenant_id, key.id).item_key());
        let mut lookup = to_item(key);
        lookup.extend(keys::api_key_lookup(&key.prefix).item_key());
        lookup.insert(DIGEST.into(), s(digest));
        let absent = Some("attribute_not_exists(PK)");
        self.transact(vec![
            self.put_action(record, absent, Conflict::Exists),
            self.put_action(lookup, absent, Conflict::Exists),
            (self.audit_put(key.tenant_id, audit), None),
        ])
        .await
    }

    /// The live key with this prefix, and its secret's digest (revoked keys have none).
    pub async fn api_key_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiKey, String)>, StoreError> {
        let Some(mut item) = self.get(&keys::api_key_lookup(prefix)).await? else {
            return Ok(None);
        };
        let digest = item
            .remove(DIGEST)
            .and_then(|v| v.as_s().ok().cloned())
            .unwrap_or_default();
        Ok(Some((from_item(item)?, digest)))
    }

    pub async fn get_api_key(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<ApiKey>, StoreError> {
        let key: Option<ApiKey> = self
            .get(&keys::api_key(tenant, id))
            .await?
            .map(from_item)
            .transpose()?;
        Ok(key.filter(|k| k.tenant_id == tenant))
    }

    /// A tenant's keys in id order, after the sort key `after`.
    pub async fn list_api_keys(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, ApiKey)>, bool), StoreError> {
        self.query_prefix(keys::api_keys(tenant), keys::API_KEY_PREFIX, after, limit)
            .await
    }

    /// Revokes a key: its lookup copy goes and the record is stamped, in one transaction
    /// (`Conflict::Version` when it was revoked meanwhile).
    pub async fn revoke_api_key(
        &self,
        key: &ApiKey,
        at: DateTime<Utc>,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let stamp = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::api_key(key.tenant_id, key.id).item_key()))
            .update_expression("SET revoked_at = :at")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .build()
            .expect("update is complete");
        self.transact(vec![
            (
                TransactWriteItem::builder().update(stamp).build(),
                Some(Conflict::Version),
            ),
            self.delete_action(&keys::api_key_lookup(&key.prefix), Some(Conflict::Version)),
            (self.audit_put(key.tenant_id, audit), None),
        ])
        .await
    }

    /// Adds `count` uses to a key's counters (a key deleted meanwhile is left alone).
    pub async fn add_api_key_usage(
        &self,
        tenant: TenantId,
        id: Uuid,
        count: u64,
        last_used: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::api_key(tenant, id).item_key()))
            .update_expression("ADD usage_count :n SET last_used_at = :at")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":n", n(count))
            .expression_attribute_values(":at", s(last_used.to_rfc3339()))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                record(Kind::Write, out.consumed_capacity.as_slice());
                Ok(())
            }
            Err(e) => match conditional(e, Conflict::Version) {
                StoreError::Conflict(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    /// Counts one request in `window`: `Some(count)` with the count including it, or
    /// `None` when the window holds `limit` requests already (nothing is counted then).
    /// One `UpdateItem` (one write unit).
    pub async fn count_request(&self, window: &RateWindow<'_>) -> Result<Option<u64>, StoreError> {
        let key = keys::rate_window(window.tenant, window.subject, window.start);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .update_expression("ADD n :one SET expires_at = if_not_exists(expires_at, :exp)")
            .condition_expression("attribute_not_exists(n) OR n < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(window.limit))
            // Kept a window past its end, then left to TTL.
            .expression_attribute_values(":exp", n(window.start + 2 * window.seconds))
            .return_values(ReturnValue::UpdatedNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                record(Kind::Write, out.consumed_capacity.as_slice());
                let count = out
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get("n"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::from(window.limit));
                Ok(Some(count))
            }
            Err(e) => match conditional(e, Conflict::Version) {
                StoreError::Conflict(_) => {
                    record(Kind::Write, &[]);
                    Ok(None)
                }
                other => Err(other),
            },
        }
    }
}
