//! Uniqueness and optimistic locking under concurrent requests.

use crate::common::*;
use futures::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_with_one_email_give_one_lead() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let attempts = (0..8).map(|n| {
        let mut body = john();
        // The same address in different case: the guard is case-insensitive.
        body["email"] = json!(if n % 2 == 0 {
            "john@company.com"
        } else {
            "JOHN@company.com"
        });
        app.post(LEADS).bearer(&token).json(body).send()
    });
    let results = join_all(attempts).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let refused: Vec<_> = results.iter().filter(|r| r.status == 400).collect();
    assert_eq!(created, 1, "{results:?}");
    assert_eq!(refused.len(), 7);
    for r in refused {
        assert_eq!(r.body, email_taken());
    }
    let list = app.read(LEADS, &token).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn if_match_guards_updates_and_deletes() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, john()).await;
    let url = paths::lead(id(&lead));

    // A request for `url` as the owner, pinned to `version`.
    let pinned = |method: &str, version: &str| {
        app.request(method, &url)
            .bearer(&token)
            .header("If-Match", version)
    };
    let phone = |n: &str| json!({ "phone": n });
    let res = pinned("PATCH", "\"1\"")
        .json(phone("1"))
        .send()
        .await
        .expect(200);
    assert_eq!(res.header("etag"), Some("\"2\""));
    // A writer still holding version 1 is refused, and nothing changes.
    let res = pinned("PATCH", "\"1\"")
        .json(phone("2"))
        .send()
        .await
        .expect(412);
    assert!(res.body["detail"].as_str().unwrap().contains("\"2\""));
    pinned("PUT", "W/\"1\"")
        .json(john())
        .send()
        .await
        .expect(412);
    pinned("PATCH", "not-ours")
        .json(phone("2"))
        .send()
        .await
        .expect(412);
    pinned("DELETE", "\"1\"").send().await.expect(412);
    assert_eq!(app.get(&url).bearer(&token).send().await.body["phone"], "1");
    // `*` matches whatever is current.
    pinned("PATCH", "*")
        .json(phone("3"))
        .send()
        .await
        .expect(200);
    pinned("DELETE", "\"3\"").send().await.expect(204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_without_if_match_lose_no_field() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, john()).await;
    let url = paths::lead(id(&lead));
    let changes = [
        ("phone", "555"),
        ("job_title", "CTO"),
        ("industry", "Software"),
        ("timeline", "this quarter"),
        ("utm_source", "newsletter"),
        ("pain_points", "slow CRM"),
    ];
    let patches = changes.iter().map(|(field, value)| {
        app.patch(&url)
            .bearer(&token)
            .json(json!({ *field: value }))
            .send()
    });
    for res in join_all(patches).await {
        assert_eq!(res.status, 200, "{}", res.text);
    }
    let after = app.read(&url, &token).await;
    for (field, value) in changes {
        assert_eq!(after[field], value, "{field} survived");
    }
    assert_eq!(after["version"], 1 + changes.len() as u64);
    let audit = app.audit(&tenant, &id(&lead)).await;
    assert_eq!(audit.len(), 1 + changes.len());
}
