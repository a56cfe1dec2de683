//! Field-by-field validation of JSON input, collecting every problem with DRF's wording so
//! that a client sees all of its mistakes at once, each under the field's name.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

/// `{"field": ["message", ...]}`, as DRF answers a 400.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// Adds every message of `other`, field by field.
    pub fn extend(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// Files the messages of `from` under `to` (a field validated under another name).
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(messages) = self.0.remove(from) {
            self.0.entry(to.to_string()).or_default().extend(messages);
        }
    }

    /// Every message, in field order.
    pub fn messages(&self) -> impl Iterator<Item = &String> {
        self.0.values().flatten()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// A field in a create or update request: left out, sent as `null` (or blank), or set.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Patch::Absent)
    }

    /// The value the patch sets; `None` when the field is left out or cleared.
    pub fn into_set(self) -> Option<T> {
        match self {
            Patch::Set(v) => Some(v),
            Patch::Absent | Patch::Clear => None,
        }
    }

    /// Applies the patch to an optional stored value.
    pub fn apply_to(self, slot: &mut Option<T>) {
        match self {
            Patch::Absent => {}
            Patch::Clear => *slot = None,
            Patch::Set(v) => *slot = Some(v),
        }
    }
}

/// A string enum with a fixed set of choices (status, priority, ...).
pub trait Choice: Sized + Copy + 'static {
    const CHOICES: &'static [(&'static str, Self)];

    fn as_str(self) -> &'static str;

    fn parse(raw: &str) -> Option<Self> {
        Self::CHOICES
            .iter()
            .find(|(s, _)| *s == raw)
            .map(|(_, v)| *v)
    }
}

/// Declares a snake_case string enum with serde and [`Choice`] support.
#[macro_export]
macro_rules! choice_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $crate::validate::Choice for $name {
            const CHOICES: &'static [(&'static str, Self)] = &[$(($text, $name::$variant)),+];
            fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::validate::Choice::as_str(*self))
            }
        }
    };
}

pub const REQUIRED: &str = "This field is required.";
pub const NOT_NULL: &str = "This field may not be null.";
pub const NOT_BLANK: &str = "This field may not be blank.";

/// Reads typed fields out of a JSON object, recording DRF-style errors as it goes.
/// Unknown keys are ignored, as DRF ignores them.
pub struct Input<'a> {
    body: &'a Map<String, Value>,
    errors: FieldErrors,
}

/// Rules for a text field.
#[derive(Clone, Copy)]
pub struct Text {
    pub max: usize,
    pub required: bool,
}

impl Text {
    pub const fn optional(max: usize) -> Self {
        Self {
            max,
            required: false,
        }
    }
    pub const fn required(max: usize) -> Self {
        Self {
            max,
            required: true,
        }
    }
}

