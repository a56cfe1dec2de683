//! Health routes need no credentials; the deep check answers 503 when the table does not.

use crate::common::*;
use crm_http::AppState;

#[tokio::test]
async fn liveness_and_service_information() {
    let app = start().await;
    let res = app.get("/health/").send().await.expect(200);
    assert_eq!(
        res.body,
        json!({"status": "healthy", "service": "crm-leads"})
    );
    let res = app.get("/").send().await.expect(200);
    assert_eq!(res.body["service"], "crm-leads");
    assert_eq!(res.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        res.body["integrations"]["dynamodb"]["table"],
        crm_testkit::TABLE
    );
    assert_eq!(res.body["integrations"]["ai_agents"]["configured"], false);
    let res = app.get("/health-check/").send().await.expect(200);
    assert_eq!(res.body["checks"]["dynamodb"], "ok");
}

#[tokio::test]
async fn deep_check_is_503_when_the_table_is_unreachable() {
    // Nothing listens on port 9 of loopback.
    let client = crm_testkit::dynamodb_client("http://127.0.0.1:9");
    let state = AppState::new(
        crm_testkit::test_config(),
        client,
        crm_testkit::sqs_client(),
    );
    let app = leads::app(state);
    let event = TestApp::start(leads::app)
        .await
        .get("/health-check/")
        .event()
        .to_string();
    let request = lambda_http::request::from_str(&event).unwrap();
    let response = tower::ServiceExt::oneshot(app, request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "5");
}

#[tokio::test]
async fn requests_fail_cleanly_when_the_table_is_missing() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    app.dynamodb()
        .delete_table()
        .table_name(crm_testkit::TABLE)
        .send()
        .await
        .unwrap();
    let res = app.get(LEADS).bearer(&token).send().await;
    assert_eq!(res.status, 500, "{}", res.text);
    assert_eq!(res.body, json!({"detail": "A server error occurred."}));
}
