//! Requests authenticated by an API key (`Authorization: Api-Key <key>` or
//! `X-API-Key: <key>`): the key decides the tenant (an `X-Tenant-Id` naming another is a
//! 403), its scopes decide the routes, and it acts as `api-key:<id>` with the role its
//! scopes map to (`crm_domain::api_keys`).
//!
//! A key's lookup is cached per warm instance for `TENANT_CACHE_SECONDS`, so a revocation
//! takes effect within that time. Its usage (`usage_count`, `last_used_at`) is counted in
//! memory and written at most once per `usage_flush` per key and instance, not per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crm_app::api_keys::{lookup, verify, Found};
use crm_domain::api_keys::ApiKey;
use crm_domain::tenant::TenantId;
use crm_domain::{Caller, Error};

use crate::{active_tenant, rate_limit, ApiError, AppState, TENANT_HEADER};

/// The key a request presents, if it presents one.
pub(crate) fn presented(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let text = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{0}").trim().to_string())
    };
    let from_authorization = text(header::AUTHORIZATION.as_str()).and_then(|h| {
        let (scheme, key) = h.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("api-key")
            .then(|| key.trim().to_string())
    });
    match (
        text(header::AUTHORIZATION.as_str()),
        text("x-api-key"),
        from_authorization,
    ) {
        (_, Some(header), Some(auth)) if header != auth => Err(two_credentials()),
        (Some(_), Some(_), None) => Err(two_credentials()),
        (_, _, Some(key)) | (_, Some(key), None) => Ok(Some(key)),
        _ => Ok(None),
    }
}

fn two_credentials() -> ApiError {
    ApiError::Unauthenticated("Send one credential: a bearer token or an API key.".into())
}

/// Cached lookups and pending usage counts of this instance's keys.
pub(crate) struct ApiKeys {
    ttl: Duration,
    flush_every: Duration,
    found: Mutex<HashMap<String, (Instant, Found)>>,
    usage: Mutex<HashMap<Uuid, Usage>>,
}

struct Usage {
    count: u64,
    last_used: DateTime<Utc>,
    flushed: Option<Instant>,
}

/// Entries kept at most: unknown prefixes are cached too, and must not grow it unbounded.
const MAX_CACHED: usize = 10_000;

impl ApiKeys {
    pub(crate) fn new(ttl: Duration, flush_every: Duration) -> Self {
        Self {
            ttl,
            flush_every,
            found: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
        }
    }

    async fn find(&self, state: &AppState, presented: &str) -> Result<Found, ApiError> {
        let Some((prefix, _)) = crm_domain::api_keys::split_key(presented) else {
            return Ok(None);
        };
        let prefix = prefix.to_string();
        let cached = self
            .found
            .lock()
            .expect("cache lock")
            .get(&prefix)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, found)| found.clone());
        if let Some(found) = cached {
            return Ok(found);
        }
        let found = lookup(&state.store, presented).await?;
        if !self.ttl.is_zero() {
            let mut entries = self.found.lock().expect("cache lock");
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
            entries.insert(prefix, (Instant::now(), found.clone()));
        }
        Ok(found)
    }

    /// Counts a use; returns the uses to write now when this key's flush is due.
    fn note_use(&self, key: &ApiKey) -> Option<(u64, DateTime<Utc>)> {
        let mut usage = self.usage.lock().expect("usage lock");
        let entry = usage.entry(key.id).or_insert(Usage {
            count: 0,
            last_used: Utc::now(),
            flushed: None,
        });
        entry.count += 1;
        entry.last_used = Utc::now();
        let due = entry
            .flushed
            .is_none_or(|at| at.elapsed() >= self.flush_every);
        if !due {
            return None;
        }
        entry.flushed = Some(Instant::now());
        let flushed = (entry.count, entry.last_used);
        entry.count = 0;
        Some(flushed)
    }

    /// Writes a key's pending uses; on failure they are kept for the next flush.
    async fn flush(&self, state: &AppState, key: &ApiKey, (count, at): (u64, DateTime<Utc>)) {
        if let Err(e) = state
            .store
            .add_api_key_usage(key.tenant_id, key.id, count, at)
            .await
        {
            tracing::warn!(key = %key.id, error = %e, "API key usage not written; kept");
            if let Some(entry) = self.usage.lock().expect("usage lock").get_mut(&key.id) {
                entry.count += count;
            }
        }
    }
}

/// Authenticates a request by its API key and authorises it for its route: the caller it
/// acts as, also put in the request's extensions.
pub(crate) async fn authenticate(
    parts: &mut Parts,
    state: &AppState,
    presented: &str,
) -> Result<Caller, ApiError> {
    let found = state.api_keys.find(state, presented).await?;
    let key = verify(presented, &found)?;
    check_tenant_header(&parts.headers, key.tenant_id)?;
    crate::hosts::check(
        crate::hosts::host_tenant(parts, state).await?,
        key.tenant_id,
    )?;
    let tenant = active_tenant(state, key.tenant_id).await?;
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    crm_domain::api_keys::authorize(&key, parts.method.as_str(), &route)?;
    rate_limit::admit(parts, state, &tenant, Some(&key)).await?;
    if let Some(uses) = state.api_keys.note_use(&key) {
        state.api_keys.flush(state, &key, uses).await;
    }
    let mut caller = key.caller();
    caller.origin = crate::origin(parts);
    caller.audit_retention_days = tenant.limits().audit_retention_days;
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(caller.tenant));
    span.record("user", caller.user_id.as_str());
    parts.extensions.insert(caller.clone());
    Ok(caller)
}

/// `X-Tenant-Id` may repeat the key's tenant, never name another.
fn check_tenant_header(headers: &HeaderMap, tenant: TenantId) -> Result<(), ApiError> {
    let Some(raw) = headers.get(TENANT_HEADER) else {
        return Ok(());
    };
    let raw = raw.to_str().unwrap_or("\u{0}").trim();
    if raw.is_empty() {
        return Ok(());
    }
    match Uuid::parse_str(raw) {
        Err(_) => Err(ApiError::field("X-Tenant-Id", "Must be a valid UUID.")),
        Ok(id) if id == tenant.as_uuid() => Ok(()),
        Ok(_) => Err(ApiError::Domain(Error::Forbidden(
            "X-Tenant-Id names a different tenant than your credentials.".into(),
        ))),
    }
}
