//! Source CRUD, validation, roles, tenancy, name uniqueness and deletion rules.

use crate::common::*;

#[tokio::test]
async fn create_read_list_update_delete() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = tenant_owner(app, "Acme").await;

    // GIVEN an admin creates a source
    let res = app
        .post(SOURCES)
        .bearer(&token)
        .json(json!({"name": " Website ", "description": "Inbound form"}))
        .send()
        .await
        .expect(201);
    assert_eq!(res.header("etag"), Some("\"1\""));
    let source = res.body;
    assert_eq!(source["name"], "Website");
    assert_eq!(source["description"], "Inbound form");
    assert_eq!(source["is_active"], true);
    for counter in ["total_leads", "converted_leads", "leads_count"] {
        assert_eq!(source[counter], 0, "{counter}");
    }
    assert_eq!(source["conversion_rate"], 0.0);
    let sid = id(&source);

    // THEN it reads back, with and without the trailing slash
    let got = app
        .get(&source_url(&sid))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(got.body, source);
    app.get(&format!("{SOURCES}{sid}"))
        .bearer(&token)
        .send()
        .await
        .expect(200);

    // AND a PATCH changes only what it names
    let patched = app
        .patch(&source_url(&sid))
        .bearer(&token)
        .json(json!({"is_active": false}))
        .send()
        .await
        .expect(200);
    assert_eq!(patched.body["name"], "Website");
    assert_eq!(patched.body["is_active"], false);
    assert_eq!(patched.header("etag"), Some("\"2\""));

    // AND a PUT needs the name; a stale If-Match is a 412
    let res = app
        .put(&source_url(&sid))
        .bearer(&token)
        .json(json!({"description": "x"}))
        .send()
        .await
        .expect(400);
    assert!(res.body["name"].is_array(), "{}", res.text);
    app.put(&source_url(&sid))
        .bearer(&token)
        .header("if-match", "\"1\"")
        .json(json!({"name": "Web"}))
        .send()
        .await
        .expect(412);
    let put = app
        .put(&source_url(&sid))
        .bearer(&token)
        .header("if-match", "\"2\"")
        .json(json!({"name": "Web", "description": null}))
        .send()
        .await
        .expect(200);
    assert_eq!(put.body["name"], "Web");
    assert_eq!(put.body["description"], Value::Null);

    // AND the old name is free again, the new one taken (case-insensitively)
    create_source(app, &token, "website").await;
    let res = app
        .post(SOURCES)
        .bearer(&token)
        .json(json!({"name": "WEB"}))
        .send()
        .await
        .expect(400);
    assert_eq!(
        res.body,
        json!({"name": ["lead source with this name already exists."]})
    );

    // AND the list pages through every source once
    for n in 0..5 {
        create_source(app, &token, &format!("Channel {n}")).await;
    }
    let rows = all_pages(app, &token, &format!("{SOURCES}?page_size=2")).await;
    let mut names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Channel 0",
            "Channel 1",
            "Channel 2",
            "Channel 3",
            "Channel 4",
            "Web",
            "website"
        ]
    );

    // AND a delete removes it and frees its name
    app.delete(&source_url(&sid))
        .bearer(&token)
        .send()
        .await
        .expect(204);
    app.get(&source_url(&sid))
        .bearer(&token)
        .send()
        .await
        .expect(404);
    app.delete(&source_url(&sid))
        .bearer(&token)
        .send()
        .await
        .expect(404);
    create_source(app, &token, "web").await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = tenant_owner(app, "Acme").await;
    let long = "x".repeat(101);
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": ["a"]}), "name"),
        (json!({"name": "ok", "is_active": "maybe"}), "is_active"),
        (json!({"name": "ok", "is_active": null}), "is_active"),
    ] {
        let res = app
            .post(SOURCES)
            .bearer(&token)
            .json(body.clone())
            .send()
            .await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.body[field].is_array(), "{body}: {}", res.text);
    }
    let res = app
        .get(&format!("{SOURCES}?cursor=forged.cursor"))
        .bearer(&token)
        .send()
        .await
        .expect(400);
    assert!(res.body["cursor"].is_array());
    app.get(&format!("{SOURCES}?page_size=0"))
        .bearer(&token)
        .send()
        .await
        .expect(400);
    app.get(&source_url("not-a-uuid"))
        .bearer(&token)
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn admins_write_every_role_reads() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, owner) = tenant_owner(app, "Acme").await;
    let source = create_source(app, &owner, "Website").await;
    let url = source_url(&id(&source));
    let admin = app.token(&tenant, "admin-1", Role::Admin);
    app.patch(&url)
        .bearer(&admin)
        .json(json!({"description": "by an admin"}))
        .send()
        .await
        .expect(200);
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = app.token(&tenant, "someone", role);
        app.get(SOURCES).bearer(&token).send().await.expect(200);
        app.get(&url).bearer(&token).send().await.expect(200);
        app.post(SOURCES)
            .bearer(&token)
            .json(json!({"name": "Mine"}))
            .send()
            .await
            .expect(403);
        app.patch(&url)
            .bearer(&token)
            .json(json!({"name": "Mine"}))
            .send()
            .await
            .expect(403);
        app.delete(&url).bearer(&token).send().await.expect(403);
    }
    app.get(SOURCES).send().await.expect(401);
}

