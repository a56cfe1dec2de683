//! The HTTP contract's robustness rules (issue "Contract and robustness"): pagination links
//! from the platform and never from client headers, no input reaching a panic (and a panic
//! that still happens answering a JSON 500), future `nbf` tokens refused, undecodable path
//! ids answering 404, and a search with no words finding nothing.

use crate::common::*;
use axum::routing::get;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use tower::ServiceExt;

/// Sends an API Gateway v2 event as given (for request contexts the test kit does not make).
async fn send_event(app: &TestApp, event: Value) -> TestResponse {
    let request =
        lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event");
    let response = app.app.clone().oneshot(request).await.expect("infallible");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    TestResponse {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn three_leads(app: &TestApp) -> String {
    let (_, token) = app.owner("Acme").await;
    for n in 0..3 {
        app.create_lead(&token, person(n)).await;
    }
    token
}

#[tokio::test]
async fn links_come_from_the_gateway_domain_never_from_forwarding_headers() {
    let app = start().await;
    let token = three_leads(&app).await;
    let first = app
        .get(&format!("{LEADS}?page_size=1"))
        .bearer(&token)
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .header("forwarded", "host=evil.example;proto=http")
        .send()
        .await
        .expect(200);
    let base = "https://api.example.com/api/leads/api/v1/leads/?";
    let next = first.body["next"].as_str().expect("a next link");
    assert!(next.starts_with(base), "{next}");
    assert!(
        first.body.as_object().unwrap().contains_key("previous")
            && first.body["previous"].is_null(),
        "the first page answers previous: null: {}",
        first.text
    );
    let second = app
        .get(next.trim_start_matches("https://api.example.com"))
        .bearer(&token)
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .expect(200);
    let previous = second.body["previous"].as_str().expect("a previous link");
    assert!(previous.starts_with(base), "{previous}");
}

#[tokio::test]
async fn local_gateway_links_are_plain_http_on_its_address() {
    let app = start().await;
    let token = three_leads(&app).await;
    // What `cargo lambda watch` sends: its request context names `localhost`, the Host
    // header is the address the client connected to.
    let mut event = app
        .get(&format!("{LEADS}?page_size=1"))
        .bearer(&token)
        .header("host", "127.0.0.1:8007")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .event();
    event["requestContext"]["domainName"] = json!("localhost");
    event["requestContext"]["domainPrefix"] = json!("leads");
    event["requestContext"]["http"]["protocol"] = json!("http");
    let res = send_event(&app, event.clone()).await.expect(200);
    let next = res.body["next"].as_str().expect("a next link");
    assert!(
        next.starts_with("http://127.0.0.1:8007/api/leads/api/v1/leads/?"),
        "{next}"
    );

    // Without a domain name in the context, the same.
    event["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("domainName");
    let res = send_event(&app, event.clone()).await.expect(200);
    let next = res.body["next"].as_str().expect("a next link");
    assert!(
        next.starts_with("http://127.0.0.1:8007/api/leads/api/v1/leads/?"),
        "{next}"
    );

    // A Host header naming somewhere else does not leave the loopback gateway.
    event["headers"]["host"] = json!("evil.example");
    event["requestContext"]["domainName"] = json!("localhost");
    let res = send_event(&app, event).await.expect(200);
    let next = res.body["next"].as_str().expect("a next link");
    assert!(!next.contains("evil.example"), "{next}");
    assert!(next.starts_with("http://localhost/"), "{next}");
}

#[tokio::test]
async fn out_of_range_day_counts_are_a_400_naming_the_parameter() {
    let app = start().await;
    let token = three_leads(&app).await;
    for raw in ["100000000", "4294967295", "99999999999999999999", "-1"] {
        let res = app
            .get(&format!("{LEADS}?no_activity_days={raw}"))
            .bearer(&token)
            .send()
            .await
            .expect(400);
        assert!(
            res.body["no_activity_days"][0].is_string(),
            "{raw}: {}",
            res.text
        );
    }
    let res = app
        .get(&format!("{LEADS}?no_activity_days=36500"))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["results"].as_array().unwrap().len(), 0);
    let res = app
        .get(&format!("{LEADS}?no_activity_days=0"))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["results"].as_array().unwrap().len(), 3);
}

/// A handler with a bug.
async fn boom() -> &'static str {
    panic!("a handler bug")
}

