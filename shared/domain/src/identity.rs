//! Who is acting: the roles of the original service and the verified caller of a request.
//! Permission rules that depend only on the caller (and the record acted on) live here.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::audit::{Origin, Provenance};
use crate::error::Error;
use crate::tenant::TenantId;

/// The roles of the original service, most powerful first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Manager,
    User,
    Readonly,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Owner,
        Role::Admin,
        Role::Manager,
        Role::User,
        Role::Readonly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::User => "user",
            Role::Readonly => "readonly",
        }
    }

    /// True when this role has at least the powers of `other` (roles are ordered).
    pub fn at_least(self, other: Role) -> bool {
        self <= other
    }
}

impl crate::validate::Choice for Role {
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("owner", Role::Owner),
        ("admin", Role::Admin),
        ("manager", Role::Manager),
        ("user", Role::User),
        ("readonly", Role::Readonly),
    ];
    fn as_str(self) -> &'static str {
        Role::as_str(self)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role \"{s}\""))
    }
}

/// The verified tenant-and-user context of a request. Handlers receive it from the
/// HTTP layer's extractor after verifying credentials; there is no other way to get one for a
/// request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    pub user_id: String,
    pub role: Role,
    pub email: Option<String>,
    /// Where the request came from, for the audit log.
    pub origin: Origin,
    /// How long the tenant's plan keeps audit entries (the tenant is read for every
    /// request, so its plan comes with it).
    pub audit_retention_days: u64,
}

impl Caller {
    /// Who the caller's writes are by, for their audit entries.
    pub fn provenance(&self) -> Provenance<'_> {
        Provenance {
            actor: &self.user_id,
            origin: &self.origin,
            retention_days: self.audit_retention_days,
        }
    }

    pub fn is_at_least(&self, role: Role) -> bool {
        self.role.at_least(role)
    }

    /// 403 unless the caller has `role` or a higher one.
    pub fn require(&self, role: Role) -> Result<(), Error> {
        if self.is_at_least(role) {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    }
}
