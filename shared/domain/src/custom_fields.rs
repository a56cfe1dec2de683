//! Custom fields: per-tenant definitions, and the validation of the values leads carry
//! under `custom_fields` (`{name: value}`).
//!
//! A definition's `name` is the key of its values on leads and in the `cf_<name>=` filter,
//! so it is a lowercase identifier that never changes, and neither does `field_type`; the
//! name stays taken after a delete (leads may still hold values under it). Admins write
//! definitions; every role reads them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::choice_enum;
use crate::error::Error;
use crate::lead::WriteMode;
use crate::record::{record, Edit};
use crate::validate::{FieldErrors, Input, Patch, Text};
choice_enum!(FieldType {
    Text = "text",
    Textarea = "textarea",
    Number = "number",
    Date = "date",
    Datetime = "datetime",
    Boolean = "boolean",
    Select = "select",
    MultiSelect = "multi_select",
    Url = "url",
    Email = "email",
});

/// Definitions per tenant: every lead write reads them all (one Query).
pub const MAX_FIELDS: usize = 100;
pub const NAME_MAX: usize = 50;
const TEXT_MAX: usize = 255;
const TEXTAREA_MAX: usize = 10_000;
pub const OPTIONS_MAX: usize = 100;
pub const NAME_TAKEN: &str = "custom field with this name already exists.";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomField {
    pub id: Uuid,
    pub tenant_id: crate::tenant::TenantId,
    pub version: u64,
    pub name: String,
    pub field_type: FieldType,
    pub is_required: bool,
    pub default_value: Option<Value>,
    #[serde(default)]
    pub options: Vec<String>,
    pub help_text: Option<String>,
    pub order: i64,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

record!(CustomField, "custom field");

impl CustomField {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "field_type": self.field_type,
            "is_required": self.is_required,
            "default_value": self.default_value,
            "options": self.options,
            "help_text": self.help_text,
            "order": self.order,
            "is_active": self.is_active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// A value for this field, typed and normalised; `Err` says what is wrong with it.
    pub fn check(&self, value: &Value) -> Result<Value, String> {
        let text = |max: usize| match value {
            Value::String(s) if s.trim().is_empty() => Err("This field may not be blank.".into()),
            Value::String(s) if s.trim().chars().count() > max => Err(format!(
                "Ensure this field has no more than {max} characters."
            )),
            Value::String(s) => Ok(s.trim().to_string()),
            _ => Err("Not a valid string.".into()),
        };
        match self.field_type {
            FieldType::Text => text(TEXT_MAX).map(Value::String),
            FieldType::Textarea => text(TEXTAREA_MAX).map(Value::String),
            FieldType::Number => number_value(value),
            FieldType::Date => text(10).and_then(|s| {
                NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .map(|d| Value::String(d.to_string()))
                    .map_err(|_| "Date has wrong format. Use YYYY-MM-DD.".into())
            }),
            FieldType::Datetime => text(64).and_then(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| json!(t.with_timezone(&Utc)))
                    .map_err(|_| "Datetime has wrong format. Use RFC 3339.".into())
            }),
            FieldType::Boolean => match value {
                Value::Bool(_) => Ok(value.clone()),
                _ => Err("Must be a valid boolean.".into()),
            },
            FieldType::Select => text(TEXT_MAX).and_then(|s| {
                if self.options.contains(&s) {
                    Ok(Value::String(s))
                } else {
                    Err(format!("\u{201c}{s}\u{201d} is not a valid choice."))
                }
            }),
            FieldType::MultiSelect => match value {
                Value::Array(items) => {
                    let mut out: Vec<String> = Vec::new();
                    for item in items {
                        match item.as_str().map(str::trim) {
                            Some(s) if self.options.iter().any(|o| o == s) => {
                                if !out.iter().any(|o| o == s) {
                                    out.push(s.to_string());
                                }
                            }
                            _ => {
                                return Err(format!(
                                    "\u{201c}{item}\u{201d} is not a valid choice."
                                ))
                            }
                        }
                    }
                    Ok(json!(out))
                }
                _ => Err("Expected a list of items.".into()),
            },
            FieldType::Url => text(TEXT_MAX).and_then(|s| match url::Url::parse(&s) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                    Ok(Value::String(s))
                }
                _ => Err("Enter a valid URL.".into()),
            }),
            FieldType::Email => text(254).and_then(|s| {
                if crate::validate::is_valid_email(&s) {
                    Ok(Value::String(crate::validate::normalise_email(&s)))
                } else {
                    Err("Enter a valid email address.".into())
                }
            }),
        }
    }
}

