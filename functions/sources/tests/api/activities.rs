//! Activities: CRUD and validation, the lead's edit rule, side effects on the lead (in the
//! activity's transaction), the lead timeline, tasks and their views, filters, tenancy.

use chrono::{Duration, Utc};

use crate::common::*;

#[tokio::test]
async fn activity_crud_and_validation() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let (_, other) = app.owner("Other").await;
    let lead = id(&apps.leads.create_lead(&token, person(1)).await);

    let res = app
        .post(ACTIVITIES)
        .bearer(&token)
        .json(json!({"lead": lead, "activity_type": "note", "title": "Hello", "description": "First note", "metadata": {"k": 1}}))
        .send()
        .await
        .expect(201);
    let a = res.body;
    assert_eq!(a["lead"], lead.as_str());
    assert_eq!(a["activity_type"], "note");
    assert_eq!(a["is_completed"], true);
    assert_eq!(a["scheduled_at"], Value::Null);
    assert_eq!(a["metadata"], json!({"k": 1}));
    assert_eq!(a["user"], "owner-1");
    let url = paths::activity(id(&a));
    assert_eq!(app.read(&url, &token).await, a);

    let patched = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"title": "Renamed", "is_completed": false}))
        .send()
        .await
        .expect(200);
    assert_eq!(patched.body["title"], "Renamed");
    assert_eq!(patched.body["description"], "First note");
    let res = app
        .put(&url)
        .bearer(&token)
        .json(json!({"title": "x"}))
        .send()
        .await
        .expect(400);
    assert!(
        res.body["activity_type"].is_array() && res.body["description"].is_array(),
        "{}",
        res.text
    );

    let cases = vec![
        (
            json!({"activity_type": "note", "title": "t", "description": "d"}),
            "lead",
        ),
        (
            json!({"lead": "nope", "activity_type": "note", "title": "t", "description": "d"}),
            "lead",
        ),
        (
            json!({"lead": uuid::Uuid::new_v4(), "activity_type": "note", "title": "t", "description": "d"}),
            "lead",
        ),
        (
            json!({"lead": lead, "activity_type": "fax", "title": "t", "description": "d"}),
            "activity_type",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "title": "t"}),
            "description",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "title": "t", "description": ""}),
            "description",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "description": "d"}),
            "title",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "title": "x".repeat(201), "description": "d"}),
            "title",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "title": "t", "description": "d", "metadata": [1]}),
            "metadata",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "title": "t", "description": "d", "scheduled_at": "soon"}),
            "scheduled_at",
        ),
        (
            json!({"lead": lead, "activity_type": "note", "title": "t", "description": "d", "is_completed": "perhaps"}),
            "is_completed",
        ),
    ];
    app.assert_rejected(ACTIVITIES, &token, cases).await;

    // Another tenant neither sees it nor writes on the lead.
    assert_not_found(app, &other, &url, json!({"title": "x"})).await;
    let res = app
        .post(ACTIVITIES)
        .bearer(&other)
        .json(activity(&lead, "call"))
        .send()
        .await
        .expect(400);
    assert!(res.body["lead"].is_array());
    let list = app.read(ACTIVITIES, &other).await;
    assert_eq!(list["results"], json!([]));

    app.delete(&url).bearer(&token).send().await.expect(204);
    app.get(&url).bearer(&token).send().await.expect(404);
}

#[tokio::test]
async fn activities_follow_the_leads_edit_rule() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, owner) = app.owner("Acme").await;
    let mut body = person(1);
    body["assigned_to"] = json!("alice");
    let alices = id(&apps.leads.create_lead(&owner, body).await);
    let free = id(&apps.leads.create_lead(&owner, person(2)).await);
    let bob = app.token(&tenant, "bob", Role::User);
    let alice = app.token(&tenant, "alice", Role::User);
    let readonly = app.token(&tenant, "ro", Role::Readonly);
    let note_on = |token: &str, lead: &str| {
        let body = activity(lead, "note");
        app.post(ACTIVITIES).bearer(token).json(body).send()
    };
    note_on(&bob, &alices).await.expect(403);
    note_on(&bob, &free).await.expect(201);
    let a = note_on(&alice, &alices).await.expect(201).body;
    let url = paths::activity(id(&a));
    app.patch(&url)
        .bearer(&bob)
        .json(json!({"title": "x"}))
        .send()
        .await
        .expect(403);
    app.delete(&url).bearer(&bob).send().await.expect(403);
    note_on(&readonly, &free).await.expect(403);
    app.get(&url).bearer(&readonly).send().await.expect(200);
}

