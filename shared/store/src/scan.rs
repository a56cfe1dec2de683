//! Reads of many items: batch gets by key, prefix queries of one partition, counts and
//! merged scans over the lead indexes, and the search-token index.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnConsumedCapacity};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::keys::{self, LeadIndex, SK};
use crate::usage::{record, Kind};
use crate::{classify, from_item, lead_item, s, Item, Store, StoreError};
use crm_domain::lead::Lead;
use crm_domain::tenant::TenantId;

/// Rounds in a row in which a `BatchGetItem` may leave every key unprocessed before the
/// read gives up as throttled.
pub const UNPROCESSED_ROUNDS: u32 = 4;

impl Store {
    /// Items by key, strongly consistent, in `BatchGetItem` rounds of 100 (the most one
    /// takes), asking again (after a backoff) for what DynamoDB left unprocessed. Duplicate
    /// keys are read once (BatchGetItem refuses them); missing items are simply absent.
    pub(crate) async fn batch_get<T: DeserializeOwned>(
        &self,
        keys: impl IntoIterator<Item = keys::Key>,
    ) -> Result<Vec<T>, StoreError> {
        self.batch_get_items(keys)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// [`Store::batch_get`]'s items as stored, for one read of items of several kinds.
    pub(crate) async fn batch_get_items(
        &self,
        keys: impl IntoIterator<Item = keys::Key>,
    ) -> Result<Vec<Item>, StoreError> {
        self.batch_get_returning(keys, Returned::Whole, Consistency::Strong)
            .await
    }

    /// [`Store::batch_get_items`] returning what `returned` says of each item, read as
    /// `consistency` says.
    pub(crate) async fn batch_get_returning(
        &self,
        keys: impl IntoIterator<Item = keys::Key>,
        returned: Returned,
        consistency: Consistency,
    ) -> Result<Vec<Item>, StoreError> {
        let mut unique: Vec<keys::Key> = Vec::new();
        for key in keys {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        let mut out = Vec::with_capacity(unique.len());
        for chunk in unique.chunks(100) {
            let mut pending: Vec<Item> = chunk.iter().map(keys::Key::item_key).collect();
            // Rounds in a row that read nothing (every key left unprocessed: throttled).
            let mut idle = 0;
            while !pending.is_empty() {
                let asked = pending.len();
                let (projection, names) = returned.projection(None).unzip();
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(consistency == Consistency::Strong)
                    .set_projection_expression(projection)
                    .set_expression_attribute_names(names)
                    .build()
                    .expect("keys are set");
                let res = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(classify)?;
                record(Kind::Read, res.consumed_capacity());
                for item in res
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    out.push(item);
                }
                pending = res
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                // DynamoDB left keys unprocessed (throttling): ask again after a backoff,
                // and give up when rounds keep reading nothing.
                idle = if pending.len() < asked { 0 } else { idle + 1 };
                if idle >= UNPROCESSED_ROUNDS {
                    return Err(StoreError::Throttled);
                }
                crate::ops::backoff(idle.max(1)).await;
            }
        }
        Ok(out)
    }

    /// Up to `limit` items of partition `pk` whose sort key starts with `prefix`, after the
    /// sort key `after` (exclusive), strongly consistent, with their sort keys (for the
    /// cursor), and whether more follow.
    pub(crate) async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, T)>, bool), StoreError> {
        let (items, more) = self
            .query_sort_prefix(pk, (prefix, '~'), after, limit, Consistency::Strong)
            .await?;
        let mut records = Vec::with_capacity(items.len());
        for item in items {
            let sk = item
                .get(SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            records.push((sk, from_item(item)?));
        }
        Ok((records, more))
    }

    /// Up to `limit` items of partition `pk` whose sort key starts with `prefix` (none
    /// sorts above the prefix followed by `highest`), after the sort key `after`
    /// (exclusive), and whether more follow.
    async fn query_sort_prefix(
        &self,
        pk: String,
        (prefix, highest): (&str, char),
        after: Option<&str>,
        limit: usize,
        consistency: Consistency,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        // The bounds are inclusive: the cursor's own item is dropped by `after_bound`.
        let lo = after.map_or_else(|| prefix.to_string(), str::to_string);
        let hi = format!("{prefix}{highest}");
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .consistent_read(consistency == Consistency::Strong)
            .limit(bounded_query_limit(limit, after))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        Ok(after_bound(out.items.unwrap_or_default(), SK, after, limit))
    }

    /// How many of `user`'s leads have one of `statuses`, reading the user's partition of
    /// the assignee index with `Select=COUNT` and a status filter. A count read costs what
    /// reading those items costs (DynamoDB bills the items evaluated, filtered or not:
    /// about 0.5 read units per 4 KB, eventually consistent as every index read), so it
    /// stops after `cap` items evaluated; the second value says whether the count is
    /// complete.
    pub async fn count_assigned(
        &self,
        tenant: TenantId,
        user: &str,
        statuses: &[&str],
        cap: usize,
    ) -> Result<(usize, bool), StoreError> {
        let index = LeadIndex::Assignee;
        let cap = cap.max(1);
        let placeholders: Vec<String> = (0..statuses.len()).map(|n| format!(":s{n}")).collect();
        let mut count = 0usize;
        let mut evaluated = 0usize;
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name())
                .key_condition_expression("#pk = :pk")
                .filter_expression(format!("#st IN ({})", placeholders.join(", ")))
                .expression_attribute_names("#pk", index.pk_attr())
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":pk", s(keys::assignee_partition(tenant, Some(user))))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .limit(i32::try_from(cap - evaluated).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            for (name, status) in placeholders.iter().zip(statuses) {
                query = query.expression_attribute_values(name, s(*status));
            }
            let out = query.send().await.map_err(classify)?;
            record(Kind::Read, out.consumed_capacity.as_slice());
            count += usize::try_from(out.count).unwrap_or(0);
            evaluated += usize::try_from(out.scanned_count).unwrap_or(0);
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok((count, true));
            }
            if evaluated >= cap {
                return Ok((count, false));
            }
        }
    }

    /// Reads one index's partitions in key order, merged, from `after` (exclusive), keeping
    /// the leads `keep` accepts, until `want` are kept or `budget` items were read.
    pub async fn scan_leads(
        &self,
        scan: &IndexScan,
        after: Option<&str>,
        want: usize,
        budget: usize,
        keep: &(dyn Fn(&Lead) -> bool + Sync),
    ) -> Result<ScanPage, StoreError> {
        let mut bound = after.map(str::to_string);
        let mut live: Vec<&String> = scan.partitions.iter().collect();
        let mut kept: Vec<(String, Lead)> = Vec::new();
        let mut read = 0usize;
        while !live.is_empty() {
            let chunk = (want + 1).clamp(10, 100);
            let reads = live.iter().map(|p| {
                self.query_partition(scan, p, bound.as_deref(), chunk, Returned::LeadBody)
            });
            let results = futures::future::try_join_all(reads).await?;
            let mut round = Round::merge(scan, &live, results);
            self.read_previous_layout_whole(&mut round.items, |(_, item)| item)
                .await?;
            read += round.read;
            for (sk, item) in std::mem::take(&mut round.items) {
                if round.is_beyond(scan, &sk) {
                    break;
                }
                // One lead met in two partitions of a multi-value read (a lead with two of
                // the asked tags) has one sort key: serve it once.
                if bound.as_deref() == Some(sk.as_str()) {
                    continue;
                }
                bound = Some(sk.clone());
                let lead = crate::lead_item::decode(item)?;
                if keep(&lead) {
                    kept.push((sk, lead));
                    if kept.len() > want {
                        kept.truncate(want);
                        let next = kept.last().map(|(sk, _)| sk.clone());
                        return Ok(ScanPage {
                            leads: kept,
                            next,
                            read,
                        });
                    }
                }
            }
            live = round.live;
            if !live.is_empty() && read >= budget {
                // Out of budget: hand back the position reached, to continue from there.
                return Ok(ScanPage {
                    leads: kept,
                    next: bound,
                    read,
                });
            }
        }
        Ok(ScanPage {
            leads: kept,
            next: None,
            read,
        })
    }

    /// Replaces the rows of a [`Returned::LeadBody`] read that have no `body` (leads not
    /// yet migrated to `lead_item`'s layout: the projection left them without their fields)
    /// by their whole items, read by table key, and drops those deleted since. Nothing is
    /// read once a table is migrated.
    pub(crate) async fn read_previous_layout_whole<T>(
        &self,
        rows: &mut Vec<T>,
        item_of: impl Fn(&mut T) -> &mut Item,
    ) -> Result<(), StoreError> {
        let table_key = |item: &Item| -> Option<keys::Key> {
            Some(keys::Key {
                pk: item.get(keys::PK)?.as_s().ok()?.clone(),
                sk: item.get(SK)?.as_s().ok()?.clone(),
            })
        };
        let previous: Vec<keys::Key> = rows
            .iter_mut()
            .map(&item_of)
            .filter(|item| !item.contains_key(lead_item::BODY))
            .filter_map(|item| table_key(item))
            .collect();
        if previous.is_empty() {
            return Ok(());
        }
        let whole = self.batch_get_items(previous).await?;
        rows.retain_mut(|row| {
            let row = item_of(row);
            if row.contains_key(lead_item::BODY) {
                return true;
            }
            let key = table_key(row);
            match whole.iter().find(|item| table_key(item) == key) {
                Some(found) => {
                    *row = found.clone();
                    true
                }
                None => false,
            }
        });
        Ok(())
    }

    /// One partition of an index, `limit` items from `after` (exclusive) within the scan's
    /// bounds; says whether more may follow.
    pub(crate) async fn query_partition(
        &self,
        scan: &IndexScan,
        partition: &str,
        after: Option<&str>,
        limit: usize,
        returned: Returned,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut lo = scan.lo.clone().unwrap_or_else(|| " ".into());
        let mut hi = scan.hi.clone().unwrap_or_else(|| "~".into());
        if let Some(after) = after {
            if scan.descending {
                hi = hi.min(after.to_string());
            } else {
                lo = lo.max(after.to_string());
            }
        }
        if lo > hi {
            return Ok((Vec::new(), false));
        }
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(scan.index.name())
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
            .expression_attribute_names("#pk", scan.index.pk_attr())
            .expression_attribute_names("#sk", scan.index.sk_attr())
            .expression_attribute_values(":pk", s(partition))
            .expression_attribute_values(":lo", s(lo))
            .expression_attribute_values(":hi", s(hi))
            .scan_index_forward(!scan.descending)
            .limit(bounded_query_limit(limit, after))
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        // The index's sort key for the merge and the cursor.
        if let Some((projection, names)) = returned.projection(Some(&scan.index.sk_attr())) {
            query = query.projection_expression(projection);
            for (placeholder, name) in names {
                query = query.expression_attribute_names(placeholder, name);
            }
        }
        let out = query.send().await.map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        Ok(after_bound(
            out.items.unwrap_or_default(),
            &scan.index.sk_attr(),
            after,
            limit,
        ))
    }

    /// Search tokens starting with `prefix`, in token order after `after` (exclusive):
    /// `(sort key, lead id)` pairs, and whether more follow.
    pub async fn search_tokens(
        &self,
        tenant: TenantId,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Uuid)>, bool), StoreError> {
        // Tokens with the prefix sort between the prefix itself and the prefix followed by
        // the highest code point.
        let pk = keys::search_partition(tenant, prefix);
        let (items, more) = self
            .query_sort_prefix(
                pk,
                (prefix, '\u{10FFFF}'),
                after,
                limit,
                Consistency::Eventual,
            )
            .await?;
        let hits = items
            .into_iter()
            .filter_map(|i| {
                let sk = i.get(SK)?.as_s().ok()?.clone();
                let id = keys::search_token_lead(&sk)?;
                Some((sk, id))
            })
            .collect();
        Ok((hits, more))
    }
}