/// A number field's value: a JSON number or numeric text, within what DynamoDB stores (a
/// value out of its range is a 400, not the database's 500).
fn number_value(value: &Value) -> Result<Value, String> {
    let number = match value {
        Value::Number(n) => Ok(n.clone()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(serde_json::Number::from_f64)
            .ok_or_else(|| "A valid number is required.".to_string()),
        _ => Err("A valid number is required.".into()),
    }?;
    crate::validate::storable_number(&number)?;
    Ok(Value::Number(number))
}

pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[derive(Clone, Debug, Default)]
pub struct FieldInput {
    name: Option<String>,
    field_type: Option<FieldType>,
    is_required: Option<bool>,
    default_value: Patch<Value>,
    options: Option<Vec<String>>,
    help_text: Patch<String>,
    order: Option<i64>,
    is_active: Option<bool>,
}

impl Edit<CustomField> for FieldInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error> {
        let mut i = Input::new(body);
        if mode == WriteMode::Create {
            i.require("name", true);
            i.require("field_type", true);
        }
        let name = match i.text("name", Text::required(NAME_MAX)) {
            Patch::Set(n) if is_identifier(&n) => Some(n),
            Patch::Set(_) => {
                i.error(
                    "name",
                    "Use lowercase letters, digits and underscores, starting with a letter.",
                );
                None
            }
            _ => None,
        };
        let field_type = i.choice::<FieldType>("field_type", false).into_set();
        let is_required = i.flag("is_required");
        let is_active = i.flag("is_active");
        let default_value = match body.get("default_value") {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Clear,
            Some(v) => Patch::Set(v.clone()),
        };
        let options = match body.get("options") {
            None => None,
            Some(Value::Null) => Some(Vec::new()),
            Some(Value::Array(items))
                if items.len() <= OPTIONS_MAX
                    && items.iter().all(|v| {
                        v.as_str()
                            .is_some_and(|s| !s.trim().is_empty() && s.len() <= TEXT_MAX)
                    }) =>
            {
                let mut out: Vec<String> = Vec::new();
                for s in items.iter().filter_map(Value::as_str).map(str::trim) {
                    if !out.iter().any(|o| o == s) {
                        out.push(s.to_string());
                    }
                }
                Some(out)
            }
            Some(_) => {
                i.error(
                    "options",
                    format!("Expected a list of at most {OPTIONS_MAX} non-blank strings."),
                );
                None
            }
        };
        let help_text = i.text("help_text", Text::optional(1_000));
        let order = match body.get("order") {
            None => None,
            Some(v) => match v.as_i64() {
                Some(n) => Some(n),
                None => {
                    i.error("order", "A valid integer is required.");
                    None
                }
            },
        };
        i.finish()?;
        Ok(Self {
            name,
            field_type,
            is_required,
            default_value,
            options,
            help_text,
            order,
            is_active,
        })
    }

    /// Applies a validated input, then checks the definition as a whole (options for the
    /// select types, a default that is a valid value).
    fn apply(self, f: &mut CustomField, now: DateTime<Utc>) -> Result<(), Error> {
        let mut errors = FieldErrors::default();
        if self.name.as_ref().is_some_and(|n| *n != f.name) && f.version > 0 {
            errors.add("name", "A custom field's name cannot change.");
        }
        if self.field_type.is_some_and(|t| t != f.field_type) && f.version > 0 {
            errors.add("field_type", "A custom field's type cannot change.");
        }
        if f.version == 0 {
            f.name = self.name.unwrap_or_default();
            f.field_type = self.field_type.unwrap_or(FieldType::Text);
        }
        if let Some(v) = self.is_required {
            f.is_required = v;
        }
        if let Some(v) = self.is_active {
            f.is_active = v;
        }
        if let Some(v) = self.options {
            f.options = v;
        }
        if let Some(v) = self.order {
            f.order = v;
        }
        self.help_text.apply_to(&mut f.help_text);
        self.default_value.apply_to(&mut f.default_value);
        let selects = matches!(f.field_type, FieldType::Select | FieldType::MultiSelect);
        if selects && f.options.is_empty() {
            errors.add("options", "A select field needs at least one option.");
        }
        if let Some(default) = f.default_value.clone() {
            match f.check(&default) {
                Ok(v) => f.default_value = Some(v),
                Err(e) => errors.add("default_value", e),
            }
        }
        f.updated_at = now;
        errors.into_result().map_err(Error::Validation)
    }
}

