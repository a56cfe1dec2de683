//! Outside issuers' tokens that leave out the tenant or the role: the caller's membership
//! of this service supplies them ([`crm_app::accounts::outside`]), cached per warm instance
//! for `TENANT_CACHE_SECONDS` like the tenant. Tokens that carry both pass unchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crm_app::accounts::outside::{member, OutsideIdentity, OutsideMember};
use crm_auth::{Claims, Verified};
use crm_store::Store;

use crate::{ApiError, AppState};

type Entry = (Instant, OutsideMember);

pub(crate) struct MemberCache {
    ttl: Duration,
    entries: Mutex<HashMap<OutsideIdentity, Entry>>,
}

impl MemberCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    async fn member(
        &self,
        store: &Store,
        identity: OutsideIdentity,
    ) -> Result<OutsideMember, ApiError> {
        let cached = self
            .entries
            .lock()
            .expect("cache lock")
            .get(&identity)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, found)| found.clone());
        if let Some(found) = cached {
            return Ok(found);
        }
        // Refusals are not cached: a user who just joined is let in on the next request.
        let found = member(store, &identity).await?;
        if !self.ttl.is_zero() {
            let mut entries = self.entries.lock().expect("cache lock");
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            entries.insert(identity, (Instant::now(), found.clone()));
        }
        Ok(found)
    }
}

/// The claims of a verified token: as they are when the token named its tenant and role,
/// else completed from the membership of its user (in the tenant the token or the
/// `X-Tenant-Id` header names, else the one the request's host names, or the user's only
/// one).
pub(crate) async fn claims(
    state: &AppState,
    verified: Verified,
    tenant_header: Option<&str>,
    host: Option<crm_domain::TenantId>,
) -> Result<Claims, ApiError> {
    let verified = match verified.complete() {
        Ok(claims) => return Ok(claims),
        Err(incomplete) => incomplete,
    };
    let tenant = match (verified.tenant_id, tenant_header.map(str::trim)) {
        (Some(tenant), _) => Some(tenant),
        (None, None | Some("")) => host,
        (None, Some(raw)) => Some(
            Uuid::parse_str(raw)
                .map(crm_domain::TenantId::from_uuid)
                .map_err(|_| ApiError::field("X-Tenant-Id", "Must be a valid UUID."))?,
        ),
    };
    let identity = OutsideIdentity {
        email: verified.email,
        subject: verified.subject,
        tenant,
        role: verified.role,
    };
    let found = state.outside.member(&state.store, identity).await?;
    Ok(Claims {
        user_id: found.user_id.to_string(),
        tenant_id: found.tenant,
        role: found.role,
        email: Some(found.email),
        session: None,
    })
}
