//! Tags: CRUD, colour and name rules, roles, tenancy; leads' `tag_ids`, the `tags=`
//! filter through memberships, exact `leads_count`, and deletion untagging the leads.

use std::collections::BTreeSet;

use crate::common::*;

#[tokio::test]
async fn tag_crud_and_validation() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let tag = create_tag(app, &token, "Hot").await;
    assert_eq!(tag["color"], "#007bff");
    assert_eq!(tag["leads_count"], 0);
    assert_eq!(tag["is_active"], true);
    let url = paths::tag(id(&tag));
    let res = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"color": "#FF0000"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["color"], "#ff0000");
    assert_eq!(res.body["name"], "Hot");
    let res = app
        .put(&url)
        .bearer(&token)
        .json(json!({"color": "#00ff00"}))
        .send()
        .await
        .expect(400);
    assert!(res.body["name"].is_array());
    app.put(&url)
        .bearer(&token)
        .json(json!({"name": "Warm"}))
        .send()
        .await
        .expect(200);
    let cases = vec![
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(51)}), "name"),
        (json!({"name": "ok", "color": "red"}), "color"),
        (json!({"name": "ok", "color": "#12345"}), "color"),
        (json!({"name": "ok", "color": "#GGGGGG"}), "color"),
        (json!({"name": "ok", "color": "#1234567"}), "color"),
        (json!({"name": "ok", "color": null}), "color"),
        (json!({"name": "ok", "is_active": "maybe"}), "is_active"),
        (json!({"name": "WARM"}), "name"),
    ];
    app.assert_rejected(TAGS, &token, cases).await;
    // The old name is free after the rename.
    create_tag(app, &token, "hot").await;
    for n in 0..4 {
        create_tag(app, &token, &format!("t{n}")).await;
    }
    let rows = all_pages(app, &token, &format!("{TAGS}?page_size=2")).await;
    assert_eq!(rows.len(), 6);
    app.delete(&url).bearer(&token).send().await.expect(204);
    app.get(&url).bearer(&token).send().await.expect(404);
    app.get(&paths::tag("nope"))
        .bearer(&token)
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn tag_roles_and_tenancy() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, owner) = app.owner("A").await;
    let (_, other) = app.owner("B").await;
    let tag = create_tag(app, &owner, "Hot").await;
    let url = paths::tag(id(&tag));
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = app.token(&tenant, "someone", role);
        assert_read_only(app, &token, TAGS, &url, json!({"name": "x"})).await;
    }
    assert_not_found(app, &other, &url, json!({"name": "x"})).await;
    let mut body = person(1);
    body["tag_ids"] = json!([id(&tag)]);
    let res = apps
        .leads
        .post(LEADS)
        .bearer(&other)
        .json(body)
        .send()
        .await
        .expect(400);
    assert!(res.body["tag_ids"].is_array(), "{}", res.text);
}

