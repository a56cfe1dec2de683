//! Sign-in sessions: refresh-token families and their tokens (found by the digest of the
//! secret), and the failed sign-ins of an email. Each carries `expires_at` in epoch
//! seconds, the table's TTL attribute, so DynamoDB deletes them once they are of no use;
//! the code checks the time itself too (TTL deletion can lag by days).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::keys;
use crate::ops::conditional;
use crate::{classify, from_item, to_item, AuditEntry, Conflict, Store, StoreError};
use crm_domain::accounts::{Family, RefreshToken};
use crm_domain::tenant::TenantId;

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Failed sign-ins of one email: how many since `window_start` (epoch seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub count: u32,
    pub window_start: i64,
}

impl Store {
    /// Starts a session: its family and first refresh token.
    pub async fn start_session(
        &self,
        family: &Family,
        digest: &str,
        token: &RefreshToken,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut family_item = to_item(family);
        family_item.extend(keys::family(family.user_id, family.id).item_key());
        let mut token_item = to_item(token);
        token_item.extend(keys::refresh_token(digest).item_key());
        let absent = Some("attribute_not_exists(PK)");
        self.transact(vec![
            self.put_action(family_item, absent, Conflict::Exists),
            self.put_action(token_item, absent, Conflict::Exists),
            (self.audit_put(family.tenant_id, audit), None),
        ])
        .await
    }

    pub async fn get_refresh_token(
        &self,
        digest: &str,
    ) -> Result<Option<RefreshToken>, StoreError> {
        self.get(&keys::refresh_token(digest))
            .await?
            .map(from_item)
            .transpose()
    }

    pub async fn get_family(&self, user: Uuid, id: Uuid) -> Result<Option<Family>, StoreError> {
        self.get(&keys::family(user, id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Exchanges the token `old` for `new` in one transaction: `old` is marked used
    /// (`Conflict::Version` when it was used meanwhile: a reuse), `new` is stored, and the
    /// family, which must not be revoked (`Conflict::Revoked`), lives as long as `new`.
    pub async fn rotate_refresh_token(
        &self,
        old: &str,
        new: &str,
        token: &RefreshToken,
    ) -> Result<(), StoreError> {
        let now = Utc::now();
        let mark_used = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::refresh_token(old).item_key()))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", crate::s(now.to_rfc3339()))
            .build()
            .expect("update is complete");
        let extend_family = Update::builder()
            .table_name(&self.table)
            .set_key(Some(
                keys::family(token.user_id, token.family_id).item_key(),
            ))
            .update_expression("SET expires_at = :exp")
            .condition_expression("attribute_exists(PK) AND revoked = :no")
            .expression_attribute_values(":exp", n(token.expires_at.timestamp()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .build()
            .expect("update is complete");
        let mut item = to_item(token);
        item.extend(keys::refresh_token(new).item_key());
        self.transact(vec![
            (
                TransactWriteItem::builder().update(mark_used).build(),
                Some(Conflict::Version),
            ),
            (
                TransactWriteItem::builder().update(extend_family).build(),
                Some(Conflict::Revoked),
            ),
            self.put_action(item, Some("attribute_not_exists(PK)"), Conflict::Exists),
        ])
        .await
    }

    /// Revokes a session: its refresh tokens stop working, and so do the access tokens that
    /// name it (at the next membership check). Revoking a missing one changes nothing.
    pub async fn revoke_family(&self, user: Uuid, id: Uuid) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::family(user, id).item_key()))
            .update_expression("SET revoked = :yes")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| conditional(e, Conflict::Version));
        match result {
            Ok(_) | Err(StoreError::Conflict(Conflict::Version)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Ends a session at its user's request (sign-out), with the audit entry of it in the
    /// same transaction. Ending a missing or already ended one changes nothing and logs
    /// nothing.
    pub async fn end_session(
        &self,
        user: Uuid,
        id: Uuid,
        tenant: TenantId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::family(user, id).item_key()))
            .update_expression("SET revoked = :yes")
            .condition_expression("attribute_exists(PK) AND revoked = :no")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .build()
            .map_err(|e| StoreError::Other(format!("session update: {e}")))?;
        let result = self
            .transact(vec![
                (
                    TransactWriteItem::builder().update(update).build(),
                    Some(Conflict::Version),
                ),
                (self.audit_put(tenant, audit), None),
            ])
            .await;
        match result {
            Ok(()) | Err(StoreError::Conflict(Conflict::Version)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Revokes every live session of a user but `keep`; returns how many.
    pub async fn revoke_families(
        &self,
        user: Uuid,
        keep: Option<Uuid>,
    ) -> Result<usize, StoreError> {
        let now = Utc::now();
        let mut after: Option<String> = None;
        let mut revoked = 0;
        loop {
            let (page, more) = self
                .query_prefix::<Family>(
                    keys::user_items(user),
                    keys::FAMILY_PREFIX,
                    after.as_deref(),
                    100,
                )
                .await?;
            after = page.last().map(|(sk, _)| sk.clone());
            for (_, family) in page {
                if family.is_live(now) && Some(family.id) != keep {
                    self.revoke_family(user, family.id).await?;
                    revoked += 1;
                }
            }
            if !more {
                return Ok(revoked);
            }
        }
    }

    pub async fn login_failures(&self, email: &str) -> Result<Option<LoginFailures>, StoreError> {
        let Some(item) = self.get(&keys::login_failures(email)).await? else {
            return Ok(None);
        };
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok(Some(LoginFailures {
            count: u32::try_from(number("failures")).unwrap_or(u32::MAX),
            window_start: number("window_start"),
        }))
    }

    /// Counts a failed sign-in: one more in the current window, or the first of a new one
    /// when the window (`window_seconds` from its first failure) has passed; `audits`
    /// (the entries of the tenants that see it, `(tenant, entry)`, at most a few) commit
    /// with the count.
    pub async fn record_login_failure(
        &self,
        email: &str,
        now: DateTime<Utc>,
        window_seconds: i64,
        audits: &[(TenantId, crate::AuditEntry)],
    ) -> Result<(), StoreError> {
        let key = keys::login_failures(email).item_key();
        let now = now.timestamp();
        let entries = || {
            audits
                .iter()
                .map(|(t, entry)| (self.audit_put(*t, entry), None))
                .collect::<Vec<_>>()
        };
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("ADD failures :one")
            .condition_expression("attribute_exists(PK) AND window_start > :cutoff")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cutoff", n(now - window_seconds))
            .build()
            .expect("update is complete");
        let mut actions = vec![(
            TransactWriteItem::builder().update(count).build(),
            Some(Conflict::Version),
        )];
        actions.extend(entries());
        match self.transact(actions).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => {
                let mut item = key;
                item.insert("failures".into(), n(1));
                item.insert("window_start".into(), n(now));
                item.insert("expires_at".into(), n(now + window_seconds));
                let mut actions = vec![(
                    TransactWriteItem::builder()
                        .put(self.put(item, None))
                        .build(),
                    None,
                )];
                actions.extend(entries());
                self.transact(actions).await
            }
            Err(e) => Err(e),
        }
    }

    /// Forgets an email's failed sign-ins (after a successful one).
    pub async fn clear_login_failures(&self, email: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(keys::login_failures(email).item_key()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