#[tokio::test]
async fn contact_activities_update_the_lead_in_the_same_write() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let lead_of = |n| apps.leads.create_lead(&token, person(n));
    for (n, kind, contact, contacted) in [
        (1, "note", false, false),
        (2, "follow_up", false, false),
        (3, "meeting", true, false),
        (4, "email", true, true),
        (5, "call", true, true),
        (6, "contact", true, true),
    ] {
        let lead = id(&lead_of(n).await);
        app.post(ACTIVITIES)
            .bearer(&token)
            .json(activity(&lead, kind))
            .send()
            .await
            .expect(201);
        let after = apps.leads.lead(&token, &lead).await;
        assert_eq!(
            !after["last_contact_date"].is_null(),
            contact,
            "{kind}: {after}"
        );
        assert_eq!(
            after["status"],
            if contacted { "contacted" } else { "new" },
            "{kind}"
        );
        // Every activity counts for the score's engagement, so every one changes the lead.
        assert_eq!(after["version"], 2, "{kind}");
        assert_eq!(after["activity_count"], 1, "{kind}");
        assert!(after["last_activity_at"].is_string(), "{kind}");
    }
    // A lead past `new` keeps its status.
    let lead = id(&lead_of(7).await);
    apps.leads
        .update_lead(&token, &lead, json!({"status": "qualified"}))
        .await;
    app.post(ACTIVITIES)
        .bearer(&token)
        .json(activity(&lead, "call"))
        .send()
        .await
        .expect(201);
    assert_eq!(apps.leads.lead(&token, &lead).await["status"], "qualified");
    // The dashboard saw the moves to contacted.
    let dashboard = apps.leads.dashboard(&token).await;
    assert_eq!(dashboard["by_status"]["contacted"], 3);
    assert_eq!(dashboard["new_leads"], 3);
    assert_eq!(dashboard["total_leads"], 7);
}

#[tokio::test]
async fn the_lead_timeline_is_newest_first() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let (_, other) = app.owner("Other").await;
    let lead = id(&apps.leads.create_lead(&token, person(1)).await);
    let elsewhere = id(&apps.leads.create_lead(&token, person(2)).await);
    let mut made = Vec::new();
    for n in 0..5 {
        let mut body = activity(&lead, "note");
        body["title"] = json!(format!("n{n}"));
        made.push(id(&app.create(ACTIVITIES, &token, body).await));
        app.post(ACTIVITIES)
            .bearer(&token)
            .json(activity(&elsewhere, "note"))
            .send()
            .await
            .expect(201);
    }
    made.reverse();
    let timeline = paths::lead_path(&lead, "activities");
    let rows = all_pages(app, &token, &format!("{timeline}?page_size=2")).await;
    assert_eq!(rows.iter().map(id).collect::<Vec<_>>(), made);
    let rows = all_pages(app, &token, &format!("{ACTIVITIES}?lead={lead}")).await;
    assert_eq!(rows.iter().map(id).collect::<Vec<_>>(), made);
    let all = all_pages(app, &token, &format!("{ACTIVITIES}?page_size=3")).await;
    assert_eq!(all.len(), 10);
    app.get(paths::bare(&timeline))
        .bearer(&other)
        .send()
        .await
        .expect(404);
    app.get(&paths::lead_path(uuid::Uuid::new_v4(), "activities"))
        .bearer(&token)
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn tasks_views_and_filters() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let lead = id(&apps.leads.create_lead(&token, person(1)).await);
    let now = Utc::now();
    let task = |kind: &str, days: i64, done: bool| {
        let mut body = activity(&lead, kind);
        body["scheduled_at"] = json!((now + Duration::days(days)).to_rfc3339());
        body["is_completed"] = json!(done);
        body
    };
    let mut ids = std::collections::HashMap::new();
    for (name, body) in [
        ("late2", task("follow_up", -2, false)),
        ("late1", task("call", -1, false)),
        ("soon1", task("meeting", 1, false)),
        ("soon3", task("follow_up", 3, false)),
        ("done", task("follow_up", -3, true)),
        ("plain", activity(&lead, "note")),
    ] {
        let a = app.create(ACTIVITIES, &token, body).await;
        ids.insert(name, id(&a));
    }
    let names = |rows: Vec<Value>| -> Vec<&str> {
        rows.iter()
            .map(|r| *ids.iter().find(|(_, v)| **v == id(r)).unwrap().0)
            .collect()
    };
    let overdue = all_pages(app, &token, &format!("{ACTIVITIES}overdue/?page_size=1")).await;
    assert_eq!(names(overdue), ["late2", "late1"]);
    let upcoming = all_pages(app, &token, &format!("{ACTIVITIES}upcoming/")).await;
    assert_eq!(names(upcoming), ["soon1", "soon3"]);
    let rows = all_pages(
        app,
        &token,
        &format!("{ACTIVITIES}upcoming/?type=follow_up"),
    )
    .await;
    assert_eq!(names(rows), ["soon3"]);

    let open = all_pages(app, &token, &format!("{ACTIVITIES}?is_completed=false")).await;
    assert_eq!(open.len(), 4);
    let after = (now - Duration::hours(36)).to_rfc3339().replace('+', "%2B");
    let before = (now + Duration::days(2)).to_rfc3339().replace('+', "%2B");
    let rows = all_pages(
        app,
        &token,
        &format!("{ACTIVITIES}?scheduled_after={after}&scheduled_before={before}"),
    )
    .await;
    let mut got = names(rows);
    got.sort();
    assert_eq!(got, ["late1", "soon1"]);
    let rows = all_pages(app, &token, &format!("{ACTIVITIES}?type=note")).await;
    assert_eq!(names(rows), ["plain"]);
    for bad in [
        "type=fax",
        "is_completed=perhaps",
        "scheduled_after=soon",
        "lead=x",
        "colour=red",
    ] {
        let res = app
            .get(&format!("{ACTIVITIES}?{bad}"))
            .bearer(&token)
            .send()
            .await
            .expect(400);
        let field = bad.split('=').next().unwrap();
        assert!(res.body[field].is_array(), "{bad}: {}", res.text);
    }

    // Completing a task takes it out of the views.
    app.patch(&paths::activity(&ids["late1"]))
        .bearer(&token)
        .json(json!({"is_completed": true}))
        .send()
        .await
        .expect(200);
    let overdue = all_pages(app, &token, &format!("{ACTIVITIES}overdue/")).await;
    assert_eq!(names(overdue), ["late2"]);
}

