//! The DynamoDB store. Every operation takes a [`TenantId`] and builds its keys through
//! [`crate::keys`]; there is no Scan anywhere. Writes that must agree (a lead, its email
//! guard and its audit entry) go in one `TransactWriteItems`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, ReturnConsumedCapacity,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::keys::{LeadIndex, SK};
use crate::usage::{record, Kind};
use crm_domain::lead::Lead;
use crm_domain::lead_insights::StoredInsights;
use crm_domain::scoring::ScoringSettings;
use crm_domain::stats::Counters;
use crm_domain::tenant::{Tenant, TenantId, TenantStatus};

pub mod idempotency;
pub mod keys;
pub mod table;
pub mod usage;
pub mod versioned;

mod activities;
mod custom_fields;
mod notes;
mod sources;
mod tags;

pub use versioned::{NameGuard, Partitioned, Versioned};

pub type Item = HashMap<String, AttributeValue>;

impl From<StoreError> for crm_domain::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => crm_domain::Error::Throttled,
            StoreError::Unavailable(reason) => crm_domain::Error::Unavailable(reason),
            other => crm_domain::Error::Internal(other.to_string()),
        }
    }
}

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
    /// A name guard (source name, ...) is held by another record of the tenant.
    Name,
    /// The lead's source no longer exists (deleted since it was resolved).
    Source,
    /// One of the lead's new tags no longer exists.
    Tag,
    /// The lead an activity or note belongs to no longer exists.
    Lead,
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

