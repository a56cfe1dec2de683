//! What a store call can fail with, and how SDK errors map to it.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

impl From<StoreError> for crm_domain::Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled => crm_domain::Error::Throttled,
            StoreError::Unavailable(reason) => crm_domain::Error::Unavailable(reason),
            other => crm_domain::Error::Internal(other.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: `what` says which guard failed.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// Throttled, or cancelled by contention with other writes, through every retry: the
    /// table is overloaded for now, and nothing was written.
    #[error("throttled by DynamoDB")]
    Throttled,
    #[error("DynamoDB unreachable: {0}")]
    Unavailable(String),
    #[error("DynamoDB error: {0}")]
    Other(String),
}

/// Which condition of a write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The item was changed (or deleted) since it was read.
    Version,
    /// Another lead of the tenant has this email.
    Email,
    /// An item with this key exists already (id or slug taken).
    Exists,
    /// A name guard (source name, ...) is held by another record of the tenant.
    Name,
    /// The lead's source no longer exists (deleted since it was resolved).
    Source,
    /// One of the lead's new tags no longer exists.
    Tag,
    /// The lead an activity or note belongs to no longer exists.
    Lead,
    /// The tenant's last active owner would be demoted, deactivated or removed.
    LastOwner,
    /// A sign-in session was revoked meanwhile.
    Revoked,
    /// The tenant's plan limit (leads or users) would be passed.
    PlanLimit,
}

/// A readable one-line description of an SDK error.
pub fn describe<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: &SdkError<E, R>,
) -> String {
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("ServiceError"),
                err.message().unwrap_or("")
            )
        }
        SdkError::DispatchFailure(d) => format!("dispatch failure: {d:?}"),
        SdkError::TimeoutError(_) => "timed out".into(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            StoreError::Unavailable(describe(&e))
        }
        SdkError::ServiceError(s) => match s.err().code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                // A single-item write that met a transaction in progress on its item.
                | "TransactionConflictException",
            ) => StoreError::Throttled,
            Some("InternalServerError" | "ServiceUnavailable") => {
                StoreError::Unavailable(describe(&e))
            }
            _ => StoreError::Other(describe(&e)),
        },
        _ => StoreError::Other(describe(&e)),
    }
}
