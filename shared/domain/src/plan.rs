//! Plans and their limits: the tiers of the original (`free, starter, professional,
//! enterprise`), each with the users, leads, requests per minute and audit retention it
//! allows, defined here once. A tenant may override any of them (the admin command's
//! `tenant set-plan`); the stores enforce `max_leads` and `max_users` inside the writes'
//! transactions, so the limits hold exactly under concurrency.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

crate::choice_enum! {
    /// A subscription tier.
    Tier {
        Free = "free",
        Starter = "starter",
        Professional = "professional",
        Enterprise = "enterprise",
    }
}

/// The tier of a tenant that has none recorded (created before plans existed).
pub fn default_tier() -> Tier {
    Tier::Free
}

/// What a tenant may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memberships (active or deactivated: a deactivated member keeps the seat until removed).
    pub max_users: u64,
    /// Leads stored at once (deleting a lead frees its place).
    pub max_leads: u64,
    /// Requests per minute across the tenant's callers.
    pub requests_per_minute: u64,
    /// How long audit entries are kept.
    pub audit_retention_days: u64,
}

impl Tier {
    /// The tier's limits. `free` is the original's defaults (5 users, 1,000 leads).
    pub const fn limits(self) -> Limits {
        let (max_users, max_leads, requests_per_minute, audit_retention_days) = match self {
            Tier::Free => (5, 1_000, 60, 30),
            Tier::Starter => (20, 10_000, 300, 90),
            Tier::Professional => (100, 100_000, 1_200, 365),
            Tier::Enterprise => (10_000, 10_000_000, 6_000, 730),
        };
        Limits {
            max_users,
            max_leads,
            requests_per_minute,
            audit_retention_days,
        }
    }
}

/// A tenant's own values for some limits; the others come from its tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_leads: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_retention_days: Option<u64>,
}

impl LimitOverrides {
    /// These overrides on top of `other` (ours win where set).
    pub fn or(self, other: LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            max_users: self.max_users.or(other.max_users),
            max_leads: self.max_leads.or(other.max_leads),
            requests_per_minute: self.requests_per_minute.or(other.requests_per_minute),
            audit_retention_days: self.audit_retention_days.or(other.audit_retention_days),
        }
    }
}

impl Limits {
    /// The tier's limits with a tenant's overrides applied.
    pub fn of(tier: Tier, overrides: &LimitOverrides) -> Limits {
        let base = tier.limits();
        Limits {
            max_users: overrides.max_users.unwrap_or(base.max_users),
            max_leads: overrides.max_leads.unwrap_or(base.max_leads),
            requests_per_minute: overrides
                .requests_per_minute
                .unwrap_or(base.requests_per_minute),
            audit_retention_days: overrides
                .audit_retention_days
                .unwrap_or(base.audit_retention_days),
        }
    }

    pub fn json(&self) -> Value {
        json!(self)
    }
}

/// What a tenant uses now, against its limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub leads: u64,
    pub users: u64,
}

/// The `detail` of a lead create refused by the plan.
pub fn leads_exhausted(max: u64) -> String {
    format!("This tenant's plan allows at most {max} leads; delete leads or upgrade the plan.")
}

/// The `detail` of an invitation or new member refused by the plan.
pub fn users_exhausted(max: u64) -> String {
    format!("This tenant's plan allows at most {max} users; remove members or upgrade the plan.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_is_the_original_defaults_and_overrides_win() {
        let free = Tier::Free.limits();
        assert_eq!((free.max_users, free.max_leads), (5, 1_000));
        let limits = Limits::of(
            Tier::Professional,
            &LimitOverrides {
                max_leads: Some(7),
                ..Default::default()
            },
        );
        assert_eq!(limits.max_leads, 7);
        assert_eq!(limits.max_users, Tier::Professional.limits().max_users);
        assert_eq!(serde_json::to_value(Tier::Starter).unwrap(), "starter");
    }
}
