//! The domain's error: what went wrong, in terms a client can act on. The HTTP layer maps
//! each variant to a status and a DRF-shaped body in one place (`crm_http::error`).

use crate::validate::FieldErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Field errors, reported together: `{"field": ["message", ...]}`.
    #[error("validation failed: {0:?}")]
    Validation(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    /// Credentials that do not (or no longer) identify anyone: a failed sign-in, a refresh
    /// token that is not valid, an access token whose session ended.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// The tenant's plan does not allow this (a lead or a user past its limit): a 403
    /// with `"code": "plan_limit"`, and nothing was written.
    #[error("{0}")]
    PlanLimit(String),
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The record changed since the client read it (`If-Match`), or meanwhile.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The database stayed throttled (or its writes kept cancelling each other) through
    /// the retries: the service is overloaded for now, nothing was written. A 503 with
    /// `Retry-After`, not the 429 of a client over its own rate limit.
    #[error("Request was throttled.")]
    Throttled,
    /// Too many attempts (failed sign-ins): refused until `retry_after` seconds pass.
    #[error("{detail}")]
    TooManyAttempts { detail: String, retry_after: u64 },
    /// The client went over its rate limit (its tenant's requests per minute, or its API
    /// key's requests per hour): a 429 with `Retry-After` (seconds until the window ends).
    #[error("{detail}")]
    RateLimited { detail: String, retry_after: u64 },
    /// A dependency could not be reached; the reason is logged, not shown.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected state; the reason is logged, not shown.
    #[error("{0}")]
    Internal(String),
}

pub const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

impl Error {
    pub fn forbidden() -> Self {
        Error::Forbidden(PERMISSION_DENIED.into())
    }

    /// One field's validation error.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(name, message);
        Error::Validation(errors)
    }
}

impl From<FieldErrors> for Error {
    fn from(e: FieldErrors) -> Self {
        Error::Validation(e)
    }
}
