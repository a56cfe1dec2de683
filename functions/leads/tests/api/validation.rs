//! Every validation rule answers 400 naming the field, and nothing is written.

use crate::common::*;

async fn rejected(app: &TestApp, token: &str, patch: Value) -> Value {
    app.post(LEADS)
        .bearer(token)
        .json(with(john(), &patch))
        .send()
        .await
        .expect(400)
        .body
}

#[tokio::test]
async fn each_rule_names_its_field() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let long = |n: usize| "x".repeat(n);
    let cases = [
        (json!({"status": "won"}), "status", "\"won\" is not a valid choice. Valid choices: new, contacted, qualified, proposal, negotiation, converted, lost, unresponsive."),
        (json!({"status": 3}), "status", "\"3\" is not a valid choice."),
        (json!({"status": null}), "status", "This field may not be null."),
        (json!({"priority": "critical"}), "priority", "\"critical\" is not a valid choice. Valid choices: low, medium, high, urgent."),
        (json!({"company_size": "huge"}), "company_size", "\"huge\" is not a valid choice. Valid choices: startup, small, medium, large, enterprise."),
        (json!({"email": "john-at-company"}), "email", "Enter a valid email address."),
        (json!({"email": "john@company"}), "email", "Enter a valid email address."),
        (json!({"email": ""}), "email", "This field may not be blank."),
        (json!({"email": null}), "email", "This field may not be null."),
        (json!({"first_name": ""}), "first_name", "This field may not be blank."),
        (json!({"first_name": {"a": 1}}), "first_name", "Not a valid string."),
        (json!({"first_name": long(101)}), "first_name", "Ensure this field has no more than 100 characters."),
        (json!({"last_name": long(101)}), "last_name", "Ensure this field has no more than 100 characters."),
        (json!({"phone": long(21)}), "phone", "Ensure this field has no more than 20 characters."),
        (json!({"company": long(201)}), "company", "Ensure this field has no more than 200 characters."),
        (json!({"job_title": long(101)}), "job_title", "Ensure this field has no more than 100 characters."),
        (json!({"industry": long(101)}), "industry", "Ensure this field has no more than 100 characters."),
        (json!({"timeline": long(101)}), "timeline", "Ensure this field has no more than 100 characters."),
        (json!({"utm_campaign": long(101)}), "utm_campaign", "Ensure this field has no more than 100 characters."),
        (json!({"source": long(101)}), "source", "Ensure this field has no more than 100 characters."),
        (json!({"company_website": "not a url"}), "company_website", "Enter a valid URL."),
        (json!({"company_website": "ftp://files.example.com"}), "company_website", "Enter a valid URL."),
        (json!({"budget": -1}), "budget", "Ensure this value is greater than or equal to 0."),
        (json!({"budget": "12.345"}), "budget", "Ensure that there are no more than 2 decimal places."),
        (json!({"budget": "lots"}), "budget", "A valid number is required."),
        (json!({"budget": [1]}), "budget", "A valid number is required."),
        (json!({"annual_revenue": "100000000000"}), "annual_revenue", "Ensure that there are no more than 10 digits before the decimal point."),
        (json!({"conversion_value": -0.5}), "conversion_value", "Ensure this value is greater than or equal to 0."),
        (json!({"decision_maker": "maybe"}), "decision_maker", "Must be a valid boolean."),
        (json!({"decision_maker": null}), "decision_maker", "This field may not be null."),
        (json!({"next_follow_up": "next tuesday"}), "next_follow_up", "Datetime has wrong format. Use RFC 3339, e.g. 2026-01-31T09:30:00Z."),
        (json!({"next_follow_up": 1700000000}), "next_follow_up", "Datetime has wrong format. Use RFC 3339, e.g. 2026-01-31T09:30:00Z."),
    ];
    for (patch, field, message) in cases {
        let body = rejected(&app, &token, patch.clone()).await;
        assert_eq!(body, json!({ field: [message] }), "{patch}");
    }
    // Nothing was written by any of them.
    let list = app.read(LEADS, &token).await;
    assert_eq!(list["results"], json!([]));
}

#[tokio::test]
async fn all_problems_are_reported_at_once() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let res = app
        .post(LEADS)
        .bearer(&token)
        .json(json!({"email": "nope", "priority": "meh", "budget": -5}))
        .send()
        .await
        .expect(400);
    let fields: Vec<&String> = res.body.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        ["budget", "email", "first_name", "last_name", "priority"]
    );
}

#[tokio::test]
async fn accepted_values_are_normalised() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app
        .create_lead(
            &token,
            json!({
                "first_name": "  Ada ",
                "last_name": "Lovelace",
                "email": "Ada@Analytical.EXAMPLE",
                "company_size": "enterprise",
                "company_website": "https://analytical.example/engines",
                "annual_revenue": 1250000,
                "budget": "99999.5",
                "decision_maker": "true",
                "next_follow_up": "2031-05-01T10:00:00+02:00",
                "priority": "urgent",
                "phone": 5550100,
                "utm_source": "newsletter",
                "score": 99,
                "converted_at": "2020-01-01T00:00:00Z"
            }),
        )
        .await;
    assert_eq!(lead["first_name"], "Ada");
    assert_eq!(lead["email"], "Ada@analytical.example");
    assert_eq!(lead["annual_revenue"], "1250000.00");
    assert_eq!(lead["budget"], "99999.50");
    assert_eq!(lead["decision_maker"], true);
    assert_eq!(lead["next_follow_up"], "2031-05-01T08:00:00Z");
    assert_eq!(lead["phone"], "5550100");
    assert!(lead["days_until_follow_up"].as_i64().unwrap() > 0);
    // Read-only fields are ignored, as DRF ignores them.
    assert_eq!(lead["score"], 0);
    assert_eq!(lead["converted_at"], Value::Null);
}

#[tokio::test]
async fn optional_fields_are_cleared_by_null_or_blank() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, json!({"first_name": "A", "last_name": "B", "email": "a@b.example", "phone": "1", "company_size": "small", "budget": 5})).await;
    let res = app
        .update_lead(
            &token,
            &id(&lead),
            json!({"phone": "", "company_size": null, "budget": null}),
        )
        .await;
    assert_eq!(res["phone"], Value::Null);
    assert_eq!(res["company_size"], Value::Null);
    assert_eq!(res["budget"], Value::Null);
}

#[tokio::test]
async fn status_changes_keep_the_originals_side_effects() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, john()).await;
    let url = paths::lead(id(&lead));
    let converted = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"status": "converted", "conversion_value": 1200}))
        .send()
        .await
        .expect(200);
    assert!(converted.body["converted_at"].is_string());
    assert_eq!(converted.body["conversion_value"], "1200.00");
    let reopened = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"status": "negotiation"}))
        .send()
        .await
        .expect(200);
    assert_eq!(reopened.body["converted_at"], Value::Null);
    assert_eq!(reopened.body["conversion_value"], Value::Null);
}

#[tokio::test]
async fn overdue_is_computed_for_active_leads() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let mut body = john();
    body["next_follow_up"] = json!("2020-01-01T00:00:00Z");
    let lead = app.create_lead(&token, body).await;
    assert_eq!(lead["is_overdue"], true);
    let url = paths::lead(id(&lead));
    let lost = app
        .patch(&url)
        .bearer(&token)
        .json(json!({"status": "lost", "lost_reason": "budget"}))
        .send()
        .await
        .expect(200);
    assert_eq!(lost.body["is_overdue"], false);
    assert_eq!(lost.body["lost_reason"], "budget");
}
