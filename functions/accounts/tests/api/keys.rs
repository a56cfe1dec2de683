//! API keys: created by owners and admins (shown once), listed without the secret, used by
//! either header, scoped, revoked, expired, and never usable on another tenant.

use crate::common::*;
use chrono::{Duration, Utc};
use crm_domain::api_keys::{ApiKey, ApiKeyInput};
use crm_domain::Caller;
use crm_store::ResourceType;
use crm_testkit::fixtures::setup_entry;
use crm_testkit::TestRequest;

/// A key of `token`'s tenant with `scopes`; returns the creation's answer.
pub async fn create_key(app: &TestApp, token: &str, scopes: &[&str]) -> Value {
    app.create(API_KEYS, token, json!({"name": "Sync", "scopes": scopes}))
        .await
}

pub fn secret(created: &Value) -> String {
    created["key"]
        .as_str()
        .expect("the key, shown once")
        .to_string()
}

/// `request` authenticated by `key` in the `Authorization` header.
pub fn with_key(request: TestRequest, key: &str) -> TestRequest {
    request.header("authorization", &format!("Api-Key {key}"))
}

#[tokio::test]
async fn a_key_is_shown_once_used_by_either_header_and_revoked() {
    let apps = start().await;
    let (tenant, owner) = apps.accounts.owner("Acme").await;

    // WHEN the owner creates a key THEN it is shown once, recognisable, with its settings
    let created = create_key(&apps.accounts, &owner, &["leads:read", "leads:write"]).await;
    let key = secret(&created);
    assert!(
        key.starts_with("crm_") && key.len() >= 4 + 16 + 1 + 43,
        "{key}"
    );
    assert_eq!(created["scopes"], json!(["leads:read", "leads:write"]));
    assert_eq!(created["rate_limit"], 1000);
    assert_eq!(created["usage_count"], 0);

    // WHEN the key creates a lead (Authorization) and lists (X-API-Key) THEN both work
    let lead = with_key(apps.leads.post(paths::LEADS), &key)
        .json(lead_body())
        .send()
        .await
        .expect(201)
        .body;
    let listed = apps
        .leads
        .get(paths::LEADS)
        .header("x-api-key", &key)
        .header("x-tenant-id", &tenant.id.to_string())
        .send()
        .await
        .expect(200);
    assert_eq!(listed.body["results"][0]["id"], lead["id"]);

    // THEN the audit trail names the key as the actor
    let id = created["id"].as_str().unwrap();
    let history = apps
        .leads
        .read(
            &paths::lead_path(lead["id"].as_str().unwrap(), "history/"),
            &owner,
        )
        .await;
    assert_eq!(history["results"][0]["actor"], format!("api-key:{id}"));

    // THEN the list shows the key and its use, never the secret
    let keys = apps.accounts.read(API_KEYS, &owner).await;
    let text = keys.to_string();
    assert!(!text.contains(&key[20..]), "{text}");
    assert_eq!(keys["results"][0]["id"], created["id"]);
    assert!(keys["results"][0]["last_used_at"].is_string(), "{keys}");
    assert!(keys["results"][0]["usage_count"].as_u64().unwrap() >= 1);

    // WHEN the owner revokes it THEN it stops working at once here (no cache in tests)
    let path = format!("{API_KEYS}{id}/");
    apps.accounts
        .delete(&path)
        .bearer(&owner)
        .send()
        .await
        .expect(204);
    let res = with_key(apps.leads.get(paths::LEADS), &key).send().await;
    assert_eq!(res.status, 401, "{}", res.text);
    apps.accounts
        .delete(&path)
        .bearer(&owner)
        .send()
        .await
        .expect(404);
    let keys = apps.accounts.read(API_KEYS, &owner).await;
    assert_eq!(keys["results"][0]["is_active"], false);
}

#[tokio::test]
async fn only_owners_and_admins_manage_keys_and_the_role_check_comes_first() {
    let apps = start().await;
    let app = &apps.accounts;
    let (tenant, owner) = app.owner("Acme").await;
    let admin = app.token(&tenant, "admin-1", Role::Admin);
    create_key(app, &admin, &["bulk"]).await;
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = app.token(&tenant, "someone", role);
        // A body that is not even JSON: the 403 comes before it is read.
        let res = app
            .post(API_KEYS)
            .bearer(&token)
            .raw_body("text/plain", "nope")
            .send()
            .await;
        assert_eq!(res.status, 403, "{role:?}: {}", res.text);
        assert_eq!(app.get(API_KEYS).bearer(&token).send().await.status, 403);
    }
    // Bad input names its fields.
    let res = app
        .post(API_KEYS)
        .bearer(&owner)
        .json(json!({"scopes": ["root"], "rate_limit": -1, "expires_at": "soon"}))
        .send()
        .await
        .expect(400);
    for field in ["name", "scopes", "rate_limit", "expires_at"] {
        assert!(res.body[field].is_array(), "{field}: {}", res.text);
    }
}

