//! Lead CRUD through API Gateway v2 events into the real router, against the emulator.

use crate::common::*;

#[tokio::test]
async fn create_lead_as_in_the_original_curl_example() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;

    let res = app
        .post(LEADS)
        .bearer(&token)
        .header("X-Tenant-Id", &tenant.id.to_string())
        .json(john())
        .send()
        .await
        .expect(201);

    let lead = &res.body;
    assert!(uuid::Uuid::parse_str(lead["id"].as_str().unwrap()).is_ok());
    assert_eq!(lead["first_name"], "John");
    assert_eq!(lead["full_name"], "John Doe");
    assert_eq!(lead["email"], "john@company.com");
    assert_eq!(lead["company"], "Acme Corp");
    // The seed's `"source": "website"` names a source, created on first use.
    assert_eq!(lead["source"]["name"], "website");
    assert_eq!(lead["source_name"], "website");
    assert_eq!(lead["source_id"], lead["source"]["id"]);
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["priority"], "medium");
    assert_eq!(lead["score"], 0);
    assert_eq!(lead["decision_maker"], false);
    assert_eq!(lead["version"], 1);
    assert_eq!(lead["is_overdue"], false);
    assert_eq!(lead["days_since_created"], 0);
    assert!(lead["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        lead.get("tenant_id").is_none(),
        "internal fields stay internal"
    );
    assert_eq!(res.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn get_put_patch_delete_round_trip() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, john()).await;
    let url = paths::lead(id(&lead));

    let got = app.get(&url).bearer(&token).send().await.expect(200);
    assert_eq!(got.body, lead);
    assert_eq!(got.header("etag"), Some("\"1\""));

    // PATCH changes only what it names.
    let patched = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"phone": "+1 555 0100", "budget": 25000, "status": "qualified"}))
        .send()
        .await
        .expect(200);
    assert_eq!(patched.body["phone"], "+1 555 0100");
    assert_eq!(patched.body["budget"], "25000.00");
    assert_eq!(patched.body["status"], "qualified");
    assert_eq!(patched.body["company"], "Acme Corp");
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.header("etag"), Some("\"2\""));

    // PUT needs the required fields, like DRF's full update.
    let missing = app
        .put(&url)
        .bearer(&token)
        .json(json!({"company": "Other"}))
        .send()
        .await
        .expect(400);
    assert_eq!(
        missing.body["first_name"],
        json!(["This field is required."])
    );
    assert_eq!(missing.body["email"], json!(["This field is required."]));
    let put = app
        .put(&url)
        .bearer(&token)
        .json(json!({"first_name": "Jon", "last_name": "Doe", "email": "jon@company.com"}))
        .send()
        .await
        .expect(200);
    assert_eq!(put.body["first_name"], "Jon");
    assert_eq!(put.body["email"], "jon@company.com");
    assert_eq!(
        put.body["phone"], "+1 555 0100",
        "PUT keeps fields it does not name"
    );

    app.delete(&url).bearer(&token).send().await.expect(204);
    app.get(&url).bearer(&token).send().await.expect(404);
    app.delete(&url).bearer(&token).send().await.expect(404);
}

#[tokio::test]
async fn an_unchanged_update_writes_nothing() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let lead = id(&app.create_lead(&token, john()).await);
    let res = app
        .update_lead(&token, &lead, json!({"company": "Acme Corp"}))
        .await;
    assert_eq!(res["version"], 1);
    assert_eq!(app.audit(&tenant, &lead).await.len(), 1);
}

#[tokio::test]
async fn paths_work_with_and_without_trailing_slash() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = paths::lead(id(&app.create_lead(&token, john()).await));
    app.get(paths::bare(LEADS))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    app.get(paths::bare(&lead))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    app.post(paths::bare(LEADS))
        .bearer(&token)
        .json(person(1))
        .send()
        .await
        .expect(201);
}

#[tokio::test]
async fn list_is_newest_first_with_cursor_pagination_both_ways() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(app.create_lead(&token, person(n)).await["id"].clone());
    }
    ids.reverse();

    let first = app
        .get(&format!("{LEADS}?page_size=3"))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    let page_ids = |res: &TestResponse| -> Vec<Value> {
        res.body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect()
    };
    assert_eq!(page_ids(&first), ids[0..3]);
    assert_eq!(first.body["previous"], Value::Null);
    let row = &first.body["results"][0];
    assert_eq!(row["full_name"], "First6 Last6");
    assert!(
        row.get("pain_points").is_none(),
        "list rows are the light shape"
    );

    let next = first.body["next"].as_str().unwrap();
    let origin = crm_testkit::requests::ORIGIN;
    assert!(next.starts_with(&format!("{origin}{LEADS}?page_size=3&cursor=")));
    let follow = |res: &TestResponse, rel: &str| {
        let path = res.link(rel).unwrap();
        app.get(&path).bearer(&token).send()
    };
    let second = follow(&first, "next").await.expect(200);
    assert_eq!(page_ids(&second), ids[3..6]);

    let third = follow(&second, "next").await.expect(200);
    assert_eq!(page_ids(&third), ids[6..7]);
    assert_eq!(third.body["next"], Value::Null);

    let back = follow(&third, "previous").await.expect(200);
    assert_eq!(page_ids(&back), ids[3..6]);
    let back2 = follow(&back, "previous").await.expect(200);
    assert_eq!(page_ids(&back2), ids[0..3]);
    assert_eq!(back2.body["previous"], Value::Null);
}

