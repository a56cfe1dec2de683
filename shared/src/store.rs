//! The DynamoDB store. Every operation takes a [`TenantId`] and builds its keys through
//! [`crate::keys`]; there is no Scan anywhere. Writes that must agree (a lead, its email
//! guard and its audit entry) go in one `TransactWriteItems`.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::keys::{self, GSI1, GSI1PK, GSI1SK, PK, SK};
use crate::lead::Lead;
use crate::tenant::{Tenant, TenantId, TenantStatus};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: `what` says which guard failed.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    #[error("throttled by DynamoDB")]
    Throttled,
    #[error("DynamoDB unreachable: {0}")]
    Unavailable(String),
    #[error("DynamoDB error: {0}")]
    Other(String),
}

/// Which condition of a write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The item was changed (or deleted) since it was read.
    Version,
    /// Another lead of the tenant has this email.
    Email,
    /// An item with this key exists already (id or slug taken).
    Exists,
}

/// A readable one-line description of an SDK error.
pub fn describe<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> String {
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("ServiceError"),
                err.message().unwrap_or("")
            )
        }
        SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
        SdkError::TimeoutError(_) => "timed out".into(),
        other => format!("{other:?}"),
    }
}

fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            StoreError::Unavailable(describe(&e))
        }
        SdkError::ServiceError(s) => match s.err().code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded",
            ) => StoreError::Throttled,
            Some("InternalServerError" | "ServiceUnavailable") => {
                StoreError::Unavailable(describe(&e))
            }
            _ => StoreError::Other(describe(&e)),
        },
        _ => StoreError::Other(describe(&e)),
    }
}

/// One entry in a lead's audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub lead_id: Uuid,
    pub action: AuditAction,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// `{field: {"old": .., "new": ..}}`
    pub changes: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
}

impl AuditEntry {
    pub fn new(
        lead_id: Uuid,
        action: AuditAction,
        actor: &str,
        at: DateTime<Utc>,
        changes: Map<String, Value>,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            lead_id,
            action,
            actor: actor.to_string(),
            at,
            changes,
        }
    }
}

/// A position in an index, as DynamoDB's `LastEvaluatedKey` (all our key attributes are
/// strings).
pub type Position = BTreeMap<String, String>;

