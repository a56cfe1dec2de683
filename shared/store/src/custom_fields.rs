//! Custom-field definitions in the store.

use aws_sdk_dynamodb::types::ReturnConsumedCapacity;
use uuid::Uuid;

use super::{classify, from_item, record, s, Kind, Store, StoreError};
use crate::keys::{self, Key};
use crate::versioned::{NameGuard, Versioned};
use crm_domain::custom_fields::CustomField;
use crm_domain::tenant::TenantId;

impl Versioned for CustomField {
    const AUDITED_AS: crate::ResourceType = crate::ResourceType::CustomField;

    fn key(tenant: TenantId, id: Uuid) -> Key {
        keys::custom_field(tenant, id)
    }

    /// The guard outlives the definition: leads may still hold values under the name.
    fn name_guard(&self) -> Option<NameGuard> {
        Some(NameGuard {
            key: keys::custom_field_name(self.tenant_id, &self.name),
            owner: "field_id",
            name: None,
            released_on_delete: false,
        })
    }
}

impl Store {
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
}
