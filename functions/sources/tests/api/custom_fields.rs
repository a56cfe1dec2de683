//! Custom fields: definitions (CRUD, validation, roles, tenancy), lead values checked
//! against them per type, required fields and defaults, and the `cf_<name>=` filter.

use crate::common::*;

use crm_testkit::paths::CUSTOM_FIELDS as FIELDS;

async fn define(app: &TestApp, token: &str, body: Value) -> Value {
    app.create(FIELDS, token, body).await
}

#[tokio::test]
async fn definitions_crud_validation_roles_and_tenancy() {
    let apps = start().await;
    let app = &apps.sources;
    let (tenant, token) = app.owner("Acme").await;
    let (_, other) = app.owner("Other").await;
    let field = define(
        app,
        &token,
        json!({"name": "tier", "field_type": "select", "options": ["gold", "silver"], "order": 2}),
    )
    .await;
    assert_eq!(field["is_required"], false);
    assert_eq!(field["is_active"], true);
    assert_eq!(field["options"], json!(["gold", "silver"]));
    let url = paths::custom_field(id(&field));
    let res = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"help_text": "Plan", "default_value": "silver"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["default_value"], "silver");
    let cases = vec![
        (json!({"field_type": "text"}), "name"),
        (json!({"name": "Bad Name", "field_type": "text"}), "name"),
        (json!({"name": "ok"}), "field_type"),
        (json!({"name": "ok", "field_type": "colour"}), "field_type"),
        (json!({"name": "ok", "field_type": "select"}), "options"),
        (
            json!({"name": "ok", "field_type": "select", "options": "a,b"}),
            "options",
        ),
        (
            json!({"name": "ok", "field_type": "number", "default_value": "many"}),
            "default_value",
        ),
        (
            json!({"name": "ok", "field_type": "text", "order": "first"}),
            "order",
        ),
        (json!({"name": "tier", "field_type": "text"}), "name"),
    ];
    app.assert_rejected(FIELDS, &token, cases).await;
    for body in [json!({"name": "level"}), json!({"field_type": "text"})] {
        let res = app
            .patch(&url)
            .bearer(&token)
            .json(body.clone())
            .send()
            .await
            .expect(400);
        assert!(res.body.as_object().unwrap().len() == 1, "{}", res.text);
    }
    let manager = app.token(&tenant, "m", Role::Manager);
    app.get(&url).bearer(&manager).send().await.expect(200);
    app.post(FIELDS)
        .bearer(&manager)
        .json(json!({"name": "x", "field_type": "text"}))
        .send()
        .await
        .expect(403);
    app.patch(&url)
        .bearer(&manager)
        .json(json!({"order": 1}))
        .send()
        .await
        .expect(403);
    app.delete(&url).bearer(&manager).send().await.expect(403);
    app.get(&url).bearer(&other).send().await.expect(404);
    app.delete(&url).bearer(&other).send().await.expect(404);
    define(app, &other, json!({"name": "tier", "field_type": "text"})).await;

    define(
        app,
        &token,
        json!({"name": "a_first", "field_type": "text", "order": 1}),
    )
    .await;
    define(
        app,
        &token,
        json!({"name": "z_last", "field_type": "text", "order": 9}),
    )
    .await;
    let rows = all_pages(app, &token, &format!("{FIELDS}?page_size=2")).await;
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a_first", "tier", "z_last"]);

    app.delete(&url).bearer(&token).send().await.expect(204);
    app.get(&url).bearer(&token).send().await.expect(404);
    // The name stays retired: leads may still hold values under it.
    let res = app
        .post(FIELDS)
        .bearer(&token)
        .json(json!({"name": "tier", "field_type": "number"}))
        .send()
        .await
        .expect(400);
    assert!(res.body["name"].is_array());
}

