//! Notes: CRUD and validation, privacy per role in details and lists (the tenant's and a
//! lead's), the author-or-admin rule for changes, tenancy.

use crate::common::*;

#[tokio::test]
async fn note_crud_and_validation() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = tenant_owner(app, "Acme").await;
    let (_, other) = tenant_owner(app, "Other").await;
    let lead = id(&create_lead(&apps.leads, &token, person(1)).await);
    let note = app
        .post(NOTES)
        .bearer(&token)
        .json(json!({"lead": lead, "content": "Called back"}))
        .send()
        .await
        .expect(201)
        .body;
    assert_eq!(note["is_private"], false);
    assert_eq!(note["user"], "owner-1");
    assert_eq!(note["lead"], lead.as_str());
    let url = note_url(&id(&note));
    assert_eq!(
        app.get(&url).bearer(&token).send().await.expect(200).body,
        note
    );
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
    for (body, field) in [
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
    ] {
        let res = app
            .post(NOTES)
            .bearer(&token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.body[field].is_array(), "{body}: {}", res.text);
    }
    app.get(&url).bearer(&other).send().await.expect(404);
    app.patch(&url)
        .bearer(&other)
        .json(json!({"content": "x"}))
        .send()
        .await
        .expect(404);
    app.delete(&url).bearer(&other).send().await.expect(404);
    let res = app
        .post(NOTES)
        .bearer(&other)
        .json(json!({"lead": lead, "content": "x"}))
        .send()
        .await
        .expect(400);
    assert!(res.body["lead"].is_array());
    app.get(&format!("/api/leads/api/v1/leads/{lead}/notes/"))
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
    let (tenant, owner) = tenant_owner(app, "Acme").await;
    let lead = id(&create_lead(&apps.leads, &owner, person(1)).await);
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
    let timeline = format!("/api/leads/api/v1/leads/{lead}/notes/?page_size=1");
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
    app.get(&note_url(&alice_private))
        .bearer(&bob)
        .send()
        .await
        .expect(404);
    app.get(&note_url(&alice_private))
        .bearer(&readonly)
        .send()
        .await
        .expect(404);
    app.patch(&note_url(&alice_private))
        .bearer(&bob)
        .json(json!({"content": "x"}))
        .send()
        .await
        .expect(404);
    app.get(&note_url(&alice_private))
        .bearer(&alice)
        .send()
        .await
        .expect(200);
    app.get(&note_url(&bob_private))
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    // Only the author or an admin changes a note.
    let public = all_pages(app, &bob, NOTES)
        .await
        .into_iter()
        .find(|n| n["content"] == "alice public")
        .unwrap();
    app.patch(&note_url(&id(&public)))
        .bearer(&bob)
        .json(json!({"content": "x"}))
        .send()
        .await
        .expect(403);
    app.patch(&note_url(&id(&public)))
        .bearer(&admin)
        .json(json!({"content": "by admin"}))
        .send()
        .await
        .expect(200);
    // Making a note private hides it at once.
    app.patch(&note_url(&id(&public)))
        .bearer(&alice)
        .json(json!({"is_private": true}))
        .send()
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
    let (tenant, owner) = tenant_owner(app, "Acme").await;
    let lead = id(&create_lead(&apps.leads, &owner, person(1)).await);
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
    let detail = |token: String| {
        let apps = &apps;
        let lead = lead.clone();
        async move {
            apps.leads
                .get(&lead_url(&lead))
                .bearer(&token)
                .send()
                .await
                .expect(200)
                .body
        }
    };
    let seen = detail(bob.clone()).await;
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
    assert_eq!(contents(&detail(alice).await), ["shared", "mine"]);
    assert_eq!(contents(&detail(owner).await), ["shared", "mine"]);
}
