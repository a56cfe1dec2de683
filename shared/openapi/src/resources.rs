//! The sources function: sources, tags, activities, notes and custom fields, each with the
//! usual lifecycle (`crm_domain::{sources, tags, activities, notes, custom_fields}` parse
//! the bodies and shape the answers), and a lead's activity and note timelines.

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::ResponseBuilder;

use crm_domain::activities::{ActivityType, DESCRIPTION_MAX, TITLE_MAX};
use crm_domain::custom_fields::{FieldType, OPTIONS_MAX};
use crm_domain::notes::CONTENT_MAX;

use crate::dsl::*;
use crate::leads::{many, page, paging, LEADS, LONG_TEXT};
use crate::ops::{json_response, op, query, versioned};
use crate::Api;

const BASE: &str = "/api/leads/api/v1";

fn stamps(o: Obj) -> Obj {
    o.req("created_at", datetime())
        .req("updated_at", datetime())
}

fn count() -> S {
    integer(Some(0), None)
}

fn source_schemas() -> Vec<(&'static str, S)> {
    let input = |required| {
        Obj::new()
            .props(
                vec![("name", text(crm_domain::sources::NAME_MAX))],
                required,
            )
            .opt("description", opt_text(LONG_TEXT))
            .opt("is_active", boolean())
            .open()
    };
    vec![
        (
            "Source",
            stamps(
                Obj::new()
                    .req("id", uuid())
                    .req("name", string().into())
                    .req("description", nullable(string().into()))
                    .req("is_active", boolean())
                    .req("total_leads", count())
                    .req("converted_leads", count())
                    .req(
                        "conversion_rate",
                        number().minimum(Some(0.0)).maximum(Some(100.0)).into(),
                    )
                    .req("leads_count", count()),
            )
            .closed(),
        ),
        ("SourceCreate", input(true)),
        ("SourceUpdate", input(false)),
    ]
}

fn tag_schemas() -> Vec<(&'static str, S)> {
    let input = |required| {
        Obj::new()
            .props(vec![("name", text(crm_domain::tags::NAME_MAX))], required)
            .opt(
                "color",
                string()
                    .pattern(Some("^#[0-9a-fA-F]{6}$"))
                    .description(Some("A hex colour (default `#007bff`)."))
                    .into(),
            )
            .opt("description", opt_text(LONG_TEXT))
            .opt("is_active", boolean())
            .open()
    };
    vec![
        (
            "Tag",
            stamps(
                Obj::new()
                    .req("id", uuid())
                    .req("name", string().into())
                    .req("color", string().into())
                    .req("description", nullable(string().into()))
                    .req("is_active", boolean())
                    .req("leads_count", count()),
            )
            .closed(),
        ),
        ("TagCreate", input(true)),
        ("TagUpdate", input(false)),
    ]
}

fn activity_schemas() -> Vec<(&'static str, S)> {
    // POST needs the lead too; PUT the type, title and description; PATCH any subset.
    let input = |lead: bool, required: bool| {
        Obj::new()
            .props(vec![("lead", uuid())], lead)
            .props(
                vec![
                    ("activity_type", choice::<ActivityType>()),
                    ("title", text(TITLE_MAX)),
                    ("description", text(DESCRIPTION_MAX)),
                ],
                required,
            )
            .opt(
                "metadata",
                nullable(free_object_described(
                    "Any JSON object, at most 16 KiB serialised.",
                )),
            )
            .opt("scheduled_at", nullable(datetime()))
            .opt("is_completed", boolean())
            .open()
    };
    vec![
        (
            "Activity",
            stamps(
                Obj::new()
                    .req("id", uuid())
                    .req("lead", uuid())
                    .req("activity_type", choice::<ActivityType>())
                    .req("title", string().into())
                    .req("description", string().into())
                    .req("metadata", free_object())
                    .req("scheduled_at", nullable(datetime()))
                    .req("is_completed", boolean())
                    .req("user", string().into()),
            )
            .closed(),
        ),
        ("ActivityCreate", input(true, true)),
        ("ActivityReplace", input(false, true)),
        ("ActivityUpdate", input(false, false)),
    ]
}

