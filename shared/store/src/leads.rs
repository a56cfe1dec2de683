//! The lead repository: a lead's item with its index keys, and the transactions that
//! create, replace and delete it together with its email guard, audit entry, dashboard
//! counters, source counts and tag memberships, and the record of the search tokens it
//! moves (which move right after the commit: `search_sync`).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use uuid::Uuid;

use crate::keys;
use crate::lead_item;
use crate::scan::{Consistency, Returned};
use crate::{s, AuditEntry, Conflict, Item, Store, StoreError};
use crm_domain::lead::Lead;
use crm_domain::lead_writes;
use crm_domain::sources::Source;
use crm_domain::stats::{self, Counters};
use crm_domain::tenant::TenantId;

/// The numeric attributes of a counters item.
fn counters_of(item: Item) -> Counters {
    item.into_iter()
        .filter_map(|(k, v)| match v {
            AttributeValue::N(n) => n.parse().ok().map(|n| (k, n)),
            _ => None,
        })
        .collect()
}

impl Store {
    /// The lead with its table key and the key attributes of every index it belongs to.
    fn lead_item(lead: &Lead) -> Item {
        let mut item = lead_item::attributes(lead);
        item.extend(keys::lead(lead.tenant_id, lead.id).item_key());
        let status = lead.status.to_string();
        let priority = lead.priority.to_string();
        let source_id = lead.source_id.map(|id| id.to_string());
        let sparse = lead_writes::sparse_indexes(lead);
        let entries = keys::lead_indexes(&keys::LeadIndexInput {
            tenant: lead.tenant_id,
            id: lead.id,
            created_at: lead.created_at,
            score: lead.score,
            status: &status,
            priority: &priority,
            assigned_to: lead.assigned_to.as_deref(),
            source: source_id.as_deref(),
            follow_up: sparse.follow_up,
            hot: sparse.hot,
        });
        for (index, pk, sk) in entries {
            item.insert(index.pk_attr(), s(pk));
            item.insert(index.sk_attr(), s(sk));
        }
        item
    }

