//! mark-contacted, convert, mark-lost and update-score: transitions, refusals, roles,
//! tenancy, the dashboard, and the underscore aliases.

use crate::common::*;

#[tokio::test]
async fn mark_contacted_moves_a_new_lead_and_stamps_the_contact_dates() {
    let apps = start().await;
    let (_, owner) = apps.actions.tenant_with("Acme", "owner", Role::Owner).await;
    let id = create(&apps, &owner, person(1)).await;
    assert_eq!(apps.leads.dashboard(&owner).await["new_leads"], 1);

    // No body and no content type: the action needs none.
    let first = apps
        .act(&owner, &id, "mark-contacted")
        .send()
        .await
        .expect(200);
    assert_eq!(first.body["status"], "contacted");
    assert_eq!(first.header("etag"), Some("\"2\""));
    let first_contact = first.body["first_contact_date"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first.body["last_contact_date"], first_contact.as_str());
    assert_eq!(apps.leads.dashboard(&owner).await["new_leads"], 0);

    // Again, through the old name: the first contact stays, the last moves on.
    let again = apps
        .act(&owner, &id, "mark_contacted")
        .send()
        .await
        .expect(200);
    assert_eq!(again.body["first_contact_date"], first_contact.as_str());
    assert!(again.body["last_contact_date"].as_str().unwrap() > first_contact.as_str());

    // A lead further along keeps its status.
    let qualified = create(&apps, &owner, person(2)).await;
    apps.leads
        .update_lead(&owner, &qualified, json!({"status": "qualified"}))
        .await;
    let res = apps
        .act(&owner, &qualified, "mark-contacted")
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["status"], "qualified");
    assert!(res.body["last_contact_date"].is_string());
}

