//! Lead tags in the store: tag items, their name guards, and what a lead write adds to its
//! transaction for its tags (membership copies and `leads_count`).

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use uuid::Uuid;

use super::{s, Conflict, Item, Store, StoreError};
use crate::keys::{self, Key, LeadIndex};
use crate::versioned::{NameGuard, Partitioned, Versioned};
use crm_domain::lead::Lead;
use crm_domain::tags::Tag;
use crm_domain::tenant::TenantId;

impl Versioned for Tag {
    const AUDITED_AS: crate::ResourceType = crate::ResourceType::Tag;

    const COUNTERS: &'static [&'static str] = &["leads_count"];

    fn key(tenant: TenantId, id: Uuid) -> Key {
        keys::lead_tag(tenant, id)
    }

    fn edited(&self) -> Vec<(&'static str, Option<AttributeValue>)> {
        vec![
            ("name", Some(s(&self.name))),
            ("color", Some(s(&self.color))),
            ("is_active", Some(AttributeValue::Bool(self.is_active))),
            ("updated_at", Some(s(keys::sortable_time(self.updated_at)))),
            ("description", self.description.as_deref().map(s)),
        ]
    }

    fn name_guard(&self) -> Option<NameGuard> {
        Some(NameGuard {
            key: keys::lead_tag_name(self.tenant_id, &self.name),
            owner: "tag_id",
            name: Some(self.name.clone()),
            released_on_delete: true,
        })
    }
}

impl Partitioned for Tag {
    const PREFIX: &'static str = keys::TAG_PREFIX;
    fn partition(tenant: TenantId) -> String {
        keys::tags_partition(tenant)
    }
}

impl Store {
    /// A lead's copy under one tag: the lead's fields, its membership key, and only the
    /// GSI6 key (by score), so it shows in that tag's partition and in no lead index.
    pub(crate) fn membership_item(lead: &Lead, tag_id: &str) -> Item {
        let mut item = crate::lead_item::copy_attributes(lead);
        item.extend(keys::tag_membership(lead.tenant_id, lead.id, tag_id).item_key());
        let index = LeadIndex::Source;
        item.insert(
            index.pk_attr(),
            s(keys::tagged_partition(lead.tenant_id, tag_id)),
        );
        item.insert(
            index.sk_attr(),
            s(keys::score_sort_key(lead.score, lead.created_at, lead.id)),
        );
        item
    }

    /// The transaction actions of a lead write for its tags: the membership copy of every
    /// tag it has (rewritten, since the copy carries the lead), deleted for tags it lost,
    /// and `ADD leads_count` on tags gained or lost, conditioned on the tag existing.
    pub(super) fn tag_writes(
        &self,
        tenant: TenantId,
        before: Option<&Lead>,
        after: Option<&Lead>,
    ) -> Vec<(TransactWriteItem, Option<Conflict>)> {
        let tags = crm_domain::lead_writes::tag_changes(before, after);
        let id = after.or(before).expect("a lead write has a lead").id;
        let mut actions = Vec::new();
        if let Some(after) = after {
            for tag in &tags.current {
                actions.push((
                    TransactWriteItem::builder()
                        .put(self.put(Self::membership_item(after, tag), None))
                        .build(),
                    None,
                ));
            }
        }
        for tag in &tags.lost {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::tag_membership(tenant, id, tag).item_key()))
                .build()
                .expect("delete has table and key");
            actions.push((TransactWriteItem::builder().delete(delete).build(), None));
        }
        for (tag_id, change) in tags.counts {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(keys::lead_tag(tenant, tag_id).item_key()))
                .update_expression("ADD leads_count :n")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_values(":n", AttributeValue::N(change.to_string()))
                .build()
                .expect("update has table, key and expression");
            actions.push((
                TransactWriteItem::builder().update(update).build(),
                Some(Conflict::Tag),
            ));
        }
        actions
    }

    /// The tag with this name (case-insensitively): its id, from its guard.
    pub async fn tag_by_name(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        Ok(self
            .get(&keys::lead_tag_name(tenant, name))
            .await?
            .and_then(|item| item.get("tag_id")?.as_s().ok()?.parse().ok()))
    }

    /// Tags by id, one round trip per 100 (missing ids left out).
    pub async fn get_tags(&self, tenant: TenantId, ids: &[Uuid]) -> Result<Vec<Tag>, StoreError> {
        self.get_records(tenant, ids).await
    }

    /// Ids of up to `limit` leads that have the tag (its GSI6 membership partition).
    pub async fn tagged_lead_ids(
        &self,
        tenant: TenantId,
        tag: Uuid,
        limit: usize,
    ) -> Result<Vec<Uuid>, StoreError> {
        let partition = keys::tagged_partition(tenant, &tag.to_string());
        let ids = self
            .ids_in_partition(LeadIndex::Source, partition, "id", limit)
            .await?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }
}
