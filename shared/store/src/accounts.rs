//! Users and memberships. A user item carries its password hash beside the record's
//! fields (the domain's `User` has none, so reading a user never hands the hash to code
//! that serialises it). A membership is written twice in one transaction: under its tenant
//! and under its user. The tenant's count of active owners moves in the same transaction,
//! conditioned so that the last one cannot go.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use uuid::Uuid;

use crate::keys;
use crate::{from_item, s, to_item, AuditEntry, Conflict, Item, Store, StoreError};
use crm_domain::accounts::{Membership, PasswordHash, User};
use crm_domain::tenant::TenantId;

pub(crate) const PASSWORD_HASH: &str = "password_hash";

pub(crate) type Action = (TransactWriteItem, Option<Conflict>);

fn user_from(mut item: Item) -> Result<(User, PasswordHash), StoreError> {
    let hash = item
        .remove(PASSWORD_HASH)
        .and_then(|v| v.as_s().ok().cloned())
        .unwrap_or_default();
    Ok((from_item(item)?, PasswordHash::from_stored(hash)))
}

impl Store {
    pub(crate) fn put_action(
        &self,
        item: Item,
        condition: Option<&str>,
        guard: Conflict,
    ) -> Action {
        (
            TransactWriteItem::builder()
                .put(self.put(item, condition))
                .build(),
            Some(guard),
        )
    }

    pub(crate) fn delete_action(&self, key: &keys::Key, guard: Option<Conflict>) -> Action {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .set_condition_expression(guard.map(|_| "attribute_exists(PK)".to_string()))
            .build()
            .expect("delete has table and key");
        (TransactWriteItem::builder().delete(delete).build(), guard)
    }

    /// The user item and its email guard, both new.
    pub(crate) fn user_actions(&self, user: &User, hash: &PasswordHash) -> Vec<Action> {
        let mut item = to_item(user);
        item.extend(keys::user(user.id).item_key());
        item.insert(PASSWORD_HASH.into(), s(hash.as_stored()));
        let mut guard = keys::user_email(&user.email).item_key();
        guard.insert("user_id".into(), s(user.id.to_string()));
        let absent = Some("attribute_not_exists(PK)");
        vec![
            self.put_action(item, absent, Conflict::Exists),
            self.put_action(guard, absent, Conflict::Email),
        ]
    }

    /// Creates a user (its email guard refuses a taken email: `Conflict::Email`) with
    /// its first memberships.
    pub async fn create_user(
        &self,
        user: &User,
        hash: &PasswordHash,
        memberships: &[Membership],
    ) -> Result<(), StoreError> {
        let mut actions = self.user_actions(user, hash);
        for m in memberships {
            actions.extend(self.membership_actions(None, Some(m)));
        }
        self.transact(actions).await
    }

    pub async fn get_user(&self, id: Uuid) -> Result<Option<(User, PasswordHash)>, StoreError> {
        self.get(&keys::user(id)).await?.map(user_from).transpose()
    }

    /// The user with this email (any case), through the email guard.
    pub async fn find_user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(User, PasswordHash)>, StoreError> {
        let Some(guard) = self.get(&keys::user_email(email)).await? else {
            return Ok(None);
        };
        let id = guard
            .get("user_id")
            .and_then(|v| v.as_s().ok())
            .and_then(|id| Uuid::parse_str(id).ok());
        match id {
            Some(id) => self.get_user(id).await,
            None => Ok(None),
        }
    }

