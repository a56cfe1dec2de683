//! Invitations: created by admins and owners with a one-time secret (shown once, stored
//! as a digest), listed while pending, revoked, and accepted through
//! `POST /api/auth/accept-invitation/`, which signs the invitee in.

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::accounts::{login, SignIn};
use crate::config::AccountsConfig;
use crm_domain::accounts::invitations::{check_invite, INVALID_INVITATION};
use crm_domain::accounts::secrets::{digest, new_secret};
use crm_domain::accounts::users::check_password;
use crm_domain::accounts::{
    AcceptInput, Invitation, InvitationInput, Membership, PasswordHash, User,
};
use crm_domain::audit::{self, AuditAction, AuditEntry, Origin, Provenance, ResourceType};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::plan::users_exhausted;
use crm_domain::{Caller, Error, Role};
use crm_store::{Conflict, NewUser, Store, StoreError};

const SCOPE: &str = "invitations";

/// Invites an email with a role; returns the invitation and its secret (shown only now).
pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<(Invitation, String), Error> {
    caller.require(Role::Admin)?;
    let input = InvitationInput::parse(body)?;
    check_invite(caller, input.role)?;
    if let Some((user, _)) = store.find_user_by_email(&input.email).await? {
        if store
            .get_membership(caller.tenant, user.id)
            .await?
            .is_some()
        {
            return Err(Error::field(
                "email",
                "This user is a member of the tenant already.",
            ));
        }
    }
    // Seats are checked again, exactly, when the invitation is accepted.
    let max_users = crate::plan::limits(store, caller.tenant).await?.max_users;
    if store.member_count(caller.tenant).await? >= max_users {
        return Err(Error::PlanLimit(users_exhausted(max_users)));
    }
    let invitation = Invitation::new(caller, input);
    let secret = new_secret();
    let audit = AuditEntry::new(
        caller.provenance(),
        ResourceType::Invitation,
        invitation.id,
        AuditAction::Create,
        invitation.created_at,
        audit::changes(None, Some(&invitation), &[]),
    );
    store
        .create_invitation(&invitation, &digest(&secret), &audit)
        .await?;
    Ok((invitation, secret))
}

/// A page of the tenant's pending invitations (expired ones are left out).
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Invitation>, Error> {
    caller.require(Role::Admin)?;
    let after = cursors.position(caller.tenant, SCOPE, cursor)?;
    let (rows, more) = store
        .list_invitations(caller.tenant, after.as_deref(), page_size)
        .await?;
    let mut page = cursors.forward_page(caller.tenant, SCOPE, rows, more);
    let now = Utc::now();
    page.items.retain(|i| !i.is_expired(now));
    Ok(page)
}

/// Revokes a pending invitation: its secret stops working.
pub async fn revoke(store: &Store, caller: &Caller, id: Uuid) -> Result<(), Error> {
    caller.require(Role::Admin)?;
    let (invitation, token) = store
        .get_invitation(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)?;
    let audit = AuditEntry::new(
        caller.provenance(),
        ResourceType::Invitation,
        invitation.id,
        AuditAction::Revoke,
        Utc::now(),
        audit::changes(Some(&invitation), None, &[]),
    );
    match store.delete_invitation(&invitation, &token, &audit).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

fn invalid() -> Error {
    Error::field("token", INVALID_INVITATION)
}

/// Accepts an invitation: a new email becomes a user with the given password, an
/// existing user proves it is them with their current password; either way the
/// membership is created and the user signed in to the tenant.
pub async fn accept(
    store: &Store,
    config: &AccountsConfig,
    input: AcceptInput,
    origin: &Origin,
) -> Result<SignIn, Error> {
    let token = digest(&input.token);
    let invitation = store
        .invitation_by_token(&token)
        .await?
        .filter(|i| !i.is_expired(Utc::now()))
        .ok_or_else(invalid)?;
    let limits = store
        .get_tenant(invitation.tenant_id)
        .await?
        .filter(|t| t.is_active())
        .ok_or_else(invalid)?
        .limits();
    let max_users = limits.max_users;
    let (user, hash, new) = match store.find_user_by_email(&invitation.email).await? {
        Some((user, hash)) => {
            if !(hash.verify(&input.password) && user.is_active) {
                return Err(Error::field(
                    "password",
                    "This email has an account: enter its current password.",
                ));
            }
            (user, hash, false)
        }
        None => {
            check_password(&input.password, &invitation.email)
                .map_err(|m| Error::field("password", m))?;
            let user = User::new(&invitation.email, input.first_name, input.last_name);
            (user, PasswordHash::new(&input.password), true)
        }
    };
    let membership = Membership::new(
        invitation.tenant_id,
        user.id,
        invitation.role,
        Some(invitation.created_at),
    );
    let new_user = new.then_some(NewUser {
        user: &user,
        hash: &hash,
    });
    let actor = user.id.to_string();
    let by = Provenance {
        actor: &actor,
        origin,
        retention_days: limits.audit_retention_days,
    };
    let audit = AuditEntry::new(
        by,
        ResourceType::Invitation,
        invitation.id,
        AuditAction::Accept,
        Utc::now(),
        audit::changes(None, Some(&membership), &[]),
    );
    store
        .accept_invitation(
            &invitation,
            &token,
            new_user,
            &membership,
            max_users,
            &audit,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(Conflict::Version) => invalid(),
            StoreError::Conflict(Conflict::Exists) => {
                Error::field("token", "You are a member of this tenant already.")
            }
            StoreError::Conflict(Conflict::PlanLimit) => {
                Error::PlanLimit(users_exhausted(max_users))
            }
            StoreError::Conflict(Conflict::Email) => Error::Conflict(
                "An account with this email was created meanwhile: accept again.".into(),
            ),
            other => other.into(),
        })?;
    login::sign_in_to(store, config, user, invitation.tenant_id.as_uuid(), origin).await
}
