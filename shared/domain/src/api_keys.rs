//! API keys: server-to-server credentials of a tenant (the original's `TenantAPIKey`, here
//! enforced). A key is shown once, at creation: `crm_<prefix>_<secret>`, where the prefix
//! (16 hex digits, 64 random bits) is the public lookup id and the secret carries 256
//! random bits. Only the secret's SHA-256 digest is stored; a presented key is found by
//! its prefix and its digest compared in constant time.
//!
//! Scopes map onto what a role may do, per route ([`required_scopes`]); no key ever
//! reaches the sign-in, profile, member, invitation or key routes.

use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::accounts::secrets::{digest, new_secret, MAX_SECRET_CHARS};
use crate::error::Error;
use crate::identity::{Caller, Role};
use crate::tenant::TenantId;
use crate::validate::{Choice, FieldErrors, Input, Text};

crate::choice_enum! {
    /// What a key may do.
    Scope {
        LeadsRead = "leads:read",
        LeadsWrite = "leads:write",
        Bulk = "bulk",
        Settings = "settings",
    }
}

/// The text every key starts with, so that a leaked key is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "crm_";
/// Hex digits of a key's lookup prefix.
pub const LOOKUP_CHARS: usize = 16;
/// The per-hour rate limit of a key created without one (the original's default).
pub const DEFAULT_RATE_LIMIT: u32 = 1000;
pub const MAX_RATE_LIMIT: u32 = 1_000_000;
pub const NAME_CHARS: usize = 100;
/// The user id an API key acts as: what audit entries name as the actor.
pub const ACTOR_PREFIX: &str = "api-key:";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The public lookup part of the key (not secret).
    pub prefix: String,
    /// Requests per hour.
    pub rate_limit: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub usage_count: u64,
}

/// A new key: its record, the full key (shown once) and the digest to store.
pub struct NewKey {
    pub key: ApiKey,
    pub secret: String,
    pub digest: String,
}

impl ApiKey {
    /// Mints a key for the caller's tenant.
    pub fn mint(caller: &Caller, input: ApiKeyInput) -> NewKey {
        let mut bytes = [0u8; LOOKUP_CHARS / 2];
        OsRng.fill_bytes(&mut bytes);
        let prefix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let secret = new_secret();
        let key = ApiKey {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            name: input.name,
            scopes: input.scopes,
            prefix: prefix.clone(),
            rate_limit: input.rate_limit,
            created_by: caller.user_id.clone(),
            created_at: Utc::now(),
            expires_at: input.expires_at,
            revoked_at: None,
            last_used_at: None,
            usage_count: 0,
        };
        NewKey {
            digest: digest(&secret),
            secret: format!("{KEY_PREFIX}{prefix}_{secret}"),
            key,
        }
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| now < at)
    }

    /// The caller a request authenticated by this key acts as: the key's tenant, the key
    /// as the user (`api-key:<id>`), and the least role its scopes need.
    pub fn caller(&self) -> Caller {
        Caller {
            tenant: self.tenant_id,
            user_id: format!("{ACTOR_PREFIX}{}", self.id),
            role: role_for(&self.scopes),
            email: None,
            // The HTTP layer sets these from the request and the tenant.
            origin: Default::default(),
            audit_retention_days: 0,
        }
    }

    /// The key as listed: never the secret or its digest.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "prefix": format!("{KEY_PREFIX}{}", self.prefix),
            "scopes": self.scopes,
            "rate_limit": self.rate_limit,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "is_active": self.is_active(Utc::now()),
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
            "usage_count": self.usage_count,
        })
    }
}

/// A presented key split into its lookup prefix and secret; `None` when it cannot be one
/// of ours (then it is unknown: 401).
pub fn split_key(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.trim().strip_prefix(KEY_PREFIX)?;
    let prefix = rest.get(..LOOKUP_CHARS)?;
    let secret = rest.get(LOOKUP_CHARS..)?.strip_prefix('_')?;
    let hex = prefix
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex && !secret.is_empty() && secret.len() <= MAX_SECRET_CHARS).then_some((prefix, secret))
}

/// Whether `secret` is the one whose digest was stored, compared in constant time.
pub fn secret_matches(secret: &str, stored_digest: &str) -> bool {
    digest(secret)
        .as_bytes()
        .ct_eq(stored_digest.as_bytes())
        .into()
}

