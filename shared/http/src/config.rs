//! The HTTP functions' configuration, read once from the environment at cold start.

use std::time::Duration;

use crm_app::config::{parse_var, var, AccountsConfig, ConfigError, DomainConfig, ListLimits};
use crm_auth::{ClaimNames, JwksConfig, JwtConfig, DEFAULT_ROLE_CLAIM, DEFAULT_TENANT_CLAIM};

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
    /// Sign-in settings: token lifetimes and the lockout of failed sign-ins.
    pub accounts: AccountsConfig,
    /// Per-tenant and per-API-key rate limits (`crate::rate_limit`).
    pub rate_limits: RateLimitConfig,
    /// Webhook targets and deliveries (the API checks targets, and sends test and
    /// redelivered events itself); see `crm_app::config::webhook_settings`.
    pub webhooks: crm_app::webhooks::WebhookSettings,
    /// Tenant resolution by host and custom domain verification (`crate::hosts`).
    pub domains: DomainConfig,
}

/// Rate limits: a tenant's requests per minute and an API key's requests per hour, counted
/// in fixed windows in the table.
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// Off: nothing is counted and no `RateLimit-*` headers are sent (tests that count
    /// DynamoDB calls or compare the table turn it off).
    pub enabled: bool,
    /// The tenant window: 60 s (the limit is per minute).
    pub tenant_window_seconds: i64,
    /// The API key window: 3,600 s (a key's `rate_limit` is per hour).
    pub key_window_seconds: i64,
    /// How often a warm instance writes a key's usage counters (at most once per this).
    pub usage_flush: Duration,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tenant_window_seconds: 60,
            key_window_seconds: 3600,
            usage_flush: Duration::from_secs(60),
        }
    }
}

impl RateLimitConfig {
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
pub const DEFAULT_TENANT_CACHE_SECONDS: u64 = 30;

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
                issuer: var("JWT_ISSUER"),
                audience: var("JWT_AUDIENCE"),
                jwks: var("JWKS_URL").map(JwksConfig::new),
                claims: ClaimNames {
                    tenant: var("JWT_TENANT_CLAIM").unwrap_or_else(|| DEFAULT_TENANT_CLAIM.into()),
                    role: var("JWT_ROLE_CLAIM").unwrap_or_else(|| DEFAULT_ROLE_CLAIM.into()),
                },
                ..JwtConfig::hs256(secret)
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
            accounts: AccountsConfig::from_env()?,
            rate_limits: RateLimitConfig::default(),
            webhooks: crm_app::config::webhook_settings()?,
            domains: DomainConfig::from_env()?,
        })
    }
}
