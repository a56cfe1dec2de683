//! The membership check of the access tokens this service issues: on every request, the
//! session must be live and its user an active member (with the role the membership has
//! now, whatever the token says), cached per warm instance for `TENANT_CACHE_SECONDS` like
//! the tenant. Outside issuers' tokens name no session and skip it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crm_domain::accounts::sessions::SESSION_ENDED;
use crm_domain::accounts::SessionRef;
use crm_domain::{Caller, Role, TenantId};
use crm_store::Store;

use crate::{ApiError, AppState};

type Entry = (Instant, Option<Role>);

pub(crate) struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<(TenantId, SessionRef), Entry>>,
}

impl SessionCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The session's current role in `tenant`; 401 when it no longer holds.
    pub(crate) async fn role(
        &self,
        store: &Store,
        tenant: TenantId,
        session: SessionRef,
    ) -> Result<Role, ApiError> {
        let key = (tenant, session);
        let cached = self
            .entries
            .lock()
            .expect("cache lock")
            .get(&key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, role)| *role);
        let role = match cached {
            Some(role) => role,
            None => {
                let role =
                    crm_app::accounts::sessions::current_role(store, tenant, session).await?;
                if !self.ttl.is_zero() {
                    let mut entries = self.entries.lock().expect("cache lock");
                    // Bounded: a warm instance sees few sessions within a TTL.
                    entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
                    entries.insert(key, (Instant::now(), role));
                }
                role
            }
        };
        role.ok_or_else(|| ApiError::Unauthenticated(SESSION_ENDED.into()))
    }
}

/// The caller's session when their token is one of this service's (`None` for an outside
/// issuer's): what logout, the profile and password changes act on. Extracting it
/// authenticates the request like [`Caller`].
#[derive(Clone, Copy, Debug)]
pub struct Session(pub Option<SessionRef>);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state).await?;
        Ok(parts
            .extensions
            .get::<Session>()
            .copied()
            .unwrap_or(Session(None)))
    }
}