fn panicking_app(state: crm_http::AppState) -> crm_http::App {
    crm_http::app(axum::Router::new().route("/boom", get(boom)), state)
}

#[tokio::test]
async fn a_panic_is_a_json_500_with_the_request_id_and_security_headers() {
    let app = TestApp::start(panicking_app).await;
    let request = app.get("/boom/");
    let event = request.event();
    let request_id = event["requestContext"]["requestId"]
        .as_str()
        .unwrap()
        .to_string();
    let res = send_event(&app, event).await.expect(500);
    assert_eq!(res.body, json!({"detail": "A server error occurred."}));
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("x-request-id"), Some(request_id.as_str()));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(res.header("strict-transport-security").is_some());
    // The instance keeps serving.
    let again = send_event(&app, app.get("/boom").event()).await;
    assert_eq!(again.status, 500);
}

#[tokio::test]
async fn a_token_not_valid_yet_is_401() {
    let app = start().await;
    let tenant = app.tenant("Acme").await;
    let now = chrono::Utc::now().timestamp();
    let sign = |nbf: i64| {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(
            json!({
                "sub": "u1",
                "tenant_id": tenant.id.to_string(),
                "role": "owner",
                "exp": now + 7200,
                "nbf": nbf,
            })
            .to_string(),
        );
        let input = format!("{header}.{claims}");
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(crm_testkit::JWT_SECRET.as_bytes()).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    };
    app.get(LEADS)
        .bearer(&sign(now - 60))
        .send()
        .await
        .expect(200);
    let res = app
        .get(LEADS)
        .bearer(&sign(now + 3600))
        .send()
        .await
        .expect(401);
    assert!(res.body["detail"].is_string(), "{}", res.text);
    assert!(res.header("www-authenticate").is_some());
}

#[tokio::test]
async fn an_undecodable_path_id_is_a_json_404() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    for path in [
        format!("{LEADS}%ff/"),
        format!("{LEADS}%ff"),
        format!("{LEADS}%c3%28/"),
    ] {
        for method in ["GET", "PATCH", "PUT", "DELETE"] {
            let res = app.expect_json_404(method, &path, &token).await;
            assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
        }
    }
}

#[tokio::test]
async fn a_search_without_words_finds_nothing() {
    let app = start().await;
    let token = three_leads(&app).await;
    for search in ["!!!", "%20-%20", "%E2%80%94"] {
        let res = app
            .get(&format!("{LEADS}?search={search}"))
            .bearer(&token)
            .send()
            .await
            .expect(200);
        assert_eq!(res.body["results"], json!([]), "search={search}");
        assert!(res.body["next"].is_null(), "search={search}");
        assert!(res.body["previous"].is_null(), "search={search}");
    }
    // An empty search is no search.
    let res = app
        .get(&format!("{LEADS}?search="))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["results"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn every_lead_list_answers_next_and_previous() {
    let app = start().await;
    let token = three_leads(&app).await;
    for view in ["", "overdue/", "high-priority/", "unassigned/"] {
        let res = app
            .get(&format!("{LEADS}{view}"))
            .bearer(&token)
            .send()
            .await
            .expect(200);
        let body = res.body.as_object().unwrap();
        for key in ["next", "previous", "results"] {
            assert!(body.contains_key(key), "{view}: {key} in {}", res.text);
        }
    }
}

/// DynamoDB keys hold at most 2,048 bytes (partition) and 1,024 (sort), and the source, tag
/// and assignee filters become keys: a value no record can carry is a 400 naming the filter,
/// not the database's 500.
#[tokio::test]
async fn filter_values_longer_than_any_name_are_a_400_naming_the_filter() {
    let app = start().await;
    let token = three_leads(&app).await;
    let long = "x".repeat(3000);
    for name in ["source", "tags", "tag", "assigned_to", "industry", "search"] {
        let res = app
            .get(&format!("{LEADS}?{name}={long}"))
            .bearer(&token)
            .send()
            .await
            .expect(400);
        assert!(res.body[name][0].is_string(), "{name}: {}", res.text);
    }
    // The longest value a record can carry is still an ordinary filter.
    let res = app
        .get(&format!("{LEADS}?source={}", "x".repeat(255)))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["results"].as_array().unwrap().len(), 0);
}
