//! The caller's own account: `GET/PATCH /api/profile/`, `POST /api/profile/password/`.
//! Only callers signed in through this service have one; an outside issuer's token is a
//! 403 that says so.

use chrono::Utc;
use serde_json::{Map, Value};

use crm_domain::accounts::sessions::{SessionRef, NO_ACCOUNT};
use crm_domain::accounts::{PasswordChange, PasswordHash, ProfileEdit, User};
use crm_domain::audit::{self, AuditAction, AuditEntry, ResourceType};
use crm_domain::{Caller, Error};
use crm_store::{Conflict, Store, StoreError};

fn ours(session: Option<SessionRef>) -> Result<SessionRef, Error> {
    session.ok_or_else(|| Error::Forbidden(NO_ACCOUNT.into()))
}

async fn user(store: &Store, session: SessionRef) -> Result<(User, PasswordHash), Error> {
    store
        .get_user(session.user_id)
        .await?
        .ok_or_else(|| Error::Unauthenticated(crm_domain::accounts::sessions::SESSION_ENDED.into()))
}

pub async fn get(store: &Store, session: Option<SessionRef>) -> Result<User, Error> {
    Ok(user(store, ours(session)?).await?.0)
}

/// Edits the caller's profile; the change is audited in the tenant they are signed in to.
pub async fn update(
    store: &Store,
    caller: &Caller,
    session: Option<SessionRef>,
    body: &Map<String, Value>,
) -> Result<User, Error> {
    let session = ours(session)?;
    let edit = ProfileEdit::parse(body)?;
    let (mut user, _) = user(store, session).await?;
    let before = user.json();
    if edit.apply(&mut user) {
        let changes = audit::diff(Some(&before), Some(&user.json()), audit::BOOKKEEPING);
        let entry = AuditEntry::new(
            caller.provenance(),
            ResourceType::User,
            user.id,
            AuditAction::Update,
            Utc::now(),
            changes,
        );
        let written = store.update_profile(&user, caller.tenant, &entry).await;
        written.map_err(|e| match e {
            StoreError::Conflict(Conflict::Version) => Error::NotFound,
            other => other.into(),
        })?;
    }
    Ok(user)
}

/// Changes the password (the current one must be given) and ends every other session of
/// the user; the caller's own stays.
pub async fn change_password(
    store: &Store,
    caller: &Caller,
    session: Option<SessionRef>,
    body: &Map<String, Value>,
) -> Result<usize, Error> {
    let session = ours(session)?;
    let (user, hash) = user(store, session).await?;
    let change = PasswordChange::parse(body, &user.email)?;
    if !hash.verify(&change.current_password) {
        return Err(Error::field(
            "current_password",
            "Your current password is wrong.",
        ));
    }
    // The entry says the password changed; no hash, old or new, is recorded.
    let entry = AuditEntry::new(
        caller.provenance(),
        ResourceType::User,
        user.id,
        AuditAction::PasswordChange,
        Utc::now(),
        Map::new(),
    );
    let hash = PasswordHash::new(&change.new_password);
    store
        .set_password(user.id, &hash, caller.tenant, &entry)
        .await?;
    Ok(store
        .revoke_families(user.id, Some(session.family_id))
        .await?)
}
