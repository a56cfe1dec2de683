//! The caller's own account: `GET/PATCH /api/profile/`, `POST /api/profile/password/`.
//! Only callers signed in through this service have one; an outside issuer's token is a
//! 403 that says so.

use serde_json::{Map, Value};

use crm_domain::accounts::sessions::{SessionRef, NO_ACCOUNT};
use crm_domain::accounts::{PasswordChange, PasswordHash, ProfileEdit, User};
use crm_domain::Error;
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

pub async fn update(
    store: &Store,
    session: Option<SessionRef>,
    body: &Map<String, Value>,
) -> Result<User, Error> {
    let session = ours(session)?;
    let edit = ProfileEdit::parse(body)?;
    let (mut user, _) = user(store, session).await?;
    if edit.apply(&mut user) {
        store.update_profile(&user).await.map_err(|e| match e {
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
    store
        .set_password(user.id, &PasswordHash::new(&change.new_password))
        .await?;
    Ok(store
        .revoke_families(user.id, Some(session.family_id))
        .await?)
}
