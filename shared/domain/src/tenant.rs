//! Tenants and the tenant id.
//!
//! A [`TenantId`] is not parsed from request text: request code gets one only from verified
//! credentials (`crm_auth`) and from records our own table or queues carry, so a handler
//! cannot query a tenant it was not authorised for.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::plan::{LimitOverrides, Limits, Tier};

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

/// A tenant: its name and unique slug, its status, the settings its admins edit
/// ([`Profile`], see `tenant_settings`), and its plan. Fields added after the first
/// release default when an older record lacks them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub slug: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub profile: Profile,
    #[serde(default = "crate::plan::default_tier")]
    pub subscription_tier: Tier,
    /// The tenant's own limits where they differ from its tier's.
    #[serde(default)]
    pub limit_overrides: LimitOverrides,
    /// Moves with every settings change (optimistic locking).
    #[serde(default = "first_version")]
    pub version: u64,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

fn first_version() -> u64 {
    1
}

/// The original's descriptive tenant fields (text left empty when unset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub description: String,
    pub website: String,
    pub email: String,
    pub phone: String,
    pub address: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
    pub timezone: String,
    pub currency: String,
    pub language: String,
    pub billing_email: String,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            description: String::new(),
            website: String::new(),
            email: String::new(),
            phone: String::new(),
            address: String::new(),
            city: String::new(),
            state: String::new(),
            postal_code: String::new(),
            country: String::new(),
            timezone: "UTC".into(),
            currency: "USD".into(),
            language: "en".into(),
            billing_email: String::new(),
        }
    }
}

impl Tenant {
    pub fn new(name: String, slug: String, id: Option<Uuid>) -> Self {
        Self {
            id: TenantId(id.unwrap_or_else(Uuid::new_v4)),
            name,
            slug,
            status: TenantStatus::Active,
            created_at: Utc::now(),
            profile: Profile::default(),
            subscription_tier: Tier::Free,
            limit_overrides: LimitOverrides::default(),
            version: 1,
            updated_at: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }

    /// The limits in force: the tier's, with the tenant's overrides.
    pub fn limits(&self) -> Limits {
        Limits::of(self.subscription_tier, &self.limit_overrides)
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
