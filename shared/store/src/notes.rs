//! Notes in the store: note items with their index entries.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem};
use uuid::Uuid;

use super::{from_item, s, to_item, Conflict, Item, Store, StoreError};
use crate::keys::{self, LeadIndex};
use crm_domain::notes::Note;
use crm_domain::tenant::TenantId;

impl Store {
    fn note_item(n: &Note) -> Item {
        let mut item = to_item(n);
        let t = n.tenant_id;
        item.extend(keys::note(t, n.id).item_key());
        let by_time = keys::time_sort_key(n.created_at, n.id);
        for (index, pk) in [
            (LeadIndex::Created, keys::notes_partition(t)),
            (LeadIndex::Score, keys::lead_notes_partition(t, n.lead)),
        ] {
            item.insert(index.pk_attr(), s(pk));
            item.insert(index.sk_attr(), s(by_time.clone()));
        }
        item
    }

    /// Writes a new note, checking in the same transaction that its lead still exists.
    pub async fn create_note(&self, note: &Note) -> Result<(), StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(keys::lead(note.tenant_id, note.lead).item_key()))
            .condition_expression("attribute_exists(PK)")
            .build()
            .expect("check has table, key and condition");
        self.transact(vec![
            (
                TransactWriteItem::builder()
                    .put(self.put(Self::note_item(note), Some("attribute_not_exists(PK)")))
                    .build(),
                Some(Conflict::Exists),
            ),
            (
                TransactWriteItem::builder().condition_check(check).build(),
                Some(Conflict::Lead),
            ),
        ])
        .await
    }

    pub async fn get_note(&self, tenant: TenantId, id: Uuid) -> Result<Option<Note>, StoreError> {
        let Some(item) = self.get(&keys::note(tenant, id)).await? else {
            return Ok(None);
        };
        let n: Note = from_item(item)?;
        Ok((n.tenant_id == tenant).then_some(n))
    }

    pub async fn update_note(&self, before: &Note, after: &Note) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::note_item(after)))
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

    pub async fn delete_note(&self, n: &Note) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(keys::note(n.tenant_id, n.id).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(n.version.to_string()))
            .build()
            .expect("delete has table and key");
        self.transact(vec![(
            TransactWriteItem::builder().delete(delete).build(),
            Some(Conflict::Version),
        )])
        .await
    }
}
