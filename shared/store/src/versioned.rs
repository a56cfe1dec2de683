//! One mechanism for the records a tenant owns (sources, tags, notes, activities, custom
//! fields, and those to come): read by key; created only if absent, with the guard of a
//! name unique in the tenant and, for a record on a lead, a check that the lead exists, in
//! one transaction; written back only at the version read (`version = :seen`), moving the
//! name guard with a rename; deleted the same way.
//!
//! A record type says where it lives and what it carries ([`Versioned`]); nothing here
//! knows which record it writes.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{from_item, s, to_item, Conflict, Item, Store, StoreError};
use crate::keys::{self, Key, LeadIndex};
use crate::{AuditEntry, ResourceType};
use crm_domain::record::Record;
use crm_domain::tenant::TenantId;

/// A transaction action, with the conflict its failed condition means.
type Action = (TransactWriteItem, Option<Conflict>);

/// A record as the table holds it.
pub trait Versioned: Record + Serialize + DeserializeOwned {
    /// The record's table key.
    fn key(tenant: TenantId, id: Uuid) -> Key;

    /// Attributes other writes change with `ADD` (a source's or a tag's lead counts, moved
    /// by the lead writes). A record with counters is edited by an `Update` of
    /// [`Versioned::edited`], which leaves them alone, rather than by a `Put`; it is deleted
    /// only while they are at zero; and it is read again after an edit, to show them.
    const COUNTERS: &'static [&'static str] = &[];

    /// The index entries the item carries: `(index, partition, sort key)`.
    fn indexes(&self) -> Vec<(LeadIndex, String, String)> {
        Vec::new()
    }

    /// What an edit writes of a record with counters: `(attribute, value)`, `None`
    /// removing the attribute.
    fn edited(&self) -> Vec<(&'static str, Option<AttributeValue>)> {
        Vec::new()
    }

    /// The guard of a name unique in the tenant, for a record that has one.
    fn name_guard(&self) -> Option<NameGuard> {
        None
    }

    /// What the audit log calls it.
    const AUDITED_AS: ResourceType;

    /// The lead the record belongs to, which must exist when it is created.
    fn lead(&self) -> Option<Uuid> {
        None
    }
}

/// Records a tenant lists in key order, from one partition.
pub trait Partitioned: Versioned {
    /// The sort-key prefix of the records in [`Partitioned::partition`].
    const PREFIX: &'static str;
    fn partition(tenant: TenantId) -> String;
}

/// An item that holds a name for one record of the tenant (case-insensitively, by its key)
/// and resolves the name to the record.
pub struct NameGuard {
    pub key: Key,
    /// The attribute that holds the owner's id (`source_id`).
    pub owner: &'static str,
    /// The name as spelled, kept on the guard for lookups by name (if they need it).
    pub name: Option<String>,
    /// Whether a delete frees the name (a custom field's stays taken).
    pub released_on_delete: bool,
}

impl NameGuard {
    fn item(&self, owner: Uuid) -> Item {
        let mut item = self.key.item_key();
        item.insert(self.owner.into(), s(owner.to_string()));
        if let Some(name) = &self.name {
            item.insert("name".into(), s(name));
        }
        item
    }
}

/// The item of a record: its attributes, its key and its index entries.
pub(crate) fn record_item<R: Versioned>(record: &R) -> Item {
    let mut item = to_item(record);
    item.extend(R::key(record.tenant(), record.id()).item_key());
    for (index, pk, sk) in record.indexes() {
        item.insert(index.pk_attr(), s(pk));
        item.insert(index.sk_attr(), s(sk));
    }
    item
}

fn seen(version: u64) -> AttributeValue {
    AttributeValue::N(version.to_string())
}

impl Store {
    pub async fn get_record<R: Versioned>(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<R>, StoreError> {
        let Some(item) = self.get(&R::key(tenant, id)).await? else {
            return Ok(None);
        };
        let record: R = from_item(item)?;
        // The key already scopes the read; this guards against a key-building mistake.
        Ok((record.tenant() == tenant).then_some(record))
    }

    /// Records by id, one round trip per 100 (missing ids left out).
    pub async fn get_records<R: Versioned>(
        &self,
        tenant: TenantId,
        ids: &[Uuid],
    ) -> Result<Vec<R>, StoreError> {
        let records: Vec<R> = self
            .batch_get(ids.iter().map(|id| R::key(tenant, *id)))
            .await?;
        Ok(records
            .into_iter()
            .filter(|r| r.tenant() == tenant)
            .collect())
    }

    /// Up to `limit` records after the sort key `after` (exclusive), in key order, and
    /// whether more follow.
    pub async fn list_records<R: Partitioned>(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, R)>, bool), StoreError> {
        self.query_prefix(R::partition(tenant), R::PREFIX, after, limit)
            .await
    }

    /// Writes a new record with its audit entry: `Conflict::Exists` for a taken id,
    /// `Conflict::Name` for a taken name, `Conflict::Lead` when its lead no longer exists.
    pub async fn create_record<R: Versioned>(
        &self,
        record: &R,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut actions = self.create_actions(record);
        actions.push((self.audit_put(record.tenant(), audit), None));
        self.transact(actions).await
    }

