//! Users of the service: who signs in, with their profile, and the rules for their input.
//! The password hash is not part of [`User`] (the store keeps it beside the record), so no
//! serialisation of a user can carry it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::validate::{FieldErrors, Input, Patch, Text};

pub const PASSWORD_MIN_CHARS: usize = 10;
/// Longer passwords are refused rather than hashed (a bound on the work a request causes).
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Django's `AbstractUser` bounds.
pub const NAME_CHARS: usize = 150;
pub const EMAIL_CHARS: usize = 254;
pub const PHONE_CHARS: usize = 20;
pub const TIMEZONE_CHARS: usize = 64;
pub const LANGUAGE_CHARS: usize = 10;
pub const DEFAULT_TIMEZONE: &str = "UTC";
pub const DEFAULT_LANGUAGE: &str = "en";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    /// Lowercased: emails are unique across the service, ignoring case.
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub timezone: String,
    pub language: String,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An email as the service keys it: trimmed and lowercased.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

impl User {
    pub fn new(email: &str, first_name: String, last_name: String) -> Self {
        let now = Utc::now();
        Self {
            id: Uuid::new_v4(),
            email: email_key(email),
            first_name,
            last_name,
            phone: None,
            timezone: DEFAULT_TIMEZONE.into(),
            language: DEFAULT_LANGUAGE.into(),
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    /// The user as a lead's `assigned_to` shows them (the original's user object); the
    /// email only when `show_email` (as in the members list).
    pub fn assignee_json(&self, show_email: bool) -> Value {
        json!({
            "id": self.id.to_string(),
            "email": if show_email { Some(&self.email) } else { None },
            "first_name": self.first_name,
            "last_name": self.last_name,
            "full_name": self.full_name(),
        })
    }

    /// The profile, as `/api/profile/` shows it (the original's fields; `username` is the
    /// email, as the original's users signed in with it).
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "username": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "full_name": self.full_name(),
            "phone": self.phone,
            "timezone": self.timezone,
            "language": self.language,
            "is_active": self.is_active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// A password that may be set: at least [`PASSWORD_MIN_CHARS`] characters, not the email.
pub fn check_password(password: &str, email: &str) -> Result<(), String> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(format!(
            "This password is too short. It must contain at least {PASSWORD_MIN_CHARS} characters."
        ));
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err("The password may not be the email address.".into());
    }
    Ok(())
}

/// Reads a new password from `field`, checked against the policy for `email`.
pub fn new_password(input: &mut Input<'_>, field: &str, email: &str) -> Option<String> {
    let password = input.secret(field, PASSWORD_MAX_CHARS)?;
    match check_password(&password, email) {
        Ok(()) => Some(password),
        Err(message) => {
            input.error(field, message);
            None
        }
    }
}

/// `POST /api/auth/login/`: `{email, password, tenant_id?}`.
#[derive(Debug)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    pub tenant_id: Option<Uuid>,
}

impl LoginInput {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        input.require("email", true);
        let email = input.text("email", Text::required(EMAIL_CHARS)).into_set();
        let password = input.secret("password", PASSWORD_MAX_CHARS);
        let tenant_id = input.uuid("tenant_id").into_set();
        input.finish()?;
        Ok(Self {
            email: email_key(&email.unwrap_or_default()),
            password: password.unwrap_or_default(),
            tenant_id,
        })
    }
}

/// `PATCH /api/profile/`: the fields a user changes about themselves.
#[derive(Debug, Default)]
pub struct ProfileEdit {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Patch<String>,
    pub timezone: Option<String>,
    pub language: Option<String>,
}

fn names(input: &mut Input<'_>, field: &str) -> Option<String> {
    match input.text(field, Text::optional(NAME_CHARS)) {
        Patch::Absent => None,
        Patch::Clear => Some(String::new()),
        Patch::Set(name) => Some(name),
    }
}

