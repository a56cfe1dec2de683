//! Configuration read once from the environment at cold start: what the use cases need,
//! and the helpers every entry point reads its variables with.

/// Bounds on the work one list request may do (see docs/data-model.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListLimits {
    /// Index entries a filtered list may examine before it answers with a partial page.
    pub read_budget: usize,
    /// Orderings no index serves are sorted in memory over at most this many leads...
    pub sort_cap: usize,
    /// ...found within at most this many index entries; otherwise the request is a 400.
    pub sort_reads: usize,
}

impl Default for ListLimits {
    fn default() -> Self {
        Self {
            read_budget: 1_000,
            sort_cap: 2_000,
            sort_reads: 10_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} must be set")]
    Missing(&'static str),
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn parse_var<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
    }
}

/// An AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL_DYNAMODB` (or
/// `AWS_ENDPOINT_URL`) points it at the local emulator; nothing here is emulator-specific.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
