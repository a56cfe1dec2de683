//! Lead tags in the store: tag items, their name guards, and what a lead write adds to its
//! transaction for its tags (membership copies and `leads_count`).

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnConsumedCapacity, TransactWriteItem, Update,
};
use uuid::Uuid;

use super::{classify, from_item, record, s, to_item, Conflict, Item, Kind, Store, StoreError};
use crate::keys::{self, LeadIndex};
use crm_domain::lead::Lead;
use crm_domain::tags::Tag;
use crm_domain::tenant::TenantId;

impl Store {
    fn tag_item(tag: &Tag) -> Item {
        let mut item = to_item(tag);
        item.extend(keys::lead_tag(tag.tenant_id, tag.id).item_key());
        item
    }

    fn tag_name_guard(tag: &Tag) -> Item {
        let mut item = keys::lead_tag_name(tag.tenant_id, &tag.name).item_key();
        item.insert("tag_id".into(), s(tag.id.to_string()));
        item.insert("name".into(), s(&tag.name));
        item
    }

    /// A lead's copy under one tag: the lead's fields, its membership key, and only the
    /// GSI6 key (by score), so it shows in that tag's partition and in no lead index.
    fn membership_item(lead: &Lead, tag_id: &str) -> Item {
        let mut item = to_item(lead);
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

    pub async fn get_tag(&self, tenant: TenantId, id: Uuid) -> Result<Option<Tag>, StoreError> {
        let Some(item) = self.get(&keys::lead_tag(tenant, id)).await? else {
            return Ok(None);
        };
        let tag: Tag = from_item(item)?;
        Ok((tag.tenant_id == tenant).then_some(tag))
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
        let records: Vec<Tag> = self
            .batch_get(ids.iter().map(|id| keys::lead_tag(tenant, *id)))
            .await?;
        Ok(records
            .into_iter()
            .filter(|r| r.tenant_id == tenant)
            .collect())
    }

    /// Up to `limit` tags after the sort key `after` (exclusive), and whether more follow.
    pub async fn list_tags(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Tag)>, bool), StoreError> {
        self.query_prefix(keys::tags_partition(tenant), keys::TAG_PREFIX, after, limit)
            .await
    }

    /// Ids of up to `limit` leads that have the tag (its GSI6 membership partition).
    pub async fn tagged_lead_ids(
        &self,
        tenant: TenantId,
        tag: Uuid,
        limit: usize,
    ) -> Result<Vec<Uuid>, StoreError> {
        let index = LeadIndex::Source;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.pk_attr())
            .expression_attribute_values(":pk", s(keys::tagged_partition(tenant, &tag.to_string())))
            .projection_expression("id")
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
            .filter_map(|i| i.get("id")?.as_s().ok()?.parse().ok())
            .collect())
    }

    pub async fn create_tag(&self, tag: &Tag) -> Result<(), StoreError> {
        self.create_named(Self::tag_item(tag), Self::tag_name_guard(tag))
            .await
    }

    /// Writes a tag's own fields at `before`'s version (an `Update`: `leads_count` moves
    /// with lead writes), moving its name guard with a rename.
    pub async fn update_tag(&self, before: &Tag, after: &Tag) -> Result<(), StoreError> {
        let t = after.tenant_id;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_tag(t, after.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(before.version.to_string()))
            .expression_attribute_values(":v", AttributeValue::N(after.version.to_string()))
            .expression_attribute_values(":n", s(&after.name))
            .expression_attribute_values(":c", s(&after.color))
            .expression_attribute_values(":a", AttributeValue::Bool(after.is_active))
            .expression_attribute_values(":u", s(keys::sortable_time(after.updated_at)))
            .expression_attribute_names("#n", "name");
        update = match &after.description {
            Some(d) => update
                .update_expression(
                    "SET version = :v, #n = :n, color = :c, is_active = :a, updated_at = :u, description = :d",
                )
                .expression_attribute_values(":d", s(d)),
            None => update.update_expression(
                "SET version = :v, #n = :n, color = :c, is_active = :a, updated_at = :u REMOVE description",
            ),
        };
        let mut actions = vec![(
            TransactWriteItem::builder()
                .update(
                    update
                        .build()
                        .expect("update has table, key and expression"),
                )
                .build(),
            Some(Conflict::Version),
        )];
        if before.name.to_lowercase() != after.name.to_lowercase() {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::lead_tag_name(t, &before.name).item_key()))
                .condition_expression("tag_id = :id")
                .expression_attribute_values(":id", s(before.id.to_string()))
                .build()
                .expect("delete has table and key");
            actions.push((
                TransactWriteItem::builder().delete(delete).build(),
                Some(Conflict::Version),
            ));
            actions.push((
                TransactWriteItem::builder()
                    .put(self.put(
                        Self::tag_name_guard(after),
                        Some("attribute_not_exists(PK)"),
                    ))
                    .build(),
                Some(Conflict::Name),
            ));
        } else if before.name != after.name {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(Self::tag_name_guard(after)))
                .condition_expression("tag_id = :id")
                .expression_attribute_values(":id", s(before.id.to_string()))
                .build()
                .expect("put has table and item");
            actions.push((
                TransactWriteItem::builder().put(put).build(),
                Some(Conflict::Version),
            ));
        }
        self.transact(actions).await
    }

    /// Deletes a tag and its name guard, only while no lead has it (`leads_count` is exact).
    pub async fn delete_tag(&self, tag: &Tag) -> Result<(), StoreError> {
        let t = tag.tenant_id;
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_tag(t, tag.id).item_key()))
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(leads_count) OR leads_count <= :zero)",
            )
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .expect("delete has table and key");
        let guard = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead_tag_name(t, &tag.name).item_key()))
            .condition_expression("tag_id = :id")
            .expression_attribute_values(":id", s(tag.id.to_string()))
            .build()
            .expect("delete has table and key");
        self.transact(vec![
            (
                TransactWriteItem::builder().delete(delete).build(),
                Some(Conflict::Version),
            ),
            (
                TransactWriteItem::builder().delete(guard).build(),
                Some(Conflict::Version),
            ),
        ])
        .await
    }
}
