//! The document is current (`openapi.json` is what this crate builds) and honest: the
//! request bodies' required fields, lengths, item counts and choices, and the lead and
//! activity lists' query parameters, are exactly what the domain's parsers accept.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::{json, Map, Value};

use crm_domain::accounts::{
    AcceptInput, InvitationInput, LoginInput, MemberEdit, PasswordChange, ProfileEdit,
};
use crm_domain::actions::{ConvertInput, LostInput};
use crm_domain::activities::{ActivityInput, ActivityQuery};
use crm_domain::custom_fields::FieldInput;
use crm_domain::filters::LeadQuery;
use crm_domain::lead::{LeadInput, WriteMode};
use crm_domain::notes::NoteInput;
use crm_domain::query::QueryParams;
use crm_domain::record::Edit;
use crm_domain::scoring::ScoringSettingsInput;
use crm_domain::sources::SourceInput;
use crm_domain::tags::TagInput;
use crm_domain::validate::{FieldErrors, REQUIRED};
use crm_domain::Error;

#[test]
fn the_committed_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == crm_openapi::json(),
        "openapi.json is not what crm-openapi builds: run `make openapi` and commit it"
    );
}

fn document() -> Value {
    serde_json::to_value(crm_openapi::document()).unwrap()
}

/// `Ok` or the field errors of a parse.
type Parse = fn(&Map<String, Value>) -> Result<(), FieldErrors>;

fn fields(result: Result<(), Error>) -> Result<(), FieldErrors> {
    match result {
        Ok(()) => Ok(()),
        Err(Error::Validation(errors)) => Err(errors),
        Err(other) => panic!("not a validation error: {other}"),
    }
}

/// Each request body schema with the parser of its operation.
fn parsers() -> Vec<(&'static str, Parse)> {
    use WriteMode::*;
    vec![
        ("LeadCreate", |b| LeadInput::parse(b, Create).map(drop)),
        ("LeadUpdate", |b| LeadInput::parse(b, Partial).map(drop)),
        ("SourceCreate", |b| {
            fields(SourceInput::parse(b, Create).map(drop))
        }),
        ("SourceUpdate", |b| {
            fields(SourceInput::parse(b, Partial).map(drop))
        }),
        ("TagCreate", |b| {
            fields(TagInput::parse(b, Create).map(drop))
        }),
        ("TagUpdate", |b| {
            fields(TagInput::parse(b, Partial).map(drop))
        }),
        ("ActivityCreate", |b| {
            fields(ActivityInput::parse(b, Create).map(drop))
        }),
        ("ActivityReplace", |b| {
            fields(ActivityInput::parse(b, Replace).map(drop))
        }),
        ("ActivityUpdate", |b| {
            fields(ActivityInput::parse(b, Partial).map(drop))
        }),
        ("NoteCreate", |b| {
            fields(NoteInput::parse(b, Create).map(drop))
        }),
        ("NoteReplace", |b| {
            fields(NoteInput::parse(b, Replace).map(drop))
        }),
        ("NoteUpdate", |b| {
            fields(NoteInput::parse(b, Partial).map(drop))
        }),
        ("CustomFieldCreate", |b| {
            fields(FieldInput::parse(b, Create).map(drop))
        }),
        ("CustomFieldUpdate", |b| {
            fields(FieldInput::parse(b, Partial).map(drop))
        }),
        ("WebhookCreate", |b| {
            fields(crm_domain::webhooks::WebhookInput::parse(b, Create).map(drop))
        }),
        ("WebhookUpdate", |b| {
            fields(crm_domain::webhooks::WebhookInput::parse(b, Partial).map(drop))
        }),
        ("Convert", |b| ConvertInput::parse(b).map(drop)),
        ("MarkLost", |b| LostInput::parse(b).map(drop)),
        ("ScoringSettingsInput", |b| {
            ScoringSettingsInput::parse(b).map(drop)
        }),
        ("BulkUpdate", |b| {
            fields(crm_domain::bulk::parse_update(b).map(drop))
        }),
        ("BulkAssign", |b| {
            fields(crm_domain::bulk::parse_assign(b).map(drop))
        }),
        ("BulkTag", |b| {
            fields(crm_domain::bulk::parse_tag(b).map(drop))
        }),
        ("LeadIds", |b| {
            fields(crm_domain::bulk::parse_ids_only(b).map(drop))
        }),
        ("Login", |b| LoginInput::parse(b).map(drop)),
        ("Refresh", |b| {
            crm_domain::accounts::sessions::parse_refresh(b).map(drop)
        }),
        ("AcceptInvitation", |b| AcceptInput::parse(b).map(drop)),
        ("ProfileUpdate", |b| ProfileEdit::parse(b).map(drop)),
        ("PasswordChange", |b| {
            PasswordChange::parse(b, "someone@example.com").map(drop)
        }),
        ("MemberUpdate", |b| MemberEdit::parse(b).map(drop)),
        ("InvitationCreate", |b| InvitationInput::parse(b).map(drop)),
        ("TenantUpdate", |b| {
            crm_domain::tenant_settings::TenantEdit::parse(b, false).map(drop)
        }),
        ("TenantCreate", |b| {
            crm_domain::tenant_settings::TenantEdit::parse(b, true).map(drop)
        }),
        ("ApiKeyCreate", |b| {
            crm_domain::api_keys::ApiKeyInput::parse(b, chrono::Utc::now()).map(drop)
        }),
        ("DomainCreate", |b| {
            let reserved = crm_domain::domains::Reserved::default();
            fields(crm_domain::domains::DomainName::parse(b, &reserved).map(drop))
        }),
        ("DomainUpdate", |b| {
            fields(crm_domain::domains::DomainEdit::parse(b).map(drop))
        }),
    ]
}