/// What a read of lead items returns of each: all of it, or what decoding the lead needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Returned {
    Whole,
    /// The table key, the index's sort key and `body` (see `lead_item`): the SDK then
    /// decodes 4 attributes per row instead of the item's 20 or so, half of them index keys
    /// that a list has no use for. Read units are the same (DynamoDB bills the item).
    LeadBody,
}

impl Returned {
    /// The `ProjectionExpression` and its attribute names (`None`: the whole item), with
    /// `index_sort_key` too for a read of an index. The table key is always in: it is what
    /// reads a lead in the previous layout whole ([`Store::read_previous_layout_whole`]).
    pub(crate) fn projection(
        self,
        index_sort_key: Option<&str>,
    ) -> Option<(String, HashMap<String, String>)> {
        if self == Returned::Whole {
            return None;
        }
        let mut names = HashMap::from([
            ("#tpk".to_string(), keys::PK.to_string()),
            ("#tsk".to_string(), SK.to_string()),
            ("#body".to_string(), lead_item::BODY.to_string()),
        ]);
        let mut projection = "#tpk, #tsk, #body".to_string();
        if let Some(sort_key) = index_sort_key {
            names.insert("#isk".to_string(), sort_key.to_string());
            projection.push_str(", #isk");
        }
        Some((projection, names))
    }
}

