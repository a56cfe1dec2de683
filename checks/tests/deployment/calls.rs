//! The HTTP functions' main paths, driven through their routers with their DynamoDB calls
//! recorded: every call must be one the function's IAM policy in template.yaml allows. The
//! event files cover one request per route; this covers the write paths that need more
//! (sources created by name, email changes, deletes, idempotent replays, balanced
//! assignment, tags, rescoring, insights, settings; the sources function's resources, from
//! creation to deletion, a tag deleted while a lead has it).

use crm_domain::Role;
use crm_testkit::paths::{self, LEADS};
use crm_testkit::{TestApp, TestResponse};

use crate::common::*;
use crate::recorder::{assert_granted, recorded_function, recorded_function_into};

#[track_caller]
fn answered(what: &str, res: TestResponse) -> TestResponse {
    assert!(res.status < 500, "{what}: {} {}", res.status, res.text);
    res
}

#[tokio::test]
async fn the_http_functions_main_paths_make_only_calls_their_policies_allow() {
    let base = TestApp::start(leads::app).await;
    let tenant = base.tenant("Calls Co").await;
    let owner = base.token(&tenant, "owner-1", Role::Owner);
    let manager = base.token(&tenant, "manager-1", Role::Manager);
    let (leads, leads_calls) = recorded_function(&base, leads::app).await;
    let (actions, actions_calls) = recorded_function(&base, actions::app).await;
    let (bulk, bulk_calls) = recorded_function(&base, bulk::app).await;
    let (sources, sources_calls) = recorded_function(&base, sources::app).await;

    // leads: creates naming a new source, reads of every kind, an email change, a delete.
    let mut ids = Vec::new();
    for n in 0..3 {
        let res = answered(
            "create",
            leads
                .post(LEADS)
                .bearer(&manager)
                .json(json!({"first_name": format!("Ann{n}"), "last_name": "Lee",
                             "email": format!("ann{n}@acme.example"), "company": "Acme",
                             "phone": "+1 555 0100", "source": "Web", "budget": 1000}))
                .send()
                .await,
        );
        ids.push(res.body["id"].as_str().expect("an id").to_string());
    }
    for path in [
        format!("{LEADS}?page_size=2"),
        format!("{LEADS}?ordering=company&status=new"),
        format!("{LEADS}?search=acme"),
        format!("{LEADS}?source=Web"),
        paths::DASHBOARD.to_string(),
        paths::leads_view("overdue"),
        paths::leads_view("high-priority"),
        paths::leads_view("unassigned"),
        paths::lead(&ids[0]),
        "/health-check/".to_string(),
        "/".to_string(),
    ] {
        answered(&path, leads.get(&path).bearer(&manager).send().await);
    }
    answered(
        "patch",
        leads
            .patch(&paths::lead(&ids[2]))
            .bearer(&manager)
            .json(
                json!({"email": "other@acme.example", "company": "Other", "source": "Fair",
                         "assigned_to": "manager-1"}),
            )
            .send()
            .await,
    );
    answered(
        "delete",
        leads
            .delete(&paths::lead(&ids[2]))
            .bearer(&owner)
            .send()
            .await,
    );

    // sources: each resource created, listed, read, edited and deleted; an activity (a lead
    // write, and a rescore request) and a note (written only while its lead exists); the
    // activity views; a tag deleted while a lead has it (its membership dropped).
    let created = |what: &str, res: TestResponse| -> String {
        let res = answered(what, res);
        assert_eq!(res.status, 201, "{what}: {}", res.text);
        res.body["id"].as_str().expect("an id").to_string()
    };
    let tag = created(
        "create tag",
        sources
            .post(paths::TAGS)
            .bearer(&owner)
            .json(json!({"name": "Hot", "color": "#FF0000"}))
            .send()
            .await,
    );
    let tagged = answered(
        "tag a lead",
        leads
            .patch(&paths::lead(&ids[1]))
            .bearer(&manager)
            .json(json!({"tag_ids": [tag]}))
            .send()
            .await,
    );
    assert_eq!(tagged.status, 200, "tag a lead: {}", tagged.text);
    let mut records = vec![(paths::TAGS, tag)];
    for (kind, body) in [
        (paths::SOURCES, json!({"name": "Trade fair"})),
        (
            paths::CUSTOM_FIELDS,
            json!({"name": "tier", "field_type": "select", "options": ["gold", "silver"]}),
        ),
        (
            paths::ACTIVITIES,
            json!({"lead": ids[0], "activity_type": "call", "title": "Discovery call", "description": "Budget and timeline",
                   "scheduled_at": "2030-02-01T09:00:00Z", "is_completed": false}),
        ),
        (
            paths::NOTES,
            json!({"lead": ids[0], "content": "Called back"}),
        ),
    ] {
        let id = created(
            &format!("create {kind}"),
            sources.post(kind).bearer(&owner).json(body).send().await,
        );
        records.push((kind, id));
    }
    for path in [
        paths::SOURCES.to_string(),
        paths::TAGS.to_string(),
        paths::CUSTOM_FIELDS.to_string(),
        paths::ACTIVITIES.to_string(),
        format!("{}upcoming/", paths::ACTIVITIES),
        format!("{}overdue/", paths::ACTIVITIES),
        paths::lead_path(&ids[0], "activities"),
        paths::NOTES.to_string(),
        paths::lead_path(&ids[0], "notes"),
    ] {
        let res = answered(&path, sources.get(&path).bearer(&manager).send().await);
        assert_eq!(res.status, 200, "{path}: {}", res.text);
    }
    let edits = [
        (paths::TAGS, json!({"name": "Warm"})),
        (paths::SOURCES, json!({"name": "Trade show"})),
        (paths::CUSTOM_FIELDS, json!({"help_text": "Plan"})),
        (paths::ACTIVITIES, json!({"is_completed": true})),
        (paths::NOTES, json!({"content": "Edited"})),
    ];
    for ((kind, id), (_, edit)) in records.iter().zip(edits) {
        let path = format!("{kind}{id}/");
        let res = answered(&path, sources.get(&path).bearer(&owner).send().await);
        assert_eq!(res.status, 200, "GET {path}: {}", res.text);
        let res = answered(
            &path,
            sources.patch(&path).bearer(&owner).json(edit).send().await,
        );
        assert_eq!(res.status, 200, "PATCH {path}: {}", res.text);
        let res = answered(&path, sources.delete(&path).bearer(&owner).send().await);
        assert_eq!(res.status, 204, "DELETE {path}: {}", res.text);
    }

    // actions: every action, insights read and refresh, settings.
    let lead = paths::lead_path;
    for (method, path, body) in [
        ("POST", lead(&ids[0], "mark-contacted"), None),
        ("POST", lead(&ids[0], "update-score"), None),
        (
            "POST",
            lead(&ids[0], "convert"),
            Some(json!({"conversion_value": "900.00"})),
        ),
        (
            "POST",
            lead(&ids[1], "mark-lost"),
            Some(json!({"reason": "Budget"})),
        ),
        ("GET", lead(&ids[1], "ai-insights"), None),
        ("POST", lead(&ids[1], "ai-insights"), None),
        ("GET", paths::SCORING_SETTINGS.into(), None),
        ("PATCH", paths::SCORING_SETTINGS.into(), Some(json!({}))),
    ] {
        let request = actions
            .request(method, &path)
            .bearer(&owner)
            .maybe_json(body);
        answered(&format!("{method} {path}"), request.send().await);
    }

    // bulk: an update naming a new source (with a key, then replayed), balanced assignment,
    // tags, rescoring.
    let both = json!([ids[0], ids[1]]);
    for _ in 0..2 {
        answered(
            "bulk-update",
            bulk.post(paths::BULK_UPDATE)
                .bearer(&manager)
                .header("idempotency-key", "calls-1")
                .json(json!({"lead_ids": both, "priority": "high", "source": "Referral"}))
                .send()
                .await,
        );
    }
    for (path, body) in [
        (
            paths::BULK_ASSIGN,
            json!({"lead_ids": both, "assignees": ["u1", "u2"], "strategy": "least_loaded"}),
        ),
        (
            paths::BULK_ASSIGN,
            json!({"lead_ids": both, "assigned_to": null}),
        ),
        (
            paths::BULK_TAG,
            json!({"lead_ids": both, "add": ["0b6c3f0e-2a4d-4c8e-9f1a-7d5e3b2c1a00"]}),
        ),
        (paths::UPDATE_SCORES, json!({"lead_ids": both})),
    ] {
        answered(
            path,
            bulk.post(path).bearer(&manager).json(body).send().await,
        );
    }
    // update-scores with a scoring worker deployed: rescore requests written to the table
    // (the stream sends them on). The queue's URL names a closed port: the request path
    // never sends, so it is never called.
    let mut config = base.state.config.clone();
    config.scoring_queue_url = Some("http://127.0.0.1:9/000000000000/never-called".into());
    let queued_bulk = recorded_function_into(&base, bulk::app, config, &bulk_calls).await;
    let res = answered(
        "update-scores, queued",
        queued_bulk
            .post(paths::UPDATE_SCORES)
            .bearer(&manager)
            .json(json!({"lead_ids": both}))
            .send()
            .await,
    );
    assert_eq!(res.body["queued_count"], 2, "{}", res.text);

    let template = template();
    for (binary, calls, not_driven) in [
        ("leads", leads_calls, vec![]),
        ("actions", actions_calls, vec![]),
        // A key is released only when its request fails as a whole; tag memberships are
        // dropped only from leads that have tags.
        ("bulk", bulk_calls, vec!["dynamodb:DeleteItem"]),
        ("sources", sources_calls, vec![]),
    ] {
        let calls = calls.take();
        assert!(!calls.is_empty(), "{binary}: the recorder saw no call");
        assert_granted(binary, "its main paths", &calls);
        // And the other way round: these paths use every DynamoDB permission it has.
        let (name, function) = function_of(&template, binary);
        let (granted, _) = crate::functions::permissions(&template, &name, &function);
        for (action, resource) in granted {
            if !action.starts_with("dynamodb:") || not_driven.contains(&action.as_str()) {
                continue;
            }
            let used = calls.iter().any(|(a, r)| {
                *a == action
                    && (*r == resource
                        || (resource == "table/index/*" && r.starts_with("table/index/")))
            });
            assert!(
                used,
                "{name} may call {action} on {resource} but never did here"
            );
        }
    }
}
