//! A lead's search tokens, moved right after the lead's write commits rather than inside
//! its transaction, so that a write's size does not grow with its text (a lead has up to
//! `search::MAX_TOKENS` tokens, and a write that replaces them all moves twice that many).
//!
//! - **In the write's transaction**, one `Update` of the lead's search item
//!   (`keys::lead_search`) adds the tokens the write moves, removed or added, to its
//!   `pending` set, records the write's lead version (`wv`), and puts the item in the
//!   pending partition of GSI1 (`keys::search_pending_partition`).
//! - **After the commit**, [`Store::sync_search`] settles the pending tokens against the lead
//!   as stored: a token the lead has is put, any other is deleted. It reads the lead first
//!   and the pending record second (a record from a newer write than the lead read sends
//!   it back to read again). Each move is one conditional write that applies only over a
//!   token settled against an older lead version (tokens record theirs, `v`), so no
//!   settling against an older lead undoes a newer one's, whatever order they land in.
//!   Last, the record is cleared on condition that no write recorded moves since it was
//!   read (or deleted with its deleted lead); when one did, the settling starts again.
//! - **Repair**: a settling that fails (the function timed out, throttling) leaves the
//!   tokens pending, and the write stands. [`Store::repair_search`] settles the leads in the
//!   pending partition; search calls it before its first page (an instance that found
//!   the partition empty looks again after `REPAIR_INTERVAL`), and the lead's next write
//!   that moves tokens settles everything pending too. Until then a stale token is
//!   harmless (search checks every hit against the lead's own tokens); a missing one hides
//!   the lead from that word.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Error as DynamoError;
use futures::StreamExt;
use uuid::Uuid;

use crate::keys::{self, LeadIndex};
use crate::usage::{record, Kind};
use crate::{classify, s, Conflict, Store, StoreError};
use crm_domain::lead::Lead;
use crm_domain::lead_writes;
use crm_domain::search;
use crm_domain::tenant::TenantId;

/// Attempts at settling when other writes of the lead keep moving it on.
const SETTLE_ATTEMPTS: usize = 3;

type Action = (TransactWriteItem, Option<Conflict>);