pub(crate) fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
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
    /// A new score written by the scoring worker or `update-score`.
    Score,
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

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
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
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
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
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                record(Kind::Write, out.consumed_capacity());
                Ok(())
            }
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

    /// A tenant by raw id, for the admin command (the id in the result comes from the table).
    pub async fn find_tenant(&self, id: Uuid) -> Result<Option<Tenant>, StoreError> {
        self.get_tenant(TenantId::from_uuid(id)).await
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

    // ---- scoring settings and insights -------------------------------------------

    /// The tenant's scoring settings: the defaults until an admin saves some.
    pub async fn scoring_settings(&self, t: TenantId) -> Result<ScoringSettings, StoreError> {
        match self.get(&keys::scoring_settings(t)).await? {
            Some(item) => from_item(item),
            None => Ok(ScoringSettings::default()),
        }
    }

    pub async fn put_scoring_settings(
        &self,
        t: TenantId,
        settings: &ScoringSettings,
    ) -> Result<(), StoreError> {
        let mut item = to_item(settings);
        item.extend(keys::scoring_settings(t).item_key());
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Write, out.consumed_capacity.as_slice());
        Ok(())
    }

    pub async fn lead_insights(
        &self,
        t: TenantId,
        lead_id: Uuid,
    ) -> Result<Option<StoredInsights>, StoreError> {
        match self.get(&keys::lead_insights(t, lead_id)).await? {
            Some(item) => from_item(item).map(Some),
            None => Ok(None),
        }
    }

    /// Saves a lead's insights record, only while the lead exists (so a worker finishing
    /// after a delete leaves nothing behind): `Conflict::Version` when it is gone.
    pub async fn put_lead_insights(
        &self,
        t: TenantId,
        lead_id: Uuid,
        record: &StoredInsights,
    ) -> Result<(), StoreError> {
        let mut item = to_item(record);
        item.extend(keys::lead_insights(t, lead_id).item_key());
        let lead_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(t, lead_id).item_key()))
            .condition_expression("attribute_exists(PK)")
            .build()
            .expect("condition check has table, key and condition");
        self.transact(vec![
            (
                TransactWriteItem::builder()
                    .condition_check(lead_exists)
                    .build(),
                Some(Conflict::Version),
            ),
            (
                TransactWriteItem::builder()
                    .put(self.put(item, None))
                    .build(),
                None,
            ),
        ])
        .await
    }

    /// Records that new insights were asked for, leaving the stored ones in place (an
    /// update, so a worker's concurrent write is not overwritten). `Conflict::Version` when
    /// the lead is gone.
    pub async fn mark_insights_requested(
        &self,
        t: TenantId,
        lead_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let lead_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(t, lead_id).item_key()))
            .condition_expression("attribute_exists(PK)")
            .build()
            .expect("condition check has table, key and condition");
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_insights(t, lead_id).item_key()))
            .update_expression("SET requested_at = :at")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .build()
            .expect("update has table, key and expression");
        self.transact(vec![
            (
                TransactWriteItem::builder()
                    .condition_check(lead_exists)
                    .build(),
                Some(Conflict::Version),
            ),
            (TransactWriteItem::builder().update(mark).build(), None),
        ])
        .await
    }

    // ---- leads ---------------------------------------------------------------------

    /// The lead with its table key and the key attributes of every index it belongs to.
    fn lead_item(lead: &Lead) -> Item {
        let mut item = to_item(lead);
        item.extend(keys::lead(lead.tenant_id, lead.id).item_key());
        let status = lead.status.to_string();
        let priority = lead.priority.to_string();
        let source_id = lead.source_id.map(|id| id.to_string());
        let entries = keys::lead_indexes(&keys::LeadIndexInput {
            tenant: lead.tenant_id,
            id: lead.id,
            created_at: lead.created_at,
            score: lead.score,
            status: &status,
            priority: &priority,
            assigned_to: lead.assigned_to.as_deref(),
            source: source_id.as_deref(),
            follow_up: lead.next_follow_up.filter(|_| lead.status.is_active()),
            hot: crm_domain::filters::is_hot(lead),
        });
        for (index, pk, sk) in entries {
            item.insert(index.pk_attr(), s(pk));
            item.insert(index.sk_attr(), s(sk));
        }
        item
    }

    /// The side writes of a lead write, for its transaction: search tokens that appear or
    /// disappear, and the dashboard counters' delta.
    fn side_writes(
        &self,
        tenant: TenantId,
        before: Option<&Lead>,
        after: Option<&Lead>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        let id = after.or(before).expect("a lead write has a lead").id;
        let old = before.map(crm_domain::search::tokens).unwrap_or_default();
        let new = after.map(crm_domain::search::tokens).unwrap_or_default();
        let mut actions = Vec::new();
        for token in old.difference(&new) {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::search_token(tenant, token, id).item_key()))
                .build()
                .expect("delete has table and key");
            actions.push((TransactWriteItem::builder().delete(delete).build(), None));
        }
        for token in new.difference(&old) {
            let mut item = keys::search_token(tenant, token, id).item_key();
            item.insert("lead_id".into(), s(id.to_string()));
            actions.push((
                TransactWriteItem::builder()
                    .put(self.put(item, None))
                    .build(),
                None,
            ));
        }
        let delta = crm_domain::stats::delta(before, after);
        if !delta.is_empty() {
            let mut update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::stats(tenant).item_key()));
            let mut parts = Vec::new();
            for (n, (name, change)) in delta.iter().enumerate() {
                parts.push(format!("#c{n} :c{n}"));
                update = update
                    .expression_attribute_names(format!("#c{n}"), name)
                    .expression_attribute_values(
                        format!(":c{n}"),
                        AttributeValue::N(change.to_string()),
                    );
            }
            let update = update
                .update_expression(format!("ADD {}", parts.join(", ")))
                .build()
                .expect("update has table, key and expression");
            actions.push((TransactWriteItem::builder().update(update).build(), None));
        }
        actions
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
        self.create_lead_with(lead, audit, None).await
    }

    /// [`Self::create_lead`], also creating `new_source` (the lead's source, named for the
    /// first time) in the same transaction.
    pub async fn create_lead_with(
        &self,
        lead: &Lead,
        audit: &AuditEntry,
        new_source: Option<&crm_domain::sources::Source>,
    ) -> Result<(), StoreError> {
        let absent = Some("attribute_not_exists(PK)");
        self.transact(
            vec![
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
            ]
            .into_iter()
            .chain(self.side_writes(lead.tenant_id, None, Some(lead)))
            .chain(self.source_writes(lead.tenant_id, None, Some(lead), new_source))
            .chain(self.tag_writes(lead.tenant_id, None, Some(lead)))
            .collect(),
        )
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
        self.update_lead_with(before, after, audit, None).await
    }

    /// [`Self::update_lead`], also creating `new_source` (the lead's new source, named for
    /// the first time) in the same transaction.
    pub async fn update_lead_with(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
        new_source: Option<&crm_domain::sources::Source>,
    ) -> Result<(), StoreError> {
        let actions = self.update_lead_actions(before, after, audit, new_source);
        self.transact(actions).await
    }

    /// The actions of a lead update's transaction (see [`Self::update_lead_with`]), for
    /// writes that change a lead along with something else (an activity's side effects).
    fn update_lead_actions(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
        new_source: Option<&crm_domain::sources::Source>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
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
        actions.extend(self.side_writes(after.tenant_id, Some(before), Some(after)));
        actions.extend(self.source_writes(after.tenant_id, Some(before), Some(after), new_source));
        actions.extend(self.tag_writes(after.tenant_id, Some(before), Some(after)));
        actions
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
        self.transact(
            vec![
                (
                    TransactWriteItem::builder().delete(delete).build(),
                    Some(Conflict::Version),
                ),
                (self.delete_guard(lead), Some(Conflict::Version)),
                (self.audit_put(lead.tenant_id, audit), None),
                (
                    TransactWriteItem::builder()
                        .delete(
                            Delete::builder()
                                .table_name(&self.table)
                                .set_key(Some(
                                    keys::lead_insights(lead.tenant_id, lead.id).item_key(),
                                ))
                                .build()
                                .expect("delete has table and key"),
                        )
                        .build(),
                    None,
                ),
            ]
            .into_iter()
            .chain(self.side_writes(lead.tenant_id, Some(lead), None))
            .chain(self.source_writes(lead.tenant_id, Some(lead), None, None))
            .chain(self.tag_writes(lead.tenant_id, Some(lead), None))
            .collect(),
        )
        .await
    }

    /// The tenant's dashboard counters (one read).
    pub async fn stats(&self, tenant: TenantId) -> Result<Counters, StoreError> {
        let item = self.get(&keys::stats(tenant)).await?.unwrap_or_default();
        Ok(item
            .into_iter()
            .filter_map(|(k, v)| match v {
                AttributeValue::N(n) => n.parse().ok().map(|n| (k, n)),
                _ => None,
            })
            .collect())
    }

    /// Leads by id, in one round trip per 100 (missing ids are left out).
    pub async fn get_leads(&self, tenant: TenantId, ids: &[Uuid]) -> Result<Vec<Lead>, StoreError> {
        let leads: Vec<Lead> = self
            .batch_get(ids.iter().map(|id| keys::lead(tenant, *id)))
            .await?;
        // The keys already scope the read; this guards against a key-building mistake.
        Ok(leads
            .into_iter()
            .filter(|l| l.tenant_id == tenant)
            .collect())
    }

    /// Items by key, strongly consistent, in `BatchGetItem` rounds of 100 (the most one
    /// takes), asking again for what DynamoDB left unprocessed. Duplicate keys are read
    /// once (BatchGetItem refuses them); missing items are simply absent.
    pub(crate) async fn batch_get<T: DeserializeOwned>(
        &self,
        keys: impl IntoIterator<Item = keys::Key>,
    ) -> Result<Vec<T>, StoreError> {
        let mut unique: Vec<keys::Key> = Vec::new();
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let mut out = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(keys::Key::item_key).collect();
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set");
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(classify)?;
                record(Kind::Read, res.consumed_capacity());
                for item in res
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    out.push(from_item(item)?);
                }
                pending = res
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(out)
    }

    /// Up to `limit` items of partition `pk` whose sort key starts with `prefix`, after the
    /// sort key `after` (exclusive), strongly consistent, with their sort keys (for the
    /// cursor), and whether more follow.
    pub(crate) async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, T)>, bool), StoreError> {
        let lo = after.map_or_else(|| prefix.to_string(), str::to_string);
        let hi = format!("{prefix}~");
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .consistent_read(true)
            .limit(bounded_query_limit(limit, after))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        let (items, more) = after_bound(out.items.unwrap_or_default(), SK, after, limit);
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            let sk = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            records.push((sk, from_item(item)?));
        }
        Ok((records, more))
    }

    /// How many of `user`'s leads have one of `statuses`, reading the user's partition of
    /// the assignee index with `Select=COUNT` and a status filter. A count read costs what
    /// reading those items costs (DynamoDB bills the items evaluated, filtered or not:
    /// about 0.5 read units per 4 KB, eventually consistent as every index read), so it
    /// stops after `cap` items evaluated; the second value says whether the count is
    /// complete.
    pub async fn count_assigned(
        &self,
        tenant: TenantId,
        user: &str,
        statuses: &[&str],
        cap: usize,
    ) -> Result<(usize, bool), StoreError> {
        let index = LeadIndex::Assignee;
        let cap = cap.max(1);
        let placeholders: Vec<String> = (0..statuses.len()).map(|n| format!(":s{n}")).collect();
        let mut count = 0usize;
        let mut evaluated = 0usize;
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name())
                .key_condition_expression("#pk = :pk")
                .filter_expression(format!("#st IN ({})", placeholders.join(", ")))
                .expression_attribute_names("#pk", index.pk_attr())
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":pk", s(keys::assignee_partition(tenant, Some(user))))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit(i32::try_from(cap - evaluated).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            for (name, status) in placeholders.iter().zip(statuses) {
                query = query.expression_attribute_values(name, s(*status));
            }
            let out = query.send().await.map_err(classify)?;
            record(Kind::Read, out.consumed_capacity.as_slice());
            count += usize::try_from(out.count).unwrap_or(0);
            evaluated += usize::try_from(out.scanned_count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((count, true));
            }
            if evaluated >= cap {
                return Ok((count, false));
            }
        }
    }

    /// Reads one index's partitions in key order, merged, from `after` (exclusive), keeping
    /// the leads `keep` accepts, until `want` are kept or `budget` items were read.
    pub async fn scan_leads(
        &self,
        scan: &IndexScan,
        after: Option<&str>,
        want: usize,
        budget: usize,
        keep: &(dyn Fn(&Lead) -> bool + Sync),
    ) -> Result<ScanPage, StoreError> {
        let sk_attr = scan.index.sk_attr();
        let mut bound = after.map(str::to_string);
        let mut live: Vec<&String> = scan.partitions.iter().collect();
        let mut kept: Vec<(String, Lead)> = Vec::new();
        let mut read = 0usize;
        while !live.is_empty() {
            let chunk = (want + 1).clamp(10, 100);
            let reads = live
                .iter()
                .map(|p| self.query_partition(scan, p, bound.as_deref(), chunk));
            let results = futures::future::try_join_all(reads).await?;
            let mut merged: Vec<(String, Item)> = Vec::new();
            let mut frontier: Option<String> = None;
            let mut still_live = Vec::new();
            for (partition, (items, more)) in live.iter().zip(results) {
                read += items.len();
                if more {
                    still_live.push(*partition);
                    let last = items
                        .last()
                        .and_then(|i| i.get(&sk_attr))
                        .and_then(|v| v.as_s().ok())
                        .cloned();
                    // The least advanced partition with more to read bounds what is safe
                    // to emit: its unread items may come before the others' read ones.
                    frontier = match (frontier, last) {
                        (Some(f), Some(l)) => {
                            Some(if scan.descending { f.max(l) } else { f.min(l) })
                        }
                        (f, l) => f.or(l),
                    };
                }
                for item in items {
                    let sk = item
                        .get(&sk_attr)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default();
                    merged.push((sk, item));
                }
            }
            merged.sort_by(|a, b| {
                if scan.descending {
                    b.0.cmp(&a.0)
                } else {
                    a.0.cmp(&b.0)
                }
            });
            for (sk, item) in merged {
                let beyond =
                    frontier
                        .as_ref()
                        .is_some_and(|f| if scan.descending { sk < *f } else { sk > *f });
                if beyond {
                    break;
                }
                // One lead met in two partitions of a multi-value read (a lead with two of
                // the asked tags) has one sort key: serve it once.
                if bound.as_deref() == Some(sk.as_str()) {
                    continue;
                }
                bound = Some(sk.clone());
                let lead: Lead = from_item(item)?;
                if keep(&lead) {
                    kept.push((sk, lead));
                    if kept.len() > want {
                        kept.truncate(want);
                        let next = kept.last().map(|(sk, _)| sk.clone());
                        return Ok(ScanPage {
                            leads: kept,
                            next,
                            read,
                        });
                    }
                }
            }
            live = still_live;
            if !live.is_empty() && read >= budget {
                // Out of budget: hand back the position reached, to continue from there.
                return Ok(ScanPage {
                    leads: kept,
                    next: bound,
                    read,
                });
            }
        }
        Ok(ScanPage {
            leads: kept,
            next: None,
            read,
        })
    }

    /// One partition of an index, `limit` items from `after` (exclusive) within the scan's
    /// bounds; says whether more may follow.
    async fn query_partition(
        &self,
        scan: &IndexScan,
        partition: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut lo = scan.lo.clone().unwrap_or_else(|| " ".into());
        let mut hi = scan.hi.clone().unwrap_or_else(|| "~".into());
        if let Some(after) = after {
            if scan.descending {
                hi = hi.min(after.to_string());
            } else {
                lo = lo.max(after.to_string());
            }
        }
        if lo > hi {
            return Ok((Vec::new(), false));
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(scan.index.name())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", scan.index.pk_attr())
            .expression_attribute_names("#sk", scan.index.sk_attr())
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .scan_index_forward(!scan.descending)
            .limit(bounded_query_limit(limit, after))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        Ok(after_bound(
            out.items.unwrap_or_default(),
            &scan.index.sk_attr(),
            after,
            limit,
        ))
    }

    /// Search tokens starting with `prefix`, in token order after `after` (exclusive):
    /// `(sort key, lead id)` pairs, and whether more follow.
    pub async fn search_tokens(
        &self,
        tenant: TenantId,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Uuid)>, bool), StoreError> {
        // Tokens with the prefix sort between the prefix itself and the prefix followed by
        // the highest code point; the cursor's own token (inclusive bound) is dropped below.
        let lo = after.map_or_else(|| prefix.to_string(), str::to_string);
        let hi = format!("{prefix}\u{10FFFF}");
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::search_partition(tenant, prefix)))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .limit(bounded_query_limit(limit, after))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        let (items, more) = after_bound(out.items.unwrap_or_default(), SK, after, limit);
        let hits = items
            .into_iter()
            .filter_map(|i| {
                let sk = i.get(SK)?.as_s().ok()?.clone();
                let id = i.get("lead_id")?.as_s().ok()?.parse().ok()?;
                Some((sk, id))
            })
            .collect();
        Ok((hits, more))
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
}