impl<'a> Input<'a> {
    pub fn new(body: &'a Map<String, Value>) -> Self {
        Self {
            body,
            errors: FieldErrors::default(),
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.add(field, message);
    }

    pub fn has_error(&self, field: &str) -> bool {
        self.errors.has(field)
    }

    pub fn finish(self) -> Result<(), FieldErrors> {
        self.errors.into_result()
    }

    pub fn contains(&self, field: &str) -> bool {
        self.body.contains_key(field)
    }

    /// A field that may be left out but not sent as `null` (400 on `field`): the value
    /// `patch` sets, if any.
    pub fn non_null<T>(&mut self, field: &str, patch: Patch<T>) -> Option<T> {
        if matches!(patch, Patch::Clear) {
            self.error(field, NOT_NULL);
        }
        patch.into_set()
    }

    /// A boolean that may be left out but not sent as `null`.
    pub fn flag(&mut self, field: &str) -> Option<bool> {
        let patch = self.boolean(field);
        self.non_null(field, patch)
    }

    /// Marks `field` required when it is absent (for creates and full updates).
    pub fn require(&mut self, field: &str, required: bool) {
        if required && !self.body.contains_key(field) && !self.errors.has(field) {
            self.errors.add(field, REQUIRED);
        }
    }

    /// Text, trimmed. A required field may not be null or blank; an optional one is cleared
    /// by either.
    pub fn text(&mut self, field: &str, rule: Text) -> Patch<String> {
        match self.body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) if rule.required => {
                self.error(field, NOT_NULL);
                Patch::Absent
            }
            Some(Value::Null) => Patch::Clear,
            Some(value @ (Value::String(_) | Value::Number(_))) => {
                // DRF's CharField accepts numbers and stores their text.
                let text = match value {
                    Value::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                };
                if text.is_empty() {
                    if rule.required {
                        self.error(field, NOT_BLANK);
                        return Patch::Absent;
                    }
                    return Patch::Clear;
                }
                if text.chars().count() > rule.max {
                    self.error(
                        field,
                        format!(
                            "Ensure this field has no more than {} characters.",
                            rule.max
                        ),
                    );
                    return Patch::Absent;
                }
                Patch::Set(text)
            }
            Some(_) => {
                self.error(field, "Not a valid string.");
                Patch::Absent
            }
        }
    }

    /// An email address, lowercased in its domain part only.
    pub fn email(&mut self, field: &str, rule: Text) -> Patch<String> {
        match self.text(field, rule) {
            Patch::Set(s) => {
                if is_valid_email(&s) {
                    Patch::Set(normalise_email(&s))
                } else {
                    self.error(field, "Enter a valid email address.");
                    Patch::Absent
                }
            }
            other => other,
        }
    }

    /// An absolute http(s) URL.
    pub fn url(&mut self, field: &str, rule: Text) -> Patch<String> {
        match self.text(field, rule) {
            Patch::Set(s) => match url::Url::parse(&s) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    Patch::Set(s)
                }
                _ => {
                    self.error(field, "Enter a valid URL.");
                    Patch::Absent
                }
            },
            other => other,
        }
    }

    /// One of a fixed set of choices. A nullable choice is cleared by null or blank.
    pub fn choice<C: Choice>(&mut self, field: &str, nullable: bool) -> Patch<C> {
        match self.body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) if nullable => Patch::Clear,
            Some(Value::Null) => {
                self.error(field, NOT_NULL);
                Patch::Absent
            }
            Some(Value::String(s)) if s.trim().is_empty() && nullable => Patch::Clear,
            Some(Value::String(s)) => match C::parse(s.trim()) {
                Some(v) => Patch::Set(v),
                None => {
                    let choices: Vec<&str> = C::CHOICES.iter().map(|(s, _)| *s).collect();
                    self.error(
                        field,
                        format!(
                            "\"{s}\" is not a valid choice. Valid choices: {}.",
                            choices.join(", ")
                        ),
                    );
                    Patch::Absent
                }
            },
            Some(other) => {
                self.error(field, format!("\"{other}\" is not a valid choice."));
                Patch::Absent
            }
        }
    }

    pub fn boolean(&mut self, field: &str) -> Patch<bool> {
        match self.body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Clear,
            Some(Value::Bool(b)) => Patch::Set(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Patch::Set(true),
                "false" | "0" | "no" | "off" => Patch::Set(false),
                _ => {
                    self.error(field, "Must be a valid boolean.");
                    Patch::Absent
                }
            },
            Some(Value::Number(n)) if n.as_u64() == Some(1) => Patch::Set(true),
            Some(Value::Number(n)) if n.as_u64() == Some(0) => Patch::Set(false),
            Some(_) => {
                self.error(field, "Must be a valid boolean.");
                Patch::Absent
            }
        }
    }

    /// A non-negative decimal with at most `places` decimal places and `max_digits` digits,
    /// sent as a JSON number or a string (DRF accepts both).
    pub fn money(&mut self, field: &str, max_digits: u32, places: u32) -> Patch<Decimal> {
        let raw = match self.body.get(field) {
            None => return Patch::Absent,
            Some(Value::Null) => return Patch::Clear,
            Some(Value::String(s)) if s.trim().is_empty() => return Patch::Clear,
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                self.error(field, "A valid number is required.");
                return Patch::Absent;
            }
        };
        let value = Decimal::from_str(&raw).or_else(|_| Decimal::from_scientific(&raw));
        let Ok(value) = value else {
            self.error(field, "A valid number is required.");
            return Patch::Absent;
        };
        let value = value.normalize();
        if value.is_sign_negative() && !value.is_zero() {
            self.error(field, "Ensure this value is greater than or equal to 0.");
            return Patch::Absent;
        }
        if value.scale() > places {
            self.error(
                field,
                format!("Ensure that there are no more than {places} decimal places."),
            );
            return Patch::Absent;
        }
        let whole_digits = value
            .trunc()
            .abs()
            .to_string()
            .trim_start_matches('0')
            .len() as u32;
        if whole_digits > max_digits - places {
            self.error(
                field,
                format!(
                    "Ensure that there are no more than {} digits before the decimal point.",
                    max_digits - places
                ),
            );
            return Patch::Absent;
        }
        let mut value = value;
        value.rescale(places);
        Patch::Set(value)
    }

    /// An RFC 3339 date-time, stored in UTC.
    pub fn datetime(&mut self, field: &str) -> Patch<DateTime<Utc>> {
        match self.body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Clear,
            Some(Value::String(s)) if s.trim().is_empty() => Patch::Clear,
            Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s.trim()) {
                Ok(t) => Patch::Set(t.with_timezone(&Utc)),
                Err(_) => {
                    self.error(
                        field,
                        "Datetime has wrong format. Use RFC 3339, e.g. 2026-01-31T09:30:00Z.",
                    );
                    Patch::Absent
                }
            },
            Some(_) => {
                self.error(
                    field,
                    "Datetime has wrong format. Use RFC 3339, e.g. 2026-01-31T09:30:00Z.",
                );
                Patch::Absent
            }
        }
    }

    /// A secret (a password, a token): required, a string kept exactly as sent (not
    /// trimmed), 1 to `max` characters.
    pub fn secret(&mut self, field: &str, max: usize) -> Option<String> {
        match self.body.get(field) {
            None => self.error(field, REQUIRED),
            Some(Value::Null) => self.error(field, NOT_NULL),
            Some(Value::String(s)) if s.is_empty() => self.error(field, NOT_BLANK),
            Some(Value::String(s)) if s.chars().count() > max => self.error(
                field,
                format!("Ensure this field has no more than {max} characters."),
            ),
            Some(Value::String(s)) => return Some(s.clone()),
            Some(_) => self.error(field, "Not a valid string."),
        }
        None
    }

    /// A UUID (or null to clear).
    pub fn uuid(&mut self, field: &str) -> Patch<uuid::Uuid> {
        match self.body.get(field) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Clear,
            Some(Value::String(s)) => match uuid::Uuid::parse_str(s.trim()) {
                Ok(id) => Patch::Set(id),
                Err(_) => {
                    self.error(field, "Must be a valid UUID.");
                    Patch::Absent
                }
            },
            Some(_) => {
                self.error(field, "Must be a valid UUID.");
                Patch::Absent
            }
        }
    }
}

