//! Subscriptions: the lifecycle, the secret shown once, validation, roles and tenants.

use crm_domain::Role;
use crm_testkit::fixtures::id;
use crm_testkit::{test_config, TestApp};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn the_secret_is_shown_in_the_create_only() {
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let created = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let secret = created["secret"].as_str().expect("the secret, once");
    assert!(
        secret.starts_with("whsec_") && secret.len() >= 6 + 43,
        "{secret}"
    );
    assert_eq!(created["events"], json!(["lead.created"]));
    assert_eq!(created["is_active"], true);

    let path = webhook(&id(&created));
    let detail = w.app.read(&path, &w.owner).await;
    assert!(detail.get("secret").is_none(), "{detail}");
    assert!(!detail.to_string().contains(secret));
    let list = w.app.read(WEBHOOKS, &w.owner).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));

    let changed = w
        .app
        .patch(&path)
        .bearer(&w.owner)
        .json(json!({"events": ["lead.updated"], "fields": ["status"], "is_active": false}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(changed["fields"], json!(["status"]));
    assert_eq!(changed["is_active"], false);
    assert!(!changed.to_string().contains(secret));

    w.app
        .delete(&path)
        .bearer(&w.owner)
        .send()
        .await
        .expect(204);
    w.app.expect_json_404("GET", &path, &w.owner).await;
}

#[tokio::test]
async fn bad_subscriptions_are_400s_naming_the_field() {
    let w = World::start().await;
    let ok = "http://127.0.0.1:9/hook";
    w.app
        .assert_rejected(
            WEBHOOKS,
            &w.owner,
            vec![
                (json!({"events": ["lead.created"]}), "url"),
                (json!({"url": ok}), "events"),
                (json!({"url": ok, "events": []}), "events"),
                (json!({"url": ok, "events": ["lead.exploded"]}), "events"),
                (json!({"url": ok, "events": "lead.created"}), "events"),
                (
                    json!({"url": "ftp://x.example/h", "events": ["lead.created"]}),
                    "url",
                ),
                (
                    json!({"url": "not a url", "events": ["lead.created"]}),
                    "url",
                ),
                (
                    json!({"url": format!("https://x.example/{}", "a".repeat(2_000)),
                           "events": ["lead.created"]}),
                    "url",
                ),
                (
                    json!({"url": ok, "events": ["lead.updated"], "fields": ["score"]}),
                    "fields",
                ),
                (
                    json!({"url": ok, "events": ["lead.created"], "is_active": null}),
                    "is_active",
                ),
            ],
        )
        .await;
    assert!(w.app.read(WEBHOOKS, &w.owner).await["results"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn private_and_plain_http_targets_are_refused_unless_allowed() {
    // The default settings: as in AWS.
    let app = TestApp::start_with(sources::app, test_config()).await;
    let (_, owner) = app.owner("Strict Co").await;
    let events = json!(["lead.created"]);
    app.assert_rejected(
        WEBHOOKS,
        &owner,
        vec![
            (
                json!({"url": "http://hooks.example.com/h", "events": events}),
                "url",
            ),
            (
                json!({"url": "https://127.0.0.1/h", "events": events}),
                "url",
            ),
            (
                json!({"url": "https://localhost:8443/h", "events": events}),
                "url",
            ),
            (
                json!({"url": "https://10.0.0.7/h", "events": events}),
                "url",
            ),
            (
                json!({"url": "https://169.254.169.254/latest/meta-data", "events": events}),
                "url",
            ),
            (json!({"url": "https://[::1]/h", "events": events}), "url"),
            (
                json!({"url": "https://[fd00:ec2::254]/h", "events": events}),
                "url",
            ),
            (
                json!({"url": "https://100.64.1.1/h", "events": events}),
                "url",
            ),
        ],
    )
    .await;
    let res = app
        .post(WEBHOOKS)
        .bearer(&owner)
        .json(json!({"url": "https://127.0.0.1/h", "events": events}))
        .send()
        .await;
    assert!(
        res.body["url"][0].as_str().unwrap().contains("loopback"),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn only_admins_and_owners_see_or_change_subscriptions() {
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let created = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let path = webhook(&id(&created));
    let admin = w.app.token(&w.tenant, "admin-1", Role::Admin);
    w.app.read(&path, &admin).await;
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = w.app.token(&w.tenant, "someone", role);
        for (method, p) in [
            ("GET", WEBHOOKS.to_string()),
            ("POST", WEBHOOKS.to_string()),
            ("GET", path.clone()),
            ("PATCH", path.clone()),
            ("DELETE", path.clone()),
            ("GET", format!("{path}deliveries/")),
            ("POST", format!("{path}test/")),
        ] {
            let res = w
                .app
                .request(method, &p)
                .bearer(&token)
                .json(json!({"url": receiver.url, "events": ["lead.created"]}))
                .send()
                .await;
            assert_eq!(res.status, 403, "{role:?} {method} {p}: {}", res.text);
        }
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn another_tenants_subscription_is_not_found_on_every_route() {
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let created = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let path = webhook(&id(&created));
    let (_, other) = w.app.owner("Other Co").await;
    assert!(w.app.read(WEBHOOKS, &other).await["results"]
        .as_array()
        .unwrap()
        .is_empty());
    let delivery = uuid::Uuid::new_v4();
    for (method, p) in [
        ("GET", path.clone()),
        ("PUT", path.clone()),
        ("PATCH", path.clone()),
        ("DELETE", path.clone()),
        ("GET", format!("{path}deliveries/")),
        ("POST", format!("{path}deliveries/{delivery}/redeliver/")),
        ("POST", format!("{path}test/")),
    ] {
        w.app.expect_json_404(method, &p, &other).await;
    }
    assert!(receiver.received().is_empty());
    // Still there for its own tenant.
    w.app.read(&path, &w.owner).await;
}

#[tokio::test]
async fn a_member_is_refused_reads_before_the_lookup_and_writes_after_it() {
    // Reads are judged on the role alone, before the id is looked up (the 403 tells
    // nothing of it); writes find their record first, as every resource's do.
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let created = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let theirs = webhook(&id(&created));
    let (other_tenant, _) = w.app.owner("Other Co").await;
    let member = w.app.token(&other_tenant, "member-1", Role::User);
    let missing = webhook(&uuid::Uuid::new_v4().to_string());
    let delivery = uuid::Uuid::new_v4();
    for path in [&theirs, &missing] {
        for (method, p) in [
            ("GET", WEBHOOKS.to_string()),
            ("GET", path.clone()),
            ("GET", format!("{path}deliveries/")),
            ("POST", format!("{path}deliveries/{delivery}/redeliver/")),
            ("POST", format!("{path}test/")),
        ] {
            let res = w.app.request(method, &p).bearer(&member).send().await;
            assert_eq!(res.status, 403, "{method} {p}: {}", res.text);
        }
        for method in ["PUT", "PATCH", "DELETE"] {
            w.app.expect_json_404(method, path, &member).await;
        }
    }
    assert!(receiver.received().is_empty());
    w.app.read(&theirs, &w.owner).await;
}
