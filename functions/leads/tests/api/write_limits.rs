//! Lead writes that change everything at once: all ten tags, every searchable word, the
//! email and the source. DynamoDB holds at most 100 actions in a transaction; every valid
//! write must still succeed, and search and the tag filters must follow it.

use chrono::Utc;
use crm_domain::tags::Tag;
use uuid::Uuid;

use crate::common::*;

/// Ten tags of the tenant, made through the store (the tag endpoints live in another
/// function).
async fn tags(app: &TestApp, tenant: &crm_domain::tenant::Tenant, prefix: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..crm_domain::tags::MAX_PER_LEAD {
        let now = Utc::now();
        let tag = Tag {
            id: Uuid::new_v4(),
            tenant_id: tenant.id,
            version: 1,
            name: format!("{prefix}-{n}"),
            color: "#007bff".into(),
            description: None,
            is_active: true,
            leads_count: 0,
            created_by: "owner-1".into(),
            created_at: now,
            updated_at: now,
        };
        let audit = crm_store::AuditEntry::new(
            crm_domain::audit::Provenance::system("owner-1", 30),
            crm_store::ResourceType::Tag,
            tag.id,
            crm_store::AuditAction::Create,
            now,
            Default::default(),
        );
        app.state.store.create_record(&tag, &audit).await.unwrap();
        ids.push(tag.id.to_string());
    }
    ids
}