    /// An `ADD` of `counters` to the item at `key`, for a transaction.
    fn add_counters(
        &self,
        key: &keys::Key,
        counters: &Counters,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.item_key()));
        let mut parts = Vec::new();
        for (n, (name, change)) in counters.iter().enumerate() {
            parts.push(format!("#c{n} :c{n}"));
            update = update
                .expression_attribute_names(format!("#c{n}"), name)
                .expression_attribute_values(
                    format!(":c{n}"),
                    AttributeValue::N(change.to_string()),
                );
        }
        update.update_expression(format!("ADD {}", parts.join(", ")))
    }

    /// The side writes of a lead write, for its transaction: the record of the search
    /// tokens it moves (they move after the commit, see `search_sync`) and the dashboard
    /// counters' delta, as the domain decides them: the lead count item when `total`
    /// moves (creates and deletes), the lead's counters shard for the rest. With
    /// `max_leads`, the count's update is conditioned on the tenant's `total` staying
    /// within it (a create's; see [`Self::create_lead_with`]).
    fn side_writes(
        &self,
        tenant: TenantId,
        before: Option<&Lead>,
        after: Option<&Lead>,
        max_leads: Option<u64>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        let mut actions: Vec<_> = self.search_pending(before, after).into_iter().collect();
        let Some(lead_id) = after.or(before).map(|l| l.id) else {
            return actions;
        };
        let (total, shard) = stats::split(stats::delta(before, after));
        if let Some(total) = total {
            let mut update = self.add_counters(
                &keys::stats(tenant),
                &Counters::from([(stats::TOTAL.to_string(), total)]),
            );
            let mut guard = None;
            if let Some(max) = max_leads {
                update = update
                    .condition_expression(
                        "(attribute_not_exists(#c0) AND :max > :zero) OR #c0 < :max",
                    )
                    .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
                    .expression_attribute_values(":zero", AttributeValue::N("0".into()));
                guard = Some(Conflict::PlanLimit);
            }
            let update = update
                .build()
                .expect("update has table, key and expression");
            actions.push((TransactWriteItem::builder().update(update).build(), guard));
        }
        if !shard.is_empty() {
            let key = keys::stats_shard(tenant, stats::shard_of(lead_id));
            let update = self
                .add_counters(&key, &shard)
                .build()
                .expect("update has table, key and expression");
            actions.push((TransactWriteItem::builder().update(update).build(), None));
        }
        actions
    }

    fn email_guard(lead: &Lead) -> Item {
        let mut item = keys::lead_email(lead.tenant_id, &lead.email).item_key();
        item.insert("lead_id".into(), s(lead.id.to_string()));
        item
    }

    fn delete_guard(&self, lead: &Lead) -> TransactWriteItem {
        TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(
                        keys::lead_email(lead.tenant_id, &lead.email).item_key(),
                    ))
                    .condition_expression("lead_id = :id")
                    .expression_attribute_values(":id", s(lead.id.to_string()))
                    .build()
                    .expect("delete has table and key"),
            )
            .build()
    }

    pub async fn get_lead(&self, tenant: TenantId, id: Uuid) -> Result<Option<Lead>, StoreError> {
        let key = keys::lead(tenant, id);
        let found = self.get_returning(&key, Returned::LeadBody).await?;
        let item = match found {
            None => return Ok(None),
            // Not migrated to `lead_item`'s layout yet: the projection left its fields out.
            Some(item) if lead_item::is_previous_layout(&item) => match self.get(&key).await? {
                Some(whole) => whole,
                None => return Ok(None),
            },
            Some(item) => item,
        };
        let lead = lead_item::decode(item)?;
        // The key already scopes the read; this guards against a key-building mistake.
        Ok((lead.tenant_id == tenant).then_some(lead))
    }

    /// Writes a new lead with its email guard and audit entry, whatever the tenant's plan
    /// allows (seeding and benchmarks; requests go through [`Self::create_lead_with`]).
    pub async fn create_lead(&self, lead: &Lead, audit: &AuditEntry) -> Result<(), StoreError> {
        self.create_lead_with(lead, audit, None, None).await
    }

    /// [`Self::create_lead`], also creating `new_source` (the lead's source, named for the
    /// first time) in the same transaction, and refused with `Conflict::PlanLimit` when
    /// the tenant has `max_leads` leads already: the limit is a condition on the counters'
    /// `total` inside the create's transaction, so concurrent creates cannot pass it.
    pub async fn create_lead_with(
        &self,
        lead: &Lead,
        audit: &AuditEntry,
        new_source: Option<&Source>,
        max_leads: Option<u64>,
    ) -> Result<(), StoreError> {
        let actions = self.create_lead_actions(lead, audit, new_source, max_leads);
        self.commit_lead_write(actions, None, Some(lead)).await
    }

    /// The actions of a lead create's transaction (see [`Self::create_lead_with`]).
    fn create_lead_actions(
        &self,
        lead: &Lead,
        audit: &AuditEntry,
        new_source: Option<&Source>,
        max_leads: Option<u64>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        let absent = Some("attribute_not_exists(PK)");
        vec![
            (
                TransactWriteItem::builder()
                    .put(self.put(Self::lead_item(lead), absent))
                    .build(),
                Some(Conflict::Exists),
            ),
            (
                TransactWriteItem::builder()
                    .put(self.put(Self::email_guard(lead), absent))
                    .build(),
                Some(Conflict::Email),
            ),
            (self.audit_put(lead.tenant_id, audit), None),
        ]
        .into_iter()
        .chain(self.side_writes(lead.tenant_id, None, Some(lead), max_leads))
        .chain(self.source_writes(lead.tenant_id, None, Some(lead), new_source))
        .chain(self.tag_writes(lead.tenant_id, None, Some(lead)))
        .collect()
    }

    /// Replaces `before` with `after` if nobody changed it in between (`version` check),
    /// moving the email guard when the email changed.
    pub async fn update_lead(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        self.update_lead_with(before, after, audit, None).await
    }

    /// [`Self::update_lead`], also creating `new_source` (the lead's new source, named for
    /// the first time) in the same transaction.
    pub async fn update_lead_with(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
        new_source: Option<&Source>,
    ) -> Result<(), StoreError> {
        let actions = self.update_lead_actions(before, after, audit, new_source);
        self.commit_lead_write(actions, Some(before), Some(after))
            .await
    }

    /// The actions of a lead update's transaction (see [`Self::update_lead_with`]), for
    /// writes that change a lead along with something else (an activity's side effects).
    pub(crate) fn update_lead_actions(
        &self,
        before: &Lead,
        after: &Lead,
        audit: &AuditEntry,
        new_source: Option<&Source>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        // The version of the last client-written change goes with the lead (the domain
        // decides which fields those are), whichever path wrote it.
        let mut stored = after.clone();
        stored.edited_version = Some(lead_writes::edited_version(before, after));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::lead_item(&stored)))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(before.version.to_string()))
            .build()
            .expect("put has table and item");
        let mut actions = vec![(
            TransactWriteItem::builder().put(put).build(),
            Some(Conflict::Version),
        )];
        if before.email.to_lowercase() != after.email.to_lowercase() {
            actions.push((self.delete_guard(before), Some(Conflict::Version)));
            actions.push((
                TransactWriteItem::builder()
                    .put(self.put(Self::email_guard(after), Some("attribute_not_exists(PK)")))
                    .build(),
                Some(Conflict::Email),
            ));
        }
        actions.push((self.audit_put(after.tenant_id, audit), None));
        actions.extend(self.side_writes(after.tenant_id, Some(before), Some(after), None));
        actions.extend(self.source_writes(after.tenant_id, Some(before), Some(after), new_source));
        actions.extend(self.tag_writes(after.tenant_id, Some(before), Some(after)));
        actions
    }

    /// Deletes the lead and its email guard if it is still at the version read.
    pub async fn delete_lead(&self, lead: &Lead, audit: &AuditEntry) -> Result<(), StoreError> {
        let actions = self.delete_lead_actions(lead, audit);
        self.commit_lead_write(actions, Some(lead), None).await
    }

    /// The actions of a lead delete's transaction (see [`Self::delete_lead`]).
    fn delete_lead_actions(
        &self,
        lead: &Lead,
        audit: &AuditEntry,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(lead.tenant_id, lead.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(lead.version.to_string()))
            .build()
            .expect("delete has table and key");
        vec![
            (
                TransactWriteItem::builder().delete(delete).build(),
                Some(Conflict::Version),
            ),
            (self.delete_guard(lead), Some(Conflict::Version)),
            (self.audit_put(lead.tenant_id, audit), None),
            (
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(
                                keys::lead_insights(lead.tenant_id, lead.id).item_key(),
                            ))
                            .build()
                            .expect("delete has table and key"),
                    )
                    .build(),
                None,
            ),
        ]
        .into_iter()
        .chain(self.side_writes(lead.tenant_id, Some(lead), None, None))
        .chain(self.source_writes(lead.tenant_id, Some(lead), None, None))
        .chain(self.tag_writes(lead.tenant_id, Some(lead), None))
        .collect()
    }

    /// The tenant's dashboard counters: the lead count item and every counters shard,
    /// added up (one `BatchGetItem` of `stats::SHARDS + 1` keys). A table written before
    /// the shards keeps every counter in the count item; it is summed like the rest, so it
    /// reads right with no migration.
    pub async fn stats(&self, tenant: TenantId) -> Result<Counters, StoreError> {
        let keys = std::iter::once(keys::stats(tenant))
            .chain((0..stats::SHARDS).map(|n| keys::stats_shard(tenant, n)));
        let items: Vec<Counters> = self
            .batch_get_items(keys)
            .await?
            .into_iter()
            .map(counters_of)
            .collect();
        Ok(stats::sum(&items))
    }

    /// The tenant's lead count (the plan's usage; one read of the count item).
    pub async fn lead_count(&self, tenant: TenantId) -> Result<i64, StoreError> {
        let item = self.get(&keys::stats(tenant)).await?.unwrap_or_default();
        Ok(counters_of(item).get(stats::TOTAL).copied().unwrap_or(0))
    }

    /// Leads by id, strongly consistent, in one round trip per 100 (missing ids are left
    /// out).
    pub async fn get_leads(&self, tenant: TenantId, ids: &[Uuid]) -> Result<Vec<Lead>, StoreError> {
        self.read_leads(tenant, ids, Consistency::Strong).await
    }

    /// [`Store::get_leads`] eventually consistent, as every list reads (from the indexes),
    /// for half the read units: for search, whose hits come from token items that are
    /// themselves read eventually consistent.
    pub async fn get_listed_leads(
        &self,
        tenant: TenantId,
        ids: &[Uuid],
    ) -> Result<Vec<Lead>, StoreError> {
        self.read_leads(tenant, ids, Consistency::Eventual).await
    }

    async fn read_leads(
        &self,
        tenant: TenantId,
        ids: &[Uuid],
        consistency: Consistency,
    ) -> Result<Vec<Lead>, StoreError> {
        let mut items = self
            .batch_get_returning(
                ids.iter().map(|id| keys::lead(tenant, *id)),
                Returned::LeadBody,
                consistency,
            )
            .await?;
        self.read_previous_layout_whole(&mut items, |item| item)
            .await?;
        let mut leads = Vec::with_capacity(items.len());
        for item in items {
            let lead = lead_item::decode(item)?;
            // The keys already scope the read; this guards against a key-building mistake.
            if lead.tenant_id == tenant {
                leads.push(lead);
            }
        }
        Ok(leads)
    }
}

