//! The leads function: lead CRUD, the list and its views, the dashboard; the lead's
//! shapes (`crm_domain::lead::Lead::detail` and `row`, with the related records
//! `crm_app::leads::Related` adds) and the lead list's query language
//! (`crm_domain::filters::LeadQuery`).

use utoipa::openapi::path::{HttpMethod, Parameter, ParameterStyle};
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder};

use crm_domain::filters::{MAX_FILTER_VALUE, MAX_NO_ACTIVITY_DAYS};
use crm_domain::lead::{CompanySize, LeadStatus, Priority, MONEY_DIGITS, MONEY_PLACES, ROW_FIELDS};
use crm_domain::query::MAX_PAGE_SIZE;
use crm_domain::validate::Choice;

use crate::dsl::*;
use crate::ops::{json_response, op, query, versioned, Op};
use crate::Api;

pub const LEADS: &str = "/api/leads/api/v1/leads";
const LEAD: &str = "/api/leads/api/v1/leads/{id}";

/// Long free text (notes, pain points, requirements, lost reason).
pub const LONG_TEXT: usize = 10_000;

/// A money amount as responses show it: a decimal string with two places.
pub fn money_out() -> S {
    string()
        .format(Some(utoipa::openapi::schema::SchemaFormat::Custom(
            "decimal".into(),
        )))
        .pattern(Some("^[0-9]+(\\.[0-9]+)?$"))
        .into()
}

/// A money amount as requests give it: a non-negative number or decimal string with at
/// most two decimal places and ten digits before the point; `null` clears it.
pub fn money_in() -> S {
    let whole = MONEY_DIGITS - MONEY_PLACES;
    let max = 10f64.powi(whole as i32) - 0.01;
    nullable(
        AnyOfBuilder::new()
            .item(number().minimum(Some(0.0)).maximum(Some(max)))
            .item(string().pattern(Some(format!(
                "^[0-9]{{1,{whole}}}(\\.[0-9]{{1,{MONEY_PLACES}}})?$"
            ))))
            .into(),
    )
}

fn opt_datetime() -> S {
    nullable(datetime())
}

fn count() -> S {
    integer(Some(0), None)
}

/// The stored fields of a lead, as every lead response shows them.
fn stored_fields() -> Vec<(&'static str, S)> {
    let mut fields = vec![
        ("id", uuid()),
        ("version", integer(Some(1), None)),
        ("first_name", string().into()),
        ("last_name", string().into()),
        ("email", string().into()),
        ("phone", nullable(string().into())),
        ("company", nullable(string().into())),
        ("job_title", nullable(string().into())),
        ("company_website", nullable(string().into())),
        ("company_size", nullable(choice::<CompanySize>())),
        ("industry", nullable(string().into())),
        ("annual_revenue", nullable(money_out())),
        ("status", choice::<LeadStatus>()),
        ("priority", choice::<Priority>()),
        ("source_id", nullable(uuid())),
        ("assigned_to", nullable(r("Assignee"))),
        ("tag_ids", array(uuid()).into()),
        ("custom_fields", free_object()),
        ("score", integer(Some(0), Some(100))),
        ("score_factors", array(r("ScoreFactor")).into()),
        ("last_scored_at", opt_datetime()),
        ("score_model", nullable(string().into())),
        ("activity_count", count()),
        ("last_activity_at", opt_datetime()),
    ];
    fields.push(("notes", nullable(string().into())));
    for name in ["first_contact_date", "last_contact_date", "next_follow_up"] {
        fields.push((name, opt_datetime()));
    }
    for name in [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "referrer",
    ] {
        fields.push((name, nullable(string().into())));
    }
    fields.extend([
        ("budget", nullable(money_out())),
        ("timeline", nullable(string().into())),
        ("decision_maker", boolean()),
        ("pain_points", nullable(string().into())),
        ("requirements", nullable(string().into())),
        ("converted_at", opt_datetime()),
        ("conversion_value", nullable(money_out())),
        ("lost_reason", nullable(string().into())),
        ("created_by", string().into()),
        ("created_at", datetime()),
        ("updated_at", datetime()),
    ]);
    fields
}

