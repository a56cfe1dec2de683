//! Rate limits, shared by every instance through the table: a tenant's requests per minute
//! and, for a request made with an API key, the key's requests per hour. Each is a fixed
//! window counted by one conditional `UpdateItem` (`crm_store::RateWindow`): at most
//! `limit` requests are admitted per window (no slack inside a window; across a boundary a
//! client can send up to twice its limit within one window's length, as fixed windows do).
//!
//! Every response to an authenticated request carries the IETF `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of its most constrained window;
//! over a limit the answer is a 429 with `Retry-After`.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;

use crm_domain::api_keys::ApiKey;
use crm_domain::tenant::Tenant;
use crm_store::RateWindow;

use crate::{ApiError, AppState};

/// Where a request stands in its most constrained window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset: u64,
}

/// Filled by [`admit`], read by [`headers`]: the request's status, carried from the
/// extractor to the response.
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<Option<Status>>>);

/// The layer that writes the `RateLimit-*` headers of the status [`admit`] found.
pub(crate) async fn headers(mut req: Request, next: Next) -> Response {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let mut response = next.run(req).await;
    let status = *slot.0.lock().expect("slot lock");
    if let Some(status) = status {
        let headers = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", u64::from(status.limit)),
            ("ratelimit-remaining", u64::from(status.remaining)),
            ("ratelimit-reset", status.reset),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    response
}

/// A tenant's requests per minute: its plan's (the tier's, or the tenant's own override
/// set by `crm-admin tenant set-plan --requests-per-minute`). 0 means not limited.
pub fn requests_per_minute(tenant: &Tenant) -> u32 {
    u32::try_from(tenant.limits().requests_per_minute).unwrap_or(u32::MAX)
}

/// Counts the request against its tenant's window and, with a key, the key's; a 429 when
/// either is full. One `UpdateItem` per window, sent together.
pub(crate) async fn admit(
    parts: &Parts,
    state: &AppState,
    tenant: &Tenant,
    key: Option<&ApiKey>,
) -> Result<(), ApiError> {
    let config = &state.config.rate_limits;
    if !config.enabled {
        return Ok(());
    }
    let now = Utc::now().timestamp();
    let per_minute = requests_per_minute(tenant);
    let subject = key.map(|k| format!("KEY#{}", k.id));
    let tenant_window = (per_minute > 0).then(|| {
        window(
            tenant,
            "TENANT",
            config.tenant_window_seconds,
            per_minute,
            now,
        )
    });
    let key_window = key.zip(subject.as_deref()).map(|(k, subject)| {
        window(
            tenant,
            subject,
            config.key_window_seconds,
            k.rate_limit,
            now,
        )
    });
    let (a, b) = tokio::join!(
        count(state, tenant_window.as_ref(), now),
        count(state, key_window.as_ref(), now)
    );
    let statuses: Vec<(Status, bool)> = [a?, b?].into_iter().flatten().collect();
    // The most constrained window speaks: a full one first, else the fewest remaining.
    let Some(&(status, admitted)) = statuses
        .iter()
        .min_by_key(|(s, admitted)| (*admitted, s.remaining))
    else {
        return Ok(());
    };
    if let Some(slot) = parts.extensions.get::<Slot>() {
        *slot.0.lock().expect("slot lock") = Some(status);
    }
    if admitted {
        Ok(())
    } else {
        Err(ApiError::Domain(crm_domain::Error::RateLimited {
            detail: format!(
                "Request was throttled. Expected available in {} seconds.",
                status.reset
            ),
            retry_after: status.reset,
        }))
    }
}

fn window<'a>(
    tenant: &Tenant,
    subject: &'a str,
    seconds: i64,
    limit: u32,
    now: i64,
) -> RateWindow<'a> {
    let seconds = seconds.max(1);
    RateWindow {
        tenant: tenant.id,
        subject,
        start: now - now.rem_euclid(seconds),
        seconds,
        limit,
    }
}

/// Counts the request in `window`; its status and whether it was admitted.
async fn count(
    state: &AppState,
    window: Option<&RateWindow<'_>>,
    now: i64,
) -> Result<Option<(Status, bool)>, ApiError> {
    let Some(window) = window else {
        return Ok(None);
    };
    let counted = state.store.count_request(window).await?;
    let reset = u64::try_from(window.start + window.seconds - now)
        .unwrap_or(1)
        .max(1);
    let used = counted.unwrap_or(u64::from(window.limit));
    let status = Status {
        limit: window.limit,
        remaining: u32::try_from(u64::from(window.limit).saturating_sub(used)).unwrap_or(0),
        reset,
    };
    Ok(Some((status, counted.is_some())))
}
