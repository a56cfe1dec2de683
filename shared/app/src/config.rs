//! Configuration read once from the environment at cold start: what the use cases need,
//! and the helpers every entry point reads its variables with.

use std::time::Duration;

pub use crm_store::ClientSettings;

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

/// Sign-in settings (the accounts function, and the membership check every function runs
/// for the access tokens it issues).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountsConfig {
    /// Lifetime of an access token (`ACCESS_TOKEN_SECONDS`, default 15 minutes).
    pub access_token_seconds: i64,
    /// Lifetime of a refresh token (`REFRESH_TOKEN_SECONDS`, default 30 days).
    pub refresh_token_seconds: i64,
    /// Failed sign-ins of one email that lock it (`LOGIN_MAX_FAILURES`, default 5)...
    pub login_max_failures: u32,
    /// ...for the rest of this window from the first of them (`LOGIN_WINDOW_SECONDS`,
    /// default 15 minutes).
    pub login_window_seconds: i64,
    /// Whether a signed-in user may create a tenant of their own with `POST /api/tenants/`
    /// (`ALLOW_TENANT_SIGNUP`, default false; `crm-admin tenant create` always may).
    pub allow_tenant_signup: bool,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            access_token_seconds: 15 * 60,
            refresh_token_seconds: 30 * 24 * 3600,
            login_max_failures: 5,
            login_window_seconds: 15 * 60,
            allow_tenant_signup: false,
        }
    }
}

impl AccountsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Self::default();
        let positive = |name: &'static str, value: i64| {
            if value > 0 {
                Ok(value)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    reason: "must be at least 1".into(),
                })
            }
        };
        Ok(Self {
            access_token_seconds: positive(
                "ACCESS_TOKEN_SECONDS",
                parse_var("ACCESS_TOKEN_SECONDS", d.access_token_seconds)?,
            )?,
            refresh_token_seconds: positive(
                "REFRESH_TOKEN_SECONDS",
                parse_var("REFRESH_TOKEN_SECONDS", d.refresh_token_seconds)?,
            )?,
            login_max_failures: parse_var("LOGIN_MAX_FAILURES", d.login_max_failures)?.max(1),
            login_window_seconds: positive(
                "LOGIN_WINDOW_SECONDS",
                parse_var("LOGIN_WINDOW_SECONDS", d.login_window_seconds)?,
            )?,
            allow_tenant_signup: parse_var("ALLOW_TENANT_SIGNUP", d.allow_tenant_signup)?,
        })
    }
}

/// Custom domains and tenant resolution by host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainConfig {
    /// `TENANT_BASE_DOMAIN` (e.g. `crm.example.com`): `{slug}.{base}` names the tenant with
    /// that slug. Unset: no subdomain routing.
    pub base_domain: Option<String>,
    /// `API_DOMAIN_NAME`, comma-separated: the API's own host names (its custom domain),
    /// which name no tenant (no lookup) and which no tenant may register.
    pub service_hosts: Vec<String>,
    /// `DNS_NAMESERVER` (`ip:port`): where domain verification looks TXT records up.
    /// Unset: the system's resolvers.
    pub nameserver: Option<std::net::SocketAddr>,
}

impl DomainConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let host = |name: &'static str, raw: &str| {
            crm_domain::domains::normalise_host(raw).ok_or_else(|| ConfigError::Invalid {
                name,
                reason: format!("{raw:?} is not a host name"),
            })
        };
        let base_domain = var("TENANT_BASE_DOMAIN")
            .map(|raw| host("TENANT_BASE_DOMAIN", &raw))
            .transpose()?;
        let service_hosts = var("API_DOMAIN_NAME")
            .map(|raw| {
                raw.split(',')
                    .filter(|h| !h.trim().is_empty())
                    .map(|h| host("API_DOMAIN_NAME", h))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let nameserver = match var("DNS_NAMESERVER") {
            None => None,
            Some(raw) => Some(raw.trim().parse().map_err(|_| ConfigError::Invalid {
                name: "DNS_NAMESERVER",
                reason: format!("{raw:?} is not an ip:port address"),
            })?),
        };
        Ok(Self {
            base_domain,
            service_hosts,
            nameserver,
        })
    }

    /// The names no tenant may register.
    pub fn reserved(&self) -> crm_domain::domains::Reserved<'_> {
        crm_domain::domains::Reserved {
            base_domain: self.base_domain.as_deref(),
            service_hosts: &self.service_hosts,
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

/// The DynamoDB client's retries and timeouts ([`ClientSettings::DEFAULT`], documented in
/// `crm_store::client`), each overridable: `DYNAMODB_MAX_ATTEMPTS` (attempts per call, the
/// first included), `DYNAMODB_ATTEMPT_TIMEOUT_MS` (one attempt) and `DYNAMODB_TIMEOUT_MS`
/// (the call with its retries).
pub fn dynamodb_settings() -> Result<ClientSettings, ConfigError> {
    let d = ClientSettings::DEFAULT;
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let settings = ClientSettings {
        max_attempts: parse_var("DYNAMODB_MAX_ATTEMPTS", d.max_attempts)?,
        attempt_timeout: Duration::from_millis(parse_var(
            "DYNAMODB_ATTEMPT_TIMEOUT_MS",
            ms(d.attempt_timeout),
        )?),
        operation_timeout: Duration::from_millis(parse_var(
            "DYNAMODB_TIMEOUT_MS",
            ms(d.operation_timeout),
        )?),
        ..d
    };
    settings.check().map_err(|reason| ConfigError::Invalid {
        name: "DYNAMODB_MAX_ATTEMPTS, DYNAMODB_ATTEMPT_TIMEOUT_MS or DYNAMODB_TIMEOUT_MS",
        reason,
    })?;
    Ok(settings)
}

/// The DynamoDB client of a function: the shared AWS configuration with `settings`'
/// retries and timeouts.
pub fn dynamodb_client(
    sdk: &aws_config::SdkConfig,
    settings: &ClientSettings,
) -> aws_sdk_dynamodb::Client {
    settings.client(aws_sdk_dynamodb::config::Builder::from(sdk))
}

/// How webhook deliveries behave (`crate::webhooks::WebhookSettings`):
/// `WEBHOOK_ALLOW_PRIVATE` (default false; the local stack and tests set it to allow http
/// and private targets) and `WEBHOOK_RETRY_BASE_SECONDS` (the first retry's delay,
/// default 30).
pub fn webhook_settings() -> Result<crate::webhooks::WebhookSettings, ConfigError> {
    let d = crate::webhooks::WebhookSettings::default();
    Ok(crate::webhooks::WebhookSettings {
        allow_private: parse_var("WEBHOOK_ALLOW_PRIVATE", d.allow_private)?,
        retry_base_seconds: parse_var("WEBHOOK_RETRY_BASE_SECONDS", d.retry_base_seconds)?,
        ..d
    })
}

/// The webhook queue as a worker uses it: `WEBHOOKS_QUEUE_URL` (retries are sent there),
/// `WEBHOOKS_DLQ_URL` (deliveries that failed for 24 hours) and [`webhook_settings`].
pub fn webhook_queue() -> Result<crate::queue::WebhookQueue, ConfigError> {
    Ok(crate::queue::WebhookQueue {
        url: var("WEBHOOKS_QUEUE_URL"),
        dlq_url: var("WEBHOOKS_DLQ_URL"),
        settings: webhook_settings()?,
    })
}
