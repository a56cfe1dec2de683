//! Lead sources in the store: the source items, their name guards, and the counter
//! updates a lead write adds to its transaction.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use uuid::Uuid;

use super::{s, Conflict, Store, StoreError};
use crate::keys::{self, Key};
use crate::versioned::{NameGuard, Partitioned, Versioned};
use crm_domain::lead::Lead;
use crm_domain::lead_writes::source_deltas;
use crm_domain::sources::Source;
use crm_domain::tenant::TenantId;

impl Versioned for Source {
    const AUDITED_AS: crate::ResourceType = crate::ResourceType::Source;

    const COUNTERS: &'static [&'static str] = &["total_leads", "converted_leads"];

    fn key(tenant: TenantId, id: Uuid) -> Key {
        keys::lead_source(tenant, id)
    }

    fn edited(&self) -> Vec<(&'static str, Option<AttributeValue>)> {
        vec![
            ("name", Some(s(&self.name))),
            ("is_active", Some(AttributeValue::Bool(self.is_active))),
            ("updated_at", Some(s(keys::sortable_time(self.updated_at)))),
            ("description", self.description.as_deref().map(s)),
        ]
    }

    fn name_guard(&self) -> Option<NameGuard> {
        Some(NameGuard {
            key: keys::lead_source_name(self.tenant_id, &self.name),
            owner: "source_id",
            name: Some(self.name.clone()),
            released_on_delete: true,
        })
    }
}

impl Partitioned for Source {
    const PREFIX: &'static str = keys::SOURCE_PREFIX;
    fn partition(tenant: TenantId) -> String {
        keys::sources_partition(tenant)
    }
}

impl Store {
    /// The transaction actions that keep source counts exact for a lead write: an `ADD`
    /// per source whose counts change, conditioned on the source existing (a lead never
    /// points at a deleted source), or, for `new_source`, its creation with its name guard.
    pub(super) fn source_writes(
        &self,
        tenant: TenantId,
        before: Option<&Lead>,
        after: Option<&Lead>,
        new_source: Option<&Source>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        let mut actions = Vec::new();
        for (id, (total, converted)) in source_deltas(before, after) {
            if let Some(new) = new_source.filter(|n| n.id == id) {
                let mut source = new.clone();
                source.total_leads = total;
                source.converted_leads = converted;
                actions.extend(self.create_actions(&source));
                continue;
            }
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::lead_source(tenant, id).item_key()))
                .update_expression("ADD total_leads :t, converted_leads :c")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":t", AttributeValue::N(total.to_string()))
                .expression_attribute_values(":c", AttributeValue::N(converted.to_string()))
                .build()
                .expect("update has table, key and expression");
            actions.push((
                TransactWriteItem::builder().update(update).build(),
                Some(Conflict::Source),
            ));
        }
        actions
    }

    /// The source with this name (case-insensitively): `(id, name)`, from its guard.
    pub async fn source_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<(Uuid, String)>, StoreError> {
        let Some(item) = self.get(&keys::lead_source_name(tenant, name)).await? else {
            return Ok(None);
        };
        let id = item
            .get("source_id")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| v.parse().ok());
        let name = item.get("name").and_then(|v| v.as_s().ok()).cloned();
        Ok(id.zip(name))
    }

    /// Sources by id, one round trip per 100 (missing ids left out).
    pub async fn get_sources(
        &self,
        tenant: TenantId,
        ids: &[Uuid],
    ) -> Result<Vec<Source>, StoreError> {
        self.get_records(tenant, ids).await
    }

    /// A new source with its name guard and audit entry.
    pub async fn create_source(
        &self,
        source: &Source,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        self.create_record(source, audit).await
    }
}
