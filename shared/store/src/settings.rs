//! Per-tenant and per-lead records beside the leads: the scoring settings and a lead's
//! insights.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::keys;
use crate::{from_item, s, to_item, Conflict, Store, StoreError};
use crm_domain::lead_insights::StoredInsights;
use crm_domain::scoring::ScoringSettings;
use crm_domain::tenant::TenantId;

impl Store {
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
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut item = to_item(settings);
        item.extend(keys::scoring_settings(t).item_key());
        let put = TransactWriteItem::builder()
            .put(self.put(item, None))
            .build();
        self.transact(vec![(put, None), (self.audit_put(t, audit), None)])
            .await
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

    /// The part of a transaction that holds it to the lead still existing:
    /// `Conflict::Version` when it is gone.
    fn while_lead_exists(
        &self,
        t: TenantId,
        lead_id: Uuid,
    ) -> (TransactWriteItem, Option<Conflict>) {
        let lead_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(t, lead_id).item_key()))
            .condition_expression("attribute_exists(PK)")
            .build()
            .expect("condition check has table, key and condition");
        let check = TransactWriteItem::builder()
            .condition_check(lead_exists)
            .build();
        (check, Some(Conflict::Version))
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
        self.transact(vec![
            self.while_lead_exists(t, lead_id),
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
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_insights(t, lead_id).item_key()))
            .update_expression("SET requested_at = :at")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .build()
            .expect("update has table, key and expression");
        self.transact(vec![
            self.while_lead_exists(t, lead_id),
            (TransactWriteItem::builder().update(mark).build(), None),
        ])
        .await
    }

    /// Asks for a manual rescore of a lead (`update-scores`): writes its rescore request,
    /// which the table's stream turns into a scoring request (the request path sends
    /// nothing to SQS). Only while the lead exists: `Conflict::Version` when it is gone.
    pub async fn request_rescore(
        &self,
        t: TenantId,
        lead_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let request = crate::stream::RescoreRequest {
            requested_at: at,
            expires_at: at.timestamp() + 24 * 3600,
        };
        let mut item = to_item(&request);
        item.extend(keys::rescore_request(t, lead_id).item_key());
        self.transact(vec![
            self.while_lead_exists(t, lead_id),
            (
                TransactWriteItem::builder()
                    .put(self.put(item, None))
                    .build(),
                None,
            ),
        ])
        .await
    }
}