/// The `Limit` of a query read between inclusive sort-key bounds: one more item than
/// asked, to know whether more follow, and one more again when the lower bound is a cursor
/// whose own item [`after_bound`] will drop.
fn bounded_query_limit(limit: usize, after: Option<&str>) -> i32 {
    i32::try_from(limit + 1 + usize::from(after.is_some())).unwrap_or(i32::MAX)
}

/// What a query read with [`bounded_query_limit`] returns: the items after the cursor
/// (`BETWEEN` includes the cursor's own, already served), at most `limit` of them, and
/// whether more follow.
fn after_bound(
    items: Vec<Item>,
    sort_key: &str,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Item>, bool) {
    let mut items: Vec<Item> = items
        .into_iter()
        .filter(|i| {
            after.is_none()
                || i.get(sort_key)
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    != after
        })
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

/// A read of one lead index: its partitions (several for a multi-value filter, merged by
/// sort key), inclusive sort-key bounds, and the direction.
#[derive(Clone, Debug)]
pub struct IndexScan {
    pub index: LeadIndex,
    pub partitions: Vec<String>,
    pub lo: Option<String>,
    pub hi: Option<String>,
    pub descending: bool,
}

/// What a scan kept, and the sort key to continue from (`None`: nothing more).
#[derive(Debug)]
pub struct ScanPage {
    pub leads: Vec<(String, Lead)>,
    pub next: Option<String>,
    pub read: usize,
}
