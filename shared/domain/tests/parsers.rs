//! Property tests: the parsers that meet client input never panic. A list query (any
//! parameter names and values: huge numbers, dates at the ends of the calendar, unicode,
//! empty strings) is either a query or 400 field errors naming its own parameters, and a
//! query that parses can be matched against any lead; a lead body (the known fields with
//! any JSON values) is either valid input or field errors.

use chrono::{DateTime, TimeZone, Utc};
use crm_domain::activities::{ActivityQuery, ACTIVITY_LIST_PARAMS};
use crm_domain::filters::{LeadQuery, View, LEAD_LIST_PARAMS};
use crm_domain::lead::{Lead, LeadInput, WriteMode};
use crm_domain::query::QueryParams;
use crm_domain::{Error, TenantId};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// The lead list's parameters, with lookups, custom fields and names it does not know.
fn lead_params() -> Vec<&'static str> {
    let others = [
        "email__icontains",
        "company",
        "last_name__exact",
        "cf_region",
        "cf_",
        "lead",
        "scheduled_after",
    ];
    LEAD_LIST_PARAMS.iter().chain(&others).copied().collect()
}

/// Values that probe the parsers' edges.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        (0u32..200).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "[0-9]{15,40}",
        "-?[0-9]{1,30}(\\.[0-9]{0,30})?(e-?[0-9]{1,4})?",
        // Dates, plausible and not, and RFC 3339 times with any offset.
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        "[+-]?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,2}",
        "[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,12})?(Z|[+-][0-2][0-9]:[0-5][0-9])",
        Just("9999-12-31T23:59:59-23:59".to_string()),
        Just("0000-01-01T00:00:00+23:59".to_string()),
        prop::sample::select(vec![
            "true", "false", "1", "0", "yes", "off", "TRUE", "new", "urgent", "startup", "score",
            "-score", "created_at,-last_name", "-", ",", "!!!", "call", "note,email",
        ])
        .prop_map(str::to_string),
        "\\PC{0,24}",
        ".{0,12}",
    ]
}

fn name(known: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(known).prop_map(str::to_string),
        1 => "\\PC{0,12}",
        1 => "cf_\\PC{0,8}",
    ]
}

fn params(known: Vec<&'static str>) -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((name(known), value()), 0..6)
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap()
}

/// Leads at the ends of time, to match parsed queries against.
fn leads(now: DateTime<Utc>) -> Vec<Lead> {
    let body = json!({
        "first_name": "Ann", "last_name": "Zed", "email": "ann@example.com",
        "company": "Acme", "phone": "+1 555 0100", "budget": "100.50", "timeline": "ASAP",
        "industry": "Software", "utm_source": "google",
        "custom_fields": {"region": "emea"},
    });
    let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
    let lead = Lead::create(TenantId::from_uuid(uuid::Uuid::nil()), input, "u1", now);
    let mut old = lead.clone();
    old.created_at = DateTime::<Utc>::MIN_UTC;
    old.last_contact_date = Some(DateTime::<Utc>::MIN_UTC);
    old.next_follow_up = Some(DateTime::<Utc>::MIN_UTC);
    let mut future = lead.clone();
    future.created_at = DateTime::<Utc>::MAX_UTC;
    future.last_contact_date = Some(DateTime::<Utc>::MAX_UTC);
    future.next_follow_up = Some(DateTime::<Utc>::MAX_UTC);
    vec![lead, old, future]
}

