//! The bulk requests (`bulk-update`, `bulk-assign`, `bulk-tag`, `update-scores`) as
//! typed inputs, parsed from their JSON bodies with every problem reported at once under
//! its field's name; the changes they carry are validated as a single lead's PATCH
//! validates them (same rules, same messages).

use std::collections::HashSet;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::choice_enum;
use crate::lead::{LeadInput, WriteMode};
use crate::validate::{json_type, FieldErrors, Input, Patch, NOT_BLANK, NOT_NULL, REQUIRED};
use crate::Error;

/// Ids per request: bounds a request's work (about 1,000 transactions) well inside a
/// Lambda's time limit and its response well inside the 6 MB payload limit.
pub const MAX_IDS: usize = 1000;
/// Users a balanced assignment spreads over.
pub const MAX_ASSIGNEES: usize = 100;

/// The fields `bulk-update` changes; `assigned_to_id` and `source_id` are the original's
/// names for `assigned_to` and `source`. `tag_ids` replaces each lead's tags, as the
/// original did (`bulk-tag` adds and removes instead).
const UPDATE_FIELDS: [&str; 7] = [
    "status",
    "priority",
    "assigned_to",
    "assigned_to_id",
    "source",
    "source_id",
    "tag_ids",
];

/// One requested id, in request order. `id` is `None` for a string that is not a UUID: it
/// cannot name a lead, so it is reported as `not_found`, as a single-lead path answers 404.
#[derive(Clone, Debug)]
pub struct Target {
    pub raw: String,
    pub id: Option<Uuid>,
}

/// A JSON list field with DRF's `ListField` messages; `None` after recording an error.
fn list<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    max: usize,
    errors: &mut FieldErrors,
) -> Option<&'a [Value]> {
    match body.get(field) {
        None => errors.add(field, REQUIRED),
        Some(Value::Null) => errors.add(field, NOT_NULL),
        Some(Value::Array(items)) if items.is_empty() => {
            errors.add(field, "This list may not be empty.")
        }
        Some(Value::Array(items)) if items.len() > max => errors.add(
            field,
            format!("Ensure this field has no more than {max} elements."),
        ),
        Some(Value::Array(items)) => return Some(items),
        Some(other) => errors.add(
            field,
            format!(
                "Expected a list of items but got type \"{}\".",
                json_type(other)
            ),
        ),
    }
    None
}

/// `lead_ids`: 1 to [`MAX_IDS`] strings (counted as sent), duplicates dropped (the same
/// UUID in any spelling counts once, at its first position).
fn parse_ids(body: &Map<String, Value>, errors: &mut FieldErrors) -> Vec<Target> {
    let Some(items) = list(body, "lead_ids", MAX_IDS, errors) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(raw) = item else {
            errors.add(
                "lead_ids",
                format!("Each lead id must be a string, not {}.", json_type(item)),
            );
            return Vec::new();
        };
        let raw = raw.trim();
        let id = Uuid::parse_str(raw).ok();
        let shown = id.map_or_else(|| raw.to_string(), |id| id.to_string());
        if seen.insert(shown.clone()) {
            targets.push(Target { raw: shown, id });
        }
    }
    targets
}

/// The change `fields` of `body` describe, validated as a single-lead PATCH validates
/// them (same rules, same messages).
fn parse_change(
    body: &Map<String, Value>,
    fields: &[&str],
    errors: &mut FieldErrors,
) -> Option<LeadInput> {
    let subset: Map<String, Value> = fields
        .iter()
        .filter_map(|f| body.get(*f).map(|v| (f.to_string(), v.clone())))
        .collect();
    // `source_id` is read by the lead's own parsing (an id, reported under its name).
    LeadInput::parse(&subset, WriteMode::Partial)
        .map_err(|e| errors.extend(e))
        .ok()
}

/// A validated `bulk-update` request.
#[derive(Clone, Debug)]
pub struct BulkUpdate {
    pub targets: Vec<Target>,
    pub change: LeadInput,
}

/// `{lead_ids, status?, priority?, assigned_to?, source?}`; every problem is reported at
/// once, each under its field's name.
pub fn parse_update(body: &Map<String, Value>) -> Result<BulkUpdate, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    if !UPDATE_FIELDS.iter().any(|f| body.contains_key(*f)) {
        errors.add(
            "non_field_errors",
            "Provide at least one field to change: status, priority, assigned_to, source or tag_ids.",
        );
    }
    let change = parse_change(body, &UPDATE_FIELDS, &mut errors);
    errors.into_result()?;
    Ok(BulkUpdate {
        targets,
        change: change.unwrap_or_default(),
    })
}

