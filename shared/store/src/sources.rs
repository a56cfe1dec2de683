//! Lead sources in the store: the source items, their name guards, and the counter
//! updates a lead write adds to its transaction.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use uuid::Uuid;

use super::{from_item, s, to_item, Conflict, Item, Store, StoreError};
use crate::keys;
use crm_domain::lead::Lead;
use crm_domain::lead_writes::source_deltas;
use crm_domain::sources::Source;
use crm_domain::tenant::TenantId;

impl Store {
    fn source_item(source: &Source) -> Item {
        let mut item = to_item(source);
        item.extend(keys::lead_source(source.tenant_id, source.id).item_key());
        item
    }

    fn source_name_guard(source: &Source) -> Item {
        let mut item = keys::lead_source_name(source.tenant_id, &source.name).item_key();
        item.insert("source_id".into(), s(source.id.to_string()));
        item.insert("name".into(), s(&source.name));
        item
    }

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
                let absent = Some("attribute_not_exists(PK)");
                actions.push((
                    TransactWriteItem::builder()
                        .put(self.put(Self::source_item(&source), absent))
                        .build(),
                    Some(Conflict::Exists),
                ));
                actions.push((
                    TransactWriteItem::builder()
                        .put(self.put(Self::source_name_guard(&source), absent))
                        .build(),
                    Some(Conflict::Name),
                ));
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

    pub async fn get_source(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<Source>, StoreError> {
        let Some(item) = self.get(&keys::lead_source(tenant, id)).await? else {
            return Ok(None);
        };
        let source: Source = from_item(item)?;
        Ok((source.tenant_id == tenant).then_some(source))
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
        let records: Vec<Source> = self
            .batch_get(ids.iter().map(|id| keys::lead_source(tenant, *id)))
            .await?;
        Ok(records
            .into_iter()
            .filter(|r| r.tenant_id == tenant)
            .collect())
    }

    /// Up to `limit` sources after the sort key `after` (exclusive), and whether more follow.
    pub async fn list_sources(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Source)>, bool), StoreError> {
        self.query_prefix(
            keys::sources_partition(tenant),
            keys::SOURCE_PREFIX,
            after,
            limit,
        )
        .await
    }

    /// A new source with its name guard.
    pub async fn create_source(&self, source: &Source) -> Result<(), StoreError> {
        self.create_named(Self::source_item(source), Self::source_name_guard(source))
            .await
    }

    /// Writes a source's own fields if it is still at `before`'s version, moving its name
    /// guard with a rename. An `Update`, not a `Put`: the lead counters, which lead writes
    /// change concurrently, are left alone.
    pub async fn update_source(&self, before: &Source, after: &Source) -> Result<(), StoreError> {
        let t = after.tenant_id;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_source(t, after.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(before.version.to_string()))
            .expression_attribute_values(":v", AttributeValue::N(after.version.to_string()))
            .expression_attribute_values(":n", s(&after.name))
            .expression_attribute_values(":a", AttributeValue::Bool(after.is_active))
            .expression_attribute_values(":u", s(crate::keys::sortable_time(after.updated_at)))
            .expression_attribute_names("#n", "name");
        update = match &after.description {
            Some(d) => update
                .update_expression(
                    "SET version = :v, #n = :n, is_active = :a, updated_at = :u, description = :d",
                )
                .expression_attribute_values(":d", s(d)),
            None => update.update_expression(
                "SET version = :v, #n = :n, is_active = :a, updated_at = :u REMOVE description",
            ),
        };
        let mut actions = vec![(
            TransactWriteItem::builder()
                .update(
                    update
                        .build()
                        .expect("update has table, key and expression"),
                )
                .build(),
            Some(Conflict::Version),
        )];
        let ours = |key: crate::keys::Key| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key.item_key()))
                .condition_expression("source_id = :id")
                .expression_attribute_values(":id", s(before.id.to_string()))
                .build()
                .expect("delete has table and key")
        };
        if before.name.to_lowercase() != after.name.to_lowercase() {
            actions.push((
                TransactWriteItem::builder()
                    .delete(ours(keys::lead_source_name(t, &before.name)))
                    .build(),
                Some(Conflict::Version),
            ));
            actions.push((
                TransactWriteItem::builder()
                    .put(self.put(
                        Self::source_name_guard(after),
                        Some("attribute_not_exists(PK)"),
                    ))
                    .build(),
                Some(Conflict::Name),
            ));
        } else if before.name != after.name {
            // Same guard, new spelling: the guard carries the name that lookups return.
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(Self::source_name_guard(after)))
                .condition_expression("source_id = :id")
                .expression_attribute_values(":id", s(before.id.to_string()))
                .build()
                .expect("put has table and item");
            actions.push((
                TransactWriteItem::builder().put(put).build(),
                Some(Conflict::Version),
            ));
        }
        self.transact(actions).await
    }

    /// Deletes a source and its name guard, only at the version read and while no lead
    /// points at it (the counters are exact, so `total_leads = 0` means none does).
    pub async fn delete_source(&self, source: &Source) -> Result<(), StoreError> {
        let t = source.tenant_id;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_source(t, source.id).item_key()))
            .condition_expression(
                "version = :seen AND (attribute_not_exists(total_leads) OR total_leads <= :zero)",
            )
            .expression_attribute_values(":seen", AttributeValue::N(source.version.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .expect("delete has table and key");
        let guard = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_source_name(t, &source.name).item_key()))
            .condition_expression("source_id = :id")
            .expression_attribute_values(":id", s(source.id.to_string()))
            .build()
            .expect("delete has table and key");
        self.transact(vec![
            (
                TransactWriteItem::builder().delete(delete).build(),
                Some(Conflict::Version),
            ),
            (
                TransactWriteItem::builder().delete(guard).build(),
                Some(Conflict::Version),
            ),
        ])
        .await
    }
}
