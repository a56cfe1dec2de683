//! Notes: CRUD and validation, privacy per role in details and lists (the tenant's and a
//! lead's), the author-or-admin rule for changes, tenancy.

use crate::common::*;

#[tokio::test]
async fn note_crud_and_validation() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let (_, other) = app.owner("Other").await;
    let lead = id(&apps.leads.create_lead(&token, person(1)).await);
    let note = app
        .create(
            NOTES,
            &token,
            json!({"lead": lead, "content": "Called back"}),
        )
        .await;
    assert_eq!(note["is_private"], false);
    assert_eq!(note["user"], "owner-1");
    assert_eq!(note["lead"], lead.as_str());
    let url = paths::note(id(&note));
    assert_eq!(app.read(&url, &token).await, note);
    let res = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"content": "Edited"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["content"], "Edited");
    let res = app
        .put(&url)
        .bearer(&token)
        .json(json!({"is_private": true}))
        .send()
        .await
        .expect(400);
    assert!(res.body["content"].is_array());
    let cases = vec![
        (json!({"content": "x"}), "lead"),
        (json!({"lead": "x", "content": "x"}), "lead"),
        (
            json!({"lead": uuid::Uuid::new_v4(), "content": "x"}),
            "lead",
        ),
        (json!({"lead": lead}), "content"),
        (json!({"lead": lead, "content": "  "}), "content"),
        (
            json!({"lead": lead, "content": "x", "is_private": "secret"}),
            "is_private",
        ),
    ];
    app.assert_rejected(NOTES, &token, cases).await;
    assert_not_found(app, &other, &url, json!({"content": "x"})).await;
    let res = app
        .post(NOTES)
        .bearer(&other)
        .json(json!({"lead": lead, "content": "x"}))
        .send()
        .await
        .expect(400);
    assert!(res.body["lead"].is_array());
    app.get(&paths::lead_path(&lead, "notes"))
        .bearer(&other)
        .send()
        .await
        .expect(404);
    app.delete(&url).bearer(&token).send().await.expect(204);
    app.get(&url).bearer(&token).send().await.expect(404);
}

#[tokio::test]
async fn private_notes_are_seen_only_by_their_author_and_admins() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, owner) = app.owner("Acme").await;
    let lead = id(&apps.leads.create_lead(&owner, person(1)).await);
    let alice = app.token(&tenant, "alice", Role::User);
    let bob = app.token(&tenant, "bob", Role::Manager);
    let admin = app.token(&tenant, "admin-1", Role::Admin);
    let readonly = app.token(&tenant, "ro", Role::Readonly);
    let write = |token: &str, content: &str, private: bool| {
        app.post(NOTES)
            .bearer(token)
            .json(json!({"lead": lead, "content": content, "is_private": private}))
            .send()
    };
    let alice_private = id(&write(&alice, "alice private", true).await.expect(201).body);
    write(&alice, "alice public", false).await.expect(201);
    let bob_private = id(&write(&bob, "bob private", true).await.expect(201).body);
    write(&owner, "owner private", true).await.expect(201);
    write(&readonly, "no", false).await.expect(403);

    let seen = |token: String, url: String| async move {
        let mut contents: Vec<String> = all_pages(app, &token, &url)
            .await
            .iter()
            .map(|n| n["content"].as_str().unwrap().to_string())
            .collect();
        contents.sort();
        contents
    };
    let timeline = format!("{}?page_size=1", paths::lead_path(&lead, "notes"));
    for url in [
        format!("{NOTES}?page_size=1"),
        timeline.clone(),
        format!("{NOTES}?lead={lead}"),
    ] {
        assert_eq!(
            seen(alice.clone(), url.clone()).await,
            ["alice private", "alice public"],
            "{url}"
        );
        assert_eq!(
            seen(bob.clone(), url.clone()).await,
            ["alice public", "bob private"],
            "{url}"
        );
        assert_eq!(
            seen(readonly.clone(), url.clone()).await,
            ["alice public"],
            "{url}"
        );
        assert_eq!(seen(admin.clone(), url.clone()).await.len(), 4, "{url}");
        assert_eq!(seen(owner.clone(), url.clone()).await.len(), 4, "{url}");
    }
    // Details alike: someone else's private note does not exist for them.
    let alices = paths::note(&alice_private);
    app.get(&alices).bearer(&bob).send().await.expect(404);
    app.get(&alices).bearer(&readonly).send().await.expect(404);
    app.patch(&alices)
        .bearer(&bob)
        .json(json!({"content": "x"}))
        .send()
        .await
        .expect(404);
    app.get(&alices).bearer(&alice).send().await.expect(200);
    let bobs = paths::note(&bob_private);
    app.get(&bobs).bearer(&admin).send().await.expect(200);
    // Only the author or an admin changes a note.
    let public = all_pages(app, &bob, NOTES)
        .await
        .into_iter()
        .find(|n| n["content"] == "alice public")
        .unwrap();
    let public = paths::note(id(&public));
    let change = |token: &str, body: Value| app.patch(&public).bearer(token).json(body).send();
    change(&bob, json!({"content": "x"})).await.expect(403);
    change(&admin, json!({"content": "by admin"}))
        .await
        .expect(200);
    // Making a note private hides it at once.
    change(&alice, json!({"is_private": true}))
        .await
        .expect(200);
    assert_eq!(
        seen(readonly.clone(), NOTES.to_string()).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_lead_detail_shows_recent_activities_and_visible_notes() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, owner) = app.owner("Acme").await;
    let lead = id(&apps.leads.create_lead(&owner, person(1)).await);
    for n in 0..12 {
        let mut body = activity(&lead, "note");
        body["title"] = json!(format!("n{n}"));
        app.post(ACTIVITIES)
            .bearer(&owner)
            .json(body)
            .send()
            .await
            .expect(201);
    }
    let alice = app.token(&tenant, "alice", Role::User);
    let bob = app.token(&tenant, "bob", Role::User);
    for (token, content, private) in [(&alice, "mine", true), (&alice, "shared", false)] {
        app.post(NOTES)
            .bearer(token)
            .json(json!({"lead": lead, "content": content, "is_private": private}))
            .send()
            .await
            .expect(201);
    }
    let seen = apps.leads.lead(&bob, &lead).await;
    let recent = seen["recent_activities"].as_array().unwrap();
    assert_eq!(recent.len(), 10);
    assert_eq!(recent[0]["title"], "n11");
    let contents = |d: &Value| -> Vec<String> {
        d["lead_notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["content"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(contents(&seen), ["shared"]);
    for token in [&alice, &owner] {
        let seen = apps.leads.lead(token, &lead).await;
        assert_eq!(contents(&seen), ["shared", "mine"]);
    }
}
