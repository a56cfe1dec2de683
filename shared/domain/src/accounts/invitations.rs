//! Invitations: an email asked to join a tenant with a role, through a one-time secret.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::accounts::secrets::MAX_SECRET_CHARS;
use crate::accounts::users::{email_key, EMAIL_CHARS, NAME_CHARS, PASSWORD_MAX_CHARS};
use crate::error::Error;
use crate::identity::{Caller, Role};
use crate::tenant::TenantId;
use crate::validate::{FieldErrors, Input, Text};

/// How long an invitation can be accepted.
pub const INVITATION_DAYS: i64 = 7;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: Role,
    /// The inviting user's id.
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    /// Epoch seconds in the table (its TTL attribute).
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

impl Invitation {
    pub fn new(caller: &Caller, input: InvitationInput) -> Self {
        let now = Utc::now();
        Self {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            email: input.email,
            role: input.role,
            invited_by: caller.user_id.clone(),
            created_at: now,
            expires_at: now + Duration::days(INVITATION_DAYS),
        }
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "invited_by": self.invited_by,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        })
    }
}

/// `POST /api/tenants/current/invitations/`: `{email, role}`.
#[derive(Debug)]
pub struct InvitationInput {
    pub email: String,
    pub role: Role,
}

impl InvitationInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        input.require("email", true);
        input.require("role", true);
        let email = input.email("email", Text::required(EMAIL_CHARS)).into_set();
        let role = input.choice::<Role>("role", false).into_set();
        input.finish()?;
        Ok(Self {
            email: email_key(&email.unwrap_or_default()),
            role: role.unwrap_or(Role::User),
        })
    }
}

/// Admins and owners invite; only an owner invites an owner.
pub fn check_invite(caller: &Caller, role: Role) -> Result<(), Error> {
    caller.require(Role::Admin)?;
    if role == Role::Owner && !caller.is_at_least(Role::Owner) {
        return Err(Error::Forbidden(
            "Only an owner may invite an owner.".into(),
        ));
    }
    Ok(())
}

/// `POST /api/auth/accept-invitation/`: `{token, password, first_name?, last_name?}`.
/// The password is a new user's first one, or an existing user's current one (checked
/// against the policy only for a new user).
#[derive(Debug)]
pub struct AcceptInput {
    pub token: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

impl AcceptInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        let token = input.secret("token", MAX_SECRET_CHARS);
        let password = input.secret("password", PASSWORD_MAX_CHARS);
        let first_name = input.text("first_name", Text::optional(NAME_CHARS));
        let last_name = input.text("last_name", Text::optional(NAME_CHARS));
        input.finish()?;
        Ok(Self {
            token: token.unwrap_or_default(),
            password: password.unwrap_or_default(),
            first_name: first_name.into_set().unwrap_or_default(),
            last_name: last_name.into_set().unwrap_or_default(),
        })
    }
}

pub const INVALID_INVITATION: &str =
    "This invitation is not valid: it was used, revoked or has expired.";

#[cfg(test)]
mod tests {
    use super::*;

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
    fn invitation_rules() {
        let body = json!({"email": "New@Example.com", "role": "owner"});
        let input = InvitationInput::parse(body.as_object().unwrap()).unwrap();
        assert_eq!(input.email, "new@example.com");
        assert!(check_invite(&caller(Role::Admin), input.role).is_err());
        assert!(check_invite(&caller(Role::Owner), input.role).is_ok());
        assert!(check_invite(&caller(Role::Manager), Role::User).is_err());
        let invitation = Invitation::new(&caller(Role::Owner), input);
        assert!(!invitation.is_expired(Utc::now()));
        assert!(invitation.is_expired(Utc::now() + Duration::days(8)));
        let err = InvitationInput::parse(json!({"role": "root"}).as_object().unwrap());
        let err = err.unwrap_err();
        assert!(err.has("email") && err.has("role"));
    }
}
