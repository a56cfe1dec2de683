//! Tenant resolution by host: `{slug}.{TENANT_BASE_DOMAIN}` names the tenant holding that
//! slug, any other host the tenant that registered it as a custom domain, once verified.
//! The host is API Gateway's `requestContext.domainName` when the request has one (what
//! the client really reached), else the `Host` header.
//!
//! A host only ever narrows: the credentials decide the tenant, and a host naming another
//! one is a 403 ([`crm_auth::resolve_tenant`]). A token without a tenant may take the
//! host's, and its user's membership there is still checked. Hosts that cannot name a
//! tenant (loopback, IP addresses, the API's own names, AWS's default domains) are not
//! looked up; the answers of the others, none included, are cached per warm instance for
//! `TENANT_CACHE_SECONDS`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::header;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

use crm_domain::domains::{host_of_header, is_within, SERVICE_SUFFIXES};
use crm_domain::tenant::TenantId;

use crate::{ApiError, AppState};

/// Entries kept at most: a client choosing its `Host` must not grow the cache unbounded.
const MAX_CACHED: usize = 10_000;

pub(crate) struct HostCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Option<TenantId>)>>,
}

impl HostCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

/// The host this request was sent to, normalised, if it is a host name.
fn requested_host(parts: &Parts) -> Option<String> {
    let context = match parts.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.domain_name.as_deref(),
        _ => None,
    }
    .map(str::trim)
    .filter(|d| !d.is_empty());
    match context {
        Some(domain) => host_of_header(domain),
        None => parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .and_then(host_of_header),
    }
}

/// The tenant the request's host names, if any.
pub(crate) async fn host_tenant(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<TenantId>, ApiError> {
    let Some(host) = requested_host(parts) else {
        return Ok(None);
    };
    let config = &state.config.domains;
    let never = config.service_hosts.contains(&host)
        || SERVICE_SUFFIXES.iter().any(|own| is_within(&host, own));
    if never {
        return Ok(None);
    }
    let cache = &state.hosts;
    let cached = cache
        .entries
        .lock()
        .expect("cache lock")
        .get(&host)
        .filter(|(at, _)| at.elapsed() < cache.ttl)
        .map(|(_, found)| *found);
    if let Some(found) = cached {
        return Ok(found);
    }
    let found = match config.base_domain.as_deref() {
        Some(base) if host == base => None,
        Some(base) if is_within(&host, base) => {
            let label = host
                .strip_suffix(base)
                .unwrap_or_default()
                .trim_end_matches('.');
            // Only one label names a slug; deeper names under the base name nothing.
            if label.contains('.') {
                None
            } else {
                state.store.tenant_by_slug(label).await?
            }
        }
        _ => state
            .store
            .domain_guard(&host)
            .await?
            .filter(|guard| guard.verified)
            .map(|guard| guard.tenant),
    };
    if !cache.ttl.is_zero() {
        let mut entries = cache.entries.lock().expect("cache lock");
        entries.retain(|_, (at, _)| at.elapsed() < cache.ttl);
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(host, (Instant::now(), found));
    }
    Ok(found)
}

/// 403 when the request's host names another tenant than `tenant` (the credentials').
pub(crate) fn check(host: Option<TenantId>, tenant: TenantId) -> Result<(), ApiError> {
    match host {
        Some(host) if host != tenant => Err(host_mismatch()),
        _ => Ok(()),
    }
}

pub(crate) fn host_mismatch() -> ApiError {
    ApiError::Domain(crm_domain::Error::Forbidden(
        "This host belongs to a different tenant than your credentials.".into(),
    ))
}