/// Levels of lists and objects a stored JSON value may have (DynamoDB nests at most 32
/// levels in an item; the value sits inside the item and its record).
pub const MAX_NESTING: usize = 30;

/// A JSON value a client gives that is stored as it is (an activity's `metadata`, a custom
/// field's value): what DynamoDB can hold, or why not. Object keys must not be empty
/// (attribute names), numbers must be 0 or between 1e-130 and 1e125 in magnitude, and
/// nesting is bounded by [`MAX_NESTING`].
pub fn storable(value: &Value) -> Result<(), String> {
    storable_at(value, 1)
}

fn storable_at(value: &Value, depth: usize) -> Result<(), String> {
    match value {
        Value::Number(n) => storable_number(n),
        Value::Array(_) | Value::Object(_) if depth > MAX_NESTING => Err(format!(
            "Ensure this value is nested at most {MAX_NESTING} levels deep."
        )),
        Value::Array(items) => items.iter().try_for_each(|v| storable_at(v, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(key, v)| {
            if key.is_empty() {
                return Err("Keys may not be blank.".to_string());
            }
            storable_at(v, depth + 1)
        }),
        _ => Ok(()),
    }
}

/// DynamoDB's number range: 0, or a magnitude from 1e-130 to below 1e126 (whole numbers
/// within 64 bits always fit).
pub fn storable_number(n: &serde_json::Number) -> Result<(), String> {
    if n.is_i64() || n.is_u64() {
        return Ok(());
    }
    match n.as_f64().map(f64::abs) {
        Some(f) if f == 0.0 || (1e-130..1e126).contains(&f) => Ok(()),
        _ => Err("Ensure this number is 0 or between 1e-130 and 1e125 in magnitude.".into()),
    }
}

/// Deliberately strict: one `@`, a dotted domain, no spaces; what Django's EmailValidator
/// accepts in practice.
pub fn is_valid_email(s: &str) -> bool {
    let Ok(addr) = email_address::EmailAddress::from_str(s) else {
        return false;
    };
    let domain = addr.domain();
    !s.contains(char::is_whitespace)
        && !domain.starts_with('[')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

/// Lowercases the domain, as Django's `normalize_email` does; the local part keeps its case.
pub fn normalise_email(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_lowercase()),
        None => s.to_string(),
    }
}

/// A JSON value's type as DRF's messages name it ("Expected a dictionary, but got list.").
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn money_rules() {
        let body = input(json!({"a": "12.5", "b": -1, "c": "1.234", "d": "x", "e": 1e3}));
        let mut i = Input::new(&body);
        assert_eq!(i.money("a", 12, 2), Patch::Set(Decimal::new(1250, 2)));
        assert_eq!(i.money("b", 12, 2), Patch::Absent);
        assert_eq!(i.money("c", 12, 2), Patch::Absent);
        assert_eq!(i.money("d", 12, 2), Patch::Absent);
        assert_eq!(i.money("e", 12, 2), Patch::Set(Decimal::new(100000, 2)));
        let errors = i.finish().unwrap_err();
        assert!(errors.has("b") && errors.has("c") && errors.has("d"));
    }

    #[test]
    fn stored_values_stay_within_what_dynamodb_holds() {
        for ok in [
            json!({"a": [1, -2.5, 1e125, 1e-130, 0.0, u64::MAX, i64::MIN], "b": {"c": null}}),
            json!("text"),
            json!([[[]]]),
        ] {
            assert_eq!(storable(&ok), Ok(()), "{ok}");
        }
        let mut deep = json!(1);
        for _ in 0..MAX_NESTING {
            deep = json!([deep]);
        }
        assert_eq!(storable(&deep), Ok(()));
        for bad in [
            json!({"": 1}),
            json!({"a": {"": 1}}),
            json!([1e126]),
            json!({"a": -1.8649886411930822e256}),
            json!([1e-131]),
            json!([deep]),
        ] {
            assert!(storable(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(is_valid_email("john@company.com"));
        assert!(!is_valid_email("john@company"));
        assert!(!is_valid_email("john company.com"));
        assert!(!is_valid_email("@company.com"));
        assert_eq!(normalise_email("John@Company.COM"), "John@company.com");
    }
}
