//! Tenants and the tenant id.
//!
//! A [`TenantId`] is not parsed from request text: request code gets one only from verified
//! credentials (`crm_auth`) and from records our own table or queues carry, so a handler
//! cannot query a tenant it was not authorised for.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// A tenant id from a UUID that is already trusted: a verified token's claim, a record
    /// of our own table or queue, or a tenant the admin command creates. Never call it on
    /// request input.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// Tenant ids read back from our own table are trusted.
impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Uuid::deserialize(d).map(TenantId)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
    /// The tenant's own request rate limit, when set (`Store::set_tenant_requests_per_minute`);
    /// otherwise the service's default (`DEFAULT_REQUESTS_PER_MINUTE`). Plans will supply
    /// it: see `crm_http::rate_limit::requests_per_minute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
}

impl Tenant {
    pub fn new(name: String, slug: String, id: Option<Uuid>) -> Self {
        Self {
            id: TenantId(id.unwrap_or_else(Uuid::new_v4)),
            name,
            slug,
            status: TenantStatus::Active,
            created_at: Utc::now(),
            requests_per_minute: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }
}

/// A slug as used in subdomains: lowercase letters, digits and inner hyphens, 1–63 long.
pub fn validate_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("use 1-63 lowercase letters, digits and inner hyphens".into())
    }
}

/// A slug derived from a tenant's name ("Acme Corp" -> "acme-corp").
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(|c| c.to_lowercase()) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    slug.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp, Inc."), "acme-corp-inc");
        assert!(validate_slug("acme-corp").is_ok());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-acme").is_err());
        assert!(validate_slug("").is_err());
    }
}