    /// The actions that create a record, for its own transaction or a larger one.
    pub(crate) fn create_actions<R: Versioned>(&self, record: &R) -> Vec<Action> {
        let absent = Some("attribute_not_exists(PK)");
        let mut actions = vec![self.put_new(record)];
        if let Some(guard) = record.name_guard() {
            let put = self.put(guard.item(record.id()), absent);
            actions.push((
                TransactWriteItem::builder().put(put).build(),
                Some(Conflict::Name),
            ));
        }
        if let Some(lead) = record.lead() {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(keys::lead(record.tenant(), lead).item_key()))
                .condition_expression("attribute_exists(PK)")
                .build()
                .expect("check has table, key and condition");
            actions.push((
                TransactWriteItem::builder().condition_check(check).build(),
                Some(Conflict::Lead),
            ));
        }
        actions
    }

    /// The put of a new record's item, if its id is not taken.
    pub(crate) fn put_new<R: Versioned>(&self, record: &R) -> Action {
        let put = self.put(record_item(record), Some("attribute_not_exists(PK)"));
        (
            TransactWriteItem::builder().put(put).build(),
            Some(Conflict::Exists),
        )
    }

    /// Writes `after` if the record is still at `before`'s version (else
    /// `Conflict::Version`), moving its name guard with a rename (`Conflict::Name` when the
    /// new name is taken).
    pub async fn update_record<R: Versioned>(
        &self,
        before: &R,
        after: &R,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let write = if R::COUNTERS.is_empty() {
            TransactWriteItem::builder()
                .put(self.put_at(before.version(), record_item(after)))
                .build()
        } else {
            TransactWriteItem::builder()
                .update(self.update_at(before.version(), after))
                .build()
        };
        let mut actions = vec![(write, Some(Conflict::Version))];
        actions.extend(self.guard_moves(before, after));
        actions.push((self.audit_put(after.tenant(), audit), None));
        self.transact(actions).await
    }

    fn put_at(&self, version: u64, item: Item) -> Put {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", seen(version))
            .build()
            .expect("put has table and item")
    }

    /// An `Update` of what an edit writes, leaving the counters alone.
    fn update_at<R: Versioned>(&self, version: u64, after: &R) -> Update {
        let mut set = vec!["version = :v".to_string()];
        let mut remove = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(R::key(after.tenant(), after.id()).item_key()))
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", seen(version))
            .expression_attribute_values(":v", seen(after.version()));
        for (n, (name, value)) in after.edited().into_iter().enumerate() {
            update = update.expression_attribute_names(format!("#a{n}"), name);
            match value {
                Some(value) => {
                    set.push(format!("#a{n} = :a{n}"));
                    update = update.expression_attribute_values(format!(":a{n}"), value);
                }
                None => remove.push(format!("#a{n}")),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        update
            .update_expression(expression)
            .build()
            .expect("update has table, key and expression")
    }

    /// A rename moves the guard to the new name (a new spelling of the same name rewrites
    /// it), provided the old guard is still this record's.
    fn guard_moves<R: Versioned>(&self, before: &R, after: &R) -> Vec<Action> {
        let (Some(old), Some(new)) = (before.name_guard(), after.name_guard()) else {
            return Vec::new();
        };
        let id = before.id();
        if (&old.key.pk, &old.key.sk) != (&new.key.pk, &new.key.sk) {
            let put = self.put(new.item(id), Some("attribute_not_exists(PK)"));
            return vec![
                self.release(&old, id),
                (
                    TransactWriteItem::builder().put(put).build(),
                    Some(Conflict::Name),
                ),
            ];
        }
        if old.name == new.name {
            return Vec::new();
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(new.item(id)))
            .condition_expression("#owner = :id")
            .expression_attribute_names("#owner", new.owner)
            .expression_attribute_values(":id", s(id.to_string()))
            .build()
            .expect("put has table and item");
        vec![(
            TransactWriteItem::builder().put(put).build(),
            Some(Conflict::Version),
        )]
    }

    /// Deletes a record at the version read, while its counters are at zero, with its name
    /// guard unless the name stays taken. Any failed condition is `Conflict::Version`.
    pub async fn delete_record<R: Versioned>(
        &self,
        record: &R,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let t = record.tenant();
        let mut condition = "version = :seen".to_string();
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(R::key(t, record.id()).item_key()))
            .expression_attribute_values(":seen", seen(record.version()));
        for (n, counter) in R::COUNTERS.iter().enumerate() {
            condition.push_str(&format!(
                " AND (attribute_not_exists(#c{n}) OR #c{n} <= :zero)"
            ));
            delete = delete.expression_attribute_names(format!("#c{n}"), *counter);
        }
        if !R::COUNTERS.is_empty() {
            delete = delete.expression_attribute_values(":zero", AttributeValue::N("0".into()));
        }
        let delete = delete
            .condition_expression(condition)
            .build()
            .expect("delete has table and key");
        let mut actions = vec![(
            TransactWriteItem::builder().delete(delete).build(),
            Some(Conflict::Version),
        )];
        if let Some(guard) = record.name_guard().filter(|g| g.released_on_delete) {
            actions.push(self.release(&guard, record.id()));
        }
        actions.push((self.audit_put(t, audit), None));
        self.transact(actions).await
    }

    /// Deletes a name guard, provided it is still `owner`'s.
    fn release(&self, guard: &NameGuard, owner: Uuid) -> Action {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(guard.key.item_key()))
            .condition_expression("#owner = :id")
            .expression_attribute_names("#owner", guard.owner)
            .expression_attribute_values(":id", s(owner.to_string()))
            .build()
            .expect("delete has table and key");
        (
            TransactWriteItem::builder().delete(delete).build(),
            Some(Conflict::Version),
        )
    }
}
