//! The one mapping from errors to HTTP: DRF-shaped bodies, `{"field": ["message"]}` for
//! validation and `{"detail": "..."}` otherwise. Domain errors arrive through `?`; the
//! variants here are the failures only the HTTP edge can have.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use crm_domain::Error;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] Error),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("Method \"{0}\" not allowed.")]
    MethodNotAllowed(String),
    #[error("Request body is larger than {0} bytes.")]
    PayloadTooLarge(usize),
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e {
                Error::Validation(_) | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
                Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
                Error::Forbidden(_) | Error::PlanLimit(_) => StatusCode::FORBIDDEN,
                Error::NotFound => StatusCode::NOT_FOUND,
                Error::Conflict(_) => StatusCode::CONFLICT,
                Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
                // DynamoDB stayed throttled through the retries: the service is
                // overloaded, not the client over a rate limit of its own (that is 429).
                Error::Throttled | Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                Error::TooManyAttempts { .. } | Error::RateLimited { .. } => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// One field's validation error.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Error::field(name, message).into()
    }
}

impl From<crm_domain::validate::FieldErrors> for ApiError {
    fn from(e: crm_domain::validate::FieldErrors) -> Self {
        ApiError::Domain(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Domain(Error::Validation(errors)) => json!(errors),
            ApiError::Domain(Error::Internal(reason)) => {
                tracing::error!(error = %reason, "internal error");
                json!({ "detail": "A server error occurred." })
            }
            ApiError::Domain(Error::Unavailable(reason)) => {
                tracing::warn!(error = %reason, "dependency unavailable");
                json!({ "detail": UNAVAILABLE })
            }
            ApiError::Domain(Error::Throttled) => {
                tracing::warn!("DynamoDB throttled through the retries");
                json!({ "detail": UNAVAILABLE })
            }
            ApiError::Domain(Error::PlanLimit(detail)) => {
                json!({ "detail": detail, "code": PLAN_LIMIT })
            }
            other => json!({ "detail": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api\""),
                );
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let seconds = match &self {
                    ApiError::Domain(
                        Error::TooManyAttempts { retry_after, .. }
                        | Error::RateLimited { retry_after, .. },
                    ) => *retry_after,
                    _ => 1,
                };
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(retry_after_seconds(&self)),
                );
            }
            _ => {}
        }
        response
    }
}

/// The `code` of a 403 refused by the tenant's plan.
pub const PLAN_LIMIT: &str = "plan_limit";

/// The body of every 503: what failed stays in the logs.
pub const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

/// `Retry-After` of a 503: a throttled table has capacity again within a second or so;
/// a dependency that did not answer (timeouts, 5xx) is given longer.
fn retry_after_seconds(e: &ApiError) -> &'static str {
    match e {
        ApiError::Domain(Error::Throttled) => "1",
        _ => "5",
    }
}

impl From<crm_store::StoreError> for ApiError {
    fn from(e: crm_store::StoreError) -> Self {
        ApiError::Domain(e.into())
    }
}