/// A 400 names parameters of the request (or `search`/`score_min` rules on them).
fn names_its_parameters(e: &Error, q: &[(String, String)]) -> Result<(), TestCaseError> {
    let Error::Validation(errors) = e else {
        return Err(TestCaseError::fail(format!("not a field error: {e:?}")));
    };
    let Value::Object(fields) = serde_json::to_value(errors).unwrap() else {
        return Err(TestCaseError::fail("field errors are an object"));
    };
    prop_assert!(!fields.is_empty());
    for field in fields.keys() {
        prop_assert!(
            q.iter().any(|(k, _)| k == field),
            "error under {field}, not a parameter of {q:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lead_list_queries_parse_or_name_the_parameter(
        q in params(lead_params()),
        view in prop::option::of(prop::sample::select(vec![
            View::Overdue, View::HighPriority, View::Unassigned,
        ])),
        now in -30_000_000_000i64..200_000_000_000,
    ) {
        let now = at(now);
        let query = QueryParams { params: q.clone() };
        match LeadQuery::parse(&query, view, now) {
            Ok(parsed) => {
                for lead in leads(now) {
                    parsed.matches(&lead);
                    lead.row(now);
                }
                let _ = query.page_size();
            }
            Err(e) => names_its_parameters(&e, &q)?,
        }
    }

    /// Each parameter alone, so that no other filter hides it from the matcher.
    #[test]
    fn each_lead_list_parameter_alone_parses_or_is_named(
        v in value(),
        view in prop::option::of(prop::sample::select(vec![
            View::Overdue, View::HighPriority, View::Unassigned,
        ])),
    ) {
        let now = Utc::now();
        for name in lead_params() {
            let q = vec![(name.to_string(), v.clone())];
            match LeadQuery::parse(&QueryParams { params: q.clone() }, view, now) {
                Ok(parsed) => {
                    for lead in leads(now) {
                        parsed.matches(&lead);
                    }
                }
                Err(e) => names_its_parameters(&e, &q)?,
            }
        }
    }

    #[test]
    fn activity_list_queries_parse_or_name_the_parameter(q in params(ACTIVITY_LIST_PARAMS.to_vec())) {
        let query = QueryParams { params: q.clone() };
        if let Err(e) = ActivityQuery::parse(&query, "activities") {
            names_its_parameters(&e, &q)?;
        }
    }
}

const LEAD_FIELDS: [&str; 34] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "company_website",
    "company_size",
    "industry",
    "annual_revenue",
    "status",
    "priority",
    "source",
    "source_id",
    "tags",
    "tag_ids",
    "custom_fields",
    "assigned_to",
    "assigned_to_id",
    "notes",
    "next_follow_up",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "budget",
    "timeline",
    "decision_maker",
    "pain_points",
    "requirements",
    "conversion_value",
    "lost_reason",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        value().prop_map(Value::String),
        Just(json!(uuid::Uuid::nil().to_string())),
        Just(json!("a@b.co")),
        Just(json!("https://example.com/x")),
        Just(json!(1e300)),
        Just(json!("1e400")),
        Just(json!("-0")),
        Just(json!("79228162514264337593543950335")),
        Just(json!("0.0000000000000000000000000001")),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn lead_body() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        prop_oneof![
            8 => prop::sample::select(&LEAD_FIELDS[..]).prop_map(str::to_string),
            1 => "\\PC{0,10}",
        ],
        json_value(),
        0..12,
    )
    .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lead_bodies_parse_or_name_the_field(
        body in lead_body(),
        mode in prop::sample::select(vec![WriteMode::Create, WriteMode::Replace, WriteMode::Partial]),
    ) {
        match LeadInput::parse(&body, mode) {
            Ok(input) => {
                let now = Utc::now();
                let lead = Lead::create(TenantId::from_uuid(uuid::Uuid::nil()), input.clone(), "u1", now);
                lead.detail(now);
                let mut changed = lead.clone();
                changed.apply(input, now);
                crm_domain::search::tokens(&changed);
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                let Value::Object(fields) = serde_json::to_value(&errors).unwrap() else {
                    return Err(TestCaseError::fail("field errors are an object"));
                };
                for field in fields.keys() {
                    prop_assert!(
                        body.contains_key(field) || ["first_name", "last_name", "email"].contains(&field.as_str()),
                        "error under {field}, not a field of {body:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn an_ordering_without_keys_is_the_default() {
    let now = Utc::now();
    let default = LeadQuery::parse(&QueryParams::parse(""), None, now).unwrap();
    for raw in ["ordering=,", "ordering=%20,%20,", "ordering="] {
        for view in [None, Some(View::Unassigned), Some(View::Overdue)] {
            let query = LeadQuery::parse(&QueryParams::parse(raw), view, now).unwrap();
            assert!(!query.ordering.is_empty(), "{raw} {view:?}");
            if view.is_none() {
                assert_eq!(query.ordering, default.ordering, "{raw}");
            }
        }
    }
}
