//! Memberships: a user in a tenant with a role. Who may change whom, and which tenant a
//! sign-in is for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::users::User;
use crate::error::Error;
use crate::identity::{Caller, Role};
use crate::tenant::TenantId;
use crate::validate::{FieldErrors, Input};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub tenant_id: TenantId,
    pub user_id: Uuid,
    pub role: Role,
    pub is_active: bool,
    pub invited_at: Option<DateTime<Utc>>,
    pub joined_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Membership {
    /// An active membership that starts now (`invited_at`: when the invitation was made).
    pub fn new(
        tenant_id: TenantId,
        user_id: Uuid,
        role: Role,
        invited_at: Option<DateTime<Utc>>,
    ) -> Self {
        let now = Utc::now();
        Self {
            tenant_id,
            user_id,
            role,
            is_active: true,
            invited_at,
            joined_at: Some(now),
            created_at: now,
            updated_at: now,
        }
    }

    /// An active owner: the tenant keeps at least one.
    pub fn is_active_owner(&self) -> bool {
        self.is_active && self.role == Role::Owner
    }

    /// A row of `GET /api/tenants/current/members/`; the email only for admins and owners.
    pub fn json(&self, user: Option<&User>, show_email: bool) -> Value {
        let mut row = json!({
            "user_id": self.user_id,
            "role": self.role,
            "is_active": self.is_active,
            "invited_at": self.invited_at,
            "joined_at": self.joined_at,
            "first_name": user.map(|u| u.first_name.as_str()),
            "last_name": user.map(|u| u.last_name.as_str()),
            "full_name": user.map(User::full_name),
            "user_is_active": user.is_some_and(|u| u.is_active),
        });
        if show_email {
            row["email"] = json!(user.map(|u| u.email.as_str()));
        }
        row
    }
}

/// Who sees members' emails.
pub fn sees_emails(caller: &Caller) -> bool {
    caller.is_at_least(Role::Admin)
}

/// `PATCH /api/tenants/current/members/{user_id}/`: `{role?, is_active?}`.
#[derive(Debug, Default)]
pub struct MemberEdit {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

impl MemberEdit {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        let role = input.choice::<Role>("role", false);
        let role = input.non_null("role", role);
        let is_active = input.flag("is_active");
        input.finish()?;
        Ok(Self { role, is_active })
    }

    /// The membership after the edit (unchanged when it changes nothing).
    pub fn applied(&self, member: &Membership) -> Membership {
        let mut after = member.clone();
        if let Some(role) = self.role {
            after.role = role;
        }
        if let Some(active) = self.is_active {
            after.is_active = active;
        }
        if after != *member {
            after.updated_at = Utc::now();
        }
        after
    }
}

/// Only an owner grants, changes or removes the owner role; admins manage the rest.
/// `after` is `None` for a removal.
pub fn check_change(
    caller: &Caller,
    before: &Membership,
    after: Option<&Membership>,
) -> Result<(), Error> {
    caller.require(Role::Admin)?;
    let touches_owner = before.role == Role::Owner || after.is_some_and(|a| a.role == Role::Owner);
    if touches_owner && !caller.is_at_least(Role::Owner) {
        return Err(Error::Forbidden(
            "Only an owner may grant, change or remove the owner role.".into(),
        ));
    }
    Ok(())
}

/// How a change moves the tenant's count of active owners (-1, 0 or +1).
pub fn owner_delta(before: Option<&Membership>, after: Option<&Membership>) -> i64 {
    let count = |m: Option<&Membership>| i64::from(m.is_some_and(Membership::is_active_owner));
    count(after) - count(before)
}

pub const LAST_OWNER: &str =
    "The tenant's last active owner cannot be demoted, deactivated or removed.";

/// The tenant a sign-in is for: the one asked for (if the user is an active member), or
/// the user's only active membership; several without a choice is a 400 on `tenant_id`
/// listing them. `None`: no active membership fits (the same 401 as a wrong password).
pub fn choose_tenant(
    active: &[(Membership, String)],
    requested: Option<Uuid>,
) -> Result<Option<Membership>, Error> {
    if let Some(id) = requested {
        return Ok(active
            .iter()
            .find(|(m, _)| m.tenant_id.as_uuid() == id)
            .map(|(m, _)| m.clone()));
    }
    match active {
        [] => Ok(None),
        [(only, _)] => Ok(Some(only.clone())),
        several => {
            let choices: Vec<String> = several
                .iter()
                .map(|(m, name)| format!("{} ({name})", m.tenant_id))
                .collect();
            Err(Error::field(
                "tenant_id",
                format!(
                    "You belong to several tenants: choose one of {}.",
                    choices.join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role) -> Membership {
        Membership::new(
            TenantId::from_uuid(Uuid::new_v4()),
            Uuid::new_v4(),
            role,
            None,
        )
    }

    fn caller(role: Role) -> Caller {
        Caller {
            tenant: TenantId::from_uuid(Uuid::new_v4()),
            user_id: "u".into(),
            role,
            email: None,
            origin: Default::default(),
            audit_retention_days: 0,
        }
    }

    #[test]
    fn owners_are_managed_by_owners() {
        let owner = member(Role::Owner);
        let user = member(Role::User);
        let promote = MemberEdit {
            role: Some(Role::Owner),
            is_active: None,
        }
        .applied(&user);
        assert!(check_change(&caller(Role::Admin), &user, Some(&promote)).is_err());
        assert!(check_change(&caller(Role::Admin), &owner, None).is_err());
        assert!(check_change(&caller(Role::Manager), &user, None).is_err());
        assert!(check_change(&caller(Role::Admin), &user, None).is_ok());
        assert!(check_change(&caller(Role::Owner), &user, Some(&promote)).is_ok());
        assert_eq!(owner_delta(Some(&user), Some(&promote)), 1);
        assert_eq!(owner_delta(Some(&owner), None), -1);
        let mut inactive = owner.clone();
        inactive.is_active = false;
        assert_eq!(owner_delta(Some(&owner), Some(&inactive)), -1);
    }

    #[test]
    fn tenant_choice() {
        let a = member(Role::User);
        let b = member(Role::Admin);
        let both = vec![(a.clone(), "A".to_string()), (b.clone(), "B".to_string())];
        assert_eq!(choose_tenant(&both[..1], None).unwrap(), Some(a.clone()));
        assert_eq!(
            choose_tenant(&both, Some(b.tenant_id.as_uuid())).unwrap(),
            Some(b)
        );
        assert_eq!(choose_tenant(&both, Some(Uuid::new_v4())).unwrap(), None);
        match choose_tenant(&both, None) {
            Err(Error::Validation(e)) => assert!(e.has("tenant_id")),
            other => panic!("{other:?}"),
        }
    }
}
