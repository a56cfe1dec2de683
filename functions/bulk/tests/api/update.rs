//! bulk-update: semantics, mixed batches, limits and validation.

use crate::common::*;

#[tokio::test]
async fn changes_every_lead_and_reports_each_in_request_order() {
    let (apps, tenant, token, ids) = acme_with_leads(3, json!({})).await;
    let res = apps
        .update(
            &token,
            json!({"lead_ids": ids, "status": "qualified", "priority": "high", "source": "event"}),
        )
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 3);
    let expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| (id.clone(), "updated".into()))
        .collect();
    assert_eq!(outcomes(&res), expected);
    for id in &ids {
        let lead = apps.leads.lead(&token, id).await;
        assert_eq!(lead["status"], "qualified");
        assert_eq!(lead["priority"], "high");
        assert_eq!(lead["source"]["name"], "event");
        assert_eq!(lead["version"], 2);
        // One audit entry for the create, one for this change: as a PATCH writes.
        assert_eq!(apps.bulk.audit(&tenant, id).await.len(), 2);
    }
    // The same change again writes nothing.
    let res = apps
        .update(&token, json!({"lead_ids": ids, "status": "qualified"}))
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 0);
    assert!(outcomes(&res).iter().all(|(_, s)| s == "unchanged"));
    assert_eq!(apps.leads.lead(&token, &ids[0]).await["version"], 2);
}

#[tokio::test]
async fn foreign_missing_malformed_and_duplicate_ids() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    let (_, other_token) = apps.bulk.manager("Other").await;
    let mine = apps.leads.create_leads(&token, 2, json!({})).await;
    let foreign = apps.leads.create_leads(&other_token, 1, json!({})).await;
    let missing = Uuid::new_v4().to_string();
    let body = json!({
        "lead_ids": [mine[0], foreign[0], missing, "not-a-uuid", mine[0].to_uppercase(), mine[1], mine[1]],
        "status": "lost",
    });
    let res = apps.update(&token, body).await.expect(200);
    assert_eq!(res.body["updated_count"], 2);
    assert_eq!(
        outcomes(&res),
        vec![
            (mine[0].clone(), "updated".into()),
            (foreign[0].clone(), "not_found".into()),
            (missing.clone(), "not_found".into()),
            ("not-a-uuid".into(), "not_found".into()),
            (mine[1].clone(), "updated".into()),
        ]
    );
    // The other tenant's lead is untouched.
    let theirs = apps.leads.lead(&other_token, &foreign[0]).await;
    assert_eq!(theirs["status"], "new");
    assert_eq!(theirs["version"], 1);
    // Results carry no error for plain outcomes.
    assert!(res.body["results"][0].get("error").is_none());
}

#[tokio::test]
async fn more_than_a_thousand_ids_is_a_400_naming_lead_ids() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    let ids: Vec<String> = (0..1001).map(|_| Uuid::new_v4().to_string()).collect();
    let res = apps
        .update(&token, json!({"lead_ids": ids, "status": "lost"}))
        .await
        .expect(400);
    assert_eq!(
        res.body,
        json!({"lead_ids": ["Ensure this field has no more than 1000 elements."]})
    );
    // Exactly 1,000 is fine (none exist here).
    let res = apps
        .update(&token, json!({"lead_ids": ids[..1000], "status": "lost"}))
        .await
        .expect(200);
    assert_eq!(res.body["results"].as_array().unwrap().len(), 1000);
}

/// A PATCH of the first of `ids` with `bad`, and a bulk-update of `ids` with the same
/// fields: both 400, with the same errors. Returns them.
async fn refused_as_a_patch_is(apps: &Apps, token: &str, ids: &[String], bad: Value) -> Value {
    let patch = apps
        .leads
        .patch(&paths::lead(&ids[0]))
        .bearer(token)
        .json(bad.clone())
        .send()
        .await
        .expect(400);
    let bulk_body = with(bad, &json!({ "lead_ids": ids }));
    let res = apps.update(token, bulk_body).await.expect(400);
    assert_eq!(res.body, patch.body);
    patch.body
}

