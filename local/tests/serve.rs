//! `crm-local serve`: every HTTP function's routes answer in one process over plain HTTP,
//! and `/_local/usage` counts the requests and their DynamoDB cost.

use crm_domain::Role;
use crm_testkit::TestApp;
use serde_json::{json, Value};

#[tokio::test]
async fn one_process_serves_every_function_and_counts_their_cost() {
    let app = TestApp::start(crm_local::serve::all_functions).await;
    let (_tenant, token) = app.tenant_with("Served", "owner-1", Role::Owner).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(crm_local::serve::serve(
        listener,
        app.app.clone(),
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .bearer_auth(&token)
    };

    // The leads function creates; the sources, bulk and accounts functions answer too.
    let created = call(reqwest::Method::POST, "/api/leads/api/v1/leads/")
        .json(&json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}))
        .send()
        .await
        .unwrap();
    let status = created.status();
    let lead: Value = created.json().await.unwrap();
    assert_eq!(status, 201, "{lead}");
    for path in [
        "/api/leads/api/v1/tags/",
        "/api/tenants/current/",
        &format!("/api/leads/api/v1/leads/{}/", lead["id"].as_str().unwrap()),
    ] {
        let answer = call(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    let bulk = call(
        reqwest::Method::POST,
        "/api/leads/api/v1/leads/bulk-update/",
    )
    .json(&json!({"lead_ids": [lead["id"]], "status": "contacted"}))
    .send()
    .await
    .unwrap();
    assert_eq!(bulk.status(), 200);
    let health = http.get(format!("{base}/health/")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let usage: Value = http
        .get(format!("{base}/_local/usage"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage["requests"], 6, "{usage}");
    assert!(usage["round_trips"].as_u64().unwrap() >= 6, "{usage}");
    assert!(usage["write_units"].as_f64().unwrap() > 0.0, "{usage}");
}