#[tokio::test]
async fn list_parameters_are_validated() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    for (query, field) in [
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=ten", "page_size"),
        ("cursor=abc.def", "cursor"),
        ("colour=red", "colour"),
    ] {
        let res = app
            .get(&format!("{LEADS}?{query}"))
            .bearer(&token)
            .send()
            .await
            .expect(400);
        assert!(res.body.get(field).is_some(), "{query}: {}", res.text);
    }
    let res = app.read(&format!("{LEADS}?page_size=100"), &token).await;
    assert_eq!(res["results"], json!([]));
}

#[tokio::test]
async fn every_write_leaves_an_audit_entry() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let lead = id(&app.create_lead(&token, john()).await);
    app.update_lead(&token, &lead, json!({"priority": "high"}))
        .await;
    app.delete_lead(&token, &lead).await;

    let audit = app.audit(&tenant, &lead).await;
    let actions: Vec<_> = audit.iter().map(|a| format!("{:?}", a.action)).collect();
    assert_eq!(actions, ["Create", "Update", "Delete"]);
    assert!(audit.iter().all(|a| a.actor == "owner-1"));
    assert_eq!(audit[0].changes["email"]["new"], "john@company.com");
    assert_eq!(
        audit[1].changes,
        json!({"priority": {"old": "medium", "new": "high"}})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(audit[2].changes["email"]["old"], "john@company.com");
}

#[tokio::test]
async fn deleting_a_lead_frees_its_email() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, john()).await;
    app.delete_lead(&token, &id(&lead)).await;
    app.create_lead(&token, john()).await;
}

#[tokio::test]
async fn changing_email_moves_the_uniqueness_guard() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, john()).await;
    let other = app.create_lead(&token, person(1)).await;
    let url = paths::lead(id(&lead));
    // Taken by the other lead (case-insensitively): refused, nothing changed.
    let res = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"email": "PERSON1@example.com"}))
        .send()
        .await
        .expect(400);
    assert_eq!(res.body, email_taken());
    assert_eq!(
        app.get(&url).bearer(&token).send().await.body["email"],
        "john@company.com"
    );
    // Moving to a free address frees the old one.
    app.patch(&url)
        .bearer(&token)
        .json(json!({"email": "new@company.com"}))
        .send()
        .await
        .expect(200);
    app.create_lead(&token, john()).await;
    let _ = other;
}

#[tokio::test]
async fn http_contract_errors_are_drf_shaped() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;

    let res = app
        .get(&format!("{}/nothing/", paths::V1))
        .bearer(&token)
        .send()
        .await
        .expect(404);
    assert_eq!(res.body, json!({"detail": "Not found."}));

    let res = app
        .get(&paths::lead("not-a-uuid"))
        .bearer(&token)
        .send()
        .await
        .expect(404);
    assert_eq!(res.body, json!({"detail": "Not found."}));

    let res = app.delete(LEADS).bearer(&token).send().await.expect(405);
    assert_eq!(
        res.body,
        json!({"detail": "Method \"DELETE\" not allowed."})
    );

    let post = |content_type: &str, body: &str| {
        app.post(LEADS)
            .bearer(&token)
            .raw_body(content_type, body)
            .send()
    };
    let res = post("text/plain", "first_name=John").await.expect(415);
    assert_eq!(
        res.body,
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );

    let json_body = "application/json";
    let res = post(json_body, "{\"first_name\": ").await.expect(400);
    assert!(res.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("JSON parse error"));

    let res = post(json_body, &json!([1, 2]).to_string())
        .await
        .expect(400);
    assert_eq!(
        res.body,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );

    let huge = "x".repeat(crm_http::config::DEFAULT_MAX_BODY_BYTES + 1);
    let res = post(json_body, &json!({"notes": huge}).to_string())
        .await
        .expect(413);
    assert!(res.body["detail"].as_str().unwrap().contains("larger than"));
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let request = app.get(LEADS).bearer(&token);
    let event = request.event();
    let res = request.send().await.expect(200);
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert!(res
        .header("strict-transport-security")
        .unwrap()
        .starts_with("max-age="));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(
        res.header("x-request-id"),
        event["requestContext"]["requestId"].as_str()
    );
    // Errors too.
    let res = app.get(LEADS).send().await.expect(401);
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
}
