//! Sign-in sessions: each login starts a refresh-token family; every refresh replaces the
//! family's current token with a new one (rotation). A token presented a second time means
//! it was copied: the whole family is revoked (the usual theft detection).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use serde_json::{Map, Value};

use crate::accounts::secrets::MAX_SECRET_CHARS;
use crate::tenant::TenantId;
use crate::validate::{FieldErrors, Input};

/// One login's chain of refresh tokens. `id` is the access tokens' `sid` claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Family {
    pub id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: TenantId,
    pub created_at: DateTime<Utc>,
    /// The family ends with its last token: every rotation moves this forward. Epoch
    /// seconds in the table (its TTL attribute).
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

impl Family {
    pub fn new(user_id: Uuid, tenant_id: TenantId, lifetime: Duration) -> Self {
        let now = Utc::now();
        Self {
            id: Uuid::new_v4(),
            user_id,
            tenant_id,
            created_at: now,
            expires_at: now + lifetime,
            revoked: false,
        }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// A refresh token as stored: found by the digest of its secret, never by the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefreshToken {
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub tenant_id: TenantId,
    pub issued_at: DateTime<Utc>,
    /// Epoch seconds in the table (its TTL attribute).
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
    /// Set when it was exchanged: a second use revokes the family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<DateTime<Utc>>,
}

impl RefreshToken {
    pub fn new(family: &Family, lifetime: Duration) -> Self {
        let now = Utc::now();
        Self {
            family_id: family.id,
            user_id: family.user_id,
            tenant_id: family.tenant_id,
            issued_at: now,
            expires_at: now + lifetime,
            used_at: None,
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// What every failed sign-in answers, whatever failed (no telling which emails exist).
pub const BAD_CREDENTIALS: &str = "No active account found with the given credentials.";
/// A refresh token that is unknown, expired, used or of a revoked family.
pub const BAD_REFRESH: &str = "Token is invalid or expired.";
/// An access token of ours whose session, membership or user no longer holds.
pub const SESSION_ENDED: &str =
    "This session has ended (signed out, membership or account changed): sign in again.";

/// The session an access token of this service names (its `sub` and `sid` claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionRef {
    pub user_id: Uuid,
    pub family_id: Uuid,
}

/// An outside issuer's token names no user of this service.
pub const NO_ACCOUNT: &str = "Your credentials come from another identity provider: this \
service holds no account (profile, password or sessions) for them.";

/// `POST /api/auth/refresh/`'s body: `{refresh}`. The original's `{"token": <access
/// token>}` is refused with an explanation: an access token never renews a session.
pub fn parse_refresh(body: &Map<String, Value>) -> Result<String, FieldErrors> {
    let mut input = Input::new(body);
    if body.contains_key("token") && !body.contains_key("refresh") {
        input.error(
            "token",
            "Access tokens cannot be refreshed: send the refresh token that sign-in \
             returned, as \"refresh\".",
        );
    }
    let refresh = input.secret("refresh", MAX_SECRET_CHARS);
    input.finish()?;
    Ok(refresh.unwrap_or_default())
}
