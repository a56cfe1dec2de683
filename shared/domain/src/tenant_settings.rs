//! `GET`/`PATCH /api/tenants/current/` and `POST /api/tenants/`: the tenant as its members
//! see it, and the fields its admins and owners change. The plan (`subscription_tier`,
//! `limits`) and `usage` are read-only here: the admin command sets the plan.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::accounts::users::{valid_language, valid_timezone, EMAIL_CHARS, PHONE_CHARS};
use crate::plan::Usage;
use crate::tenant::{slugify, validate_slug, Profile, Tenant};
use crate::validate::{FieldErrors, Input, Patch, Text};

pub const NAME_CHARS: usize = 255;
pub const SLUG_CHARS: usize = 63;
const DESCRIPTION_CHARS: usize = 2_000;
const URL_CHARS: usize = 200;
const LINE_CHARS: usize = 255;
const SHORT_CHARS: usize = 100;
const CODE_CHARS: usize = 20;

/// The answer of `GET /api/tenants/current/` (and of the writes).
pub fn json(tenant: &Tenant, usage: Usage) -> Value {
    let p = &tenant.profile;
    json!({
        "id": tenant.id,
        "name": tenant.name,
        "slug": tenant.slug,
        "description": p.description,
        "website": p.website,
        "email": p.email,
        "phone": p.phone,
        "address": p.address,
        "city": p.city,
        "state": p.state,
        "postal_code": p.postal_code,
        "country": p.country,
        "timezone": p.timezone,
        "currency": p.currency,
        "language": p.language,
        "billing_email": p.billing_email,
        "is_active": tenant.is_active(),
        "subscription_tier": tenant.subscription_tier,
        "limits": tenant.limits().json(),
        "usage": usage,
        "created_at": tenant.created_at,
        "updated_at": tenant.updated_at.unwrap_or(tenant.created_at),
    })
}

/// A settings change: the fields sent, each checked (DRF-shaped errors naming the field).
#[derive(Debug, Default)]
pub struct TenantEdit {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// Optional text fields: name and new value (empty to clear).
    texts: Vec<(&'static str, String)>,
}

/// The optional free-text fields and their bounds.
const TEXTS: [(&str, usize); 7] = [
    ("description", DESCRIPTION_CHARS),
    ("phone", PHONE_CHARS),
    ("address", LINE_CHARS),
    ("city", SHORT_CHARS),
    ("state", SHORT_CHARS),
    ("postal_code", CODE_CHARS),
    ("country", SHORT_CHARS),
];

fn optional(patch: Patch<String>) -> Option<String> {
    match patch {
        Patch::Absent => None,
        Patch::Clear => Some(String::new()),
        Patch::Set(v) => Some(v),
    }
}

impl TenantEdit {
    /// Reads a PATCH body (every field optional); `create` makes `name` required.
    pub fn parse(body: &Map<String, Value>, create: bool) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        input.require("name", create);
        let name = input.text("name", Text::required(NAME_CHARS));
        let name = input.non_null("name", name);
        let slug = input.text("slug", Text::required(SLUG_CHARS));
        let slug = input.non_null("slug", slug);
        if let Some(Err(message)) = slug.as_deref().map(validate_slug) {
            input.error("slug", format!("Enter a valid slug: {message}."));
        }
        let mut texts = Vec::new();
        for (field, max) in TEXTS {
            if let Some(v) = optional(input.text(field, Text::optional(max))) {
                texts.push((field, v));
            }
        }
        for field in ["email", "billing_email"] {
            if let Some(v) = optional(input.email(field, Text::optional(EMAIL_CHARS))) {
                texts.push((field, v));
            }
        }
        if let Some(v) = optional(input.url("website", Text::optional(URL_CHARS))) {
            texts.push(("website", v));
        }
        Self::codes(&mut input, &mut texts);
        input.finish()?;
        Ok(Self { name, slug, texts })
    }