choice_enum!(
    /// How a balanced `bulk-assign` spreads leads over its assignees.
    Strategy {
        RoundRobin = "round_robin",
        LeastLoaded = "least_loaded",
    }
);

/// Who gets the leads of a `bulk-assign`.
#[derive(Clone, Debug, PartialEq)]
pub enum Assignment {
    /// Every lead to one user, or to nobody (`null`).
    To(Option<String>),
    /// Spread over several users.
    Balanced {
        assignees: Vec<String>,
        strategy: Strategy,
    },
    /// Spread over the tenant's team: its active members who work leads (every role but
    /// `readonly`), when the request names a `strategy` and no assignees.
    Team { strategy: Strategy },
}

/// A validated `bulk-assign` request.
#[derive(Clone, Debug)]
pub struct BulkAssign {
    pub targets: Vec<Target>,
    pub assignment: Assignment,
}

/// `assignees`: distinct user ids, each valid as an `assigned_to` value (and not empty).
fn parse_assignees(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Vec<String>> {
    let items = list(body, "assignees", MAX_ASSIGNEES, errors)?;
    let mut users: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let one = Map::from_iter([("assigned_to".to_string(), item.clone())]);
        match LeadInput::parse(&one, WriteMode::Partial) {
            Ok(LeadInput {
                assigned_to: Patch::Set(user),
                ..
            }) => {
                if users.contains(&user) {
                    errors.add("assignees", format!("Duplicate user \"{user}\"."));
                    ok = false;
                } else {
                    users.push(user);
                }
            }
            Ok(_) => {
                let message = if item.is_null() { NOT_NULL } else { NOT_BLANK };
                errors.add("assignees", message);
                ok = false;
            }
            Err(mut e) => {
                e.rename("assigned_to", "assignees");
                errors.extend(e);
                ok = false;
            }
        }
    }
    ok.then_some(users)
}

/// `{lead_ids, assigned_to}`, `{lead_ids, assignees, strategy?}` (round robin unless
/// `strategy` says otherwise) or `{lead_ids, strategy}` (the tenant's team); at most one of
/// `assigned_to` and `assignees`.
pub fn parse_assign(body: &Map<String, Value>) -> Result<BulkAssign, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    let single = body.contains_key("assigned_to") || body.contains_key("assigned_to_id");
    let balanced = body.contains_key("assignees");
    let mut input = Input::new(body);
    let strategy: Patch<Strategy> = input.choice("strategy", false);
    if let Err(e) = input.finish() {
        errors.extend(e);
    }
    let assignment = match (single, balanced) {
        (true, false) => {
            if !strategy.is_absent() {
                errors.add("strategy", "Only used with assignees.");
            }
            parse_change(body, &["assigned_to", "assigned_to_id"], &mut errors).map(|input| {
                match input.assigned_to {
                    Patch::Set(user) => Assignment::To(Some(user)),
                    _ => Assignment::To(None),
                }
            })
        }
        (false, true) => parse_assignees(body, &mut errors).map(|assignees| Assignment::Balanced {
            assignees,
            strategy: match strategy {
                Patch::Set(s) => s,
                _ => Strategy::RoundRobin,
            },
        }),
        (false, false) if !strategy.is_absent() => match strategy {
            Patch::Set(strategy) => Some(Assignment::Team { strategy }),
            _ => None, // Invalid: `strategy`'s own error says so.
        },
        _ => {
            errors.add(
                "non_field_errors",
                "Provide either assigned_to (one user) or assignees (several users), not both; \
                 or only a strategy to spread the leads over the tenant's team.",
            );
            None
        }
    };
    errors.into_result()?;
    Ok(BulkAssign {
        targets,
        assignment: assignment.unwrap_or(Assignment::To(None)),
    })
}

/// `bulk-tag`'s change: tags to add and to remove, each checked to exist.
#[derive(Clone, Debug, Default)]
pub struct TagChange {
    pub add: Vec<Uuid>,
    pub remove: Vec<Uuid>,
}

/// A validated `bulk-tag` request.
#[derive(Clone, Debug)]
pub struct BulkTag {
    pub targets: Vec<Target>,
    pub change: TagChange,
}