/// The schema, with a reference followed.
fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(target) => {
            let name = target.rsplit('/').next().unwrap();
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The fields a parse reports, with their messages.
fn reported(result: Result<(), FieldErrors>) -> Map<String, Value> {
    match result {
        Ok(()) => Map::new(),
        Err(errors) => serde_json::to_value(errors)
            .unwrap()
            .as_object()
            .unwrap()
            .clone(),
    }
}

#[test]
fn every_request_body_has_its_parser() {
    let document = document();
    let mut bodies = BTreeSet::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(schema) =
                operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            {
                bodies.insert(schema.rsplit('/').next().unwrap().to_string());
            }
        }
    }
    let tested: BTreeSet<String> = parsers().iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(bodies, tested);
}

#[test]
fn the_required_fields_are_those_the_parsers_require() {
    let document = document();
    for (name, parse) in parsers() {
        let schema = &document["components"]["schemas"][name];
        let documented: BTreeSet<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let errors = reported(parse(&Map::new()));
        let required: BTreeSet<&str> = errors
            .iter()
            .filter(|(_, messages)| messages.as_array().unwrap().contains(&json!(REQUIRED)))
            .map(|(field, _)| field.as_str())
            .collect();
        assert_eq!(documented, required, "{name}");
    }
}

/// A valid value of a simple schema, distinct for each `n`.
fn sample(schema: &Value, n: usize) -> Value {
    match schema["format"].as_str() {
        Some("uuid") => json!(format!("00000000-0000-4000-8000-{n:012}")),
        _ => json!(format!("item{n}")),
    }
}

fn is_string(schema: &Value) -> bool {
    schema["type"] == "string" || schema["type"] == json!(["string", "null"])
}

fn is_array(schema: &Value) -> bool {
    schema["type"] == "array" || schema["type"] == json!(["array", "null"])
}

/// `value` for `field` alone is accepted (no error names it) or refused.
fn check(name: &str, parse: Parse, field: &str, value: Value, accepted: bool, what: &str) {
    let body = Map::from_iter([(field.to_string(), value)]);
    let errors = reported(parse(&body));
    assert_eq!(
        !errors.contains_key(field),
        accepted,
        "{name}.{field}: {what}: {errors:?}"
    );
}