    /// `timezone`, `currency` and `language`: required text in a fixed shape.
    fn codes(input: &mut Input<'_>, texts: &mut Vec<(&'static str, String)>) {
        type Check = fn(&str) -> bool;
        let rules: [(&'static str, usize, Check, &str); 3] = [
            (
                "timezone",
                64,
                valid_timezone,
                "Enter a time zone name such as \"Europe/Paris\".",
            ),
            (
                "currency",
                3,
                valid_currency,
                "Enter a three-letter ISO 4217 code such as \"USD\".",
            ),
            (
                "language",
                10,
                valid_language,
                "Enter a language tag such as \"en\" or \"pt-BR\".",
            ),
        ];
        for (field, max, check, message) in rules {
            let patch = input.text(field, Text::required(max));
            match input.non_null(field, patch) {
                Some(v) if !check(&v) => input.error(field, message),
                Some(v) if field == "currency" => texts.push((field, v.to_uppercase())),
                Some(v) => texts.push((field, v)),
                None => {}
            }
        }
    }

    /// True when the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.slug.is_none() && self.texts.is_empty()
    }

    /// The tenant after this edit, at the next version.
    pub fn apply(&self, before: &Tenant, now: DateTime<Utc>) -> Tenant {
        let mut after = before.clone();
        if let Some(name) = &self.name {
            after.name = name.clone();
        }
        if let Some(slug) = &self.slug {
            after.slug = slug.clone();
        }
        for (field, value) in &self.texts {
            *profile_field(&mut after.profile, field) = value.clone();
        }
        after.version = before.version + 1;
        after.updated_at = Some(now);
        after
    }

    /// A new tenant from a create body: the slug defaults to the name's.
    pub fn create(&self) -> Result<Tenant, FieldErrors> {
        let name = self.name.clone().unwrap_or_default();
        let slug = self.slug.clone().unwrap_or_else(|| slugify(&name));
        if validate_slug(&slug).is_err() {
            let mut errors = FieldErrors::default();
            errors.add("slug", "Enter a slug: the name gives none.");
            return Err(errors);
        }
        let tenant = Tenant::new(name, slug, None);
        let mut tenant = self.apply(&tenant, tenant.created_at);
        tenant.version = 1;
        tenant.updated_at = None;
        Ok(tenant)
    }
}

fn profile_field<'a>(p: &'a mut Profile, field: &str) -> &'a mut String {
    match field {
        "description" => &mut p.description,
        "website" => &mut p.website,
        "email" => &mut p.email,
        "phone" => &mut p.phone,
        "address" => &mut p.address,
        "city" => &mut p.city,
        "state" => &mut p.state,
        "postal_code" => &mut p.postal_code,
        "country" => &mut p.country,
        "timezone" => &mut p.timezone,
        "currency" => &mut p.currency,
        "language" => &mut p.language,
        "billing_email" => &mut p.billing_email,
        other => unreachable!("not a tenant profile field: {other}"),
    }
}

fn valid_currency(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<TenantEdit, FieldErrors> {
        TenantEdit::parse(v.as_object().unwrap(), false)
    }

    #[test]
    fn edits_are_checked_and_applied() {
        let before = Tenant::new("Acme".into(), "acme".into(), None);
        let edit = parse(
            json!({"name": " Acme Ltd ", "website": "https://acme.example",
            "currency": "eur", "description": null, "slug": "acme-ltd"}),
        )
        .unwrap();
        let after = edit.apply(&before, Utc::now());
        assert_eq!(
            (after.name.as_str(), after.slug.as_str()),
            ("Acme Ltd", "acme-ltd")
        );
        assert_eq!(after.profile.currency, "EUR");
        assert_eq!(after.version, 2);
        let errors = parse(
            json!({"slug": "Not A Slug", "website": "ftp://x", "email": "x",
            "timezone": null, "currency": "dollars", "name": ""}),
        )
        .unwrap_err();
        for field in ["slug", "website", "email", "timezone", "currency", "name"] {
            assert!(errors.has(field), "{field}: {errors:?}");
        }
        assert!(parse(json!({"unknown": 1})).unwrap().is_empty());
        assert!(TenantEdit::parse(&Map::new(), true)
            .unwrap_err()
            .has("name"));
    }
}