/// `Lead::detail`: the stored fields and the computed ones.
fn detail_fields() -> Vec<(&'static str, S)> {
    let mut fields = stored_fields();
    fields.extend([
        ("full_name", string().into()),
        ("custom_field_values", free_object()),
        ("source_name", nullable(string().into())),
        (
            "source",
            nullable(
                Obj::new()
                    .req("id", uuid())
                    .req("name", nullable(string().into()))
                    .closed(),
            ),
        ),
        ("tags", array(r("TagSummary")).into()),
        ("days_since_created", integer(None, None)),
        ("days_until_follow_up", nullable(integer(None, None))),
        ("is_overdue", boolean()),
    ]);
    fields
}

/// `Lead::row`: the fields lists show.
fn row_fields() -> Vec<(&'static str, S)> {
    let mut fields: Vec<(&str, S)> = detail_fields()
        .into_iter()
        .filter(|(name, _)| ROW_FIELDS.contains(name) && *name != "assigned_to")
        .collect();
    // Rows carry the assignee's id, and their name when they are a member.
    fields.push(("assigned_to", nullable(string().into())));
    fields.push(("assigned_to_name", nullable(string().into())));
    fields
}

/// A lead's assignee in its detail: the original's user object. For an id that names no
/// member of the tenant every field but `id` is null; `email` is null too for callers
/// below admin (as in the members list).
fn assignee() -> S {
    Obj::new()
        .describe(
            "The user a lead is assigned to. For an id that is not a member of the tenant \
             every field but id is null; email is shown to admins and owners only.",
        )
        .req("id", string().into())
        .req("email", nullable(string().into()))
        .req("first_name", nullable(string().into()))
        .req("last_name", nullable(string().into()))
        .req("full_name", nullable(string().into()))
        .closed()
}

/// One entry of a lead's history.
fn history_entry() -> S {
    Obj::new()
        .describe("One change of a lead: who made it, when, and each field's values.")
        .req("id", uuid())
        .req(
            "action",
            string()
                .enum_values(Some(["create", "update", "delete", "score"]))
                .into(),
        )
        .req("actor", string().into())
        .req("at", datetime())
        .req(
            "changes",
            array(
                Obj::new()
                    .req("field", string().into())
                    .req("old", any())
                    .req("new", any())
                    .closed(),
            )
            .into(),
        )
        .closed()
}

pub fn schemas() -> Vec<(&'static str, S)> {
    let mut with_related = detail_fields();
    with_related.extend([
        ("recent_activities", array(r("Activity")).into()),
        ("lead_notes", array(r("Note")).into()),
    ]);
    vec![
        (
            "LeadDetail",
            Obj::new()
                .describe(
                    "A lead with its source, tags, ten most recent activities and latest \
                     notes the caller may see.",
                )
                .props(with_related, true)
                .closed(),
        ),
        (
            "Lead",
            Obj::new()
                .describe("A lead as the lead actions answer it.")
                .props(detail_fields(), true)
                .closed(),
        ),
        (
            "LeadRow",
            Obj::new()
                .describe("A lead as lists show it.")
                .props(row_fields(), true)
                .closed(),
        ),
        ("Assignee", assignee()),
        ("LeadHistoryEntry", history_entry()),
        (
            "ScoreFactor",
            Obj::new()
                .describe("One line of a score's explanation.")
                .req("factor", string().into())
                .req("value", any())
                .req("points", count())
                .req("max", count())
                .req("reason", string().into())
                .closed(),
        ),
        (
            "TagSummary",
            Obj::new()
                .req("id", uuid())
                .req("name", string().into())
                .req("color", string().into())
                .closed(),
        ),
        ("LeadCreate", lead_write(true)),
        ("LeadUpdate", lead_write(false)),
        ("Dashboard", dashboard()),
    ]
}