/// An IANA zone name as clients send it (`Europe/Paris`, `UTC`, `Etc/GMT+2`).
pub(crate) fn valid_timezone(tz: &str) -> bool {
    tz.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        && tz.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// A language tag (`en`, `pt-BR`).
pub(crate) fn valid_language(tag: &str) -> bool {
    tag.len() >= 2
        && tag.split('-').all(|part| {
            !part.is_empty() && part.len() <= 8 && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

impl ProfileEdit {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        let first_name = names(&mut input, "first_name");
        let last_name = names(&mut input, "last_name");
        let phone = input.text("phone", Text::optional(PHONE_CHARS));
        let timezone = input.text("timezone", Text::required(TIMEZONE_CHARS));
        let timezone = input.non_null("timezone", timezone);
        if timezone.as_deref().is_some_and(|tz| !valid_timezone(tz)) {
            input.error(
                "timezone",
                "Enter a time zone name such as \"Europe/Paris\".",
            );
        }
        let language = input.text("language", Text::required(LANGUAGE_CHARS));
        let language = input.non_null("language", language);
        if language.as_deref().is_some_and(|l| !valid_language(l)) {
            input.error(
                "language",
                "Enter a language tag such as \"en\" or \"pt-BR\".",
            );
        }
        input.finish()?;
        Ok(Self {
            first_name,
            last_name,
            phone,
            timezone,
            language,
        })
    }

    /// Applies the edit; true when something changed.
    pub fn apply(self, user: &mut User) -> bool {
        let before = user.clone();
        if let Some(v) = self.first_name {
            user.first_name = v;
        }
        if let Some(v) = self.last_name {
            user.last_name = v;
        }
        self.phone.apply_to(&mut user.phone);
        if let Some(v) = self.timezone {
            user.timezone = v;
        }
        if let Some(v) = self.language {
            user.language = v;
        }
        let changed = *user != before;
        if changed {
            user.updated_at = Utc::now();
        }
        changed
    }
}

/// `POST /api/profile/password/`: `{current_password, new_password}`.
#[derive(Debug)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

impl PasswordChange {
    pub fn parse(body: &Map<String, Value>, email: &str) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        let current = input.secret("current_password", PASSWORD_MAX_CHARS);
        let new = new_password(&mut input, "new_password", email);
        if let (Some(c), Some(n)) = (&current, &new) {
            if c == n {
                input.error(
                    "new_password",
                    "The new password must differ from the current one.",
                );
            }
        }
        input.finish()?;
        Ok(Self {
            current_password: current.unwrap_or_default(),
            new_password: new.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn password_policy() {
        assert!(check_password("short", "a@b.co").is_err());
        assert!(check_password("a@example.com", "A@Example.com").is_err());
        assert!(check_password("long enough pass", "a@b.co").is_ok());
        let err = PasswordChange::parse(
            &body(json!({"current_password": "x", "new_password": "tiny"})),
            "a@b.co",
        )
        .unwrap_err();
        assert!(err.has("new_password") && !err.has("current_password"));
    }

    #[test]
    fn login_input() {
        let ok = LoginInput::parse(&body(json!({"email": " A@B.co ", "password": " p "})));
        let ok = ok.unwrap();
        assert_eq!((ok.email.as_str(), ok.password.as_str()), ("a@b.co", " p "));
        let err = LoginInput::parse(&body(json!({"email": [], "tenant_id": "x"}))).unwrap_err();
        assert!(err.has("email") && err.has("password") && err.has("tenant_id"));
    }

    #[test]
    fn profile_edit() {
        let mut user = User::new("a@b.co", "A".into(), "B".into());
        let edit = ProfileEdit::parse(&body(json!({"first_name": "Ann", "phone": "+1 555"})));
        assert!(edit.unwrap().apply(&mut user));
        assert_eq!(user.full_name(), "Ann B");
        assert_eq!(user.phone.as_deref(), Some("+1 555"));
        let err = ProfileEdit::parse(&body(json!({"timezone": "no zone", "language": null})));
        let err = err.unwrap_err();
        assert!(err.has("timezone") && err.has("language"));
        assert!(ProfileEdit::parse(&body(json!({"timezone": "America/New_York"}))).is_ok());
    }
}
