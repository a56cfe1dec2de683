//! A lead's search tokens, moved right after the lead's write commits rather than inside
//! its transaction, so that a write's size does not grow with its text (a lead has up to
//! `search::MAX_TOKENS` tokens, and a write that replaces them all moves twice that many).
//!
//! - **In the write's transaction**, one `Update` of the lead's search item
//!   (`keys::lead_search`) adds the tokens the write moves, removed or added, to its
//!   `pending` set, and puts the item in the pending partition of GSI1
//!   (`keys::search_pending_partition`).
//! - **After the commit**, [`Store::sync_search`] settles the pending tokens against the lead
//!   as stored: a token the lead has is put, any other is deleted. It reads the lead first
//!   and the pending set second, and each of its transactions checks that the lead is still
//!   at the version read (or still gone), so no move can land after a newer write's: a
//!   newer write's own settling comes after it, and its tokens are pending too. The last
//!   transaction clears `pending` and the index keys (or deletes the item of a deleted lead).
//! - **Repair**: a settling that fails (the function timed out, throttling) leaves the
//!   tokens pending, and the write stands. [`Store::repair_search`] settles the leads in the
//!   pending partition; search calls it before its first page, and the lead's next write
//!   that moves tokens settles everything pending too. Until then a stale token is harmless (search
//!   checks every hit against the lead's own tokens); a missing one hides the lead from
//!   that word.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};
use uuid::Uuid;

use crate::keys::{self, LeadIndex};
use crate::{s, Conflict, Store, StoreError};
use crm_domain::lead::Lead;
use crm_domain::lead_writes;
use crm_domain::search;
use crm_domain::tenant::TenantId;

/// Token moves per settling transaction, leaving room for its lead check and the update of
/// the search item (DynamoDB allows 100 actions).
pub const SETTLE_CHUNK: usize = 96;
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
        let index = LeadIndex::Created;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_search(lead.tenant_id, lead.id).item_key()))
            .update_expression("SET lead_id = :id, #ipk = :ipk, #isk = :id ADD pending :moved")
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
        if lead_writes::token_changes(before, after).is_empty() {
            return Ok(());
        }
        let lead = after.or(before).expect("a lead write has a lead");
        let settled = self
            .settle(lead.tenant_id, lead.id, Some(after.cloned()))
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
        self.settle(tenant, lead_id, None).await
    }

    /// Settles the pending search tokens of up to `limit` leads of the tenant; returns how
    /// many leads it settled.
    pub async fn repair_search(&self, tenant: TenantId, limit: usize) -> Result<usize, StoreError> {
        let partition = keys::search_pending_partition(tenant);
        let ids = self
            .ids_in_partition(LeadIndex::Created, partition, "lead_id", limit)
            .await?;
        let mut settled = 0;
        for id in ids {
            let Ok(id) = id.parse() else {
                continue;
            };
            if self.settle(tenant, id, None).await? {
                settled += 1;
            }
        }
        Ok(settled)
    }

    /// `known`: the lead as the write just committed it (`Some(None)`: deleted), which
    /// spares the first attempt its read.
    async fn settle(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        mut known: Option<Option<Lead>>,
    ) -> Result<bool, StoreError> {
        for _ in 0..SETTLE_ATTEMPTS {
            // The lead first, the pending set second: anything pending that the lead as
            // read does not reflect came from a later write, and fails the lead check.
            let lead = match known.take() {
                Some(lead) => lead,
                None => self.get_lead(tenant, lead_id).await?,
            };
            let pending = self.pending_tokens(tenant, lead_id).await?;
            if pending.is_empty() {
                return Ok(true);
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

    async fn pending_tokens(&self, tenant: TenantId, id: Uuid) -> Result<Vec<String>, StoreError> {
        let item = self.get(&keys::lead_search(tenant, id)).await?;
        let pending = item.as_ref().and_then(|i| i.get("pending"));
        let mut tokens = pending
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        tokens.sort();
        Ok(tokens)
    }

    /// The moves of `pending` against `lead` (None: deleted), in transactions of at most
    /// [`SETTLE_CHUNK`] moves, each checking that the lead is as read.
    async fn settle_pending(
        &self,
        tenant: TenantId,
        lead_id: Uuid,
        lead: Option<&Lead>,
        pending: &[String],
    ) -> Result<(), StoreError> {
        let wanted = lead.map(search::tokens).unwrap_or_default();
        let chunks: Vec<&[String]> = pending.chunks(SETTLE_CHUNK).collect();
        for (n, chunk) in chunks.iter().enumerate() {
            let mut actions = vec![(
                self.lead_as_read(tenant, lead_id, lead),
                Some(Conflict::Version),
            )];
            for token in *chunk {
                let key = keys::search_token(tenant, token, lead_id);
                let action = if wanted.contains(token) {
                    let mut item = key.item_key();
                    item.insert("lead_id".into(), s(lead_id.to_string()));
                    TransactWriteItem::builder()
                        .put(self.put(item, None))
                        .build()
                } else {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key.item_key()))
                        .build()
                        .expect("delete has table and key");
                    TransactWriteItem::builder().delete(delete).build()
                };
                actions.push((action, None));
            }
            let last = n + 1 == chunks.len();
            actions.push((
                self.settled(tenant, lead_id, chunk, last, lead.is_none()),
                None,
            ));
            self.transact(actions).await?;
        }
        Ok(())
    }

    /// A check that the lead is still at the version read (or still absent).
    fn lead_as_read(&self, tenant: TenantId, id: Uuid, lead: Option<&Lead>) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(tenant, id).item_key()));
        let check = match lead {
            Some(lead) => check
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(lead.version.to_string())),
            None => check.condition_expression("attribute_not_exists(PK)"),
        };
        TransactWriteItem::builder()
            .condition_check(check.build().expect("check has table, key and condition"))
            .build()
    }

    /// Takes settled tokens off the pending set; the last chunk also takes the item out of
    /// the pending partition, or deletes it with its deleted lead.
    fn settled(
        &self,
        tenant: TenantId,
        id: Uuid,
        chunk: &[String],
        last: bool,
        gone: bool,
    ) -> TransactWriteItem {
        let key = keys::lead_search(tenant, id).item_key();
        if last && gone {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .build()
                .expect("delete has table and key");
            return TransactWriteItem::builder().delete(delete).build();
        }
        let index = LeadIndex::Created;
        let expression = if last {
            "DELETE pending :settled REMOVE #ipk, #isk"
        } else {
            "DELETE pending :settled"
        };
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .expression_attribute_values(":settled", AttributeValue::Ss(chunk.to_vec()));
        if last {
            update = update
                .expression_attribute_names("#ipk", index.pk_attr())
                .expression_attribute_names("#isk", index.sk_attr());
        }
        let update = update
            .build()
            .expect("update has table, key and expression");
        TransactWriteItem::builder().update(update).build()
    }
}