#[tokio::test]
async fn concurrent_tag_creates_of_one_name_make_one_tag() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let results = futures::future::join_all((0..6).map(|n| {
        apps.sources
            .post(TAGS)
            .bearer(&token)
            .json(json!({"name": if n % 2 == 0 { "VIP" } else { "vip" }}))
            .send()
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    assert_eq!(results.iter().filter(|r| r.status == 400).count(), 5);
}

async fn tag_count(apps: &Apps, token: &str, tag: &str) -> i64 {
    apps.sources.read(&paths::tag(tag), token).await["leads_count"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn leads_carry_tags_and_the_filter_reads_memberships() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let hot = id(&create_tag(&apps.sources, &token, "Hot").await);
    let vip = id(&create_tag(&apps.sources, &token, "VIP").await);

    // Bad tag ids are a 400 naming tag_ids.
    for bad in [
        json!("x"),
        json!(["x"]),
        json!([uuid::Uuid::new_v4().to_string()]),
        json!(null),
    ] {
        let mut body = person(0);
        body["tag_ids"] = bad.clone();
        let res = apps
            .leads
            .post(LEADS)
            .bearer(&token)
            .json(body)
            .send()
            .await;
        assert_eq!(res.status, 400, "{bad}: {}", res.text);
        assert!(res.body["tag_ids"].is_array(), "{bad}: {}", res.text);
    }

    let mut ids = Vec::new();
    for n in 0..9 {
        let mut body = person(n);
        body["tag_ids"] = match n % 3 {
            0 => json!([hot]),
            1 => json!([hot, vip]),
            _ => json!([]),
        };
        let lead = apps.leads.create_lead(&token, body).await;
        if n % 3 == 1 {
            let names: BTreeSet<&str> = lead["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert_eq!(names, BTreeSet::from(["Hot", "VIP"]));
            assert_eq!(lead["tags"][0]["color"], "#007bff");
        }
        ids.push(id(&lead));
    }
    assert_eq!(tag_count(&apps, &token, &hot).await, 6);
    assert_eq!(tag_count(&apps, &token, &vip).await, 3);

    let filtered = |q: String| {
        let apps = &apps;
        let token = &token;
        async move {
            let rows = all_pages(&apps.leads, token, &format!("{LEADS}?page_size=2&{q}")).await;
            let ids: Vec<String> = rows.iter().map(id).collect();
            let unique: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(unique.len(), ids.len(), "{q}: a lead was served twice");
            unique.into_iter().cloned().collect::<BTreeSet<String>>()
        }
    };
    assert_eq!(filtered(format!("tags={vip}")).await.len(), 3);
    assert_eq!(filtered(format!("tags={hot}")).await.len(), 6);
    assert_eq!(filtered(format!("tags={hot},{vip}")).await.len(), 6);
    assert_eq!(filtered("tags=vip".into()).await.len(), 3);
    assert!(filtered("tags=nothing".into()).await.is_empty());
    assert_eq!(
        filtered(format!("tags={vip}&ordering=created_at"))
            .await
            .len(),
        3
    );

    // Replacing, clearing and deleting keep the counts and the filter exact.
    apps.leads
        .update_lead(&token, &ids[1], json!({"tag_ids": [vip]}))
        .await;
    apps.leads
        .update_lead(&token, &ids[4], json!({"tag_ids": []}))
        .await;
    apps.leads.delete_lead(&token, &ids[7]).await;
    assert_eq!(tag_count(&apps, &token, &hot).await, 3);
    assert_eq!(tag_count(&apps, &token, &vip).await, 1);
    assert_eq!(filtered(format!("tags={hot}")).await.len(), 3);
    assert_eq!(filtered(format!("tags={vip}")).await.len(), 1);

    // Rows show the tags too.
    let rows = all_pages(&apps.leads, &token, &format!("{LEADS}?tags={vip}")).await;
    assert!(rows.iter().all(|r| r["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == vip.as_str())));

    // Deleting a tag removes it from its leads, then the tag goes.
    apps.sources
        .delete(&paths::tag(&hot))
        .bearer(&token)
        .send()
        .await
        .expect(204);
    apps.sources
        .get(&paths::tag(&hot))
        .bearer(&token)
        .send()
        .await
        .expect(404);
    for lead in ids.iter().filter(|l| **l != ids[7]) {
        let body = apps.leads.lead(&token, lead).await;
        assert!(
            !body["tag_ids"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| *t == hot.as_str()),
            "{body}"
        );
        assert!(!body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == hot.as_str()));
    }
    assert!(filtered(format!("tags={hot}")).await.is_empty());
    assert_eq!(filtered(format!("tags={vip}")).await.len(), 1);
    // A deleted tag cannot be given to a lead.
    let res = apps
        .leads
        .patch(&paths::lead(&ids[0]))
        .bearer(&token)
        .json(json!({"tag_ids": [hot]}))
        .send()
        .await
        .expect(400);
    assert!(res.body["tag_ids"].is_array());
}