fn free_object_described(description: &str) -> S {
    utoipa::openapi::schema::ObjectBuilder::new()
        .description(Some(description))
        .into()
}

fn note_schemas() -> Vec<(&'static str, S)> {
    let input = |lead: bool, required: bool| {
        Obj::new()
            .props(vec![("lead", uuid())], lead)
            .props(vec![("content", text(CONTENT_MAX))], required)
            .opt("is_private", boolean())
            .open()
    };
    vec![
        (
            "Note",
            stamps(
                Obj::new()
                    .req("id", uuid())
                    .req("lead", uuid())
                    .req("content", string().into())
                    .req("is_private", boolean())
                    .req("user", string().into()),
            )
            .closed(),
        ),
        ("NoteCreate", input(true, true)),
        ("NoteReplace", input(false, true)),
        ("NoteUpdate", input(false, false)),
    ]
}

fn custom_field_schemas() -> Vec<(&'static str, S)> {
    let input = |required: bool| {
        Obj::new()
            .describe(
                "A select or multi-select field needs options; a default must be a valid \
                 value. `name` and `field_type` cannot change.",
            )
            .props(
                vec![
                    (
                        "name",
                        string()
                            .min_length(Some(1))
                            .max_length(Some(crm_domain::custom_fields::NAME_MAX))
                            .pattern(Some("^[a-z][a-z0-9_]*$"))
                            .into(),
                    ),
                    ("field_type", choice::<FieldType>()),
                ],
                required,
            )
            .opt("is_required", boolean())
            .opt("is_active", boolean())
            .opt("default_value", any())
            .opt(
                "options",
                nullable(array(text(255)).max_items(Some(OPTIONS_MAX)).into()),
            )
            .opt("help_text", opt_text(1_000))
            .opt("order", integer(None, None))
            .open()
    };
    vec![
        (
            "CustomField",
            stamps(
                Obj::new()
                    .req("id", uuid())
                    .req("name", string().into())
                    .req("field_type", choice::<FieldType>())
                    .req("is_required", boolean())
                    .req("default_value", any())
                    .req("options", array(string().into()).into())
                    .req("help_text", nullable(string().into()))
                    .req("order", integer(None, None))
                    .req("is_active", boolean()),
            )
            .closed(),
        ),
        ("CustomFieldCreate", input(true)),
        ("CustomFieldUpdate", input(false)),
    ]
}

pub fn schemas() -> Vec<(&'static str, S)> {
    let mut all = source_schemas();
    all.extend(tag_schemas());
    all.extend(activity_schemas());
    all.extend(note_schemas());
    all.extend(custom_field_schemas());
    all
}

/// One resource's five operations.
struct Resource<'a> {
    /// Path segment and operation id prefix (`sources`, `custom-fields`).
    segment: &'a str,
    /// Schema names: the record, the create, the replace (PUT) and the update (PATCH).
    schema: &'a str,
    create: &'a str,
    replace: &'a str,
    update: &'a str,
    list: Vec<Parameter>,
    /// Who writes (for the summaries).
    writers: &'a str,
}

impl Resource<'_> {
    fn describe(self, api: &mut Api) {
        let tag = self.segment;
        let prefix = self.segment.replace('-', "_");
        let id = |action: &str| format!("{prefix}_{action}");
        let base = format!("{BASE}/{}", self.segment);
        let one = format!("{base}/{{id}}");
        let record = r(self.schema);
        let mut list = op(HttpMethod::Get, &id("list"), tag, &format!("List {tag}"));
        list = list
            .params(self.list)
            .response(200, json_response("A page.", page(record.clone())));
        api.add(&base, list);
        let write = |method, action: &str, summary: &str, body: &str| {
            op(method, &id(action), tag, summary)
                .describe(self.writers)
                .body(r(body), true)
        };
        api.add(
            &base,
            write(HttpMethod::Post, "create", "Create", self.create)
                .response(201, versioned("Created.", record.clone())),
        );
        api.add(
            &one,
            op(HttpMethod::Get, &id("retrieve"), tag, "One record")
                .errors(&[404])
                .response(200, versioned("The record.", record.clone())),
        );
        for (method, action, summary, body) in [
            (HttpMethod::Put, "update", "Replace", self.replace),
            (HttpMethod::Patch, "partial_update", "Change", self.update),
        ] {
            api.add(
                &one,
                write(method, action, summary, body)
                    .errors(&[404])
                    .if_match()
                    .response(200, versioned("The record.", record.clone())),
            );
        }
        api.add(
            &one,
            op(HttpMethod::Delete, &id("destroy"), tag, "Delete")
                .describe(self.writers)
                .errors(&[404, 409])
                .if_match()
                .response(204, ResponseBuilder::new().description("Deleted.").build()),
        );
    }
}