    /// Writes a user's profile fields (not the email, the id or the password hash), with
    /// the audit entry of the change (in the tenant the caller is signed in to).
    pub async fn update_profile(
        &self,
        user: &User,
        tenant: TenantId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut values = to_item(user);
        for fixed in ["id", "email", "created_at"] {
            values.remove(fixed);
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::user(user.id).item_key()))
            .condition_expression("attribute_exists(PK)");
        let mut sets = Vec::new();
        for (n, (name, value)) in values.into_iter().enumerate() {
            sets.push(format!("#f{n} = :v{n}"));
            update = update
                .expression_attribute_names(format!("#f{n}"), name)
                .expression_attribute_values(format!(":v{n}"), value);
        }
        let update = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .build()
            .map_err(|e| StoreError::Other(format!("profile update: {e}")))?;
        self.transact(vec![
            (
                TransactWriteItem::builder().update(update).build(),
                Some(Conflict::Version),
            ),
            (self.audit_put(tenant, audit), None),
        ])
        .await
    }

    /// Replaces a user's password hash, with the audit entry of the change (which records
    /// that it changed, never a hash).
    pub async fn set_password(
        &self,
        user: Uuid,
        hash: &PasswordHash,
        tenant: TenantId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::user(user).item_key()))
            .condition_expression("attribute_exists(PK)")
            .update_expression("SET #h = :h, updated_at = :at")
            .expression_attribute_names("#h", PASSWORD_HASH)
            .expression_attribute_values(":h", s(hash.as_stored()))
            .expression_attribute_values(":at", s(chrono::Utc::now().to_rfc3339()))
            .build()
            .map_err(|e| StoreError::Other(format!("password update: {e}")))?;
        self.transact(vec![
            (
                TransactWriteItem::builder().update(update).build(),
                Some(Conflict::Version),
            ),
            (self.audit_put(tenant, audit), None),
        ])
        .await
    }

    /// Activates or deactivates a user (the admin command).
    pub async fn set_user_active(&self, user: Uuid, active: bool) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::user(user).item_key()))
            .condition_expression("attribute_exists(PK)")
            .update_expression("SET is_active = :a")
            .expression_attribute_values(":a", AttributeValue::Bool(active))
            .send()
            .await
            .map_err(|e| crate::ops::conditional(e, Conflict::Version))?;
        Ok(())
    }

    pub async fn get_membership(
        &self,
        tenant: TenantId,
        user: Uuid,
    ) -> Result<Option<Membership>, StoreError> {
        let found: Option<Membership> = self
            .get(&keys::member(tenant, user))
            .await?
            .map(from_item)
            .transpose()?;
        Ok(found.filter(|m| m.tenant_id == tenant))
    }

    /// How many members (active or not) the tenant has.
    pub async fn member_count(&self, tenant: TenantId) -> Result<u64, StoreError> {
        Ok(self
            .get(&keys::member_counts(tenant))
            .await?
            .and_then(|item| item.get("members").and_then(|v| v.as_n().ok()).cloned())
            .and_then(|n| n.parse::<i64>().ok())
            .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
    }

    /// A tenant's members in user-id order, after the sort key `after`, and whether more
    /// follow.
    pub async fn list_members(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Membership)>, bool), StoreError> {
        self.query_prefix(keys::members(tenant), keys::MEMBER_PREFIX, after, limit)
            .await
    }

    /// A user's memberships, every tenant's (at most `limit`).
    pub async fn user_memberships(
        &self,
        user: Uuid,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let (rows, _) = self
            .query_prefix(
                keys::user_items(user),
                keys::USER_TENANT_PREFIX,
                None,
                limit,
            )
            .await?;
        Ok(rows.into_iter().map(|(_, m)| m).collect())
    }

    /// Users by id (missing ones left out), one round trip per 100.
    pub async fn get_users(&self, ids: &[Uuid]) -> Result<Vec<User>, StoreError> {
        // The password hash is an attribute `User` does not have: left behind.
        self.batch_get(ids.iter().map(|id| keys::user(*id))).await
    }

    /// The members of `tenant` among `users` (active or not), each with their user: one
    /// `BatchGetItem` of the memberships and the users together (per 50 users). Users
    /// without a membership here, or without a user record, are left out.
    pub async fn get_members(
        &self,
        tenant: TenantId,
        users: &[Uuid],
    ) -> Result<Vec<(Membership, User)>, StoreError> {
        let keys = users
            .iter()
            .flat_map(|id| [keys::member(tenant, *id), keys::user(*id)]);
        let mut memberships = Vec::new();
        let mut found = std::collections::HashMap::new();
        for item in self.batch_get_items(keys).await? {
            let is_user = item
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(keys::user(Uuid::nil()).sk.as_str());
            if is_user {
                let (user, _) = user_from(item)?;
                found.insert(user.id, user);
            } else {
                let m: Membership = from_item(item)?;
                if m.tenant_id == tenant {
                    memberships.push(m);
                }
            }
        }
        Ok(memberships
            .into_iter()
            .filter_map(|m| found.remove(&m.user_id).map(|u| (m, u)))
            .collect())
    }

    /// Adds a membership (`Conflict::Exists` when the user is a member already).
    pub async fn add_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        self.transact(self.membership_actions(None, Some(membership)))
            .await
    }

    /// Changes (`after` is `Some`) or removes a membership read as `before`:
    /// `Conflict::Version` when it changed meanwhile, `Conflict::LastOwner` when the
    /// tenant would be left without an active owner.
    pub async fn change_membership(
        &self,
        before: &Membership,
        after: Option<&Membership>,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut actions = self.membership_actions(Some(before), after);
        actions.push((self.audit_put(before.tenant_id, audit), None));
        self.transact(actions).await
    }

    /// The writes of a membership change: both copies (conditioned on the version read,
    /// or on not existing), and the owner count when it moves.
    pub(crate) fn membership_actions(
        &self,
        before: Option<&Membership>,
        after: Option<&Membership>,
    ) -> Vec<Action> {
        self.membership_actions_within(before, after, None)
    }

    /// [`Self::membership_actions`]; a new membership is refused with
    /// `Conflict::PlanLimit` when the tenant has `max_users` members already (a condition
    /// on the member count, inside the transaction).
    pub(crate) fn membership_actions_within(
        &self,
        before: Option<&Membership>,
        after: Option<&Membership>,
        max_users: Option<u64>,
    ) -> Vec<Action> {
        let any = after
            .or(before)
            .expect("a membership change has a membership");
        let (tenant, user) = (any.tenant_id, any.user_id);
        let condition = before.map(|b| {
            (
                "updated_at = :seen",
                s(serde_json::to_value(b.updated_at)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()),
            )
        });
        let mut actions = Vec::new();
        for key in [keys::member(tenant, user), keys::user_tenant(user, tenant)] {
            actions.push(match (after, &condition) {
                (Some(m), None) => {
                    let mut item = to_item(m);
                    item.extend(key.item_key());
                    self.put_action(item, Some("attribute_not_exists(PK)"), Conflict::Exists)
                }
                (Some(m), Some((cond, seen))) => {
                    let mut item = to_item(m);
                    item.extend(key.item_key());
                    let mut put = self.put(item, Some(cond));
                    put.expression_attribute_values =
                        Some([(":seen".to_string(), seen.clone())].into());
                    (
                        TransactWriteItem::builder().put(put).build(),
                        Some(Conflict::Version),
                    )
                }
                (None, cond) => {
                    let mut delete = self.delete_action(&key, Some(Conflict::Version));
                    if let (Some(d), Some((c, seen))) = (delete.0.delete.as_mut(), cond) {
                        d.condition_expression = Some(c.to_string());
                        d.expression_attribute_values =
                            Some([(":seen".to_string(), seen.clone())].into());
                    }
                    delete
                }
            });
        }
        let owners = crm_domain::accounts::members::owner_delta(before, after);
        let members = i64::from(after.is_some()) - i64::from(before.is_some());
        if owners != 0 || members != 0 {
            let limit = max_users.filter(|_| members > 0);
            actions.push(self.counts_action(tenant, members, owners, limit));
        }
        actions
    }

    /// Moves the member and active-owner counts; a decrease of the owners is conditioned
    /// on one staying, an added member on `max_users` not being reached.
    fn counts_action(
        &self,
        tenant: TenantId,
        members: i64,
        owners: i64,
        max_users: Option<u64>,
    ) -> Action {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::member_counts(tenant).item_key()))
            .update_expression("ADD members :m, active_owners :d")
            .expression_attribute_values(":m", AttributeValue::N(members.to_string()))
            .expression_attribute_values(":d", AttributeValue::N(owners.to_string()));
        if owners < 0 {
            update = update
                .condition_expression("active_owners > :one")
                .expression_attribute_values(":one", AttributeValue::N("1".into()));
        }
        if let Some(max) = max_users {
            update = update
                .condition_expression(
                    "(attribute_not_exists(members) AND :max > :zero) OR members < :max",
                )
                .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()));
            return (
                TransactWriteItem::builder()
                    .update(
                        update
                            .build()
                            .expect("update has table, key and expression"),
                    )
                    .build(),
                Some(Conflict::PlanLimit),
            );
        }
        (
            TransactWriteItem::builder()
                .update(
                    update
                        .build()
                        .expect("update has table, key and expression"),
                )
                .build(),
            Some(Conflict::LastOwner),
        )
    }
}