/// `LeadInput::parse`: a create (and a PUT) needs the names and email; a PATCH any subset.
fn lead_write(required: bool) -> S {
    let mut obj = Obj::new().describe(if required {
        "A new lead (POST) or all of a lead's required fields (PUT). Unknown fields are \
         ignored."
    } else {
        "Any of a lead's fields (PATCH). Unknown fields are ignored."
    });
    obj = obj.props(
        vec![
            ("first_name", text(100)),
            ("last_name", text(100)),
            (
                "email",
                formatted("email")
                    .min_length(Some(1))
                    .max_length(Some(254))
                    .into(),
            ),
        ],
        required,
    );
    obj.props(optional_lead_fields(), false).open()
}

/// The fields no lead write requires.
fn optional_lead_fields() -> Vec<(&'static str, S)> {
    vec![
        ("phone", opt_text(20)),
        ("company", opt_text(200)),
        ("job_title", opt_text(100)),
        (
            "company_website",
            nullable(formatted("uri").max_length(Some(200)).into()),
        ),
        ("company_size", nullable(choice::<CompanySize>())),
        ("industry", opt_text(100)),
        ("annual_revenue", money_in()),
        ("status", choice::<LeadStatus>()),
        ("priority", choice::<Priority>()),
        (
            "source",
            nullable(
                string()
                    .max_length(Some(crm_domain::sources::NAME_MAX))
                    .description(Some(
                        "A source's id, or its name (a new name creates the source).",
                    ))
                    .into(),
            ),
        ),
        ("source_id", nullable(uuid())),
        (
            "tag_ids",
            array(uuid())
                .max_items(Some(crm_domain::tags::MAX_PER_LEAD))
                .description(Some("The lead's whole set of tags."))
                .into(),
        ),
        (
            "custom_fields",
            ObjectBuilder::new()
                .description(Some(
                    "Values of the tenant's custom fields by name; `null` clears one.",
                ))
                .into(),
        ),
        ("assigned_to", opt_text(128)),
        ("assigned_to_id", opt_text(128)),
        ("notes", opt_text(LONG_TEXT)),
        ("next_follow_up", nullable(datetime())),
        ("utm_source", opt_text(100)),
        ("utm_medium", opt_text(100)),
        ("utm_campaign", opt_text(100)),
        ("utm_term", opt_text(100)),
        ("utm_content", opt_text(100)),
        ("referrer", opt_text(500)),
        ("budget", money_in()),
        ("timeline", opt_text(100)),
        ("decision_maker", boolean()),
        ("pain_points", opt_text(LONG_TEXT)),
        ("requirements", opt_text(LONG_TEXT)),
        ("conversion_value", money_in()),
        ("lost_reason", opt_text(LONG_TEXT)),
    ]
}

fn dashboard() -> S {
    let by = |choices: &[&str]| {
        choices
            .iter()
            .fold(Obj::new(), |o, name| o.req(name, count()))
            .closed()
    };
    fn names<C: Choice>() -> Vec<&'static str> {
        C::CHOICES.iter().map(|(n, _)| *n).collect()
    }
    Obj::new()
        .req("total_leads", count())
        .req("new_leads", count())
        .req("converted_leads", count())
        .req("recent_leads", count())
        .req("conversion_rate", number().minimum(Some(0.0)).into())
        .req("average_score", number().minimum(Some(0.0)).into())
        .req("score_distribution", by(&["high", "medium", "low"]))
        .req(
            "top_sources",
            array(
                Obj::new()
                    .req("id", uuid())
                    .req("name", nullable(string().into()))
                    .req("leads_count", count())
                    .closed(),
            )
            .max_items(Some(5))
            .into(),
        )
        .req("by_status", by(&names::<LeadStatus>()))
        .req("by_priority", by(&names::<Priority>()))
        .closed()
}

/// A cursor-paginated list of `item`: `{next, previous, results}`.
pub fn page(item: S) -> S {
    let link = || nullable(formatted("uri").into());
    Obj::new()
        .req("next", link())
        .req("previous", link())
        .req("results", array(item).into())
        .closed()
}

/// `page_size` and `cursor`, which every list takes.
pub fn paging() -> Vec<Parameter> {
    vec![
        query(
            "page_size",
            integer(Some(1), Some(MAX_PAGE_SIZE as i64)),
            "Rows per page (default 20).",
        ),
        query(
            "cursor",
            string().into(),
            "An opaque position from a previous page's `next` or `previous` link.",
        ),
    ]
}

