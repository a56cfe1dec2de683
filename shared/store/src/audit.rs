//! The audit log: one item per write, committed in the write's own transaction (the
//! writes add [`Store::audit_put`] to their actions). A lead's entries live in the lead's
//! partition, any other resource's in one of its own (`keys::audit_entry`); each entry
//! also has two index entries: the tenant's timeline (GSI1) and its actor's (GSI2). The
//! entry's `expires_at` is the table's TTL attribute.
//!
//! Reading the log ([`Store::audit_log_page`]) is a key query whichever filter leads:
//! `resource_id` reads the resource's partition(s), else `actor` its GSI2 partition, else
//! the timeline; `since`/`until` bound the sort key. `action` and `resource_type` (and a
//! second keyed filter) are applied to what is read, at most [`AUDIT_READ_BUDGET`] entries
//! per partition and request; a page cut short by the budget still has a `next` cursor,
//! from where the read stopped. Indexing them too would cost a write unit per index entry
//! on every write of the service, and the lead writes are to get cheaper, not dearer.

use aws_sdk_dynamodb::types::{ReturnConsumedCapacity, TransactWriteItem};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::keys::{self, LeadIndex};
use crate::usage::{record, Kind};
use crate::{classify, from_item, s, to_item, Item, Store, StoreError};
pub use crm_domain::audit::{AuditAction, AuditEntry, ResourceType};
use crm_domain::tenant::TenantId;

/// The most entries one partition's read examines for one page of the log.
pub const AUDIT_READ_BUDGET: usize = 1_000;

/// What the log is read for: the keyed filters, the time bounds (inclusive), and the rest
/// as a predicate over the entries read.
pub struct AuditRead<'a> {
    pub resource_type: Option<ResourceType>,
    pub resource_id: Option<Uuid>,
    pub actor: Option<&'a str>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub keep: &'a (dyn Fn(&AuditEntry) -> bool + Sync),
}

/// One partition the log is read from: the table's (a resource's) or an index's.
struct Source {
    index: Option<LeadIndex>,
    partition: String,
    /// What the sort key has before the entry's position (`AUDIT#` in the table).
    prefix: &'static str,
}

/// What one partition's read kept (positions and entries, newest first) and how far it
/// looked: `None` when it read everything within the bounds.
struct Read {
    kept: Vec<(String, AuditEntry)>,
    frontier: Option<String>,
}

impl Store {
    /// The put of an audit entry, with its key and index entries, for a write's transaction.
    pub(crate) fn audit_put(&self, tenant: TenantId, entry: &AuditEntry) -> TransactWriteItem {
        let mut item = to_item(entry);
        let lead = entry.resource_type == ResourceType::Lead;
        let position = keys::audit_position(entry.at, entry.id);
        item.extend(
            keys::audit_entry(tenant, lead, entry.resource_id, entry.at, entry.id).item_key(),
        );
        let timeline = keys::Key {
            pk: keys::audit_timeline(tenant),
            sk: position.clone(),
        };
        let by_actor = keys::Key {
            pk: keys::audit_by_actor(tenant, &entry.actor),
            sk: position,
        };
        let (timeline_index, actor_index) = (keys::AUDIT_TIMELINE_INDEX, keys::AUDIT_ACTOR_INDEX);
        item.extend(timeline.attrs(&timeline_index.pk_attr(), &timeline_index.sk_attr()));
        item.extend(by_actor.attrs(&actor_index.pk_attr(), &actor_index.sk_attr()));
        TransactWriteItem::builder()
            .put(self.put(item, None))
            .build()
    }

    /// A lead's audit trail, oldest first.
    pub async fn lead_audit(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self
                .lead_audit_page(tenant, lead_id, after.as_deref(), 100)
                .await?;
            entries.extend(page);
            after = next;
            if after.is_none() {
                entries.reverse();
                return Ok(entries);
            }
        }
    }

    /// A resource's audit entries (not a lead's), oldest first: for tests and the admin
    /// command.
    pub async fn resource_audit(
        &self,
        tenant: TenantId,
        resource_id: Uuid,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let keep = |_: &AuditEntry| true;
        let read = AuditRead {
            resource_type: None,
            resource_id: Some(resource_id),
            actor: None,
            since: None,
            until: None,
            keep: &keep,
        };
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = self
                .audit_log_page(tenant, &read, after.as_deref(), 100)
                .await?;
            entries.extend(page);
            after = next;
            if after.is_none() {
                entries.reverse();
                return Ok(entries);
            }
        }
    }
}

impl Store {
    /// One page of a lead's audit trail, newest first: at most `limit` entries after the
    /// sort key `after` (the last of the previous page), and the sort key to continue from
    /// when there may be more. Reads are proportional to the page.
    pub async fn lead_audit_page(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let prefix = keys::lead_audit_prefix(tenant, lead_id);
        let start = after.map(|sk| {
            keys::Key {
                pk: prefix.pk.clone(),
                sk: sk.to_string(),
            }
            .item_key()
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :sk)")
            .expression_attribute_values(":pk", s(&prefix.pk))
            .expression_attribute_values(":sk", s(&prefix.sk))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|key| key.get(keys::SK)?.as_s().ok().cloned());
        let entries = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        Ok((entries, next))
    }