#[test]
fn lengths_item_counts_and_choices_are_those_the_parsers_enforce() {
    let document = document();
    let mut checked = 0;
    for (name, parse) in parsers() {
        let schema = &document["components"]["schemas"][name];
        for (field, property) in schema["properties"].as_object().unwrap() {
            let property = resolve(&document, property);
            let plain = property["format"].is_null() && property["pattern"].is_null();
            if let (true, true, Some(max)) =
                (is_string(property), plain, property["maxLength"].as_u64())
            {
                let max = max as usize;
                check(
                    name,
                    parse,
                    field,
                    json!("a".repeat(max)),
                    true,
                    "max length",
                );
                check(
                    name,
                    parse,
                    field,
                    json!("a".repeat(max + 1)),
                    false,
                    "too long",
                );
                checked += 1;
            }
            if let (true, Some(max)) = (is_array(property), property["maxItems"].as_u64()) {
                let items = &property["items"];
                let list = |n: usize| Value::Array((0..n).map(|i| sample(items, i)).collect());
                let max = max as usize;
                check(name, parse, field, list(max), true, "max items");
                check(name, parse, field, list(max + 1), false, "too many items");
                if let Some(len) = items["maxLength"]
                    .as_u64()
                    .filter(|_| items["format"].is_null())
                {
                    let item = |n: usize| json!(["a".repeat(n)]);
                    check(name, parse, field, item(len as usize), true, "item length");
                    check(
                        name,
                        parse,
                        field,
                        item(len as usize + 1),
                        false,
                        "item too long",
                    );
                }
                checked += 1;
            }
            if let Some(choices) = property["enum"].as_array() {
                for choice in choices.iter().filter(|c| !c.is_null()) {
                    check(name, parse, field, choice.clone(), true, "a choice");
                }
                check(
                    name,
                    parse,
                    field,
                    json!("no-such-choice"),
                    false,
                    "not a choice",
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "{checked} properties checked");
}

fn list_parameters(document: &Value, path: &str) -> Vec<Value> {
    document["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .cloned()
        .collect()
}

/// The query parameters of a list are those its parser knows, with their bounds and choices.
fn check_query(path: &str, parse: fn(&str) -> Result<(), Map<String, Value>>) {
    let document = document();
    let params = list_parameters(&document, path);
    assert!(!params.is_empty(), "{path}");
    for param in params {
        let name = param["name"].as_str().unwrap();
        let schema = &param["schema"];
        let one = |value: &str| parse(&format!("{name}={}", urlencode(value)));
        let refused = |value: &str| one(value).err().is_some_and(|e| e.contains_key(name));
        // A known parameter: a plain value is not refused as unknown.
        let plain = match schema["type"].as_str() {
            Some("integer") => schema["minimum"].as_i64().unwrap_or(0).to_string(),
            Some("boolean") => "true".into(),
            Some("number") => "1".into(),
            _ => String::new(),
        };
        assert!(!refused(&plain), "{path}: {name}={plain} refused");
        if let Some(max) = schema["maximum"].as_i64() {
            assert!(!refused(&max.to_string()), "{path}: {name}={max}");
            assert!(
                refused(&(max + 1).to_string()),
                "{path}: {name}={}",
                max + 1
            );
        }
        if let Some(min) = schema["minimum"].as_i64() {
            assert!(
                refused(&(min - 1).to_string()),
                "{path}: {name}={}",
                min - 1
            );
        }
        if let Some(choices) = schema["items"]["enum"].as_array() {
            let all: Vec<&str> = choices.iter().filter_map(Value::as_str).collect();
            let joined = all.join(",");
            assert!(!refused(&joined), "{path}: {name}={joined}");
            assert!(refused("no-such-choice"), "{path}: {name}");
        }
    }
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn errors_of(result: Result<(), Error>) -> Result<(), Map<String, Value>> {
    fields(result).map_err(|e| reported(Err(e)))
}

#[test]
fn the_lead_list_parameters_are_those_its_parser_knows() {
    check_query("/api/leads/api/v1/leads/", |q| {
        let q = QueryParams::parse(q);
        errors_of(
            LeadQuery::parse(&q, None, Utc::now())
                .map(drop)
                .and_then(|()| q.page_size().map(drop)),
        )
    });
}

#[test]
fn the_activity_list_parameters_are_those_its_parser_knows() {
    check_query("/api/leads/api/v1/activities/", |q| {
        let q = QueryParams::parse(q);
        errors_of(
            ActivityQuery::parse(&q, "activities")
                .map(drop)
                .and_then(|()| q.page_size().map(drop)),
        )
    });
}