/// Thirty distinct words, each starting with `stem` (so each is its own search token).
fn words(stem: &str) -> String {
    (0..30)
        .map(|n| format!("{stem}{n:02}x"))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn search(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    ids(&all_pages(app, token, &format!("{LEADS}?search={query}")).await)
}

async fn tagged(app: &TestApp, token: &str, tag: &str) -> Vec<String> {
    ids(&all_pages(app, token, &format!("{LEADS}?tags={tag}")).await)
}

fn just(id: &str) -> Vec<String> {
    vec![id.to_string()]
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn tag_count(app: &TestApp, tenant: &crm_domain::tenant::Tenant, id: &str) -> i64 {
    let tag = app
        .state
        .store
        .get_record::<Tag>(tenant.id, id.parse().unwrap());
    tag.await.unwrap().unwrap().leads_count
}

/// Words of `stem` find the lead (or, with `found == false`, none finds it). A lead has at
/// most 40 search tokens, its other fields' first: these words are among them.
async fn assert_words(app: &TestApp, token: &str, stem: &str, lead: &str, found: bool) {
    for n in [0, 13, 27] {
        let word = format!("{stem}{n:02}x");
        let hits = search(app, token, &word).await;
        let want = if found {
            vec![lead.to_string()]
        } else {
            vec![]
        };
        assert_eq!(hits, want, "search={word}");
    }
}

#[tokio::test]
async fn replacing_the_notes_and_all_ten_tags_in_one_patch_succeeds() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let old_tags = tags(&app, &tenant, "old").await;
    let new_tags = tags(&app, &tenant, "new").await;
    let body = json!({
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example",
        "notes": words("alpha"), "tag_ids": old_tags, "source": "website",
    });
    let lead = app.create_lead(&token, body).await;
    let id = lead["id"].as_str().unwrap().to_string();
    assert_words(&app, &token, "alpha", &id, true).await;

    let res = app
        .patch(&paths::lead(&id))
        .bearer(&token)
        .header("If-Match", "\"1\"")
        .json(json!({"notes": words("bravo"), "tag_ids": new_tags}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.header("etag"), Some("\"2\""));

    let got = app
        .get(&paths::lead(&id))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(got.body["notes"], words("bravo"));
    let mut shown: Vec<&str> = got.body["tag_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    shown.sort();
    let mut want: Vec<&str> = new_tags.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(shown, want);

    assert_words(&app, &token, "bravo", &id, true).await;
    assert_words(&app, &token, "alpha", &id, false).await;
    assert_eq!(search(&app, &token, "lovelace").await, just(&id));
    for (old, new) in old_tags.iter().zip(&new_tags) {
        assert!(tagged(&app, &token, old).await.is_empty(), "tags={old}");
        assert_eq!(tagged(&app, &token, new).await, just(&id), "tags={new}");
        assert_eq!(tag_count(&app, &tenant, old).await, 0);
        assert_eq!(tag_count(&app, &tenant, new).await, 1);
    }
}

#[tokio::test]
async fn a_put_changing_email_source_tags_and_every_word_succeeds() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let old_tags = tags(&app, &tenant, "old").await;
    let new_tags = tags(&app, &tenant, "new").await;
    let before = json!({
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example",
        "company": "Analytical Engines", "job_title": "Countess", "industry": "Mathematics",
        "phone": "+44 20 7946 0000", "notes": words("alpha"), "tag_ids": old_tags,
        "source": "website", "status": "new",
    });
    let lead = app.create_lead(&token, before).await;
    let id = lead["id"].as_str().unwrap().to_string();

    let after = json!({
        "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example",
        "company": "Remington Rand", "job_title": "Rear Admiral", "industry": "Computing",
        "phone": "+1 555 0199", "notes": words("charlie"), "tag_ids": new_tags,
        "source": "conference booth", "status": "qualified", "assigned_to": "owner-1",
    });
    let res = app
        .put(&paths::lead(&id))
        .bearer(&token)
        .json(after)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    let got = app
        .get(&paths::lead(&id))
        .bearer(&token)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(got["email"], "grace@navy.example");
    assert_eq!(got["source_name"], "conference booth");
    assert_eq!(got["status"], "qualified");
    assert_eq!(got["notes"], words("charlie"));
    assert_eq!(got["version"], 2);

    assert_words(&app, &token, "charlie", &id, true).await;
    assert_words(&app, &token, "alpha", &id, false).await;
    for word in [
        "grace",
        "hopper",
        "remington",
        "admiral",
        "computing",
        "15550199",
    ] {
        assert_eq!(search(&app, &token, word).await, just(&id), "{word}");
    }
    for word in [
        "lovelace",
        "analytical",
        "countess",
        "mathematics",
        "442079460000",
    ] {
        assert!(search(&app, &token, word).await.is_empty(), "{word}");
    }
    for (old, new) in old_tags.iter().zip(&new_tags) {
        assert!(tagged(&app, &token, old).await.is_empty(), "tags={old}");
        assert_eq!(tagged(&app, &token, new).await, just(&id), "tags={new}");
    }

    // The old address is free again; the new one is taken.
    let mut other = person(2);
    other["email"] = json!("ADA@acme.example");
    app.create_lead(&token, other).await;
    let mut clash = person(3);
    clash["email"] = json!("grace@navy.example");
    app.post(LEADS)
        .bearer(&token)
        .json(clash)
        .send()
        .await
        .expect(400);

    // And the lead can be deleted whole: its tokens go with it.
    app.delete(&paths::lead(&id))
        .bearer(&token)
        .send()
        .await
        .expect(204);
    assert!(search(&app, &token, "charlie13x").await.is_empty());
    assert!(search(&app, &token, "grace").await.is_empty());
}

/// What a write whose token moves failed after its commit leaves: the moves recorded as
/// pending, the token items as before the write (an old word still there, a new one
/// missing). Made with raw items, as no request can fail at that point on purpose.
async fn unsettle(
    app: &TestApp,
    tenant: &crm_domain::tenant::Tenant,
    id: &str,
    old: &str,
    new: &str,
) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use crm_store::keys;
    let id: Uuid = id.parse().unwrap();
    let db = app.dynamodb();
    let table = &app.state.config.table_name;
    let mut stale = keys::search_token(tenant.id, old, id).item_key();
    stale.insert("lead_id".into(), AttributeValue::S(id.to_string()));
    db.put_item()
        .table_name(table)
        .set_item(Some(stale))
        .send()
        .await
        .unwrap();
    db.delete_item()
        .table_name(table)
        .set_key(Some(keys::search_token(tenant.id, new, id).item_key()))
        .send()
        .await
        .unwrap();
    let index = keys::LeadIndex::Timeline;
    db.update_item()
        .table_name(table)
        .set_key(Some(keys::lead_search(tenant.id, id).item_key()))
        .update_expression("SET lead_id = :id, #p = :p, #s = :id ADD pending :t")
        .expression_attribute_names("#p", index.pk_attr())
        .expression_attribute_names("#s", index.sk_attr())
        .expression_attribute_values(":id", AttributeValue::S(id.to_string()))
        .expression_attribute_values(
            ":p",
            AttributeValue::S(keys::search_pending_partition(tenant.id)),
        )
        .expression_attribute_values(":t", AttributeValue::Ss(vec![old.into(), new.into()]))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn token_moves_left_pending_are_settled_by_the_next_search() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let body = json!({"first_name": "Ada", "last_name": "Lovelace",
                      "email": "ada@acme.example", "notes": words("alpha")});
    let id = app.create_lead(&token, body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch(&paths::lead(&id))
        .bearer(&token)
        .json(json!({"notes": words("bravo")}))
        .send()
        .await
        .expect(200);
    unsettle(&app, &tenant, &id, "alpha05x", "bravo05x").await;

    // The first search settles what is pending: the new word finds the lead, the old
    // one does not (a stale token alone never shows a lead: hits are checked anyway).
    assert_eq!(search(&app, &token, "bravo05x").await, just(&id));
    assert!(search(&app, &token, "alpha05x").await.is_empty());
    let store = &app.state.store;
    assert_eq!(store.repair_search(tenant.id, 10).await.unwrap(), 0);

    // The next write of the lead settles whatever is pending too.
    unsettle(&app, &tenant, &id, "alpha07x", "bravo07x").await;
    app.patch(&paths::lead(&id))
        .bearer(&token)
        .json(json!({"last_name": "Byron"}))
        .send()
        .await
        .expect(200);
    assert_eq!(store.repair_search(tenant.id, 10).await.unwrap(), 0);
    assert_eq!(search(&app, &token, "bravo07x").await, just(&id));
    assert_eq!(search(&app, &token, "byron").await, just(&id));
    assert!(search(&app, &token, "lovelace").await.is_empty());
}
