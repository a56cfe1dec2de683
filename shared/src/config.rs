//! Configuration read once from the environment at cold start.

use std::time::Duration;

/// JWT settings: HS256 with a shared secret (`JWT_SECRET_KEY`, the original's variable),
/// with issuer and audience checked only when configured.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub secret: String,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub table_name: String,
    pub jwt: JwtConfig,
    /// Secret for signing pagination cursors. Derived from the JWT secret when unset.
    pub cursor_secret: String,
    /// Largest request body accepted, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long a tenant's status is cached in a warm Lambda before it is read again.
    pub tenant_cache_ttl: Duration,
    pub ai_agents_url: Option<String>,
    /// Where scoring requests go (`SCORING_QUEUE_URL`); unset: no background scoring.
    pub scoring_queue_url: Option<String>,
    /// Where insight requests go (`INSIGHTS_QUEUE_URL`); unset: insights computed inline.
    pub insights_queue_url: Option<String>,
    pub list: ListLimits,
}

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

pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
pub const DEFAULT_TENANT_CACHE_SECONDS: u64 = 30;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_var<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = var("JWT_SECRET_KEY").ok_or(ConfigError::Missing("JWT_SECRET_KEY"))?;
        if secret.len() < 16 {
            return Err(ConfigError::Invalid {
                name: "JWT_SECRET_KEY",
                reason: "use at least 16 characters".into(),
            });
        }
        let cursor_secret = var("CURSOR_SECRET").unwrap_or_else(|| format!("cursor:{secret}"));
        Ok(Self {
            table_name: var("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?,
            jwt: JwtConfig {
                secret,
                issuer: var("JWT_ISSUER"),
                audience: var("JWT_AUDIENCE"),
            },
            cursor_secret,
            max_body_bytes: parse_var("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            tenant_cache_ttl: Duration::from_secs(parse_var(
                "TENANT_CACHE_SECONDS",
                DEFAULT_TENANT_CACHE_SECONDS,
            )?),
            ai_agents_url: var("AI_AGENTS_URL"),
            scoring_queue_url: var("SCORING_QUEUE_URL"),
            insights_queue_url: var("INSIGHTS_QUEUE_URL"),
            list: ListLimits {
                read_budget: parse_var("LIST_READ_BUDGET", ListLimits::default().read_budget)?,
                sort_cap: parse_var("LIST_SORT_CAP", ListLimits::default().sort_cap)?,
                sort_reads: parse_var("LIST_SORT_READS", ListLimits::default().sort_reads)?,
            },
        })
    }
}

/// An AWS SDK configuration from the standard chain. `AWS_ENDPOINT_URL_DYNAMODB` (or
/// `AWS_ENDPOINT_URL`) points it at the local emulator; nothing here is emulator-specific.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