#[tokio::test]
async fn scopes_decide_the_routes_and_no_key_manages_members_or_keys() {
    let apps = start().await;
    let (_, owner) = apps.accounts.owner("Acme").await;
    let reader = secret(&create_key(&apps.accounts, &owner, &["leads:read"]).await);
    let all = secret(
        &create_key(
            &apps.accounts,
            &owner,
            &["leads:read", "leads:write", "bulk", "settings"],
        )
        .await,
    );
    let status = |r: TestRequest, key: &str| {
        let r = with_key(r, key);
        async move { r.send().await.status }
    };
    let leads = &apps.leads;
    assert_eq!(status(leads.get(paths::LEADS), &reader).await, 200);
    let create = leads.post(paths::LEADS).json(lead_body());
    assert_eq!(status(create, &reader).await, 403);
    let bulk = apps.accounts.with_function(bulk::app);
    let body = json!({"lead_ids": [uuid::Uuid::new_v4()], "priority": "high"});
    let res = with_key(bulk.post(paths::BULK_UPDATE).json(body.clone()), &reader)
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    let res = with_key(bulk.post(paths::BULK_UPDATE).json(body), &all)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let create = leads.post(paths::LEADS).json(lead_body());
    assert_eq!(status(create, &all).await, 201);

    // Members, invitations and keys are never a key's, whatever its scopes.
    let accounts = &apps.accounts;
    for path in [MEMBERS, INVITATIONS, API_KEYS, PROFILE] {
        assert_eq!(status(accounts.get(path), &all).await, 403, "{path}");
    }
    let create = accounts
        .post(API_KEYS)
        .json(json!({"name": "x", "scopes": ["bulk"]}));
    assert_eq!(status(create, &all).await, 403);
}

#[tokio::test]
async fn unknown_expired_and_foreign_keys_are_refused() {
    let apps = start().await;
    let (tenant_a, owner_a) = apps.accounts.owner("Acme").await;
    let (tenant_b, owner_b) = apps.accounts.owner("Globex").await;
    let created = create_key(&apps.accounts, &owner_a, &["leads:read"]).await;
    let key = secret(&created);

    // A's key with B's id in X-Tenant-Id: 403; a malformed id: 400.
    let res = with_key(apps.leads.get(paths::LEADS), &key)
        .header("x-tenant-id", &tenant_b.id.to_string())
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    let res = with_key(apps.leads.get(paths::LEADS), &key)
        .header("x-tenant-id", "nope")
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);

    // A's key never reads B's lead: 404.
    let lead_b = apps.leads.create(paths::LEADS, &owner_b, lead_body()).await;
    let path = paths::lead(lead_b["id"].as_str().unwrap());
    assert_eq!(
        with_key(apps.leads.get(&path), &key).send().await.status,
        404
    );
    // B's owner cannot see or revoke A's key: 404.
    let foreign = format!("{API_KEYS}{}/", created["id"].as_str().unwrap());
    apps.accounts
        .delete(&foreign)
        .bearer(&owner_b)
        .send()
        .await
        .expect(404);

    // Unknown, tampered and malformed keys, and two credentials at once: 401.
    let mut tampered = key.clone();
    tampered.pop();
    tampered.push(if key.ends_with('A') { 'B' } else { 'A' });
    let unknown = format!("crm_0123456789abcdef_{}", &key[22..]);
    for bad in [tampered.as_str(), unknown.as_str(), "crm_", "nonsense"] {
        let res = apps
            .leads
            .get(paths::LEADS)
            .header("x-api-key", bad)
            .send()
            .await;
        assert_eq!(res.status, 401, "{bad}: {}", res.text);
    }
    let res = with_key(apps.leads.get(paths::LEADS), &key)
        .header("x-api-key", &tampered)
        .send()
        .await;
    assert_eq!(res.status, 401, "{}", res.text);

    // An expired key: 401.
    let caller = Caller {
        tenant: tenant_a.id,
        user_id: "owner-1".into(),
        role: Role::Owner,
        email: None,
        origin: Default::default(),
        audit_retention_days: 0,
    };
    let body = json!({"name": "old", "scopes": ["leads:read"]});
    let input = ApiKeyInput::parse(body.as_object().unwrap(), Utc::now()).unwrap();
    let mut new = ApiKey::mint(&caller, input);
    new.key.expires_at = Some(Utc::now() - Duration::seconds(1));
    apps.accounts
        .state
        .store
        .create_api_key(
            &new.key,
            &new.digest,
            &setup_entry(ResourceType::ApiKey, new.key.id),
        )
        .await
        .unwrap();
    let res = with_key(apps.leads.get(paths::LEADS), &new.secret)
        .send()
        .await;
    assert_eq!(res.status, 401, "{}", res.text);
}