#[tokio::test]
async fn another_tenants_source_is_not_found() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, a) = tenant_owner(app, "A").await;
    let (_, b) = tenant_owner(app, "B").await;
    let source = create_source(app, &a, "Website").await;
    let url = source_url(&id(&source));
    app.get(&url).bearer(&b).send().await.expect(404);
    app.patch(&url)
        .bearer(&b)
        .json(json!({"name": "x"}))
        .send()
        .await
        .expect(404);
    app.put(&url)
        .bearer(&b)
        .json(json!({"name": "x"}))
        .send()
        .await
        .expect(404);
    app.delete(&url).bearer(&b).send().await.expect(404);
    let list = app.get(SOURCES).bearer(&b).send().await.expect(200);
    assert_eq!(list.body["results"], json!([]));
    // Names are per tenant.
    create_source(app, &b, "website").await;
    // A's cursor is no good for B.
    for n in 0..3 {
        create_source(app, &a, &format!("s{n}")).await;
    }
    let page = app
        .get(&format!("{SOURCES}?page_size=1"))
        .bearer(&a)
        .send()
        .await
        .expect(200);
    let next = page.body["next"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://api.example.com");
    app.get(next).bearer(&b).send().await.expect(400);
    // B's lead cannot point at A's source.
    let res = apps
        .leads
        .post(LEADS)
        .bearer(&b)
        .json(json!({"first_name": "A", "last_name": "B", "email": "a@b.example", "source_id": id(&source)}))
        .send()
        .await
        .expect(400);
    assert!(res.body["source_id"].is_array(), "{}", res.text);
}

#[tokio::test]
async fn concurrent_creates_of_one_name_make_one_source() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = tenant_owner(app, "Acme").await;
    let names = [
        "Partner", "partner", "PARTNER", "Partner", "pArtner", "partner ", "Partner", "PARTNER",
    ];
    let results = futures::future::join_all(names.iter().map(|name| {
        app.post(SOURCES)
            .bearer(&token)
            .json(json!({"name": name}))
            .send()
    }))
    .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let refused = results
        .iter()
        .filter(|r| r.status == 400 && r.body["name"].is_array())
        .count();
    assert_eq!((created, refused), (1, names.len() - 1));

    // And leads naming a new source at once attach to one source.
    let leads = futures::future::join_all((0..6).map(|n| {
        let mut body = person(n);
        body["source"] = json!(if n % 2 == 0 { "Fair" } else { "FAIR" });
        apps.leads.post(LEADS).bearer(&token).json(body).send()
    }))
    .await;
    assert!(
        leads.iter().all(|r| r.status == 201),
        "{:?}",
        leads.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let ids: std::collections::BTreeSet<&str> = leads
        .iter()
        .map(|r| r.body["source"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    let source = app
        .get(&source_url(ids.first().unwrap()))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(source.body["total_leads"], 6);
}
