//! Custom-field definitions in the store.

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, TransactWriteItem,
};
use uuid::Uuid;

use super::{classify, from_item, record, s, to_item, Conflict, Item, Kind, Store, StoreError};
use crate::keys;
use crm_domain::custom_fields::CustomField;
use crm_domain::tenant::TenantId;

impl Store {
    fn custom_field_item(f: &CustomField) -> Item {
        let mut item = to_item(f);
        item.extend(keys::custom_field(f.tenant_id, f.id).item_key());
        item
    }

    /// Every definition of the tenant (one partition; their number is capped on create).
    pub async fn custom_fields(&self, tenant: TenantId) -> Result<Vec<CustomField>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
                .expression_attribute_values(":pk", s(keys::custom_fields_partition(tenant)))
                .expression_attribute_values(":sk", s(keys::CUSTOM_FIELD_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            record(Kind::Read, res.consumed_capacity.as_slice());
            for item in res.items.unwrap_or_default() {
                let f: CustomField = from_item(item)?;
                if f.tenant_id == tenant {
                    out.push(f);
                }
            }
            start = res.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    pub async fn get_custom_field(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<CustomField>, StoreError> {
        let Some(item) = self.get(&keys::custom_field(tenant, id)).await? else {
            return Ok(None);
        };
        let f: CustomField = from_item(item)?;
        Ok((f.tenant_id == tenant).then_some(f))
    }

    /// A new definition with its name guard (which outlives the definition).
    pub async fn create_custom_field(&self, f: &CustomField) -> Result<(), StoreError> {
        let mut guard = keys::custom_field_name(f.tenant_id, &f.name).item_key();
        guard.insert("field_id".into(), s(f.id.to_string()));
        self.create_named(Self::custom_field_item(f), guard).await
    }

    /// Replaces a definition at `before`'s version (name and type never change).
    pub async fn update_custom_field(
        &self,
        before: &CustomField,
        after: &CustomField,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::custom_field_item(after)))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(before.version.to_string()))
            .build()
            .expect("put has table and item");
        self.transact(vec![(
            TransactWriteItem::builder().put(put).build(),
            Some(Conflict::Version),
        )])
        .await
    }

    pub async fn delete_custom_field(&self, f: &CustomField) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::custom_field(f.tenant_id, f.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(f.version.to_string()))
            .build()
            .expect("delete has table and key");
        self.transact(vec![(
            TransactWriteItem::builder().delete(delete).build(),
            Some(Conflict::Version),
        )])
        .await
    }
}
