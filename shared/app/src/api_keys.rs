//! API keys: created by owners and admins (the key shown once), listed without their
//! secret, revoked; and the check of a presented key. A key never manages keys.

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::api_keys::{secret_matches, split_key, ApiKey, ApiKeyInput, ACTOR_PREFIX};
use crm_domain::audit::{self, AuditAction, AuditEntry, ResourceType};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::{Caller, Error, Role};
use crm_store::{Store, StoreError};

const SCOPE: &str = "api-keys";

/// Owners and admins manage keys; a key (acting as an admin) never does.
pub fn require_manager(caller: &Caller) -> Result<(), Error> {
    caller.require(Role::Admin)?;
    if caller.user_id.starts_with(ACTOR_PREFIX) {
        return Err(Error::Forbidden("API keys may not manage API keys.".into()));
    }
    Ok(())
}

/// Creates a key; returns it and the full key, shown only now.
pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<(ApiKey, String), Error> {
    require_manager(caller)?;
    let input = ApiKeyInput::parse(body, Utc::now())?;
    let new = ApiKey::mint(caller, input);
    // The key's API view: never its secret or digest.
    let audit = AuditEntry::new(
        caller.provenance(),
        ResourceType::ApiKey,
        new.key.id,
        AuditAction::Create,
        Utc::now(),
        audit::diff(None, Some(&new.key.json()), audit::BOOKKEEPING),
    );
    store.create_api_key(&new.key, &new.digest, &audit).await?;
    tracing::info!(key = %new.key.id, prefix = %new.key.prefix, "API key created");
    Ok((new.key, new.secret))
}

pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<ApiKey>, Error> {
    require_manager(caller)?;
    let after = cursors.position(caller.tenant, SCOPE, cursor)?;
    let (rows, more) = store
        .list_api_keys(caller.tenant, after.as_deref(), page_size)
        .await?;
    Ok(cursors.forward_page(caller.tenant, SCOPE, rows, more))
}

/// Revokes a key of the caller's tenant (404 for another tenant's, or one revoked already).
pub async fn revoke(store: &Store, caller: &Caller, id: Uuid) -> Result<(), Error> {
    require_manager(caller)?;
    let key = store
        .get_api_key(caller.tenant, id)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(Error::NotFound)?;
    let now = Utc::now();
    let audit = AuditEntry::new(
        caller.provenance(),
        ResourceType::ApiKey,
        key.id,
        AuditAction::Revoke,
        now,
        audit::noted("revoked_at", now),
    );
    match store.revoke_api_key(&key, now, &audit).await {
        Ok(()) => {
            tracing::info!(key = %key.id, "API key revoked");
            Ok(())
        }
        Err(StoreError::Conflict(_)) => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// What a presented key's lookup found: the live key and its digest, or nothing.
pub type Found = Option<(ApiKey, String)>;

pub const INVALID_KEY: &str = "Invalid API key.";

/// Checks a presented key against what its lookup found: the secret must match and the
/// key be live (not revoked, not expired); anything else is a 401 that says no more.
pub fn verify(presented: &str, found: &Found) -> Result<ApiKey, Error> {
    let invalid = || Error::Unauthenticated(INVALID_KEY.into());
    let (_, secret) = split_key(presented).ok_or_else(invalid)?;
    let (key, digest) = found.as_ref().ok_or_else(invalid)?;
    if !secret_matches(secret, digest) {
        return Err(invalid());
    }
    if !key.is_active(Utc::now()) {
        return Err(Error::Unauthenticated(
            "This API key has expired or was revoked.".into(),
        ));
    }
    Ok(key.clone())
}

/// Reads what a presented key's prefix finds (`None` for text that cannot be a key).
pub async fn lookup(store: &Store, presented: &str) -> Result<Found, Error> {
    match split_key(presented) {
        Some((prefix, _)) => Ok(store.api_key_by_prefix(prefix).await?),
        None => Ok(None),
    }
}