/// A query parameter that takes several values: `a=1&a=2` or `a=1,2`.
pub fn many(name: &str, items: S, description: &str) -> Parameter {
    let mut p = query(name, array(items).into(), description);
    p.style = Some(ParameterStyle::Form);
    p.explode = Some(true);
    p
}

const TEXT_FILTERS: [&str; 6] = [
    "email",
    "phone",
    "company",
    "job_title",
    "first_name",
    "last_name",
];
const ORDER_FIELDS: [&str; 7] = [
    "score",
    "created_at",
    "updated_at",
    "last_contact_date",
    "next_follow_up",
    "company",
    "last_name",
];

/// The lead list's filters (the same for its views).
fn list_params() -> Vec<Parameter> {
    let mut params = paging();
    let orderings: Vec<String> = ORDER_FIELDS
        .iter()
        .flat_map(|f| [f.to_string(), format!("-{f}")])
        .collect();
    let mut ordering = query(
        "ordering",
        array(string().enum_values(Some(orderings)).into()).into(),
        "Sort keys, comma-separated, `-` for descending (default `-score,created_at`).",
    );
    ordering.style = Some(ParameterStyle::Form);
    ordering.explode = Some(false);
    params.push(ordering);
    params.extend([
        many("status", choice::<LeadStatus>(), "Any of these statuses."),
        many("priority", choice::<Priority>(), "Any of these priorities."),
        many(
            "source",
            filter_text(),
            "Any of these sources (ids or names).",
        ),
        many("tags", uuid(), "Leads with any of these tags (ids)."),
        many("tag", uuid(), "Same as `tags`."),
        many(
            "company_size",
            choice::<CompanySize>(),
            "Any of these sizes.",
        ),
        query("score_min", integer(Some(0), Some(100)), "Lowest score."),
        query("score_max", integer(Some(0), Some(100)), "Highest score."),
        query(
            "budget_min",
            number().minimum(Some(0.0)).into(),
            "Lowest budget.",
        ),
        query(
            "budget_max",
            number().minimum(Some(0.0)).into(),
            "Highest budget.",
        ),
    ]);
    for (name, what) in [
        ("created_after", "Created at or after."),
        ("created_before", "Created at or before."),
        ("contacted_after", "Last contacted at or after."),
        ("contacted_before", "Last contacted at or before."),
    ] {
        params.push(query(name, date_or_datetime(), what));
    }
    params.extend(flags_and_text());
    params.extend(text_filters());
    params
}

/// The list's flags and free-text filters.
fn flags_and_text() -> Vec<Parameter> {
    let flag = |name: &str, what: &str| query(name, boolean(), what);
    vec![
        flag("created_today", "Created since midnight UTC."),
        flag("created_this_week", "Created in the last 7 days."),
        flag("created_this_month", "Created in the last 30 days."),
        flag("decision_maker", "Is (or is not) a decision maker."),
        flag("has_budget", "Has (or has no) budget."),
        flag("has_phone", "Has (or has no) phone."),
        flag("is_assigned", "Is (or is not) assigned."),
        flag("is_overdue", "Follow-up is (or is not) overdue."),
        flag(
            "timeline_urgent",
            "Timeline says immediate, urgent or ASAP.",
        ),
        many(
            "assigned_to",
            filter_text(),
            "Assigned to any of these users.",
        ),
        query("industry", filter_text(), "Industry (case-insensitive)."),
        query(
            "no_activity_days",
            integer(Some(0), Some(i64::from(MAX_NO_ACTIVITY_DAYS))),
            "No activity for at least this many days.",
        ),
        query("utm_source", filter_text(), "UTM source."),
        query("utm_medium", filter_text(), "UTM medium."),
        query("utm_campaign", filter_text(), "UTM campaign."),
        query(
            "search",
            filter_text(),
            "Words (or word prefixes) of the name, email, company, job title, phone, \
             industry or notes.",
        ),
    ]
}