fn activity_filters() -> Vec<Parameter> {
    let mut params = paging();
    params.extend([
        query("lead", uuid(), "One lead's activities."),
        many("type", choice::<ActivityType>(), "Any of these types."),
        many("activity_type", choice::<ActivityType>(), "Same as `type`."),
        query("is_completed", boolean(), "Completed (or open) only."),
        query(
            "scheduled_after",
            date_or_datetime(),
            "Scheduled at or after.",
        ),
        query(
            "scheduled_before",
            date_or_datetime(),
            "Scheduled at or before.",
        ),
    ]);
    params
}

pub fn describe(api: &mut Api) {
    let admins = "Admins and owners write; every role reads.";
    for resource in [
        Resource {
            segment: "sources",
            schema: "Source",
            create: "SourceCreate",
            replace: "SourceCreate",
            update: "SourceUpdate",
            list: paging(),
            writers: admins,
        },
        Resource {
            segment: "tags",
            schema: "Tag",
            create: "TagCreate",
            replace: "TagCreate",
            update: "TagUpdate",
            list: paging(),
            writers: admins,
        },
    ] {
        resource.describe(api);
    }
    activities_and_notes(api);
    Resource {
        segment: "custom-fields",
        schema: "CustomField",
        create: "CustomFieldCreate",
        replace: "CustomFieldUpdate",
        update: "CustomFieldUpdate",
        list: paging(),
        writers: admins,
    }
    .describe(api);
}

/// Activities and notes, with the task views and each lead's timelines.
fn activities_and_notes(api: &mut Api) {
    let lead_editors = "Written by those who may edit the lead (a `user`: leads assigned to \
                        them or to nobody).";
    for (path, id, summary) in [
        (
            "upcoming",
            "activities_upcoming",
            "Open tasks from now on, soonest first",
        ),
        (
            "overdue",
            "activities_overdue",
            "Open tasks whose time has passed",
        ),
    ] {
        api.add(
            &format!("{BASE}/activities/{path}"),
            op(HttpMethod::Get, id, "activities", summary)
                .params(activity_filters())
                .response(200, json_response("A page.", page(r("Activity")))),
        );
    }
    Resource {
        segment: "activities",
        schema: "Activity",
        create: "ActivityCreate",
        replace: "ActivityReplace",
        update: "ActivityUpdate",
        list: activity_filters(),
        writers: lead_editors,
    }
    .describe(api);
    api.add(
        &format!("{LEADS}/{{id}}/activities"),
        op(
            HttpMethod::Get,
            "leads_activities",
            "activities",
            "A lead's activities, newest first",
        )
        .params(paging())
        .errors(&[404])
        .response(200, json_response("A page.", page(r("Activity")))),
    );
    let mut note_list = paging();
    note_list.push(query("lead", uuid(), "One lead's notes."));
    Resource {
        segment: "notes",
        schema: "Note",
        create: "NoteCreate",
        replace: "NoteReplace",
        update: "NoteUpdate",
        list: note_list,
        writers: "Created by those who may edit the lead; changed by the author or an admin. \
                  A private note is seen by its author and admins only.",
    }
    .describe(api);
    api.add(
        &format!("{LEADS}/{{id}}/notes"),
        op(
            HttpMethod::Get,
            "leads_notes",
            "notes",
            "A lead's notes, newest first",
        )
        .params(paging())
        .errors(&[404])
        .response(200, json_response("A page.", page(r("Note")))),
    );
}
