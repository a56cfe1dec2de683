//! Source CRUD, validation, roles, tenancy, name uniqueness and deletion rules.

use crate::common::*;

#[tokio::test]
async fn create_read_list_update_delete() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;

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
    let url = paths::source(id(&source));

    // THEN it reads back, with and without the trailing slash
    let got = app.read(&url, &token).await;
    assert_eq!(got, source);
    app.get(paths::bare(&url))
        .bearer(&token)
        .send()
        .await
        .expect(200);

    // AND a PATCH changes only what it names
    let patched = app
        .patch(&url)
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
        .put(&url)
        .bearer(&token)
        .json(json!({"description": "x"}))
        .send()
        .await
        .expect(400);
    assert!(res.body["name"].is_array(), "{}", res.text);
    app.put(&url)
        .bearer(&token)
        .header("if-match", "\"1\"")
        .json(json!({"name": "Web"}))
        .send()
        .await
        .expect(412);
    let put = app
        .put(&url)
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
    app.delete(&url).bearer(&token).send().await.expect(204);
    app.get(&url).bearer(&token).send().await.expect(404);
    app.delete(&url).bearer(&token).send().await.expect(404);
    create_source(app, &token, "web").await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let long = "x".repeat(101);
    let cases = vec![
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": ["a"]}), "name"),
        (json!({"name": "ok", "is_active": "maybe"}), "is_active"),
        (json!({"name": "ok", "is_active": null}), "is_active"),
    ];
    app.assert_rejected(SOURCES, &token, cases).await;
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
    app.get(&paths::source("not-a-uuid"))
        .bearer(&token)
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn admins_write_every_role_reads() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, owner) = app.owner("Acme").await;
    let source = create_source(app, &owner, "Website").await;
    let url = paths::source(id(&source));
    let admin = app.token(&tenant, "admin-1", Role::Admin);
    app.patch(&url)
        .bearer(&admin)
        .json(json!({"description": "by an admin"}))
        .send()
        .await
        .expect(200);
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = app.token(&tenant, "someone", role);
        assert_read_only(app, &token, SOURCES, &url, json!({"name": "Mine"})).await;
    }
    app.get(SOURCES).send().await.expect(401);
}

#[tokio::test]
async fn another_tenants_source_is_not_found() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, a) = app.owner("A").await;
    let (_, b) = app.owner("B").await;
    let source = create_source(app, &a, "Website").await;
    let url = paths::source(id(&source));
    app.put(&url)
        .bearer(&b)
        .json(json!({"name": "x"}))
        .send()
        .await
        .expect(404);
    assert_not_found(app, &b, &url, json!({"name": "x"})).await;
    let list = app.read(SOURCES, &b).await;
    assert_eq!(list["results"], json!([]));
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
    let next = page.link("next").unwrap();
    app.get(&next).bearer(&b).send().await.expect(400);
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
    let (_, token) = app.owner("Acme").await;
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
    let source = app.read(&paths::source(ids.first().unwrap()), &token).await;
    assert_eq!(source["total_leads"], 6);
}