/// One page of a key-ordered query.
#[derive(Debug)]
pub struct QueryPage {
    pub items: Vec<Item>,
    /// True when more items follow in the direction of the query.
    pub more: bool,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("our records serialise to DynamoDB items")
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("corrupt item: {e}")))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Checks that the table answers (for `/health-check/`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn get(&self, key: &keys::Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item)
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Put {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .expect("put has table and item")
    }

    /// Runs a transaction. `guards[i]` says which conflict a failed condition on action `i`
    /// means.
    async fn transact(
        &self,
        actions: Vec<(TransactWriteItem, Option<Conflict>)>,
    ) -> Result<(), StoreError> {
        let (items, guards): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(ctx)) if ctx.err().is_transaction_canceled_exception() => {
                let reasons = match ctx.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => t.cancellation_reasons().to_vec(),
                    _ => Vec::new(),
                };
                for (reason, guard) in reasons.iter().zip(&guards) {
                    if reason.code() == Some("ConditionalCheckFailed") {
                        if let Some(conflict) = guard {
                            return Err(StoreError::Conflict(*conflict));
                        }
                    }
                }
                if reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some(
                            "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                }) {
                    return Err(StoreError::Throttled);
                }
                Err(StoreError::Other(format!(
                    "transaction cancelled: {:?}",
                    reasons.iter().map(|r| r.code()).collect::<Vec<_>>()
                )))
            }
            Err(e) => Err(classify(e)),
        }
    }

    // ---- tenants -------------------------------------------------------------------

    pub async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        self.get(&keys::tenant(id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Creates a tenant and reserves its slug, atomically.
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut item = to_item(tenant);
        item.extend(keys::tenant(tenant.id).item_key());
        let mut slug = keys::slug(&tenant.slug).item_key();
        slug.insert("tenant_id".into(), s(tenant.id.to_string()));
        let absent = Some("attribute_not_exists(PK)");
        self.transact(vec![
            (
                TransactWriteItem::builder()
                    .put(self.put(item, absent))
                    .build(),
                Some(Conflict::Exists),
            ),
            (
                TransactWriteItem::builder()
                    .put(self.put(slug, absent))
                    .build(),
                Some(Conflict::Exists),
            ),
        ])
        .await
    }

    pub async fn set_tenant_status(
        &self,
        id: TenantId,
        status: TenantStatus,
    ) -> Result<(), StoreError> {
        let status = serde_json::to_value(status).expect("status serialises");
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::tenant(id).item_key()))
            .update_expression("SET #s = :s")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(status.as_str().unwrap_or_default()))
            .send()
            .await
            .map_err(|e| match &e {
                SdkError::ServiceError(c) if c.err().is_conditional_check_failed_exception() => {
                    StoreError::Conflict(Conflict::Version)
                }
                _ => classify(e),
            })?;
        Ok(())
    }

    // ---- leads ---------------------------------------------------------------------

    fn lead_item(lead: &Lead) -> Item {
        let mut item = to_item(lead);
        item.extend(keys::lead(lead.tenant_id, lead.id).item_key());
        item.extend(
            keys::leads_by_created(lead.tenant_id, lead.created_at, lead.id).attrs(GSI1PK, GSI1SK),
        );
        item
    }

    fn email_guard(lead: &Lead) -> Item {
        let mut item = keys::lead_email(lead.tenant_id, &lead.email).item_key();
        item.insert("lead_id".into(), s(lead.id.to_string()));
        item
    }

    fn audit_put(&self, tenant: TenantId, entry: &AuditEntry) -> TransactWriteItem {
        let mut item = to_item(entry);
        item.extend(keys::lead_audit(tenant, entry.lead_id, entry.at, entry.id).item_key());
        TransactWriteItem::builder()
            .put(self.put(item, None))
            .build()
    }

    fn delete_guard(&self, lead: &Lead) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(
                        keys::lead_email(lead.tenant_id, &lead.email).item_key(),
                    ))
                    .condition_expression("lead_id = :id")
                    .expression_attribute_values(":id", s(lead.id.to_string()))
                    .build()
                    .expect("delete has table and key"),
            )
            .build()
    }

    pub async fn get_lead(&self, tenant: TenantId, id: Uuid) -> Result<Option<Lead>, StoreError> {
        let Some(item) = self.get(&keys::lead(tenant, id)).await? else {
            return Ok(None);
        };
        let lead: Lead = from_item(item)?;
        // The key already scopes the read; this guards against a key-building mistake.
        Ok((lead.tenant_id == tenant).then_some(lead))
    }

    /// Writes a new lead with its email guard and audit entry.
    pub async fn create_lead(&self, lead: &Lead, audit: &AuditEntry) -> Result<(), StoreError> {
        let absent = Some("attribute_not_exists(PK)");
        self.transact(vec![
            (
                TransactWriteItem::builder()
                    .put(self.put(Self::lead_item(lead), absent))
                    .build(),
                Some(Conflict::Exists),
            ),
            (
                TransactWriteItem::builder()
                    .put(self.put(Self::email_guard(lead), absent))
                    .build(),
                Some(Conflict::Email),
            ),
            (self.audit_put(lead.tenant_id, audit), None),
        ])
        .await
    }

    /// Replaces `before` with `after` if nobody changed it in between (`version` check),
    /// moving the email guard when the email changed.
    pub async fn update_lead(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::lead_item(after)))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(before.version.to_string()))
            .build()
            .expect("put has table and item");
        let mut actions = vec![(
            TransactWriteItem::builder().put(put).build(),
            Some(Conflict::Version),
        )];
        if before.email.to_lowercase() != after.email.to_lowercase() {
            actions.push((self.delete_guard(before), Some(Conflict::Version)));
            actions.push((
                TransactWriteItem::builder()
                    .put(self.put(Self::email_guard(after), Some("attribute_not_exists(PK)")))
                    .build(),
                Some(Conflict::Email),
            ));
        }
        actions.push((self.audit_put(after.tenant_id, audit), None));
        self.transact(actions).await
    }

    /// Deletes the lead and its email guard if it is still at the version read.
    pub async fn delete_lead(&self, lead: &Lead, audit: &AuditEntry) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(lead.tenant_id, lead.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(lead.version.to_string()))
            .build()
            .expect("delete has table and key");
        self.transact(vec![
            (
                TransactWriteItem::builder().delete(delete).build(),
                Some(Conflict::Version),
            ),
            (self.delete_guard(lead), Some(Conflict::Version)),
            (self.audit_put(lead.tenant_id, audit), None),
        ])
        .await
    }

    /// A lead's audit trail, oldest first.
    pub async fn lead_audit(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let prefix = keys::lead_audit_prefix(tenant, lead_id);
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
                .expression_attribute_values(":pk", s(&prefix.pk))
                .expression_attribute_values(":sk", s(&prefix.sk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            for item in out.items.unwrap_or_default() {
                entries.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }

    /// The tenant's leads by creation time, `limit` at most, after `start` (exclusive).
    pub async fn leads_by_created(
        &self,
        tenant: TenantId,
        newest_first: bool,
        limit: usize,
        start: Option<Position>,
    ) -> Result<(Vec<Lead>, bool), StoreError> {
        let page = self
            .query_index(
                GSI1,
                (GSI1PK, &keys::leads_by_created_partition(tenant)),
                !newest_first,
                limit,
                start,
            )
            .await?;
        let leads = page
            .items
            .into_iter()
            .map(from_item)
            .collect::<Result<Vec<Lead>, _>>()?;
        Ok((leads, page.more))
    }

    /// Queries one index partition in key order, fetching one item more than asked so
    /// that "is there more?" is known without an extra round trip.
    async fn query_index(
        &self,
        index: &str,
        (pk_name, pk): (&str, &str),
        forward: bool,
        limit: usize,
        start: Option<Position>,
    ) -> Result<QueryPage, StoreError> {
        let start = start.map(|p| {
            p.into_iter()
                .map(|(k, v)| (k, AttributeValue::S(v)))
                .collect::<Item>()
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(forward)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let mut items = out.items.unwrap_or_default();
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(QueryPage { items, more })
    }
}

/// The index position of a lead in GSI1: what a cursor records.
pub fn lead_position(lead: &Lead) -> Position {
    let table = keys::lead(lead.tenant_id, lead.id);
    let index = keys::leads_by_created(lead.tenant_id, lead.created_at, lead.id);
    Position::from([
        (PK.to_string(), table.pk),
        (SK.to_string(), table.sk),
        (GSI1PK.to_string(), index.pk),
        (GSI1SK.to_string(), index.sk),
    ])
}
