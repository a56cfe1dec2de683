//! A tenant's scoring settings: its ideal-customer profile and model choice, and the
//! validated input that sets them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{normalise, ScoringModel};
use crate::validate::{FieldErrors, Input, Patch, NOT_BLANK, NOT_NULL};

/// Bounds on the settings lists: they are matched against every lead on every rescoring
/// and stored on the tenant item, so they stay small.
pub const MAX_LIST_ITEMS: usize = 50;
pub const MAX_ITEM_CHARS: usize = 100;

/// Titles that usually carry buying authority. Matched as whole words, case-insensitively
/// ("cto" does not match "director"). "manager" is left out on purpose: managers more often
/// influence than decide; a tenant selling to managers can add it.
pub const DEFAULT_TITLE_KEYWORDS: &[&str] = &[
    "ceo",
    "cto",
    "cfo",
    "coo",
    "cmo",
    "cio",
    "chief",
    "founder",
    "owner",
    "president",
    "vice president",
    "vp",
    "svp",
    "evp",
    "director",
    "head",
    "partner",
];

/// A tenant's ideal-customer profile and model choice. Stored on the tenant; missing
/// fields read back as their defaults so older items stay valid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringSettings {
    pub model: ScoringModel,
    pub ideal_industries: Vec<String>,
    pub target_countries: Vec<String>,
    pub title_keywords: Vec<String>,
}

impl Default for ScoringSettings {
    fn default() -> Self {
        Self {
            model: ScoringModel::Explainable,
            ideal_industries: Vec::new(),
            target_countries: Vec::new(),
            title_keywords: DEFAULT_TITLE_KEYWORDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

impl ScoringSettings {
    /// Validates a full settings document (PUT). Fields left out take their defaults.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        Ok(ScoringSettingsInput::parse(body)?.apply(&Self::default()))
    }

    /// Validates a partial change (PATCH): fields left out keep their current values.
    pub fn merge(&self, body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        Ok(ScoringSettingsInput::parse(body)?.apply(self))
    }
}

/// A validated settings body: the fields it gives. A PUT applies it over the defaults, a
/// PATCH over the current settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoringSettingsInput {
    pub model: Option<ScoringModel>,
    pub ideal_industries: Option<Vec<String>>,
    pub target_countries: Option<Vec<String>>,
    pub title_keywords: Option<Vec<String>>,
}

impl ScoringSettingsInput {
    /// Every problem is reported under its field's name, as DRF does.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, FieldErrors> {
        let mut input = Input::new(body);
        // Not nullable: `choice` itself reports null and unknown names.
        let model = match input.choice::<ScoringModel>("model", false) {
            Patch::Set(model) => Some(model),
            _ => None,
        };
        let ideal_industries = string_list(&mut input, body, "ideal_industries");
        let target_countries = string_list(&mut input, body, "target_countries");
        let title_keywords = string_list(&mut input, body, "title_keywords");
        input.finish()?;
        Ok(Self {
            model,
            ideal_industries,
            target_countries,
            title_keywords,
        })
    }

    /// `settings` with the fields this input gives replaced.
    pub fn apply(&self, settings: &ScoringSettings) -> ScoringSettings {
        let mut next = settings.clone();
        if let Some(model) = self.model {
            next.model = model;
        }
        for (given, slot) in [
            (&self.ideal_industries, &mut next.ideal_industries),
            (&self.target_countries, &mut next.target_countries),
            (&self.title_keywords, &mut next.title_keywords),
        ] {
            if let Some(list) = given {
                slot.clone_from(list);
            }
        }
        next
    }
}

/// A list of short strings: trimmed, blanks refused, duplicates (ignoring case) dropped.
/// DRF nests item errors under the index; our error map is flat, so the message names it.
fn string_list(
    input: &mut Input<'_>,
    body: &Map<String, Value>,
    field: &str,
) -> Option<Vec<String>> {
    let items = match body.get(field)? {
        Value::Null => {
            input.error(field, NOT_NULL);
            return None;
        }
        Value::Array(items) => items,
        other => {
            input.error(
                field,
                format!(
                    "Expected a list of items but got type \"{}\".",
                    json_type(other)
                ),
            );
            return None;
        }
    };
    if items.len() > MAX_LIST_ITEMS {
        input.error(
            field,
            format!("Ensure this field has no more than {MAX_LIST_ITEMS} elements."),
        );
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let Value::String(s) = item else {
            input.error(field, format!("Item {i}: Not a valid string."));
            ok = false;
            continue;
        };
        let s = s.trim();
        if s.is_empty() {
            input.error(field, format!("Item {i}: {NOT_BLANK}"));
            ok = false;
        } else if s.chars().count() > MAX_ITEM_CHARS {
            input.error(
                field,
                format!(
                    "Item {i}: Ensure this field has no more than {MAX_ITEM_CHARS} characters."
                ),
            );
            ok = false;
        } else if !out.iter().any(|o| normalise(o) == normalise(s)) {
            out.push(s.to_string());
        }
    }
    ok.then_some(out)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        // Python's names, as DRF's message has them.
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
