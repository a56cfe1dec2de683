//! Activities in the store: the activity items with their index entries, the transaction
//! that writes one together with its lead's side effects, and bounded index reads.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{from_item, s, to_item, AuditEntry, Conflict, IndexScan, Item, Store, StoreError};
use crate::keys::{self, LeadIndex};
use crm_domain::activities::Activity;
use crm_domain::lead::Lead;
use crm_domain::tenant::TenantId;

/// A lead change that goes with an activity: `(before, after, audit entry)`.
pub type LeadChange<'a> = (&'a Lead, &'a Lead, &'a AuditEntry);

impl Store {
    fn activity_item(a: &Activity) -> Item {
        let mut item = to_item(a);
        let t = a.tenant_id;
        item.extend(keys::activity(t, a.id).item_key());
        let by_time = keys::time_sort_key(a.created_at, a.id);
        let mut index = |i: LeadIndex, pk: String, sk: String| {
            item.insert(i.pk_attr(), s(pk));
            item.insert(i.sk_attr(), s(sk));
        };
        index(
            LeadIndex::Created,
            keys::activities_partition(t),
            by_time.clone(),
        );
        index(
            LeadIndex::Score,
            keys::lead_activities_partition(t, a.lead),
            by_time,
        );
        if let Some(at) = a.task_time() {
            index(
                LeadIndex::FollowUp,
                keys::tasks_partition(t),
                keys::time_sort_key(at, a.id),
            );
        }
        item
    }

    pub(super) fn activity_put(&self, a: &Activity) -> (TransactWriteItem, Option<Conflict>) {
        (
            TransactWriteItem::builder()
                .put(self.put(Self::activity_item(a), Some("attribute_not_exists(PK)")))
                .build(),
            Some(Conflict::Exists),
        )
    }

    /// [`Store::update_lead_with`], also writing `activities` (the change's own record:
    /// status, assignment, tags) in the same transaction.
    pub async fn update_lead_logged(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
        new_source: Option<&crm_domain::sources::Source>,
        activities: &[Activity],
    ) -> Result<(), StoreError> {
        let mut actions = self.update_lead_actions(before, after, audit, new_source);
        actions.extend(activities.iter().map(|a| self.activity_put(a)));
        self.commit_lead_write(actions, Some(before), Some(after))
            .await
    }

    /// Writes a new activity. With `lead_change` the lead's update (its side effects: last
    /// contact, status) commits in the same transaction; without, the transaction checks
    /// that the lead still exists, so no activity is left on a deleted lead.
    pub async fn create_activity(
        &self,
        activity: &Activity,
        lead_change: Option<LeadChange<'_>>,
    ) -> Result<(), StoreError> {
        let mut actions = vec![self.activity_put(activity)];
        match lead_change {
            Some((before, after, audit)) => {
                actions.extend(self.update_lead_actions(before, after, audit, None));
                // The lead's change is logged too (a status change, from a call, say).
                let logged = crm_domain::activities::for_lead_change(
                    before,
                    after,
                    &activity.user,
                    activity.created_at,
                );
                actions.extend(logged.iter().map(|a| self.activity_put(a)));
            }
            None => {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(
                        keys::lead(activity.tenant_id, activity.lead).item_key(),
                    ))
                    .condition_expression("attribute_exists(PK)")
                    .build()
                    .expect("check has table, key and condition");
                actions.push((
                    TransactWriteItem::builder().condition_check(check).build(),
                    Some(Conflict::Lead),
                ));
            }
        }
        self.transact(actions).await
    }

    pub async fn get_activity(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<Activity>, StoreError> {
        let Some(item) = self.get(&keys::activity(tenant, id)).await? else {
            return Ok(None);
        };
        let a: Activity = from_item(item)?;
        Ok((a.tenant_id == tenant).then_some(a))
    }

    /// Replaces an activity if it is still at `before`'s version (its index entries follow).
    pub async fn update_activity(
        &self,
        before: &Activity,
        after: &Activity,
    ) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::activity_item(after)))
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

    pub async fn delete_activity(&self, a: &Activity) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::activity(a.tenant_id, a.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(a.version.to_string()))
            .build()
            .expect("delete has table and key");
        self.transact(vec![(
            TransactWriteItem::builder().delete(delete).build(),
            Some(Conflict::Version),
        )])
        .await
    }

    /// Reads one index partition (the scan's first) in key order from `after` (exclusive),
    /// keeping the records `keep` accepts, until `want` are kept or `budget` items were
    /// read. Returns the kept records with their sort keys and where to continue.
    pub async fn scan_records<T: DeserializeOwned>(
        &self,
        scan: &IndexScan,
        after: Option<&str>,
        want: usize,
        budget: usize,
        keep: &(dyn Fn(&T) -> bool + Sync),
    ) -> Result<(Vec<(String, T)>, Option<String>), StoreError> {
        let partition = scan.partitions.first().expect("a partition to read");
        let sk_attr = scan.index.sk_attr();
        let mut bound = after.map(str::to_string);
        let mut kept = Vec::new();
        let mut read = 0;
        loop {
            let chunk = (want + 1).clamp(10, 100);
            let (items, more) = self
                .query_partition(scan, partition, bound.as_deref(), chunk)
                .await?;
            read += items.len();
            for item in items {
                let sk = item
                    .get(&sk_attr)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                bound = Some(sk.clone());
                let record: T = from_item(item)?;
                if keep(&record) {
                    kept.push((sk, record));
                    if kept.len() > want {
                        kept.truncate(want);
                        let next = kept.last().map(|(k, _)| k.clone());
                        return Ok((kept, next));
                    }
                }
            }
            if !more {
                return Ok((kept, None));
            }
            if read >= budget {
                return Ok((kept, bound));
            }
        }
    }
}