/// The role a key acts with: an admin's powers when it may write anything (which routes
/// it reaches is [`required_scopes`]' business), a reader's otherwise.
pub fn role_for(scopes: &[Scope]) -> Role {
    if scopes.iter().any(|s| *s != Scope::LeadsRead) {
        Role::Admin
    } else {
        Role::Readonly
    }
}

const READ: &[Scope] = &[Scope::LeadsRead, Scope::LeadsWrite];
const READ_SETTINGS: &[Scope] = &[Scope::LeadsRead, Scope::LeadsWrite, Scope::Settings];
const WRITE: &[Scope] = &[Scope::LeadsWrite];
const BULK: &[Scope] = &[Scope::Bulk];
const SETTINGS: &[Scope] = &[Scope::Settings];

/// The scopes of which a key needs one to call `method` on the route `route` (its
/// template, e.g. `/api/leads/api/v1/leads/{id}`); `None`: no key may call it. Routes
/// not listed here are refused, so a new route is closed to keys until it is classified.
pub fn required_scopes(method: &str, route: &str) -> Option<&'static [Scope]> {
    let read = matches!(method, "GET" | "HEAD" | "OPTIONS");
    if let Some(rest) = route.strip_prefix("/api/tenants/current") {
        let settings = rest.is_empty()
            || rest.starts_with("/domains")
            || rest.starts_with("/audit-log")
            || rest.starts_with("/settings");
        return settings.then_some(SETTINGS);
    }
    let rest = route.strip_prefix("/api/leads/api/v1/")?;
    let first = rest.split('/').next().unwrap_or("");
    let last = rest.rsplit('/').next().unwrap_or("");
    if first == "scoring-settings" {
        return Some(SETTINGS);
    }
    if first == "leads"
        && (last.starts_with("bulk-")
            || last.starts_with("bulk_")
            || matches!(last, "update-scores" | "update_scores"))
    {
        return Some(BULK);
    }
    if first == "webhooks" {
        // Subscriptions hold where the tenant's data goes: settings, to read as to write.
        return Some(SETTINGS);
    }
    if matches!(first, "sources" | "tags" | "custom-fields") {
        return Some(if read { READ_SETTINGS } else { SETTINGS });
    }
    Some(if read { READ } else { WRITE })
}

