//! The actions function: what a salesperson does to one lead, its AI insights, and the
//! tenant's scoring settings (`crm_domain::actions`, `crm_domain::lead_insights`,
//! `crm_domain::scoring::ScoringSettingsInput`).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::HttpMethod;

use crm_domain::actions::REASON_CHARS;
use crm_domain::scoring::{ScoringModel, MAX_ITEM_CHARS, MAX_LIST_ITEMS};

use crate::dsl::*;
use crate::leads::{money_in, LEADS};
use crate::ops::{json_response, op, versioned, Op};
use crate::Api;

const SCORING_SETTINGS: &str = "/api/leads/api/v1/scoring-settings";

fn level() -> S {
    string().enum_values(Some(["high", "medium", "low"])).into()
}

fn insights_fields() -> Vec<(&'static str, S)> {
    let item = |extra: Option<&'static str>| {
        let o = Obj::new()
            .req("type", string().into())
            .req("message", string().into());
        match extra {
            Some(name) => o.req(name, level()),
            None => o,
        }
        .closed()
    };
    vec![
        ("score_breakdown", array(r("ScoreFactor")).into()),
        ("recommendations", array(item(Some("priority"))).into()),
        ("risk_factors", array(item(Some("severity"))).into()),
        ("opportunities", array(item(None)).into()),
        ("next_best_action", string().into()),
        ("generated_by", string().into()),
        ("generated_at", datetime()),
    ]
}

pub fn schemas() -> Vec<(&'static str, S)> {
    let keywords = || {
        array(text(MAX_ITEM_CHARS))
            .max_items(Some(MAX_LIST_ITEMS))
            .into()
    };
    let settings_fields = || {
        vec![
            ("model", choice::<ScoringModel>()),
            ("ideal_industries", keywords()),
            ("target_countries", keywords()),
            ("title_keywords", keywords()),
        ]
    };
    vec![
        (
            "Insights",
            Obj::new().props(insights_fields(), true).closed(),
        ),
        (
            "InsightsReady",
            Obj::new()
                .describe("Current insights.")
                .req("status", string().enum_values(Some(["ready"])).into())
                .req("lead_id", uuid())
                .req("lead_version", integer(Some(1), None))
                .props(insights_fields(), true)
                .closed(),
        ),
        (
            "InsightsPending",
            Obj::new()
                .describe("New insights are being produced: poll after `Retry-After` seconds.")
                .req("status", string().enum_values(Some(["pending"])).into())
                .req("lead_id", uuid())
                .req("requested_at", datetime())
                .req("detail", string().into())
                .req("previous", nullable(r("Insights")))
                .closed(),
        ),
        (
            "ScoreUpdate",
            Obj::new()
                .req("id", uuid())
                .req("score", integer(Some(0), Some(100)))
                .req("score_model", string().into())
                .req("score_factors", array(r("ScoreFactor")).into())
                .req("last_scored_at", nullable(datetime()))
                .closed(),
        ),
        (
            "ScoringSettings",
            Obj::new().props(settings_fields(), true).closed(),
        ),
        (
            "ScoringSettingsInput",
            Obj::new()
                .describe(
                    "Fields left out keep their values (PATCH) or take their defaults (PUT). \
                     List items are trimmed; duplicates (ignoring case) are dropped.",
                )
                .props(settings_fields(), false)
                .open(),
        ),
        (
            "Convert",
            Obj::new().opt("conversion_value", money_in()).open(),
        ),
        (
            "MarkLost",
            Obj::new().req("reason", text(REASON_CHARS)).open(),
        ),
    ]
}

/// An action on one lead: 404 for a lead the tenant does not have.
fn action(method: HttpMethod, id: &str, summary: &str) -> Op {
    op(method, id, "actions", summary).errors(&[404])
}

fn changed() -> utoipa::openapi::Response {
    versioned("The lead after the action.", r("Lead"))
}

fn insights(method: HttpMethod, id: &str, summary: &str) -> Op {
    let mut pending = json_response("New insights are being produced.", r("InsightsPending"));
    pending.headers.insert(
        "Retry-After".into(),
        HeaderBuilder::new()
            .schema(integer(Some(0), None))
            .description(Some("Seconds to wait before polling again."))
            .build(),
    );
    action(method, id, summary)
        .response(200, json_response("Current insights.", r("InsightsReady")))
        .response(202, pending)
}

pub fn describe(api: &mut Api) {
    let lead = |name: &str| format!("{LEADS}/{{id}}/{name}");
    for name in ["update-score", "update_score"] {
        api.add(
            &lead(name),
            action(
                HttpMethod::Post,
                &format!("leads_{}", name.replace('-', "_") + "_action"),
                "Score the lead again now",
            )
            .errors(&[409])
            .response(200, versioned("The new score.", r("ScoreUpdate"))),
        );
    }
    for name in ["mark-contacted", "mark_contacted"] {
        api.add(
            &lead(name),
            action(
                HttpMethod::Post,
                &format!("leads_{}", name.replace('-', "_") + "_action"),
                "Record a contact now (a `new` lead becomes `contacted`)",
            )
            .errors(&[409])
            .if_match()
            .response(200, changed()),
        );
    }
    api.add(
        &lead("convert"),
        action(HttpMethod::Post, "leads_convert", "Mark the lead converted")
            .describe("The body is optional.")
            .body(r("Convert"), false)
            .if_match()
            .response(200, changed()),
    );
    for name in ["mark-lost", "mark_lost"] {
        api.add(
            &lead(name),
            action(
                HttpMethod::Post,
                &format!("leads_{}", name.replace('-', "_") + "_action"),
                "Mark the lead lost, with the reason",
            )
            .body(r("MarkLost"), true)
            .if_match()
            .response(200, changed()),
        );
    }
    insights_and_settings(api);
}

fn insights_and_settings(api: &mut Api) {
    let lead = |name: &str| format!("{LEADS}/{{id}}/{name}");
    for name in ["ai-insights", "ai_insights"] {
        let id = format!("leads_{}", name.replace('-', "_"));
        api.add(
            &lead(name),
            insights(HttpMethod::Get, &id, "The lead's AI insights"),
        );
        api.add(
            &lead(name),
            insights(
                HttpMethod::Post,
                &format!("{id}_refresh"),
                "Ask for new AI insights",
            ),
        );
    }
    let settings = |method, id: &str, summary: &str| {
        op(method, id, "actions", summary)
            .response(200, json_response("The settings.", r("ScoringSettings")))
    };
    api.add(
        SCORING_SETTINGS,
        settings(
            HttpMethod::Get,
            "scoring_settings_retrieve",
            "The tenant's scoring settings",
        ),
    );
    api.add(
        SCORING_SETTINGS,
        settings(
            HttpMethod::Put,
            "scoring_settings_update",
            "Replace the scoring settings",
        )
        .body(r("ScoringSettingsInput"), true),
    );
    api.add(
        SCORING_SETTINGS,
        settings(
            HttpMethod::Patch,
            "scoring_settings_partial_update",
            "Change the scoring settings",
        )
        .body(r("ScoringSettingsInput"), true),
    );
}