    /// One page of the tenant's audit log, newest first: at most `limit` entries the read
    /// accepts, older than the position `after` (the previous page's cursor), and the
    /// position to continue from when there may be more.
    pub async fn audit_log_page(
        &self,
        tenant: TenantId,
        read: &AuditRead<'_>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let sources = self.audit_sources(tenant, read);
        let (lo, hi) = keys::audit_bounds(read.since, read.until);
        let hi = match after {
            Some(after) if after < hi.as_str() => after.to_string(),
            _ => hi,
        };
        let reads = sources
            .iter()
            .map(|source| self.read_audit_source(source, &lo, &hi, after, limit, read.keep));
        let reads = futures::future::try_join_all(reads).await?;
        // Entries past the least advanced partition's frontier are not served yet: that
        // partition's unread entries may come before them.
        let boundary = reads.iter().filter_map(|r| r.frontier.clone()).max();
        let mut kept: Vec<(String, AuditEntry)> = reads
            .into_iter()
            .flat_map(|r| r.kept)
            .filter(|(position, _)| boundary.as_ref().is_none_or(|b| position >= b))
            .collect();
        kept.sort_by(|a, b| b.0.cmp(&a.0));
        if kept.len() > limit {
            kept.truncate(limit);
            let next = kept.last().map(|(position, _)| position.clone());
            return Ok((kept.into_iter().map(|(_, e)| e).collect(), next));
        }
        Ok((kept.into_iter().map(|(_, e)| e).collect(), boundary))
    }

    /// The partitions a read of the log needs: the resource's (both kinds when its type is
    /// not given: ids are unique, so one of them is empty), else the actor's, else the
    /// tenant's timeline.
    fn audit_sources(&self, tenant: TenantId, read: &AuditRead<'_>) -> Vec<Source> {
        if let Some(id) = read.resource_id {
            let table = |lead| Source {
                index: None,
                partition: keys::audit_partition(tenant, lead, id),
                prefix: keys::AUDIT_PREFIX,
            };
            return match read.resource_type {
                Some(ResourceType::Lead) => vec![table(true)],
                Some(_) => vec![table(false)],
                None => vec![table(true), table(false)],
            };
        }
        let (index, partition) = match read.actor {
            Some(actor) => (keys::AUDIT_ACTOR_INDEX, keys::audit_by_actor(tenant, actor)),
            None => (keys::AUDIT_TIMELINE_INDEX, keys::audit_timeline(tenant)),
        };
        vec![Source {
            index: Some(index),
            partition,
            prefix: "",
        }]
    }

    /// Reads one partition newest first between the positions `lo` and `hi` (inclusive;
    /// `after` itself was served already), keeping what `keep` accepts, until `want + 1`
    /// are kept or the budget is spent.
    async fn read_audit_source(
        &self,
        source: &Source,
        lo: &str,
        hi: &str,
        after: Option<&str>,
        want: usize,
        keep: &(dyn Fn(&AuditEntry) -> bool + Sync),
    ) -> Result<Read, StoreError> {
        let (pk_attr, sk_attr) = match source.index {
            Some(index) => (index.pk_attr(), index.sk_attr()),
            None => (keys::PK.to_string(), keys::SK.to_string()),
        };
        let mut out = Read {
            kept: Vec::new(),
            frontier: None,
        };
        if lo > hi {
            return Ok(out);
        }
        let mut start: Option<Item> = None;
        let mut examined = 0;
        loop {
            let chunk = (want + 2).clamp(10, 100);
            let res = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(source.index.map(|i| i.name()))
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                .expression_attribute_names("#pk", &pk_attr)
                .expression_attribute_names("#sk", &sk_attr)
                .expression_attribute_values(":pk", s(&source.partition))
                .expression_attribute_values(":lo", s(format!("{}{lo}", source.prefix)))
                .expression_attribute_values(":hi", s(format!("{}{hi}", source.prefix)))
                .scan_index_forward(false)
                .limit(i32::try_from(chunk).unwrap_or(100))
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(classify)?;
            record(Kind::Read, res.consumed_capacity.as_slice());
            for item in res.items.unwrap_or_default() {
                examined += 1;
                let position = item
                    .get(&sk_attr)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix(source.prefix))
                    .unwrap_or_default()
                    .to_string();
                out.frontier = Some(position.clone());
                if after == Some(position.as_str()) {
                    continue;
                }
                let entry: AuditEntry = from_item(item)?;
                if keep(&entry) {
                    out.kept.push((position, entry));
                    if out.kept.len() > want {
                        return Ok(out);
                    }
                }
            }
            match res.last_evaluated_key {
                None => {
                    out.frontier = None;
                    return Ok(out);
                }
                Some(key) if examined < AUDIT_READ_BUDGET => start = Some(key),
                // Out of budget: the frontier says where the next page goes on from.
                Some(_) => return Ok(out),
            }
        }
    }
}