/// How a read of the base table sees recent writes (index reads are always eventual). An
/// eventually consistent read costs half the read units of a strong one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consistency {
    Strong,
    Eventual,
}

/// The `Limit` of a query read between inclusive sort-key bounds: one more item than
/// asked, to know whether more follow, and one more again when the lower bound is a cursor
/// whose own item [`after_bound`] will drop.
fn bounded_query_limit(limit: usize, after: Option<&str>) -> i32 {
    i32::try_from(limit + 1 + usize::from(after.is_some())).unwrap_or(i32::MAX)
}

/// What a query read with [`bounded_query_limit`] returns: the items after the cursor
/// (`BETWEEN` includes the cursor's own, already served), at most `limit` of them, and
/// whether more follow.
fn after_bound(
    items: Vec<Item>,
    sort_key: &str,
    after: Option<&str>,
    limit: usize,
) -> (Vec<Item>, bool) {
    let mut items: Vec<Item> = items
        .into_iter()
        .filter(|i| {
            after.is_none()
                || i.get(sort_key)
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    != after
        })
        .collect();
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

/// A read of one lead index: its partitions (several for a multi-value filter, merged by
/// sort key), inclusive sort-key bounds, and the direction.
#[derive(Clone, Debug)]
pub struct IndexScan {
    pub index: LeadIndex,
    pub partitions: Vec<String>,
    pub lo: Option<String>,
    pub hi: Option<String>,
    pub descending: bool,
}

/// What a scan kept, and the sort key to continue from (`None`: nothing more).
#[derive(Debug)]
pub struct ScanPage {
    pub leads: Vec<(String, Lead)>,
    pub next: Option<String>,
    pub read: usize,
}

/// One round of a merged scan: what every live partition returned, in the scan's order.
struct Round<'p> {
    items: Vec<(String, Item)>,
    /// The least advanced position among the partitions with more to read.
    frontier: Option<String>,
    /// The partitions with more to read.
    live: Vec<&'p String>,
    read: usize,
}

