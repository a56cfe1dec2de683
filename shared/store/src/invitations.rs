//! Invitations: the record under its tenant (for the pending list) and its secret's
//! digest (found at acceptance, before the tenant is known), written and deleted together.
//! Both carry `expires_at` (epoch seconds, the TTL attribute).

use uuid::Uuid;

use crate::accounts::Action;
use crate::keys;
use crate::{from_item, s, to_item, Conflict, Store, StoreError};
use crm_domain::accounts::{Invitation, Membership, PasswordHash, User};
use crm_domain::tenant::TenantId;

const TOKEN_DIGEST: &str = "token_digest";

/// A new user to create with an accepted invitation.
pub struct NewUser<'a> {
    pub user: &'a User,
    pub hash: &'a PasswordHash,
}

impl Store {
    pub async fn create_invitation(
        &self,
        invitation: &Invitation,
        digest: &str,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut item = to_item(invitation);
        item.extend(keys::invitation(invitation.tenant_id, invitation.id).item_key());
        item.insert(TOKEN_DIGEST.into(), s(digest));
        let mut token = keys::invitation_token(digest).item_key();
        token.insert("tenant_id".into(), s(invitation.tenant_id.to_string()));
        token.insert("invitation_id".into(), s(invitation.id.to_string()));
        token.insert(
            "expires_at".into(),
            aws_sdk_dynamodb::types::AttributeValue::N(
                invitation.expires_at.timestamp().to_string(),
            ),
        );
        let absent = Some("attribute_not_exists(PK)");
        self.transact(vec![
            self.put_action(item, absent, Conflict::Exists),
            self.put_action(token, absent, Conflict::Exists),
            (self.audit_put(invitation.tenant_id, audit), None),
        ])
        .await
    }

    /// An invitation of the tenant, with its secret's digest.
    pub async fn get_invitation(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Option<(Invitation, String)>, StoreError> {
        let Some(mut item) = self.get(&keys::invitation(tenant, id)).await? else {
            return Ok(None);
        };
        let digest = item
            .remove(TOKEN_DIGEST)
            .and_then(|v| v.as_s().ok().cloned())
            .unwrap_or_default();
        let invitation: Invitation = from_item(item)?;
        Ok((invitation.tenant_id == tenant).then_some((invitation, digest)))
    }

    /// The invitation a secret's digest belongs to.
    pub async fn invitation_by_token(
        &self,
        digest: &str,
    ) -> Result<Option<Invitation>, StoreError> {
        let Some(item) = self.get(&keys::invitation_token(digest)).await? else {
            return Ok(None);
        };
        let id = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .and_then(|v| Uuid::parse_str(v).ok())
        };
        let (Some(tenant), Some(invitation)) = (id("tenant_id"), id("invitation_id")) else {
            return Ok(None);
        };
        // Tenant ids read back from our own table are trusted.
        let tenant = TenantId::from_uuid(tenant);
        Ok(self
            .get_invitation(tenant, invitation)
            .await?
            .filter(|(_, d)| d == digest)
            .map(|(i, _)| i))
    }

    /// A tenant's pending invitations in id order, after the sort key `after`.
    pub async fn list_invitations(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Invitation)>, bool), StoreError> {
        self.query_prefix(
            keys::invitations(tenant),
            keys::INVITATION_PREFIX,
            after,
            limit,
        )
        .await
    }

    fn consume_actions(&self, invitation: &Invitation, digest: &str) -> Vec<Action> {
        vec![
            self.delete_action(&keys::invitation_token(digest), Some(Conflict::Version)),
            self.delete_action(
                &keys::invitation(invitation.tenant_id, invitation.id),
                Some(Conflict::Version),
            ),
        ]
    }

    /// Revokes an invitation (`Conflict::Version` when it is gone meanwhile).
    pub async fn delete_invitation(
        &self,
        invitation: &Invitation,
        digest: &str,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut actions = self.consume_actions(invitation, digest);
        actions.push((self.audit_put(invitation.tenant_id, audit), None));
        self.transact(actions).await
    }

    /// Accepts an invitation in one transaction: the secret and the invitation go
    /// (`Conflict::Version` when another acceptance took them), the membership is created
    /// (`Conflict::Exists` when the user is a member already), and so is the user when new
    /// (`Conflict::Email` when the email was taken meanwhile), unless the tenant has
    /// `max_users` members already (`Conflict::PlanLimit`).
    pub async fn accept_invitation(
        &self,
        invitation: &Invitation,
        digest: &str,
        new_user: Option<NewUser<'_>>,
        membership: &Membership,
        max_users: u64,
        audit: &crate::AuditEntry,
    ) -> Result<(), StoreError> {
        let mut actions = self.consume_actions(invitation, digest);
        actions.push((self.audit_put(invitation.tenant_id, audit), None));
        if let Some(new) = new_user {
            actions.extend(self.user_actions(new.user, new.hash));
        }
        actions.extend(self.membership_actions_within(None, Some(membership), Some(max_users)));
        self.transact(actions).await
    }
}
