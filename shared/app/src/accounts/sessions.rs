//! Sessions: started by a sign-in, renewed by refresh-token rotation, ended by logout.

use chrono::{Duration, Utc};
use uuid::Uuid;

use crate::accounts::{SignIn, User};
use crate::config::AccountsConfig;
use crm_domain::accounts::secrets::{digest, new_secret};
pub use crm_domain::accounts::sessions::parse_refresh;
use crm_domain::accounts::sessions::{SessionRef, BAD_REFRESH};
use crm_domain::accounts::{Family, Membership, RefreshToken};
use crm_domain::audit::{self, AuditAction, AuditEntry, Origin, Provenance, ResourceType};
use crm_domain::tenant::Tenant;
use crm_domain::{Caller, Error};
use crm_store::{Conflict, Store, StoreError};

fn bad_refresh() -> Error {
    Error::Unauthenticated(BAD_REFRESH.into())
}

/// Starts a session (a new refresh-token family) for `user` in `membership`'s tenant.
pub async fn start(
    store: &Store,
    config: &AccountsConfig,
    user: User,
    (membership, tenant): (Membership, Tenant),
    tenants: Vec<(Membership, Tenant)>,
    origin: &Origin,
) -> Result<SignIn, Error> {
    let lifetime = Duration::seconds(config.refresh_token_seconds);
    let family = Family::new(user.id, tenant.id, lifetime);
    let secret = new_secret();
    let token = RefreshToken::new(&family, lifetime);
    let actor = user.id.to_string();
    let by = Provenance {
        actor: &actor,
        origin,
        retention_days: tenant.limits().audit_retention_days,
    };
    // The session's id, to tell which one a later revocation ends; never its secret.
    let audit = AuditEntry::new(
        by,
        ResourceType::User,
        user.id,
        AuditAction::Login,
        Utc::now(),
        audit::noted("session", family.id),
    );
    store
        .start_session(&family, &digest(&secret), &token, &audit)
        .await?;
    Ok(SignIn {
        user,
        membership,
        tenant,
        tenants,
        family: family.id,
        refresh: secret,
    })
}

/// Exchanges a refresh token for a new one (and a new access token) in the same session.
/// A token used before revokes its whole family; every failure is the same 401.
pub async fn refresh(
    store: &Store,
    config: &AccountsConfig,
    secret: &str,
) -> Result<SignIn, Error> {
    let now = Utc::now();
    let old_digest = digest(secret);
    let old = store
        .get_refresh_token(&old_digest)
        .await?
        .ok_or_else(bad_refresh)?;
    if old.used_at.is_some() {
        tracing::warn!(family = %old.family_id, "refresh token reused: session revoked");
        store.revoke_family(old.user_id, old.family_id).await?;
        return Err(bad_refresh());
    }
    if old.is_expired(now) {
        return Err(bad_refresh());
    }
    let family = store
        .get_family(old.user_id, old.family_id)
        .await?
        .filter(|f| f.is_live(now))
        .ok_or_else(bad_refresh)?;
    let (user, membership, tenant) = still_valid(store, old.user_id, &old).await?;
    let lifetime = Duration::seconds(config.refresh_token_seconds);
    let secret = new_secret();
    let token = RefreshToken::new(&family, lifetime);
    match store
        .rotate_refresh_token(&old_digest, &digest(&secret), &token)
        .await
    {
        Ok(()) => Ok(SignIn {
            user,
            membership,
            tenant,
            tenants: Vec::new(),
            family: family.id,
            refresh: secret,
        }),
        // Used by a concurrent request meanwhile: a reuse all the same.
        Err(StoreError::Conflict(Conflict::Version)) => {
            store.revoke_family(old.user_id, old.family_id).await?;
            Err(bad_refresh())
        }
        Err(StoreError::Conflict(Conflict::Revoked)) => Err(bad_refresh()),
        Err(e) => Err(e.into()),
    }
}

/// The user, membership and tenant a refresh renews, if all still hold.
async fn still_valid(
    store: &Store,
    user: Uuid,
    token: &RefreshToken,
) -> Result<(User, Membership, Tenant), Error> {
    let (user, membership, tenant) = tokio::try_join!(
        store.get_user(user),
        store.get_membership(token.tenant_id, user),
        store.get_tenant(token.tenant_id),
    )?;
    match (user, membership, tenant) {
        (Some((u, _)), Some(m), Some(t)) if u.is_active && m.is_active && t.is_active() => {
            Ok((u, m, t))
        }
        _ => Err(bad_refresh()),
    }
}

/// `POST /api/auth/logout/`: ends the caller's session. Tokens of outside issuers name
/// none: nothing to end.
/// The sign-out is audited in the tenant the session is for.
pub async fn logout(
    store: &Store,
    caller: &Caller,
    session: Option<SessionRef>,
) -> Result<(), Error> {
    if let Some(s) = session {
        let entry = AuditEntry::new(
            caller.provenance(),
            ResourceType::User,
            s.user_id,
            AuditAction::Logout,
            chrono::Utc::now(),
            serde_json::Map::new(),
        );
        store
            .end_session(s.user_id, s.family_id, caller.tenant, &entry)
            .await?;
    }
    Ok(())
}

/// `POST /api/auth/logout-all/`: ends every session of the caller's user.
pub async fn logout_all(store: &Store, session: Option<SessionRef>) -> Result<usize, Error> {
    match session {
        Some(s) => Ok(store.revoke_families(s.user_id, None).await?),
        None => Ok(0),
    }
}

/// The role a session of this service has in `tenant` now: `None` once the session was
/// revoked or has expired, the membership is gone or inactive, or the user is inactive.
/// Every request with one of our access tokens asks (through a short per-instance cache),
/// so such changes take effect before the token expires.
pub async fn current_role(
    store: &Store,
    tenant: crm_domain::TenantId,
    session: SessionRef,
) -> Result<Option<crm_domain::Role>, Error> {
    let (membership, user, family) = tokio::try_join!(
        store.get_membership(tenant, session.user_id),
        store.get_user(session.user_id),
        store.get_family(session.user_id, session.family_id),
    )?;
    let now = Utc::now();
    Ok(match (membership, user, family) {
        (Some(m), Some((u, _)), Some(f))
            if m.is_active && u.is_active && f.is_live(now) && f.tenant_id == tenant =>
        {
            Some(m.role)
        }
        _ => None,
    })
}