/// 403 unless the key has one of the scopes the route needs.
pub fn authorize(key: &ApiKey, method: &str, route: &str) -> Result<(), Error> {
    match required_scopes(method, route) {
        Some(needed) if needed.iter().any(|s| key.scopes.contains(s)) => Ok(()),
        Some(needed) => Err(Error::Forbidden(format!(
            "This API key lacks the scope this request needs ({}).",
            needed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
        None => Err(Error::Forbidden(
            "API keys may not call this endpoint.".into(),
        )),
    }
}

/// `POST /api/tenants/current/api-keys/`: `{name, scopes, expires_at?, rate_limit?}`.
#[derive(Debug)]
pub struct ApiKeyInput {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rate_limit: u32,
}

impl ApiKeyInput {
    pub fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        input.require("name", true);
        let name = input.text("name", Text::required(NAME_CHARS)).into_set();
        let scopes = parse_scopes(&mut input, body.get("scopes"));
        let expires_at = input.datetime("expires_at").into_set();
        if expires_at.is_some_and(|at| at <= now) {
            input.error("expires_at", "Must be in the future.");
        }
        let rate_limit = match body.get("rate_limit") {
            None | Some(Value::Null) => Some(DEFAULT_RATE_LIMIT),
            Some(v) => match v.as_u64() {
                Some(n @ 1..) if n <= u64::from(MAX_RATE_LIMIT) => u32::try_from(n).ok(),
                _ => {
                    input.error(
                        "rate_limit",
                        format!("Requests per hour: an integer from 1 to {MAX_RATE_LIMIT}."),
                    );
                    None
                }
            },
        };
        input.finish()?;
        Ok(Self {
            name: name.unwrap_or_default(),
            scopes: scopes.unwrap_or_default(),
            expires_at,
            rate_limit: rate_limit.unwrap_or(DEFAULT_RATE_LIMIT),
        })
    }
}

fn parse_scopes(input: &mut Input<'_>, value: Option<&Value>) -> Option<Vec<Scope>> {
    let choices = || {
        Scope::CHOICES
            .iter()
            .map(|(s, _)| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(value) = value else {
        input.error("scopes", crate::validate::REQUIRED);
        return None;
    };
    let Some(list) = value.as_array().filter(|l| !l.is_empty()) else {
        input.error(
            "scopes",
            format!("A non-empty list of scopes is required: {}.", choices()),
        );
        return None;
    };
    let mut scopes = Vec::new();
    for item in list {
        match item.as_str().and_then(Scope::parse) {
            Some(s) if !scopes.contains(&s) => scopes.push(s),
            Some(_) => {}
            None => {
                input.error(
                    "scopes",
                    format!("\"{item}\" is not a valid choice: {}.", choices()),
                );
                return None;
            }
        }
    }
    Some(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            tenant: TenantId::from_uuid(Uuid::new_v4()),
            user_id: "owner-1".into(),
            role: Role::Owner,
            email: None,
            origin: Default::default(),
            audit_retention_days: 0,
        }
    }

    fn key(scopes: &[Scope]) -> NewKey {
        let body = json!({"name": "CI", "scopes": scopes});
        ApiKey::mint(
            &caller(),
            ApiKeyInput::parse(body.as_object().unwrap(), Utc::now()).unwrap(),
        )
    }

    #[test]
    fn a_key_is_its_prefix_and_a_secret_found_by_digest() {
        let new = key(&[Scope::LeadsRead]);
        assert!(new.secret.starts_with("crm_"));
        let (prefix, secret) = split_key(&new.secret).unwrap();
        assert_eq!(prefix, new.key.prefix);
        assert!(secret.len() >= 43, "256 bits of base64");
        assert!(secret_matches(secret, &new.digest));
        assert!(!secret_matches("x", &new.digest));
        for bad in ["", "crm_", "crm_0123", "Bearer x", "crm_0123456789abcdeX_s"] {
            assert!(split_key(bad).is_none(), "{bad}");
        }
        assert_eq!(new.key.caller().user_id, format!("api-key:{}", new.key.id));
        assert!(!new.key.json().to_string().contains(secret));
    }

    #[test]
    fn scopes_map_onto_routes() {
        let read = key(&[Scope::LeadsRead]).key;
        let lead = "/api/leads/api/v1/leads/{id}";
        assert!(authorize(&read, "GET", lead).is_ok());
        assert!(authorize(&read, "PATCH", lead).is_err());
        assert_eq!(read.caller().role, Role::Readonly);
        let write = key(&[Scope::LeadsWrite]).key;
        assert!(authorize(&write, "DELETE", lead).is_ok());
        assert!(authorize(&write, "POST", "/api/leads/api/v1/leads/bulk-update").is_err());
        assert!(authorize(&write, "POST", "/api/leads/api/v1/tags").is_err());
        assert!(authorize(&write, "GET", "/api/leads/api/v1/tags").is_ok());
        // Webhooks say where the tenant's data goes: settings only, reads too.
        let hooks = "/api/leads/api/v1/webhooks/{id}/deliveries";
        assert!(authorize(&write, "GET", hooks).is_err());
        assert!(authorize(&key(&[Scope::Settings]).key, "GET", hooks).is_ok());
        let all = key(&[Scope::LeadsWrite, Scope::Bulk, Scope::Settings]).key;
        assert!(authorize(&all, "POST", "/api/leads/api/v1/leads/bulk-assign").is_ok());
        assert!(authorize(&all, "PUT", "/api/leads/api/v1/scoring-settings").is_ok());
        for never in [
            "/api/tenants/current/members",
            "/api/tenants/current/invitations/{id}",
            "/api/tenants/current/api-keys",
            "/api/tenants/current/api-keys/{id}",
            "/api/auth/logout",
            "/api/profile",
            "/api/tenants",
        ] {
            assert!(authorize(&all, "GET", never).is_err(), "{never}");
        }
    }

    #[test]
    fn input_rules() {
        let now = Utc::now();
        let parse = |v: Value| ApiKeyInput::parse(v.as_object().unwrap(), now);
        let errors = parse(json!({"scopes": ["root"], "rate_limit": 0})).unwrap_err();
        for field in ["name", "scopes", "rate_limit"] {
            assert!(errors.has(field), "{field}");
        }
        assert!(parse(json!({"name": "a", "scopes": []})).is_err());
        assert!(parse(
            json!({"name": "a", "scopes": ["bulk"], "expires_at": "2001-01-01T00:00:00Z"})
        )
        .unwrap_err()
        .has("expires_at"));
        let ok = parse(json!({"name": "a", "scopes": ["bulk", "bulk"]})).unwrap();
        assert_eq!(ok.scopes, vec![Scope::Bulk]);
        assert_eq!(ok.rate_limit, DEFAULT_RATE_LIMIT);
    }
}