impl<'p> Round<'p> {
    fn merge(scan: &IndexScan, partitions: &[&'p String], results: Vec<(Vec<Item>, bool)>) -> Self {
        let sk_attr = scan.index.sk_attr();
        let sort_key = |item: &Item| item.get(&sk_attr).and_then(|v| v.as_s().ok()).cloned();
        let mut round = Round {
            items: Vec::new(),
            frontier: None,
            live: Vec::new(),
            read: 0,
        };
        for (partition, (items, more)) in partitions.iter().zip(results) {
            round.read += items.len();
            if more {
                round.live.push(*partition);
                let last = items.last().and_then(sort_key);
                // The least advanced partition with more to read bounds what is safe
                // to emit: its unread items may come before the others' read ones.
                round.frontier = match (round.frontier, last) {
                    (Some(f), Some(l)) => Some(if scan.descending { f.max(l) } else { f.min(l) }),
                    (f, l) => f.or(l),
                };
            }
            for item in items {
                round
                    .items
                    .push((sort_key(&item).unwrap_or_default(), item));
            }
        }
        round.items.sort_by(|a, b| {
            if scan.descending {
                b.0.cmp(&a.0)
            } else {
                a.0.cmp(&b.0)
            }
        });
        round
    }

    /// Whether `sk` lies past the frontier, where a partition's unread items may still
    /// come first.
    fn is_beyond(&self, scan: &IndexScan, sk: &str) -> bool {
        self.frontier
            .as_deref()
            .is_some_and(|f| if scan.descending { sk < f } else { sk > f })
    }
}

impl Store {
    /// One attribute (`attribute`, a string) of up to `limit` entries of an index
    /// partition, in key order: the ids a partition lists.
    pub(crate) async fn ids_in_partition(
        &self,
        index: LeadIndex,
        partition: String,
        attribute: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.pk_attr())
            .expression_attribute_values(":pk", s(partition))
            .projection_expression("#id")
            .expression_attribute_names("#id", attribute)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| Some(item.get(attribute)?.as_s().ok()?.clone()))
            .collect())
    }
}