#[tokio::test]
async fn lead_values_are_checked_and_filterable() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    for body in [
        json!({"name": "tier", "field_type": "select", "options": ["gold", "silver"], "is_required": true, "default_value": "silver"}),
        json!({"name": "seats", "field_type": "number"}),
        json!({"name": "renewal", "field_type": "date"}),
        json!({"name": "call_at", "field_type": "datetime"}),
        json!({"name": "vip", "field_type": "boolean"}),
        json!({"name": "areas", "field_type": "multi_select", "options": ["eu", "us", "apac"]}),
        json!({"name": "site", "field_type": "url"}),
        json!({"name": "billing", "field_type": "email"}),
        json!({"name": "memo", "field_type": "textarea"}),
        json!({"name": "code", "field_type": "text"}),
    ] {
        define(app, &token, body).await;
    }
    // Defaults fill in on create; values come back typed.
    let mut body = person(1);
    body["custom_fields"] = json!({"seats": "12", "renewal": "2027-01-31", "vip": true, "areas": ["eu", "us", "eu"], "site": "https://acme.example", "billing": "Pay@ACME.example", "call_at": "2027-01-31T10:00:00+01:00", "memo": "long text", "code": " A-1 "});
    let lead = apps.leads.create_lead(&token, body).await;
    let values = &lead["custom_fields"];
    assert_eq!(values["tier"], "silver");
    assert_eq!(values["seats"], 12.0);
    assert_eq!(values["areas"], json!(["eu", "us"]));
    assert_eq!(values["billing"], "Pay@acme.example");
    assert_eq!(values["code"], "A-1");
    assert_eq!(values["call_at"], "2027-01-31T09:00:00Z");
    assert_eq!(lead["custom_field_values"], *values);

    for bad in [
        json!({"seats": "many"}),
        json!({"renewal": "31/01/2027"}),
        json!({"call_at": "tomorrow"}),
        json!({"vip": "yes please"}),
        json!({"tier": "bronze"}),
        json!({"areas": ["mars"]}),
        json!({"areas": "eu"}),
        json!({"site": "ftp://x"}),
        json!({"billing": "not-an-email"}),
        json!({"code": "x".repeat(256)}),
        json!({"unknown": 1}),
        json!({"tier": null}),
    ] {
        let res = apps
            .leads
            .patch(&paths::lead(id(&lead)))
            .bearer(&token)
            .json(json!({"custom_fields": bad}))
            .send()
            .await;
        assert_eq!(res.status, 400, "{bad}: {}", res.text);
        let messages = res.body["custom_fields"]
            .as_array()
            .expect("errors under custom_fields");
        let name = bad.as_object().unwrap().keys().next().unwrap().clone();
        assert!(
            messages
                .iter()
                .any(|m| m.as_str().unwrap().starts_with(&name)),
            "{bad}: {}",
            res.text
        );
    }
    let res = apps.leads.post(LEADS).bearer(&token).json(json!({"first_name": "A", "last_name": "B", "email": "x@y.example", "custom_fields": [1]})).send().await.expect(400);
    assert!(res.body["custom_fields"].is_array());

    // PATCH merges; null clears one value.
    let res = apps
        .leads
        .update_lead(
            &token,
            &id(&lead),
            json!({"custom_fields": {"tier": "gold", "memo": null}}),
        )
        .await;
    assert_eq!(res["custom_fields"]["tier"], "gold");
    assert_eq!(res["custom_fields"]["seats"], 12.0);
    assert!(res["custom_fields"].get("memo").is_none());

    let mut other = person(2);
    other["custom_fields"] = json!({"seats": 3, "areas": ["apac"]});
    apps.leads.create_lead(&token, other).await;
    let count = |q: &'static str| {
        let apps = &apps;
        let token = &token;
        async move {
            all_pages(&apps.leads, token, &format!("{LEADS}?{q}"))
                .await
                .len()
        }
    };
    assert_eq!(count("cf_tier=GOLD").await, 1);
    assert_eq!(count("cf_tier=silver").await, 1);
    assert_eq!(count("cf_seats=12").await, 1);
    assert_eq!(count("cf_seats=3.0").await, 1);
    assert_eq!(count("cf_areas=us").await, 1);
    assert_eq!(count("cf_areas=apac").await, 1);
    assert_eq!(count("cf_vip=true").await, 1);
    assert_eq!(count("cf_tier=silver&cf_seats=3").await, 1);
    assert_eq!(count("cf_nothing=1").await, 0);
}

/// DynamoDB holds at most 400 KB per item, and each PATCH may add up to a body's worth of
/// custom-field text: a write that would make the lead larger than a lead may be is a 400
/// naming the field, and nothing of it is saved.
#[tokio::test]
async fn a_lead_cannot_grow_past_its_size_limit() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    for n in 0..60 {
        define(
            &apps.sources,
            &token,
            json!({"name": format!("memo{n}"), "field_type": "textarea"}),
        )
        .await;
    }
    let leads = &apps.leads;
    let lead = leads.create_lead(&token, person(1)).await;
    let url = paths::lead(id(&lead));
    let text = "é".repeat(10_000); // 20,000 bytes of UTF-8
    let values = |range: std::ops::Range<usize>| {
        let map: serde_json::Map<String, Value> =
            range.map(|n| (format!("memo{n}"), json!(text))).collect();
        json!({ "custom_fields": map })
    };
    // 8 fields (160,000 bytes) fit.
    let res = leads
        .patch(&url)
        .bearer(&token)
        .json(values(0..8))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["custom_fields"].as_object().unwrap().len(), 8);
    // 8 more would double it.
    let res = leads
        .patch(&url)
        .bearer(&token)
        .json(values(8..16))
        .send()
        .await
        .expect(400);
    let message = res.body["custom_fields"][0].as_str().unwrap_or_default();
    assert!(message.contains("bytes"), "{}", res.text);
    let stored = leads.lead(&token, &id(&lead)).await;
    assert_eq!(stored["custom_fields"].as_object().unwrap().len(), 8);
    assert_eq!(stored["version"], lead["version"].as_u64().unwrap() + 1);
    // Long texts count too: the largest field is named, the one to shorten.
    let res = leads
        .patch(&url)
        .bearer(&token)
        .json(json!({"notes": text, "pain_points": text, "requirements": text}))
        .send()
        .await
        .expect(400);
    assert!(res.body["custom_fields"][0].is_string(), "{}", res.text);
    // A lead near the limit whose every value changes: its audit entry holds both, and fits.
    let other = "ü".repeat(10_000);
    let map: serde_json::Map<String, Value> =
        (0..8).map(|n| (format!("memo{n}"), json!(other))).collect();
    leads
        .patch(&url)
        .bearer(&token)
        .json(json!({ "custom_fields": map }))
        .send()
        .await
        .expect(200);
}
