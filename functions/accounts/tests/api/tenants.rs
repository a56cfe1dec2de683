//! The current tenant's settings: read by any member, changed by admins and owners (the
//! role checked before the body), slugs unique across the service; tenants created by
//! signed-in users when the service allows it.

use crate::common::*;
use crm_testkit::test_config;

#[tokio::test]
async fn members_read_and_admins_change_the_settings() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let other = app.tenant("Other").await;
    app.member(&tenant, "owner@example.com", Role::Owner).await;
    app.member(&tenant, "admin@example.com", Role::Admin).await;
    app.member(&tenant, "manager@example.com", Role::Manager)
        .await;
    app.member(&tenant, "ro@example.com", Role::Readonly).await;
    let admin = app.sign_in("admin@example.com", None).await;
    let manager = app.sign_in("manager@example.com", None).await;
    let readonly = app.sign_in("ro@example.com", None).await;

    // Any member reads the tenant, its plan and usage
    let current = app.read(CURRENT_TENANT, &readonly).await;
    assert_eq!(current["id"], json!(tenant.id));
    assert_eq!(current["slug"], json!(tenant.slug));
    assert_eq!(
        (&current["currency"], &current["timezone"]),
        (&json!("USD"), &json!("UTC"))
    );
    assert_eq!(current["subscription_tier"], "free");
    assert_eq!(current["limits"]["max_leads"], 1000);
    assert_eq!(current["usage"], json!({"leads": 0, "users": 4}));

    // Managers and readonly members may not change it, whatever they send
    for token in [&manager, &readonly] {
        for body in [json!({"name": "X"}), json!({"name": 5, "slug": "Bad Slug"})] {
            let res = app
                .patch(CURRENT_TENANT)
                .bearer(token)
                .json(body)
                .send()
                .await;
            assert_eq!(res.status, 403, "{}", res.text);
        }
    }
    // Bad input names its fields; read-only fields are ignored
    let res = app
        .patch(CURRENT_TENANT)
        .bearer(&admin)
        .json(json!({"slug": "Bad Slug", "website": "nope", "billing_email": "x", "currency": "dollars", "name": null}))
        .send()
        .await
        .expect(400);
    for field in ["slug", "website", "billing_email", "currency", "name"] {
        assert!(res.body[field].is_array(), "{field}: {}", res.text);
    }
    let body = json!({"name": "Acme Ltd", "slug": "acme-ltd", "website": "https://acme.example",
        "billing_email": "Billing@Acme.Example", "city": "Lyon", "currency": "eur",
        "subscription_tier": "enterprise", "limits": {"max_leads": 1}});
    let res = app
        .patch(CURRENT_TENANT)
        .bearer(&admin)
        .json(body)
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["name"], "Acme Ltd");
    assert_eq!(res.body["slug"], "acme-ltd");
    assert_eq!(res.body["currency"], "EUR");
    assert_eq!(res.body["billing_email"], "Billing@acme.example");
    assert_eq!(res.body["subscription_tier"], "free");
    assert_eq!(res.body["limits"]["max_leads"], 1000);
    assert_eq!(app.read(CURRENT_TENANT, &readonly).await["city"], "Lyon");

    // A slug is unique across the service; the old one is free again
    let other_owner = app.token(&other, "someone", Role::Owner);
    let res = app
        .patch(CURRENT_TENANT)
        .bearer(&other_owner)
        .json(json!({"slug": "acme-ltd"}))
        .send()
        .await;
    assert_eq!(res.status, 409, "{}", res.text);
    assert!(res.body["detail"].as_str().unwrap().contains("slug"));
    let res = app
        .patch(CURRENT_TENANT)
        .bearer(&other_owner)
        .json(json!({"slug": tenant.slug}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["id"], json!(other.id));

    // Another tenant's id in X-Tenant-Id is refused
    let res = app
        .get(CURRENT_TENANT)
        .bearer(&admin)
        .header("X-Tenant-Id", &other.id.to_string())
        .send()
        .await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn signed_in_users_create_tenants_only_when_allowed() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "ann@example.com", Role::User).await;
    let ann = app.sign_in("ann@example.com", None).await;
    let res = app
        .post(TENANTS)
        .bearer(&ann)
        .json(json!({"name": "Ann's Shop"}))
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);

    let mut config = test_config();
    config.accounts.allow_tenant_signup = true;
    let open = TestApp::start_with(accounts::app, config).await;
    let tenant = open.tenant("Acme").await;
    open.member(&tenant, "ann@example.com", Role::User).await;
    let ann = open.sign_in("ann@example.com", None).await;
    open.post(TENANTS)
        .bearer(&ann)
        .json(json!({}))
        .send()
        .await
        .expect(400);
    let res = open
        .post(TENANTS)
        .bearer(&ann)
        .json(json!({"name": "Ann's Shop", "currency": "GBP"}))
        .send()
        .await
        .expect(201);
    assert_eq!(res.body["slug"], "ann-s-shop");
    assert_eq!(res.body["role"], "owner");
    assert_eq!(res.body["usage"], json!({"leads": 0, "users": 1}));
    let id = res.body["id"].as_str().unwrap().to_string();
    // The same slug again is a conflict
    let res = open
        .post(TENANTS)
        .bearer(&ann)
        .json(json!({"name": "Ann's Shop"}))
        .send()
        .await;
    assert_eq!(res.status, 409, "{}", res.text);
    // Ann now owns it: she signs in to it and manages it
    let login = open
        .post(LOGIN)
        .json(json!({"email": "ann@example.com", "password": PASSWORD, "tenant_id": id}))
        .send()
        .await
        .expect(200);
    assert_eq!(login.body["tenant"]["role"], "owner");
    let token = login.body["token"].as_str().unwrap();
    let current = open.read(CURRENT_TENANT, token).await;
    assert_eq!(
        (current["id"].as_str(), &current["currency"]),
        (Some(id.as_str()), &json!("GBP"))
    );
    // Its audit log begins with its creation, by Ann
    let log = open
        .read(
            "/api/tenants/current/audit-log/?resource_type=tenant",
            token,
        )
        .await;
    let created = &log["results"][0];
    assert_eq!(created["action"], "create", "{log}");
    assert_eq!(created["resource_id"], id.as_str());
    assert_eq!(created["actor"], login.body["user"]["id"]);
    assert_eq!(created["changes"]["name"]["new"], "Ann's Shop");
    // An outside issuer's token names no user of this service
    let outside = open.token(&tenant, "ext-user", Role::Owner);
    let res = open
        .post(TENANTS)
        .bearer(&outside)
        .json(json!({"name": "Elsewhere"}))
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
}
