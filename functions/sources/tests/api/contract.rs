//! The HTTP contract's robustness rules on this function's routes: every `{id}` route
//! answers an undecodable id with a JSON 404, every list answers `next` and `previous`
//! with links from the platform, and out-of-range list filters are 400s.

use crate::common::*;

/// Every `{id}` route of this function with an id that is not UTF-8 once decoded.
fn id_routes() -> Vec<String> {
    vec![
        paths::source("%ff"),
        paths::tag("%ff"),
        paths::activity("%ff"),
        paths::note("%ff"),
        paths::custom_field("%ff"),
        paths::lead_path("%ff", "activities"),
        paths::lead_path("%ff", "notes"),
        paths::bare(&paths::source("%c3%28")).to_string(),
        paths::bare(&paths::lead_path("%80", "notes")).to_string(),
    ]
}

#[tokio::test]
async fn every_id_route_answers_an_undecodable_id_with_a_json_404() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    for path in id_routes() {
        let res = apps.sources.get(&path).bearer(&token).send().await;
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        assert_eq!(res.body, json!({"detail": "Not found."}), "{path}");
        assert!(res.header("x-request-id").is_some(), "{path}");
    }
}

#[tokio::test]
async fn every_list_answers_next_and_previous_from_the_platform() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let lead = apps.leads.create_lead(&token, person(1)).await;
    let lead_id = lead["id"].as_str().unwrap();
    for n in 0..2 {
        create_source(&apps.sources, &token, &format!("source {n}")).await;
    }
    let lists = [
        SOURCES.to_string(),
        "/api/leads/api/v1/tags/".to_string(),
        "/api/leads/api/v1/activities/".to_string(),
        "/api/leads/api/v1/activities/upcoming/".to_string(),
        "/api/leads/api/v1/activities/overdue/".to_string(),
        "/api/leads/api/v1/notes/".to_string(),
        "/api/leads/api/v1/custom-fields/".to_string(),
        format!("{LEADS}{lead_id}/activities/"),
        format!("{LEADS}{lead_id}/notes/"),
    ];
    for list in &lists {
        let res = apps
            .sources
            .get(list)
            .bearer(&token)
            .header("x-forwarded-host", "evil.example")
            .send()
            .await;
        assert_eq!(res.status, 200, "{list}: {}", res.text);
        let body = res.body.as_object().unwrap();
        for key in ["next", "previous", "results"] {
            assert!(body.contains_key(key), "{list}: {key} in {}", res.text);
        }
    }
    let res = apps
        .sources
        .get(&format!("{SOURCES}?page_size=1"))
        .bearer(&token)
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "http")
        .send()
        .await;
    let next = res.body["next"].as_str().expect("a next link");
    assert!(
        next.starts_with("https://api.example.com/api/leads/api/v1/sources/?"),
        "{next}"
    );
}