impl Store {
    /// The write's record of the tokens it moves (see the module doc), for its transaction;
    /// None when the write moves no token.
    pub(crate) fn search_pending(
        &self,
        before: Option<&Lead>,
        after: Option<&Lead>,
    ) -> Option<Action> {
        let moved = lead_writes::token_changes(before, after).moved();
        if moved.is_empty() {
            return None;
        }
        let lead = after.or(before).expect("a lead write has a lead");
        let index = LeadIndex::Timeline;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_search(lead.tenant_id, lead.id).item_key()))
            .update_expression(
                "SET lead_id = :id, #ipk = :ipk, #isk = :id, #wv = :wv ADD pending :moved",
            )
            .expression_attribute_names("#wv", WRITE_VERSION)
            .expression_attribute_values(
                ":wv",
                AttributeValue::N(write_version(before, after).to_string()),
            )
            .expression_attribute_names("#ipk", index.pk_attr())
            .expression_attribute_names("#isk", index.sk_attr())
            .expression_attribute_values(":id", s(lead.id.to_string()))
            .expression_attribute_values(":ipk", s(keys::search_pending_partition(lead.tenant_id)))
            .expression_attribute_values(":moved", AttributeValue::Ss(moved))
            .build()
            .expect("update has table, key and expression");
        Some((TransactWriteItem::builder().update(update).build(), None))
    }

    /// Runs a lead write's transaction, then settles the search tokens it moved. The write
    /// stands whatever the settling does; a failed settling is left to the repair.
    pub(crate) async fn commit_lead_write(
        &self,
        actions: Vec<Action>,
        before: Option<&Lead>,
        after: Option<&Lead>,
    ) -> Result<(), StoreError> {
        self.transact(actions).await?;
        let changes = lead_writes::token_changes(before, after);
        if changes.is_empty() {
            return Ok(());
        }
        let lead = after.or(before).expect("a lead write has a lead");
        // A new lead's pending record is exactly what its transaction wrote (no earlier
        // write of the lead can have left moves in it), so the first attempt need not read
        // it back. A write landing in between changes `wv`, and the clear's condition
        // sends the settling back to read both.
        let written = before.is_none().then(|| Pending {
            tokens: changes.moved(),
            write_version: Some(write_version(before, after)),
        });
        let settled = self
            .settle(lead.tenant_id, lead.id, Some(after.cloned()), written)
            .await;
        match settled {
            Ok(true) => {}
            Ok(false) => tracing::warn!(lead_id = %lead.id, "search tokens left pending"),
            Err(e) => tracing::warn!(lead_id = %lead.id, error = %e, "search tokens left pending"),
        }
        Ok(())
    }

    /// Settles the lead's pending search tokens, if any; false when other writes kept
    /// moving the lead on (they settle them in turn).
    pub async fn sync_search(&self, tenant: TenantId, lead_id: Uuid) -> Result<bool, StoreError> {
        self.settle(tenant, lead_id, None, None).await
    }

    /// Settles the pending search tokens of up to `limit` leads of the tenant; returns how
    /// many leads it settled. Once this instance has found the tenant's pending partition
    /// empty, it looks again only after [`REPAIR_INTERVAL`]: the partition is nearly
    /// always empty (every write settles its own moves), and the read was a quarter of a
    /// search's DynamoDB calls.
    pub async fn repair_search(&self, tenant: TenantId, limit: usize) -> Result<usize, StoreError> {
        if self.search_repairs.found_empty_lately(tenant) {
            return Ok(0);
        }
        let partition = keys::search_pending_partition(tenant);
        let ids = self
            .ids_in_partition(LeadIndex::Timeline, partition, "lead_id", limit)
            .await?;
        if ids.is_empty() {
            self.search_repairs.found_empty(tenant);
        }
        let mut settled = 0;
        for id in ids {
            let Ok(id) = id.parse() else {
                continue;
            };
            if self.settle(tenant, id, None, None).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// `known`: the lead as the write just committed it (`Some(None)`: deleted), and
    /// `written`: the pending record as it wrote it, when that is all the record holds;
    /// each spares the first attempt a read.
    async fn settle(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        mut known: Option<Option<Lead>>,
        mut written: Option<Pending>,
    ) -> Result<bool, StoreError> {
        for _ in 0..SETTLE_ATTEMPTS {
            // The lead first, the pending record second: a record written by a later
            // write than the lead as read says so (its `wv`), and the lead is read again.
            let lead = match known.take() {
                Some(lead) => lead,
                None => self.get_lead(tenant, lead_id).await?,
            };
            let pending = match written.take() {
                Some(pending) => pending,
                None => self.pending_tokens(tenant, lead_id).await?,
            };
            if pending.tokens.is_empty() {
                return Ok(true);
            }
            if let (Some(lead), Some(wv)) = (&lead, pending.write_version) {
                if wv > lead.version {
                    continue;
                }
            }
            match self
                .settle_pending(tenant, lead_id, lead.as_ref(), &pending)
                .await
            {
                Ok(()) => return Ok(true),
                Err(StoreError::Conflict(Conflict::Version)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    async fn pending_tokens(&self, tenant: TenantId, id: Uuid) -> Result<Pending, StoreError> {
        let item = self.get(&keys::lead_search(tenant, id)).await?;
        let pending = item.as_ref().and_then(|i| i.get("pending"));
        let mut tokens = pending
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        tokens.sort();
        let write_version = item
            .as_ref()
            .and_then(|i| i.get(WRITE_VERSION)?.as_n().ok()?.parse().ok());
        Ok(Pending {
            tokens,
            write_version,
        })
    }

    /// Moves each pending token as `lead` (None: deleted) has it, then clears the pending
    /// record if no write recorded moves since it was read (else `Conflict::Version`: the
    /// caller reads both again).
    ///
    /// Each move is its own conditional write, not part of a transaction: a token item is
    /// tiny, and a transaction bills every item twice and its lead check as a write of the
    /// whole lead (about 20 write units for a new lead's 8 tokens; these cost 8). The order
    /// of concurrent settlings is kept by versions instead: a token records the lead
    /// version it was settled against (`v`), and a move applies only over an older one, so
    /// no settling against an older lead undoes a newer one's. The one thing a late
    /// settling can leave is a stale token put after a newer settling deleted it, which
    /// search ignores (every hit is checked against the lead's own tokens).
    async fn settle_pending(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        lead: Option<&Lead>,
        pending: &Pending,
    ) -> Result<(), StoreError> {
        let wanted = lead.map(search::tokens).unwrap_or_default();
        // Collected first: a lazy `map` in the future's state trips the compiler's check
        // that callers' futures are `Send`.
        let mut moves = Vec::with_capacity(pending.tokens.len());
        for token in &pending.tokens {
            moves.push(self.move_token(tenant, lead_id, token, lead, wanted.contains(token)));
        }
        let moved: Vec<Result<(), StoreError>> = futures::stream::iter(moves)
            .buffer_unordered(MOVES_IN_FLIGHT)
            .collect()
            .await;
        moved.into_iter().collect::<Result<(), _>>()?;
        self.clear_pending(tenant, lead_id, pending, lead.is_none())
            .await
    }

    /// Puts (`wanted`) or deletes one token item, over an older settling's only (a deleted
    /// lead has no later version to keep: its tokens go whatever theirs).
    async fn move_token(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        token: &str,
        lead: Option<&Lead>,
        wanted: bool,
    ) -> Result<(), StoreError> {
        let key = keys::search_token(tenant, token, lead_id).item_key();
        let version = lead.map(|lead| AttributeValue::N(lead.version.to_string()));
        let older = version
            .as_ref()
            .map(|_| "attribute_not_exists(v) OR v <= :v".to_string());
        let values = version
            .clone()
            .map(|v| HashMap::from([(":v".to_string(), v)]));
        let sent = match version {
            Some(version) if wanted => {
                // The key says the lead (`keys::search_token_lead`); tokens written before
                // also have a `lead_id`, which nothing reads any more.
                let mut item = key;
                item.insert("v".into(), version);
                let put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item));
                put.set_condition_expression(older)
                    .set_expression_attribute_values(values)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map(|out| out.consumed_capacity)
                    .map_err(|e| e.map_service_error(DynamoError::from))
            }
            _ => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .set_condition_expression(older)
                .set_expression_attribute_values(values)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| out.consumed_capacity)
                .map_err(|e| e.map_service_error(DynamoError::from)),
        };
        // A failed condition: a settling against a newer lead wrote it, and that one stands.
        single_write(sent, Ok(()))
    }

    /// Clears the pending record (deletes it with its deleted lead) if no write recorded
    /// moves since it was read.
    async fn clear_pending(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        pending: &Pending,
        gone: bool,
    ) -> Result<(), StoreError> {
        let key = keys::lead_search(tenant, lead_id).item_key();
        let unchanged = match pending.write_version {
            Some(_) => "#wv = :wv",
            None => "attribute_not_exists(#wv)",
        };
        let values = pending
            .write_version
            .map(|wv| HashMap::from([(":wv".to_string(), AttributeValue::N(wv.to_string()))]));
        let index = LeadIndex::Timeline;
        let sent = if gone {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .condition_expression(unchanged)
                .expression_attribute_names("#wv", WRITE_VERSION)
                .set_expression_attribute_values(values)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| out.consumed_capacity)
                .map_err(|e| e.map_service_error(DynamoError::from))
        } else {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("REMOVE pending, #ipk, #isk")
                .expression_attribute_names("#ipk", index.pk_attr())
                .expression_attribute_names("#isk", index.sk_attr())
                .condition_expression(unchanged)
                .expression_attribute_names("#wv", WRITE_VERSION)
                .set_expression_attribute_values(values)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| out.consumed_capacity)
                .map_err(|e| e.map_service_error(DynamoError::from))
        };
        single_write(sent, Err(StoreError::Conflict(Conflict::Version)))
    }
}