#[tokio::test]
async fn lead_changes_are_logged_as_activities_in_the_same_write() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let hot = id(&create_tag(app, &token, "Hot").await);
    let vip = id(&create_tag(app, &token, "VIP").await);
    let lead = id(&apps.leads.create_lead(&token, person(1)).await);
    let timeline = paths::lead_path(&lead, "activities");
    let patch = |body: Value| {
        apps.leads
            .patch(&paths::lead(&lead))
            .bearer(&token)
            .json(body)
            .send()
    };
    patch(json!({"status": "qualified"})).await.expect(200);
    patch(json!({"assigned_to": "alice"})).await.expect(200);
    patch(json!({"tag_ids": [hot, vip]})).await.expect(200);
    patch(json!({"tag_ids": [vip]})).await.expect(200);
    // A change that changes none of these logs nothing; one that changes nothing at all
    // writes nothing.
    patch(json!({"phone": "+1 555"})).await.expect(200);
    patch(json!({"phone": "+1 555"})).await.expect(200);
    let rows = all_pages(app, &token, &timeline).await;
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| r["activity_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["note", "note", "assignment", "status_change"]);
    assert_eq!(
        rows[3]["metadata"],
        json!({"old_status": "new", "new_status": "qualified"})
    );
    assert_eq!(rows[3]["title"], "Status changed from new to qualified");
    assert_eq!(rows[3]["user"], "owner-1");
    assert_eq!(
        rows[2]["metadata"],
        json!({"old_assigned_to": null, "new_assigned_to": "alice"})
    );
    let mut added: Vec<&str> = rows[1]["metadata"]["tags_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    added.sort();
    let mut both = vec![hot.as_str(), vip.as_str()];
    both.sort();
    assert_eq!(added, both);
    assert_eq!(
        rows[0]["metadata"],
        json!({"tags_added": [], "tags_removed": [hot]})
    );

    // A call that moves a new lead to contacted logs that status change as well.
    let fresh = id(&apps.leads.create_lead(&token, person(2)).await);
    app.post(ACTIVITIES)
        .bearer(&token)
        .json(activity(&fresh, "call"))
        .send()
        .await
        .expect(201);
    let rows = all_pages(app, &token, &paths::lead_path(&fresh, "activities")).await;
    let mut kinds: Vec<&str> = rows
        .iter()
        .map(|r| r["activity_type"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["call", "status_change"]);

    // Deleting a tag logs its removal on the leads it was on.
    app.delete(&paths::tag(&vip))
        .bearer(&token)
        .send()
        .await
        .expect(204);
    let rows = all_pages(app, &token, &timeline).await;
    assert_eq!(
        rows[0]["metadata"],
        json!({"tags_added": [], "tags_removed": [vip]})
    );
}
