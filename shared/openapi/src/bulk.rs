//! The bulk function: `bulk-update`, `bulk-assign`, `bulk-tag` and `update-scores`
//! (`crm_domain::bulk` parses the bodies, `crm_app::bulk::Report` is the answer), each
//! under an optional `Idempotency-Key`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::HttpMethod;

use crm_domain::bulk::{Strategy, MAX_ASSIGNEES, MAX_IDS};
use crm_domain::lead::{LeadStatus, Priority};
use crm_domain::tags::MAX_PER_LEAD;

use crate::dsl::*;
use crate::leads::LEADS;
use crate::ops::{header, json_response, op};
use crate::Api;

/// `crm_http::idempotency::MAX_KEY_CHARS`.
const MAX_KEY_CHARS: usize = 255;

fn lead_ids() -> S {
    array(string().into())
        .min_items(Some(1))
        .max_items(Some(MAX_IDS))
        .description(Some(
            "The leads, by id: each is reported in `results`, in this order (duplicates \
             once; an id that names no lead of the tenant as `not_found`).",
        ))
        .into()
}

fn outcome() -> S {
    string()
        .enum_values(Some([
            "updated",
            "unchanged",
            "not_found",
            "forbidden",
            "error",
            "queued",
        ]))
        .into()
}

pub fn schemas() -> Vec<(&'static str, S)> {
    let result = Obj::new()
        .req("id", string().into())
        .req("status", outcome())
        .opt("assigned_to", string().into())
        .opt("error", string().into())
        .closed();
    vec![
        ("BulkResult", result),
        (
            "BulkReport",
            Obj::new()
                .req("updated_count", integer(Some(0), None))
                .req("results", array(r("BulkResult")).into())
                .closed(),
        ),
        (
            "ScoresReport",
            Obj::new()
                .req("queued_count", integer(Some(0), None))
                .req("updated_count", integer(Some(0), None))
                .req("results", array(r("BulkResult")).into())
                .closed(),
        ),
        (
            "BulkUpdate",
            Obj::new()
                .describe(
                    "At least one of the changes; each is validated as a lead's PATCH \
                     validates it. `tag_ids` replaces each lead's tags.",
                )
                .req("lead_ids", lead_ids())
                .opt("status", choice::<LeadStatus>())
                .opt("priority", choice::<Priority>())
                .opt("assigned_to", opt_text(128))
                .opt("assigned_to_id", opt_text(128))
                .opt("source", opt_text(crm_domain::sources::NAME_MAX))
                .opt("source_id", nullable(uuid()))
                .opt(
                    "tag_ids",
                    array(uuid()).max_items(Some(MAX_PER_LEAD)).into(),
                )
                .open(),
        ),
        (
            "BulkAssign",
            Obj::new()
                .describe(
                    "Either `assigned_to` (one user, or `null` for nobody), `assignees` \
                     (spread by `strategy`, round robin unless it says otherwise), or only \
                     `strategy` (spread over the tenant's active members who work leads).",
                )
                .req("lead_ids", lead_ids())
                .opt("assigned_to", opt_text(128))
                .opt(
                    "assignees",
                    array(text(128))
                        .min_items(Some(1))
                        .max_items(Some(MAX_ASSIGNEES))
                        .into(),
                )
                .opt("strategy", choice::<Strategy>())
                .open(),
        ),
        (
            "BulkTag",
            Obj::new()
                .describe("Tags to add and to remove (at least one; none in both).")
                .req("lead_ids", lead_ids())
                .opt("add", array(uuid()).max_items(Some(MAX_PER_LEAD)).into())
                .opt("remove", array(uuid()).max_items(Some(MAX_PER_LEAD)).into())
                .open(),
        ),
        ("LeadIds", Obj::new().req("lead_ids", lead_ids()).open()),
    ]
}

pub fn describe(api: &mut Api) {
    let key = || {
        header(
            "Idempotency-Key",
            string()
                .min_length(Some(1))
                .max_length(Some(MAX_KEY_CHARS))
                .pattern(Some("^[ -~]+$"))
                .into(),
            "Retries with the same key and body get the first answer (409 while it is in \
             progress, or for another body).",
        )
    };
    let bulk = |id: &str, summary: &str, body: &str, report: &str| {
        let mut ok = json_response("What happened to each lead.", r(report));
        ok.headers.insert(
            "Idempotent-Replayed".into(),
            HeaderBuilder::new()
                .schema(string().enum_values(Some(["true"])))
                .description(Some(
                    "The stored answer of an earlier request with the key.",
                ))
                .build(),
        );
        op(HttpMethod::Post, id, "bulk", summary)
            .describe("Managers and above. At most 1,000 leads per request.")
            .param(key())
            .body(r(body), true)
            .response(200, ok)
    };
    for (path, id) in [
        ("bulk-update", "leads_bulk_update"),
        ("bulk_update", "leads_bulk_update_underscore"),
    ] {
        api.add(
            &format!("{LEADS}/{path}"),
            bulk(id, "Change several leads", "BulkUpdate", "BulkReport"),
        );
    }
    api.add(
        &format!("{LEADS}/bulk-assign"),
        bulk(
            "leads_bulk_assign",
            "Assign several leads",
            "BulkAssign",
            "BulkReport",
        ),
    );
    api.add(
        &format!("{LEADS}/bulk-tag"),
        bulk(
            "leads_bulk_tag",
            "Tag or untag several leads",
            "BulkTag",
            "BulkReport",
        ),
    );
    for (path, id) in [
        ("update-scores", "leads_update_scores"),
        ("update_scores", "leads_update_scores_underscore"),
    ] {
        api.add(
            &format!("{LEADS}/{path}"),
            bulk(id, "Score several leads again", "LeadIds", "ScoresReport"),
        );
    }
}