/// Validates a lead write's `custom_fields` against the tenant's active definitions and
/// returns the lead's resulting values: given values typed and normalised, `null` clearing
/// one, defaults filled in on create, required fields enforced. Errors are reported under
/// `custom_fields`, each naming its field.
pub fn lead_values(
    defs: &[CustomField],
    given: Option<&Map<String, Value>>,
    current: &Map<String, Value>,
    creating: bool,
) -> Result<Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut out = current.clone();
    let active = |name: &str| defs.iter().find(|d| d.is_active && d.name == name);
    for (name, value) in given.into_iter().flatten() {
        let Some(def) = active(name) else {
            errors.add("custom_fields", format!("{name}: Unknown custom field."));
            continue;
        };
        if value.is_null() {
            out.remove(name);
            continue;
        }
        match def.check(value) {
            Ok(v) => {
                out.insert(name.clone(), v);
            }
            Err(e) => errors.add("custom_fields", format!("{name}: {e}")),
        }
    }
    for def in defs.iter().filter(|d| d.is_active) {
        if creating && !out.contains_key(&def.name) {
            if let Some(default) = &def.default_value {
                out.insert(def.name.clone(), default.clone());
            }
        }
        if def.is_required && !out.contains_key(&def.name) {
            errors.add(
                "custom_fields",
                format!("{}: {}", def.name, crate::validate::REQUIRED),
            );
        }
    }
    errors.into_result().map(|()| out)
}

/// Whether a lead's stored value matches a `cf_<name>=value` filter: case-insensitive text,
/// numeric equality for numbers, `true`/`false` for booleans, membership for lists.
pub fn value_matches(stored: Option<&Value>, wanted: &str) -> bool {
    match stored {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => s.eq_ignore_ascii_case(wanted.trim()),
        Some(Value::Number(n)) => wanted
            .trim()
            .parse::<f64>()
            .is_ok_and(|w| n.as_f64().is_some_and(|v| v == w)),
        Some(Value::Bool(b)) => {
            wanted
                .trim()
                .eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        Some(Value::Array(items)) => items.iter().any(|i| value_matches(Some(i), wanted)),
        Some(Value::Object(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_values_stay_within_what_dynamodb_holds() {
        let now = Utc::now();
        let field = CustomField {
            id: Uuid::new_v4(),
            tenant_id: crate::tenant::TenantId::from_uuid(Uuid::new_v4()),
            version: 1,
            name: "size".into(),
            field_type: FieldType::Number,
            is_required: false,
            default_value: None,
            options: Vec::new(),
            help_text: None,
            order: 0,
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        // Found by `make fuzz`: a value out of DynamoDB's number range was a 500.
        for bad in [json!(1e300), json!("-1e200"), json!(1e-300)] {
            assert!(field.check(&bad).is_err(), "{bad}");
        }
        for ok in [json!(12), json!(-3.5), json!("1e20"), json!(0.0)] {
            assert!(field.check(&ok).is_ok(), "{ok}");
        }
    }
}