/// `email=`, `company__icontains=`, ...: each text field, exact or contained.
fn text_filters() -> Vec<Parameter> {
    let mut params = Vec::new();
    for field in TEXT_FILTERS {
        for (suffix, what) in [
            ("", "equals (case-insensitive)"),
            ("__exact", "equals (case-insensitive)"),
            ("__iexact", "equals (case-insensitive)"),
            ("__contains", "contains (case-insensitive)"),
            ("__icontains", "contains (case-insensitive)"),
        ] {
            params.push(query(
                &format!("{field}{suffix}"),
                filter_text(),
                &format!("`{field}` {what}."),
            ));
        }
    }
    params
}

/// A free-text list filter: longer values are refused (400).
fn filter_text() -> S {
    string().max_length(Some(MAX_FILTER_VALUE)).into()
}

const LIST_NOTE: &str = "Also `cf_<name>=value`: leads whose custom field `name` has the \
    value. Unknown parameters are refused (400).";

fn list_op(id: &str, summary: &str) -> Op {
    op(HttpMethod::Get, id, "leads", summary)
        .describe(LIST_NOTE)
        .params(list_params())
        .response(200, json_response("A page of leads.", page(r("LeadRow"))))
}

fn detail_op(method: HttpMethod, id: &str, summary: &str, status: u16) -> Op {
    op(method, id, "leads", summary)
        .errors(&[404])
        .response(status, versioned("The lead.", r("LeadDetail")))
}

pub fn describe(api: &mut Api) {
    api.add(LEADS, list_op("leads_list", "List leads"));
    api.add(
        LEADS,
        op(HttpMethod::Post, "leads_create", "leads", "Create a lead")
            .body(r("LeadCreate"), true)
            .response(201, versioned("The new lead.", r("LeadDetail"))),
    );
    api.add(
        LEAD,
        detail_op(HttpMethod::Get, "leads_retrieve", "A lead", 200),
    );
    api.add(
        LEAD,
        detail_op(
            HttpMethod::Put,
            "leads_update",
            "Replace a lead's fields",
            200,
        )
        .body(r("LeadCreate"), true)
        .if_match(),
    );
    api.add(
        LEAD,
        detail_op(
            HttpMethod::Patch,
            "leads_partial_update",
            "Change a lead",
            200,
        )
        .body(r("LeadUpdate"), true)
        .if_match(),
    );
    api.add(
        LEAD,
        op(
            HttpMethod::Delete,
            "leads_destroy",
            "leads",
            "Delete a lead",
        )
        .errors(&[404, 409])
        .if_match()
        .response(
            204,
            utoipa::openapi::ResponseBuilder::new()
                .description("Deleted.")
                .build(),
        ),
    );
    api.add(
        &format!("{LEAD}/history"),
        op(
            HttpMethod::Get,
            "leads_history",
            "leads",
            "A lead's changes, newest first",
        )
        .params(paging())
        .errors(&[404])
        .response(
            200,
            json_response("A page of the lead's history.", page(r("LeadHistoryEntry"))),
        ),
    );
    views(api);
}

/// The dashboard and the list's views, each under its hyphenated and underscore names.
fn views(api: &mut Api) {
    for (path, id) in [
        ("dashboard", "leads_dashboard"),
        ("dashboard_stats", "leads_dashboard_stats"),
    ] {
        api.add(
            &format!("{LEADS}/{path}"),
            op(HttpMethod::Get, id, "leads", "The tenant's lead statistics")
                .response(200, json_response("The dashboard.", r("Dashboard"))),
        );
    }
    for (path, id, summary) in [
        (
            "overdue",
            "leads_overdue",
            "Active leads whose follow-up has passed",
        ),
        (
            "overdue_followups",
            "leads_overdue_followups",
            "Active leads whose follow-up has passed",
        ),
        (
            "high-priority",
            "leads_high_priority",
            "Active leads of high or urgent priority, or scored 70 or more",
        ),
        (
            "high_priority",
            "leads_high_priority_underscore",
            "Active leads of high or urgent priority, or scored 70 or more",
        ),
        ("unassigned", "leads_unassigned", "Leads assigned to nobody"),
    ] {
        api.add(&format!("{LEADS}/{path}"), list_op(id, summary));
    }
}