/// A single-item write as sent: its consumed capacity, or DynamoDB's error.
type Sent = Result<Option<ConsumedCapacity>, SdkError<DynamoError, HttpResponse>>;

/// Records a write's capacity; a failed condition answers `on_condition`.
fn single_write(sent: Sent, on_condition: Result<(), StoreError>) -> Result<(), StoreError> {
    match sent {
        Ok(capacity) => {
            record(Kind::Write, capacity.as_slice());
            Ok(())
        }
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(DynamoError::ConditionalCheckFailedException(_))
            ) =>
        {
            on_condition
        }
        Err(e) => Err(classify(e)),
    }
}

/// How long a search trusts this instance's last look at a tenant's pending partition,
/// when it found it empty. A write whose own settling failed in between (a timeout, a
/// throttle) then waits up to this long for a search to settle it, or for its lead's next
/// write; meanwhile a word it added does not find the lead (a removed one never shows it:
/// hits are checked against the lead).
pub const REPAIR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// When this instance last found each tenant's pending partition empty.
#[derive(Default)]
pub(crate) struct RepairClock(std::sync::Mutex<HashMap<TenantId, std::time::Instant>>);

impl RepairClock {
    fn found_empty_lately(&self, tenant: TenantId) -> bool {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&tenant)
            .is_some_and(|at| at.elapsed() < REPAIR_INTERVAL)
    }

    fn found_empty(&self, tenant: TenantId) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Entries past the interval say nothing any more: dropped, so that the map holds
        // only the tenants searched lately.
        seen.retain(|_, at| at.elapsed() < REPAIR_INTERVAL);
        seen.insert(tenant, std::time::Instant::now());
    }
}