#[tokio::test]
async fn convert_records_the_outcome_and_refuses_closed_leads() {
    let apps = start().await;
    let (_, owner) = apps.actions.tenant_with("Acme", "owner", Role::Owner).await;
    let id = create(&apps, &owner, person(1)).await;

    let bad = apps
        .act(&owner, &id, "convert")
        .json(json!({"conversion_value": "lots"}))
        .send()
        .await
        .expect(400);
    assert!(bad.body["conversion_value"].is_array(), "{}", bad.text);
    assert_eq!(apps.leads.lead(&owner, &id).await["status"], "new");

    let res = apps
        .act(&owner, &id, "convert")
        .json(json!({"conversion_value": "1500.5"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["status"], "converted");
    assert_eq!(res.body["conversion_value"], "1500.50");
    assert!(res.body["converted_at"].is_string());
    let board = apps.leads.dashboard(&owner).await;
    assert_eq!(board["converted_leads"], 1);
    assert_eq!(board["conversion_rate"], 100.0);

    let again = apps.act(&owner, &id, "convert").send().await.expect(409);
    assert!(again.body["detail"].as_str().unwrap().contains("converted"));

    // A lost lead cannot be converted either; without a value the conversion has none.
    let lost = create(&apps, &owner, person(2)).await;
    apps.act(&owner, &lost, "mark-lost")
        .json(json!({"reason": "Went with a competitor"}))
        .send()
        .await
        .expect(200);
    apps.act(&owner, &lost, "convert").send().await.expect(409);
    let plain = create(&apps, &owner, person(3)).await;
    let res = apps
        .act(&owner, &plain, "convert")
        .json(json!({}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["conversion_value"], Value::Null);
}

#[tokio::test]
async fn mark_lost_needs_a_reason_and_clears_a_conversion() {
    let apps = start().await;
    let (_, owner) = apps.actions.tenant_with("Acme", "owner", Role::Owner).await;
    let id = create(&apps, &owner, person(1)).await;

    for body in [json!({}), json!({"reason": "  "}), json!({"reason": null})] {
        let res = apps
            .act(&owner, &id, "mark-lost")
            .json(body.clone())
            .send()
            .await
            .expect(400);
        assert!(res.body["reason"].is_array(), "{body}: {}", res.text);
    }
    apps.act(&owner, &id, "convert")
        .json(json!({"conversion_value": "99"}))
        .send()
        .await
        .expect(200);

    let res = apps
        .act(&owner, &id, "mark_lost")
        .json(json!({"reason": "Budget cut"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["status"], "lost");
    assert_eq!(res.body["lost_reason"], "Budget cut");
    assert_eq!(res.body["converted_at"], Value::Null);
    assert_eq!(res.body["conversion_value"], Value::Null);
    assert_eq!(apps.leads.dashboard(&owner).await["converted_leads"], 0);

    apps.act(&owner, &id, "mark-lost")
        .json(json!({"reason": "Again"}))
        .send()
        .await
        .expect(409);
}

#[tokio::test]
async fn actions_follow_the_edit_rule_and_if_match() {
    let apps = start().await;
    let (tenant, owner) = apps.actions.tenant_with("Acme", "owner", Role::Owner).await;
    let reader = apps.actions.token(&tenant, "reader", Role::Readonly);
    let user = apps.actions.token(&tenant, "user-1", Role::User);
    let theirs = create(&apps, &owner, {
        let mut p = person(1);
        p["assigned_to"] = json!("someone-else");
        p
    })
    .await;
    let free = create(&apps, &owner, person(2)).await;

    for action in ["mark-contacted", "convert", "update-score"] {
        apps.act(&reader, &free, action).send().await.expect(403);
        apps.act(&user, &theirs, action).send().await.expect(403);
    }
    assert_eq!(apps.leads.lead(&owner, &free).await["version"], 1);

    // A user may act on an unassigned lead.
    apps.act(&user, &free, "mark-contacted")
        .send()
        .await
        .expect(200);

    // If-Match pins the version, as for edits.
    apps.act(&owner, &free, "convert")
        .header("if-match", "\"1\"")
        .send()
        .await
        .expect(412);
    apps.act(&owner, &free, "convert")
        .header("if-match", "\"2\"")
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn another_tenants_lead_is_not_found_for_every_action() {
    let apps = start().await;
    let a = apps.actions.tenant("A").await;
    let b = apps.actions.tenant("B").await;
    let owner_a = apps.actions.token(&a, "owner-a", Role::Owner);
    let owner_b = apps.actions.token(&b, "owner-b", Role::Owner);
    let id = create(&apps, &owner_a, person(1)).await;

    for (method, action) in [
        ("POST", "mark-contacted"),
        ("POST", "convert"),
        ("POST", "mark-lost"),
        ("POST", "update-score"),
        ("GET", "ai-insights"),
        ("POST", "ai-insights"),
    ] {
        let res = apps
            .actions
            .request(method, &paths::lead_path(&id, action))
            .bearer(&owner_b)
            .json(json!({"reason": "x"}))
            .send()
            .await;
        assert_eq!(res.status, 404, "{method} {action}: {}", res.text);
        let res = apps
            .actions
            .request(method, &paths::lead_path("not-a-uuid", action))
            .bearer(&owner_a)
            .json(json!({"reason": "x"}))
            .send()
            .await;
        assert_eq!(res.status, 404, "{method} {action} with a malformed id");
    }
    let lead = apps.leads.lead(&owner_a, &id).await;
    assert_eq!(lead["version"], 1);
    assert_eq!(lead["status"], "new");
}

#[tokio::test]
async fn update_score_scores_now_and_explains_every_factor() {
    let apps = start().await;
    let (_, owner) = apps.actions.tenant_with("Acme", "owner", Role::Owner).await;
    let id = create(
        &apps,
        &owner,
        json!({
            "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example",
            "company": "Acme", "job_title": "CTO", "phone": "+1 555 0100",
            "company_size": "large", "budget": "120000", "decision_maker": true,
            "timeline": "this month", "industry": "Software",
        }),
    )
    .await;
    assert_eq!(apps.leads.lead(&owner, &id).await["score"], 0);

    let res = apps
        .act(&owner, &id, "update-score")
        .send()
        .await
        .expect(200);
    let score = res.body["score"].as_u64().unwrap();
    assert!(score > 0 && score <= 100, "{}", res.text);
    assert_eq!(res.body["score_model"], "explainable-v1");
    let factors = res.body["score_factors"].as_array().unwrap();
    assert!(factors.len() >= 10);
    let points: u64 = factors.iter().map(|f| f["points"].as_u64().unwrap()).sum();
    let max: u64 = factors.iter().map(|f| f["max"].as_u64().unwrap()).sum();
    assert_eq!(points, score);
    assert_eq!(max, 100);
    for f in factors {
        assert!(f["factor"].is_string() && f["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(f["points"].as_u64() <= f["max"].as_u64());
    }

    let lead = apps.leads.lead(&owner, &id).await;
    assert_eq!(lead["score"], score);
    assert_eq!(lead["score_factors"], res.body["score_factors"]);
    assert!(lead["last_scored_at"].is_string());
    assert_eq!(
        res.header("etag"),
        Some(format!("\"{}\"", lead["version"]).as_str())
    );

    // Nothing changed since: scoring again writes nothing.
    apps.act(&owner, &id, "update_score")
        .send()
        .await
        .expect(200);
    assert_eq!(
        apps.leads.lead(&owner, &id).await["version"],
        lead["version"]
    );

    // The dashboard's score figures follow the stored score.
    let board = apps.leads.dashboard(&owner).await;
    assert_eq!(board["average_score"], score as f64);
}

#[tokio::test]
async fn the_legacy_model_reproduces_the_original_points() {
    let apps = start().await;
    let (_, owner) = apps.actions.tenant_with("Acme", "owner", Role::Owner).await;
    apps.actions
        .patch(SETTINGS)
        .bearer(&owner)
        .json(json!({"model": "legacy"}))
        .send()
        .await
        .expect(200);
    // medium 40 + budget >= 10k 10 + contacted 10 + phone 5 + "quarter" 10 = 75
    let id = create(
        &apps,
        &owner,
        json!({
            "first_name": "Bo", "last_name": "Li", "email": "bo@example.com",
            "company_size": "medium", "budget": "20000", "status": "contacted",
            "phone": "555", "timeline": "next quarter",
        }),
    )
    .await;
    let res = apps
        .act(&owner, &id, "update-score")
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["score_model"], "legacy-v1");
    assert_eq!(res.body["score"], 75, "{}", res.text);

    // Converting forces 100 in the original's table.
    apps.act(&owner, &id, "convert").send().await.expect(200);
    let res = apps
        .act(&owner, &id, "update-score")
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["score"], 100);
}
