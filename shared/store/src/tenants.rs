//! Tenants and their slug registry: a tenant item, and a guard item per slug (unique
//! across the service) written, moved and checked in the same transactions.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use uuid::Uuid;

use crate::accounts::Action;
use crate::keys;
use crate::{classify, from_item, s, to_item, Conflict, Store, StoreError};
use crm_domain::accounts::Membership;
use crm_domain::plan::{LimitOverrides, Tier};
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

    fn tenant_item(tenant: &Tenant) -> crate::Item {
        let mut item = to_item(tenant);
        item.extend(keys::tenant(tenant.id).item_key());
        item
    }

    /// The guard of a slug, new (`Conflict::Exists` when another tenant holds it).
    fn slug_put(&self, tenant: &Tenant) -> Action {
        let mut slug = keys::slug(&tenant.slug).item_key();
        slug.insert("tenant_id".into(), s(tenant.id.to_string()));
        self.put_action(slug, Some("attribute_not_exists(PK)"), Conflict::Exists)
    }

    /// Creates a tenant and reserves its slug, atomically (`Conflict::Exists` when the id
    /// or the slug is taken).
    pub async fn create_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.transact(self.create_tenant_actions(tenant)).await
    }

    fn create_tenant_actions(&self, tenant: &Tenant) -> Vec<Action> {
        let absent = Some("attribute_not_exists(PK)");
        vec![
            self.put_action(Self::tenant_item(tenant), absent, Conflict::Exists),
            self.slug_put(tenant),
        ]
    }

    /// Creates a tenant with its slug and its first member (its owner), atomically.
    pub async fn create_tenant_with_owner(
        &self,
        tenant: &Tenant,
        owner: &Membership,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut actions = self.create_tenant_actions(tenant);
        actions.extend(self.membership_actions(None, Some(owner)));
        actions.push((self.audit_put(tenant.id, audit), None));
        self.transact(actions).await
    }

    /// Replaces a tenant's settings read as `before` (`Conflict::Version` when they changed
    /// meanwhile), moving the slug's guard when the slug changed (`Conflict::Exists` when
    /// the new slug is taken).
    pub async fn update_tenant(
        &self,
        before: &Tenant,
        after: &Tenant,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut put = self.put(
            Self::tenant_item(after),
            Some("attribute_exists(PK) AND (attribute_not_exists(version) OR version = :seen)"),
        );
        put.expression_attribute_values = Some(
            [(
                ":seen".into(),
                AttributeValue::N(before.version.to_string()),
            )]
            .into(),
        );
        let mut actions = vec![(
            TransactWriteItem::builder().put(put).build(),
            Some(Conflict::Version),
        )];
        if before.slug != after.slug {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::slug(&before.slug).item_key()))
                .condition_expression("tenant_id = :me")
                .expression_attribute_values(":me", s(before.id.to_string()))
                .build()
                .expect("delete has table and key");
            actions.push((
                TransactWriteItem::builder().delete(delete).build(),
                Some(Conflict::Version),
            ));
            actions.push(self.slug_put(after));
        }
        actions.push((self.audit_put(after.id, audit), None));
        self.transact(actions).await
    }

    /// Sets a tenant's plan: its tier and its own limits (`None` when there is no tenant).
    pub async fn set_plan(
        &self,
        id: TenantId,
        tier: Tier,
        overrides: LimitOverrides,
    ) -> Result<Option<Tenant>, StoreError> {
        let tier = serde_json::to_value(tier).expect("a tier serialises");
        let overrides = AttributeValue::M(to_item(&overrides));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::tenant(id).item_key()))
            .update_expression(
                "SET subscription_tier = :t, limit_overrides = :o, \
                 version = if_not_exists(version, :one) + :one",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":t", s(tier.as_str().unwrap_or_default()))
            .expression_attribute_values(":o", overrides)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(SdkError::ServiceError(c)) if c.err().is_conditional_check_failed_exception() => {
                Ok(None)
            }
            Err(e) => Err(classify(e)),
        }
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
