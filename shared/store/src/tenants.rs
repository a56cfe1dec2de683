//! Tenants and their slug registry.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::TransactWriteItem;
use uuid::Uuid;

use crate::keys;
use crate::{classify, from_item, s, to_item, Conflict, Store, StoreError};
use crm_domain::tenant::{Tenant, TenantId, TenantStatus};

impl Store {
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
}
