//! A lead's audit trail: one item per change in the lead's own partition, written in the
//! change's transaction.

use aws_sdk_dynamodb::types::TransactWriteItem;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::keys;
use crate::{classify, from_item, s, to_item, Store, StoreError};
use crm_domain::tenant::TenantId;

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

impl Store {
    pub(crate) fn audit_put(&self, tenant: TenantId, entry: &AuditEntry) -> TransactWriteItem {
        let mut item = to_item(entry);
        item.extend(keys::lead_audit(tenant, entry.lead_id, entry.at, entry.id).item_key());
        TransactWriteItem::builder()
            .put(self.put(item, None))
            .build()
    }

    /// A lead's audit trail, oldest first.
    pub async fn lead_audit(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self
                .lead_audit_page(tenant, lead_id, after.as_deref(), 100)
                .await?;
            entries.extend(page);
            after = next;
            if after.is_none() {
                entries.reverse();
                return Ok(entries);
            }
        }
    }
}

impl Store {
    /// One page of a lead's audit trail, newest first: at most `limit` entries after the
    /// sort key `after` (the last of the previous page), and the sort key to continue from
    /// when there may be more. Reads are proportional to the page.
    pub async fn lead_audit_page(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let prefix = keys::lead_audit_prefix(tenant, lead_id);
        let start = after.map(|sk| {
            keys::Key {
                pk: prefix.pk.clone(),
                sk: sk.to_string(),
            }
            .item_key()
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
            .expression_attribute_values(":pk", s(&prefix.pk))
            .expression_attribute_values(":sk", s(&prefix.sk))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|key| key.get(keys::SK)?.as_s().ok().cloned());
        let entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        Ok((entries, next))
    }
}
