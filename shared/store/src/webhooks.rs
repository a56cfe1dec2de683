//! Webhook subscriptions (versioned records in the tenant's `WEBHOOKS` partition, on the
//! generic record mechanism) and their delivery log: one item per attempt under the
//! subscription's own partition, with `expires_at` (the table's TTL attribute) 30 days on.
//! A deleted subscription's log is left to the TTL.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use uuid::Uuid;

use crate::keys::{self, Key, SK};
use crate::usage::{record, Kind};
use crate::versioned::{Partitioned, Versioned};
use crate::{classify, from_item, s, to_item, Store, StoreError};
use crm_domain::tenant::TenantId;
use crm_domain::webhooks::{Delivery, Webhook, MAX_SUBSCRIPTIONS};

impl Versioned for Webhook {
    const AUDITED_AS: crate::ResourceType = crate::ResourceType::Webhook;
    fn key(tenant: TenantId, id: Uuid) -> Key {
        keys::webhook(tenant, id)
    }
}

impl Partitioned for Webhook {
    const PREFIX: &'static str = keys::WEBHOOK_PREFIX;
    fn partition(tenant: TenantId) -> String {
        keys::webhooks_partition(tenant)
    }
}

impl Store {
    /// Every subscription of the tenant (one Query: there are at most
    /// [`MAX_SUBSCRIPTIONS`]; one more is read so a count can tell the cap is reached).
    pub async fn webhooks(&self, tenant: TenantId) -> Result<Vec<Webhook>, StoreError> {
        let (items, _) = self
            .list_records::<Webhook>(tenant, None, MAX_SUBSCRIPTIONS + 1)
            .await?;
        Ok(items.into_iter().map(|(_, w)| w).collect())
    }

    /// Records one delivery attempt.
    pub async fn put_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let mut item = to_item(delivery);
        item.extend(
            keys::webhook_delivery(delivery.tenant_id, delivery.webhook_id, delivery.id).item_key(),
        );
        item.insert(
            "expires_at".into(),
            AttributeValue::N(delivery.expires_at().to_string()),
        );
        let out = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Write, out.consumed_capacity.as_slice());
        Ok(())
    }

    /// One delivery of a subscription, by its id.
    pub async fn get_delivery(
        &self,
        tenant: TenantId,
        webhook: Uuid,
        id: Uuid,
    ) -> Result<Option<Delivery>, StoreError> {
        let Some(item) = self
            .get(&keys::webhook_delivery(tenant, webhook, id))
            .await?
        else {
            return Ok(None);
        };
        let delivery: Delivery = from_item(item)?;
        Ok((delivery.tenant_id == tenant && delivery.webhook_id == webhook).then_some(delivery))
    }

    /// Up to `limit` deliveries of a subscription, newest first, before the sort key
    /// `before` (exclusive), with their sort keys, and whether more follow.
    pub async fn deliveries(
        &self,
        tenant: TenantId,
        webhook: Uuid,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Delivery)>, bool), StoreError> {
        let prefix = keys::DELIVERY_PREFIX;
        let hi = before.map_or_else(|| format!("{prefix}~"), str::to_string);
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::webhook_deliveries(tenant, webhook)))
            .expression_attribute_values(":lo", s(prefix))
            .expression_attribute_values(":hi", s(hi))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(limit + 2).unwrap_or(i32::MAX))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        let mut rows = Vec::new();
        for item in out.items.unwrap_or_default() {
            let sk = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            // BETWEEN includes the cursor's own item, already served.
            if before.is_some_and(|b| b == sk) {
                continue;
            }
            rows.push((sk, from_item::<Delivery>(item)?));
        }
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok((rows, more))
    }
}