#[tokio::test]
async fn fields_are_validated_exactly_like_a_patch() {
    let (apps, _, token, ids) = acme_with_leads(1, json!({})).await;
    let bad = json!({"status": "won", "priority": null, "assigned_to": "x".repeat(129)});
    refused_as_a_patch_is(&apps, &token, &ids, bad).await;
    // Nothing was written.
    assert_eq!(apps.leads.lead(&token, &ids[0]).await["version"], 1);

    // The original's names, with errors under those names, as a PATCH reports them.
    let bad = json!({"source_id": "not-an-id", "assigned_to_id": ""});
    let errors = refused_as_a_patch_is(&apps, &token, &ids, bad).await;
    assert!(errors["source_id"].is_array(), "{errors}");
    // An id the tenant has no source for is one mistake with one name: the field the
    // client used, as a PATCH names it.
    for field in ["source", "source_id"] {
        let bad = json!({ field: Uuid::new_v4().to_string() });
        let errors = refused_as_a_patch_is(&apps, &token, &ids, bad).await;
        assert_eq!(errors.as_object().unwrap().len(), 1, "{errors}");
        assert!(errors[field].is_array(), "{field}: {errors}");
    }

    // A source named for the first time is created once, then set by id like any other.
    let res = apps
        .update(
            &token,
            json!({"lead_ids": ids, "source": "webinar", "assigned_to_id": "u7"}),
        )
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 1);
    let lead = apps.leads.lead(&token, &ids[0]).await;
    assert_eq!(lead["source"]["name"], "webinar");
    assert_eq!(lead["assigned_to"]["id"], "u7");
    let source_id = lead["source"]["id"].clone();
    let other = apps
        .leads
        .create_leads(&token, 1, json!({"email": "other@example.com"}))
        .await;
    apps.update(&token, json!({"lead_ids": other, "source_id": source_id}))
        .await
        .expect(200);
    assert_eq!(
        apps.leads.lead(&token, &other[0]).await["source"]["id"],
        source_id
    );
}

#[tokio::test]
async fn malformed_requests_name_their_fields() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    let id = Uuid::new_v4().to_string();
    let cases = [
        (
            json!({"status": "lost"}),
            json!({"lead_ids": ["This field is required."]}),
        ),
        (
            json!({"lead_ids": [], "status": "lost"}),
            json!({"lead_ids": ["This list may not be empty."]}),
        ),
        (
            json!({"lead_ids": id, "status": "lost"}),
            json!({"lead_ids": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            json!({"lead_ids": [1], "status": "lost"}),
            json!({"lead_ids": ["Each lead id must be a string, not number."]}),
        ),
        (
            json!({"lead_ids": [id]}),
            json!({"non_field_errors": ["Provide at least one field to change: status, priority, assigned_to, source or tag_ids."]}),
        ),
        (
            json!({"lead_ids": [id], "notes": "not a bulk field"}),
            json!({"non_field_errors": ["Provide at least one field to change: status, priority, assigned_to, source or tag_ids."]}),
        ),
        (
            json!({"lead_ids": [id], "tag_ids": ["7d3c1a52-0c4e-4b7a-9f64-2a7f0e8e1b11"]}),
            json!({"tag_ids": ["Invalid pk \"7d3c1a52-0c4e-4b7a-9f64-2a7f0e8e1b11\" - object does not exist."]}),
        ),
    ];
    for (body, expected) in cases {
        let res = apps.update(&token, body.clone()).await;
        assert_eq!((res.status, &res.body), (400, &expected), "{body}");
    }
    let res = apps
        .bulk
        .post(BULK_UPDATE)
        .bearer(&token)
        .raw_body("text/plain", "{}")
        .send()
        .await;
    assert_eq!(res.status, 415);
    let res = apps
        .bulk
        .get(BULK_UPDATE)
        .bearer(&token)
        .send()
        .await
        .expect(405);
    assert_eq!(res.body, json!({"detail": "Method \"GET\" not allowed."}));
}

#[tokio::test]
async fn served_with_and_without_slash_and_under_the_old_name() {
    let (apps, _, token, ids) = acme_with_leads(1, json!({})).await;
    let underscored = paths::underscored(BULK_UPDATE);
    for (path, status) in [
        (paths::bare(BULK_UPDATE), "contacted"),
        (&underscored, "qualified"),
        (paths::bare(&underscored), "proposal"),
    ] {
        let res = bulk(
            &apps,
            &token,
            path,
            json!({"lead_ids": ids, "status": status}),
        )
        .await
        .expect(200);
        assert_eq!(res.body["updated_count"], 1, "{path}");
    }
    assert_eq!(apps.leads.lead(&token, &ids[0]).await["status"], "proposal");
    for path in bulk::routes().paths() {
        assert!(path.starts_with(LEADS), "{path}");
    }
}

#[tokio::test]
async fn side_effects_follow_the_single_lead_rules() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    let ids = apps
        .leads
        .create_leads(
            &token,
            1,
            json!({"status": "converted", "conversion_value": "100.00"}),
        )
        .await;
    assert!(apps.leads.lead(&token, &ids[0]).await["converted_at"].is_string());
    apps.update(
        &token,
        json!({"lead_ids": ids, "status": "qualified", "assigned_to": null}),
    )
    .await
    .expect(200);
    let lead = apps.leads.lead(&token, &ids[0]).await;
    // Leaving `converted` clears the outcome, as a PATCH does.
    assert_eq!(lead["converted_at"], Value::Null);
    assert_eq!(lead["conversion_value"], Value::Null);
    // The unassigned view sees it (the index entries moved with the write).
    let unassigned = apps
        .leads
        .read(&paths::leads_view("unassigned"), &token)
        .await;
    assert_eq!(unassigned["results"][0]["id"], ids[0].as_str());
}
