//! Activities in the store: the activity items with their index entries, the transaction
//! that writes one together with its lead's side effects, and bounded index reads.

use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{from_item, AuditEntry, IndexScan, Store, StoreError};
use crate::keys::{self, Key, LeadIndex};
use crate::scan::Returned;
use crate::versioned::Versioned;
use crm_domain::activities::Activity;
use crm_domain::lead::Lead;
use crm_domain::tenant::TenantId;

/// A lead change that goes with an activity: `(before, after, audit entry)`.
pub type LeadChange<'a> = (&'a Lead, &'a Lead, &'a AuditEntry);

impl Versioned for Activity {
    const AUDITED_AS: crate::ResourceType = crate::ResourceType::Activity;

    fn key(tenant: TenantId, id: Uuid) -> Key {
        keys::activity(tenant, id)
    }

    fn indexes(&self) -> Vec<(LeadIndex, String, String)> {
        let t = self.tenant_id;
        let by_time = keys::time_sort_key(self.created_at, self.id);
        let mut out = vec![
            (
                LeadIndex::Timeline,
                keys::activities_partition(t),
                by_time.clone(),
            ),
            (
                LeadIndex::OwnerTimeline,
                keys::lead_activities_partition(t, self.lead),
                by_time,
            ),
        ];
        if let Some(at) = self.task_time() {
            out.push((
                LeadIndex::FollowUp,
                keys::tasks_partition(t),
                keys::time_sort_key(at, self.id),
            ));
        }
        out
    }

    fn lead(&self) -> Option<Uuid> {
        Some(self.lead)
    }
}

impl Store {
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
        actions.extend(activities.iter().map(|a| self.put_new(a)));
        self.commit_lead_write(actions, Some(before), Some(after))
            .await
    }

    /// Writes a new activity. With `lead_change` the lead's update (its side effects: last
    /// contact, status) commits in the same transaction; without, the transaction checks
    /// that the lead still exists, so no activity is left on a deleted lead.
    pub async fn create_activity(
        &self,
        activity: &Activity,
        activity_audit: &AuditEntry,
        lead_change: Option<LeadChange<'_>>,
    ) -> Result<(), StoreError> {
        let Some((before, after, audit)) = lead_change else {
            return self.create_record(activity, activity_audit).await;
        };
        let mut actions = vec![
            self.put_new(activity),
            (self.audit_put(activity.tenant_id, activity_audit), None),
        ];
        actions.extend(self.update_lead_actions(before, after, audit, None));
        // The lead's change is logged too (a status change, from a call, say).
        let logged = crm_domain::activities::for_lead_change(
            before,
            after,
            &activity.user,
            activity.created_at,
        );
        actions.extend(logged.iter().map(|a| self.put_new(a)));
        self.transact(actions).await
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
                .query_partition(scan, partition, bound.as_deref(), chunk, Returned::Whole)
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