/// Tag ids under `field`: a list of UUID strings, at most [`crate::tags::MAX_PER_LEAD`].
fn tag_list(body: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Vec<Uuid> {
    let Some(value) = body.get(field) else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        errors.add(
            field,
            format!(
                "Expected a list of items but got type \"{}\".",
                json_type(value)
            ),
        );
        return Vec::new();
    };
    if items.len() > crate::tags::MAX_PER_LEAD {
        errors.add(
            field,
            format!(
                "Ensure this field has no more than {} elements.",
                crate::tags::MAX_PER_LEAD
            ),
        );
        return Vec::new();
    }
    let mut ids = Vec::new();
    for item in items {
        match item.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => {
                errors.add(
                    field,
                    format!(
                        "\"{}\" is not a valid UUID.",
                        item.as_str().unwrap_or(&item.to_string())
                    ),
                );
                return Vec::new();
            }
        }
    }
    ids
}

/// `{lead_ids, add?: [tag ids], remove?: [tag ids]}`: at least one tag to add or remove,
/// none in both lists.
pub fn parse_tag(body: &Map<String, Value>) -> Result<BulkTag, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    let add = tag_list(body, "add", &mut errors);
    let remove = tag_list(body, "remove", &mut errors);
    if add.is_empty() && remove.is_empty() && !errors.has("add") && !errors.has("remove") {
        errors.add("non_field_errors", "Provide tag ids to add or to remove.");
    }
    if add.iter().any(|a| remove.contains(a)) {
        errors.add("remove", "A tag cannot be both added and removed.");
    }
    errors.into_result()?;
    Ok(BulkTag {
        targets,
        change: TagChange { add, remove },
    })
}

/// `{lead_ids}` for `update-scores`.
pub fn parse_ids_only(body: &Map<String, Value>) -> Result<Vec<Target>, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    errors.into_result()?;
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn errors(r: Result<impl std::fmt::Debug, Error>) -> Value {
        match r {
            Err(Error::Validation(e)) => serde_json::to_value(e).unwrap(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_counted_as_sent_and_deduplicated() {
        let id = Uuid::new_v4();
        let upper = id.to_string().to_uppercase();
        let req = parse_update(&body(
            json!({"lead_ids": [id.to_string(), upper, "nope", "nope"], "status": "lost"}),
        ))
        .unwrap();
        let shown: Vec<&str> = req.targets.iter().map(|t| t.raw.as_str()).collect();
        assert_eq!(shown, vec![id.to_string().as_str(), "nope"]);
        let many: Vec<String> = (0..=MAX_IDS).map(|_| id.to_string()).collect();
        assert_eq!(
            errors(parse_update(&body(
                json!({"lead_ids": many, "status": "lost"})
            ))),
            json!({"lead_ids": ["Ensure this field has no more than 1000 elements."]})
        );
        assert_eq!(
            errors(parse_update(&body(
                json!({"lead_ids": "x", "status": "lost"})
            ))),
            json!({"lead_ids": ["Expected a list of items but got type \"str\"."]})
        );
    }

    #[test]
    fn fields_are_validated_as_a_patch() {
        let ids = json!([Uuid::new_v4().to_string()]);
        let single = LeadInput::parse(
            &body(json!({"status": "won", "priority": null})),
            WriteMode::Partial,
        )
        .unwrap_err();
        let bulk = errors(parse_update(&body(
            json!({"lead_ids": ids, "status": "won", "priority": null}),
        )));
        assert_eq!(bulk, serde_json::to_value(single).unwrap());
        assert!(errors(parse_update(&body(
            json!({"lead_ids": ids, "source_id": "not-an-id"})
        )))
        .get("source_id")
        .is_some());
        assert!(errors(parse_update(&body(json!({"lead_ids": ids}))))
            .get("non_field_errors")
            .is_some());
    }

    #[test]
    fn assignment_needs_exactly_one_target() {
        let ids = json!([Uuid::new_v4().to_string()]);
        for b in [
            json!({"lead_ids": ids}),
            json!({"lead_ids": ids, "assigned_to": "a", "assignees": ["b"]}),
        ] {
            assert!(errors(parse_assign(&body(b)))
                .get("non_field_errors")
                .is_some());
        }
        let req = parse_assign(&body(json!({"lead_ids": ids, "assigned_to_id": "u1"}))).unwrap();
        assert_eq!(req.assignment, Assignment::To(Some("u1".into())));
        let req = parse_assign(&body(json!({"lead_ids": ids, "assigned_to": null}))).unwrap();
        assert_eq!(req.assignment, Assignment::To(None));
        assert_eq!(
            errors(parse_assign(&body(
                json!({"lead_ids": ids, "assignees": ["a", "a", ""], "strategy": "random"})
            ))),
            json!({
                "assignees": ["Duplicate user \"a\".", "This field may not be blank."],
                "strategy": ["\"random\" is not a valid choice. Valid choices: round_robin, least_loaded."],
            })
        );
    }
}