/// What one page of [`Store::migrate_leads`] did.
#[derive(Debug, Default)]
pub struct MigrationPage {
    /// Items the page read (DynamoDB's `ScannedCount`).
    pub scanned: usize,
    /// Lead items and tag-membership copies rewritten in the current layout.
    pub rewritten: usize,
    /// Where the next page starts; `None` after the last.
    pub next: Option<Item>,
}

impl Store {
    /// Rewrites, in one page of a table scan, the lead items and tag-membership copies
    /// still in an earlier layout (`lead_item::is_previous_layout`: one attribute per
    /// field, or a lead on the timeline indexes) in the current one, with their keys
    /// recomputed as a write would (`crm-admin table migrate-leads`).
    ///
    /// Safe beside live traffic: each rewrite is a put conditioned on the item being
    /// unchanged (`version`) and still in an earlier layout, so a lead written or deleted
    /// since the scan read it is left as the newer write left it. Reads take every layout
    /// by table key and on the filter indexes; the all-leads lists (GSI9/GSI10) show a
    /// lead once it is migrated or written again.
    pub async fn migrate_leads(&self, start: Option<Item>) -> Result<MigrationPage, StoreError> {
        let previous = lead_item::PREVIOUS_LAYOUT_CONDITION;
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression(format!(
                "{previous} AND (#sk = :lead OR begins_with(#sk, :tag))"
            ))
            .expression_attribute_names("#body", lead_item::BODY)
            .expression_attribute_names("#old", lead_item::PREVIOUS_INDEX_KEY.pk_attr())
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":lead", s(keys::LEAD_SK))
            .expression_attribute_values(":tag", s(keys::TAG_PREFIX))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(crate::classify)?;
        crate::usage::record(crate::usage::Kind::Read, out.consumed_capacity.as_slice());
        let mut page = MigrationPage {
            scanned: usize::try_from(out.scanned_count).unwrap_or(0),
            next: out.last_evaluated_key,
            ..MigrationPage::default()
        };
        for item in out.items.unwrap_or_default() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let (Some(pk), Some(sk)) = (text(keys::PK), text(keys::SK)) else {
                continue;
            };
            // A tag's own item (`{t}#TAGS`) matches the filter too; only a lead's
            // partition holds the lead and its copies.
            if keys::parse_lead_partition(&pk).is_none() || !lead_item::is_previous_layout(&item) {
                continue;
            }
            let lead = lead_item::decode(item)?;
            let rewritten = if sk == keys::LEAD_SK {
                Self::lead_item(&lead)
            } else if let Some(tag) = sk.strip_prefix(keys::TAG_PREFIX) {
                Self::membership_item(&lead, tag)
            } else {
                continue;
            };
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(rewritten))
                .condition_expression(format!("version = :seen AND {previous}"))
                .expression_attribute_names("#body", lead_item::BODY)
                .expression_attribute_names("#old", lead_item::PREVIOUS_INDEX_KEY.pk_attr())
                .expression_attribute_values(":seen", AttributeValue::N(lead.version.to_string()))
                .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
                .send()
                .await;
            match result {
                Ok(out) => {
                    crate::usage::record(
                        crate::usage::Kind::Write,
                        out.consumed_capacity.as_slice(),
                    );
                    page.rewritten += 1;
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {} // written or deleted since the scan: the newer write stands
                Err(e) => return Err(crate::classify(e)),
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use crm_domain::lead::{LeadInput, LeadStatus, WriteMode};
    use crm_domain::lead_writes::budget;
    use crm_domain::tags::MAX_PER_LEAD;

    /// A store whose client is never called: building a transaction needs no server.
    fn store() -> Store {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(config), "t")
    }

    /// A lead with every tag it may have and as many search tokens as are indexed, each
    /// word and tag drawn from `stem`.
    fn largest(tenant: TenantId, stem: &str) -> Lead {
        let words = |n: usize| -> String {
            (0..n)
                .map(|i| format!("{stem}{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let body = serde_json::json!({
            "first_name": format!("{stem}first"), "last_name": format!("{stem}last"),
            "email": format!("{stem}@{stem}.{stem}"), "company": words(5),
            "job_title": words(8), "industry": words(6), "phone": format!("+1 555 {}", stem.len()),
            "notes": words(200),
        });
        let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
        let mut lead = Lead::create(tenant, input, "u", Utc::now());
        lead.tag_ids = (0..MAX_PER_LEAD)
            .map(|_| Uuid::new_v4().to_string())
            .collect();
        lead.source_id = Some(Uuid::new_v4());
        lead
    }

    fn audit(lead: &Lead) -> AuditEntry {
        AuditEntry::lead(
            crm_domain::audit::Provenance::system("u", 30),
            lead.id,
            crate::AuditAction::Update,
            Utc::now(),
            Default::default(),
        )
    }

    #[test]
    fn no_lead_write_exceeds_the_transaction_limit() {
        let store = store();
        let tenant = TenantId::from_uuid(Uuid::new_v4());
        let before = largest(tenant, "alpha");
        assert_eq!(
            crm_domain::search::tokens(&before).len(),
            crm_domain::search::MAX_TOKENS
        );
        // Everything changes at once: every word, the email, every tag, the source (a new
        // one, created in the write), the status and the assignee.
        let mut after = largest(tenant, "charlie");
        after.id = before.id;
        after.version = before.version + 1;
        after.status = LeadStatus::Converted;
        after.assigned_to = Some("someone".into());
        let new_source = Source::new(tenant, "fair".into(), "u", Utc::now());
        after.source_id = Some(new_source.id);
        let tokens = lead_writes::token_changes(Some(&before), Some(&after));
        assert_eq!(tokens.moved().len(), 2 * crm_domain::search::MAX_TOKENS);

        let logged = crm_domain::activities::for_lead_change(&before, &after, "u", Utc::now());
        let update = store
            .update_lead_actions(&before, &after, &audit(&after), Some(&new_source))
            .len()
            + logged.len();
        let create = store
            .create_lead_actions(&after, &audit(&after), Some(&new_source), Some(1))
            .len();
        let delete = store.delete_lead_actions(&before, &audit(&before)).len();
        // The activity whose side effects a lead update is comes on top of that update,
        // with its own audit entry. An update leaves the lead count alone: its counters
        // shard only.
        let with_activity = update + 2;
        assert_eq!(
            (with_activity, create, delete),
            (budget::MAX - budget::INSIGHTS - 1, 28, 28)
        );
        const { assert!(budget::MAX <= budget::TRANSACTION_LIMIT) };
    }
}