/// The pending record of a lead's search tokens, as read (or as a create wrote it).
struct Pending {
    tokens: Vec<String>,
    /// The lead version of the last write that recorded moves (`None`: a record written
    /// before versions were recorded).
    write_version: Option<u64>,
}

/// The pending record's attribute naming the lead version of the last write that moved
/// tokens (a deleted lead's: one past its last).
const WRITE_VERSION: &str = "wv";

/// Token moves of one settling in flight at once.
const MOVES_IN_FLIGHT: usize = 16;

fn write_version(before: Option<&Lead>, after: Option<&Lead>) -> u64 {
    match (before, after) {
        (_, Some(after)) => after.version,
        (Some(before), None) => before.version + 1,
        (None, None) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditAction, AuditEntry};
    use crm_domain::fixtures;

    async fn store() -> Store {
        let client = crate::emulator_client().await;
        crate::table::create_table_if_absent(&client, "crm")
            .await
            .unwrap();
        Store::new(client, "crm")
    }

    /// The audit entry of a lead's creation (by the system).
    fn creation(lead: &Lead) -> AuditEntry {
        AuditEntry::lead(
            crm_domain::audit::Provenance::system("u", 30),
            lead.id,
            AuditAction::Create,
            chrono::Utc::now(),
            Default::default(),
        )
    }

    /// The version a token was last settled against, if it is there.
    async fn token(store: &Store, lead: &Lead, token: &str) -> Option<u64> {
        let item = store
            .get(&keys::search_token(lead.tenant_id, token, lead.id))
            .await
            .unwrap()?;
        Some(item["v"].as_n().unwrap().parse().unwrap())
    }

    /// A create settles its tokens without reading back the pending record its own
    /// transaction wrote: one transaction, a write per token, the clear.
    #[tokio::test]
    async fn a_create_settles_its_tokens_in_one_write_each_after_its_transaction() {
        let store = store().await;
        let lead = fixtures::lead();
        let audit = creation(&lead);
        let tokens = search::tokens(&lead);
        assert!(!tokens.is_empty());
        let (created, usage) = crate::usage::measure(store.create_lead(&lead, &audit)).await;
        created.unwrap();
        assert_eq!(usage.round_trips as usize, 1 + tokens.len() + 1);
        for word in &tokens {
            assert_eq!(
                token(&store, &lead, word).await,
                Some(lead.version),
                "{word}"
            );
        }
        let pending = store.pending_tokens(lead.tenant_id, lead.id).await.unwrap();
        assert!(pending.tokens.is_empty());
        assert_eq!(store.repair_search(lead.tenant_id, 10).await.unwrap(), 0);
    }

    /// Search reads its hits eventually consistent, as lists read: half the units.
    #[tokio::test]
    async fn search_hits_are_read_for_half_the_units_of_a_strong_read() {
        let store = store().await;
        let lead = fixtures::lead();
        let audit = creation(&lead);
        store.create_lead(&lead, &audit).await.unwrap();
        let ids = [lead.id];
        let (strong, strong_usage) =
            crate::usage::measure(store.get_leads(lead.tenant_id, &ids)).await;
        let (listed, listed_usage) =
            crate::usage::measure(store.get_listed_leads(lead.tenant_id, &ids)).await;
        assert_eq!(strong.unwrap(), listed.unwrap());
        assert_eq!(strong_usage.read_units, 1.0);
        assert_eq!(listed_usage.read_units, 0.5);
    }

    /// An instance that found a tenant's pending partition empty does not read it again
    /// within `REPAIR_INTERVAL`; another instance (its own clock) does. (One that found
    /// leads to settle looks again at once: the leads API's repair test.)
    #[tokio::test]
    async fn a_search_repair_that_found_nothing_is_not_repeated_within_its_interval() {
        let store = store().await;
        let tenant = TenantId::from_uuid(Uuid::new_v4());
        let repair = |store: Store| async move {
            let (settled, usage) = crate::usage::measure(store.repair_search(tenant, 10)).await;
            (settled.unwrap(), usage.round_trips)
        };
        assert_eq!(repair(store.clone()).await, (0, 1));
        assert_eq!(repair(store.clone()).await, (0, 0));
        let other = Store::new(store.client().clone(), "crm");
        assert_eq!(repair(other).await, (0, 1));
    }

    /// Settlings of two versions of a lead landing in the wrong order: the older one's
    /// moves never undo the newer one's; the most it leaves is a stale token, which
    /// search ignores and the next settling removes.
    #[tokio::test]
    async fn a_settling_against_an_older_lead_never_undoes_a_newer_ones() {
        let store = store().await;
        let mut v1 = fixtures::lead();
        v1.version = 1;
        let mut v2 = v1.clone();
        v2.version = 2;
        let (tenant, id) = (v1.tenant_id, v1.id);

        // Version 2 replaced "alpha" with "bravo"; its settling lands first.
        store
            .move_token(tenant, id, "bravo", Some(&v2), true)
            .await
            .unwrap();
        store
            .move_token(tenant, id, "alpha", Some(&v2), false)
            .await
            .unwrap();
        // Version 1's settling lands after it: its delete of "bravo" does not apply...
        store
            .move_token(tenant, id, "bravo", Some(&v1), false)
            .await
            .unwrap();
        assert_eq!(token(&store, &v2, "bravo").await, Some(2));
        // ...and its put of "alpha" leaves a stale token.
        store
            .move_token(tenant, id, "alpha", Some(&v1), true)
            .await
            .unwrap();
        assert_eq!(token(&store, &v1, "alpha").await, Some(1));
        store
            .move_token(tenant, id, "alpha", Some(&v2), false)
            .await
            .unwrap();
        assert_eq!(token(&store, &v1, "alpha").await, None);
        // A deleted lead's tokens go, whatever version put them.
        store
            .move_token(tenant, id, "bravo", None, false)
            .await
            .unwrap();
        assert_eq!(token(&store, &v2, "bravo").await, None);
    }
}
