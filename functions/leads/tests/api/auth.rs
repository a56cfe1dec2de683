//! Authentication, tenant resolution and role rules, with real tokens.

use crate::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crm_auth::JwtConfig;
use crm_auth::{issue_token, TokenRequest};
use hmac::{Hmac, Mac};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(tenant: &crm_domain::tenant::Tenant) -> Value {
    json!({
        "sub": "u1",
        "tenant_id": tenant.id.to_string(),
        "role": "owner",
        "exp": chrono::Utc::now().timestamp() + 3600,
    })
}

/// A token signed with HMAC-SHA256 over whatever header it is given.
fn hand_signed(header: Value, claims: &Value, secret: &str) -> String {
    let signing_input = format!("{}.{}", b64(&header), b64(claims));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

async fn status_with_header(app: &TestApp, authorization: Option<&str>) -> TestResponse {
    let mut req = app.get(LEADS);
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.send().await
}

#[tokio::test]
async fn bad_credentials_are_401_with_www_authenticate() {
    let app = start().await;
    let tenant = app.tenant("Acme").await;
    let secret = crm_testkit::JWT_SECRET;
    let good = hand_signed(
        json!({"alg": "HS256", "typ": "JWT"}),
        &claims(&tenant),
        secret,
    );
    assert_eq!(
        status_with_header(&app, Some(&format!("Bearer {good}")))
            .await
            .status,
        200
    );

    let mut expired_claims = claims(&tenant);
    expired_claims["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut no_tenant = claims(&tenant);
    no_tenant.as_object_mut().unwrap().remove("tenant_id");
    let mut no_role = claims(&tenant);
    no_role.as_object_mut().unwrap().remove("role");
    let mut no_exp = claims(&tenant);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut bad_role = claims(&tenant);
    bad_role["role"] = json!("root");
    let mut bad_tenant = claims(&tenant);
    bad_tenant["tenant_id"] = json!("acme");
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("empty", Some(String::new())),
        ("not bearer", Some(format!("Token {good}"))),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &expired_claims, secret)
            )),
        ),
        (
            "wrong key",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &claims(&tenant), "another-secret-entirely-xyz")
            )),
        ),
        (
            "alg none",
            Some(format!(
                "Bearer {}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(&tenant))
            )),
        ),
        (
            "alg none signed",
            Some(format!(
                "Bearer {}",
                hand_signed(json!({"alg": "none"}), &claims(&tenant), secret)
            )),
        ),
        // Algorithm confusion: an RS256 header "verified" with the shared secret.
        (
            "RS256 confusion",
            Some(format!(
                "Bearer {}",
                hand_signed(
                    json!({"alg": "RS256", "typ": "JWT"}),
                    &claims(&tenant),
                    secret
                )
            )),
        ),
        (
            "HS384",
            Some(format!(
                "Bearer {}",
                jsonwebtoken::encode(
                    &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
                    &claims(&tenant),
                    &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())
                )
                .unwrap()
            )),
        ),
        (
            "no tenant_id",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &no_tenant, secret)
            )),
        ),
        (
            "no role",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &no_role, secret)
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &no_exp, secret)
            )),
        ),
        (
            "unknown role",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &bad_role, secret)
            )),
        ),
        (
            "tenant not a uuid",
            Some(format!(
                "Bearer {}",
                hand_signed(hs.clone(), &bad_tenant, secret)
            )),
        ),
    ];
    for (name, header) in cases {
        let res = status_with_header(&app, header.as_deref()).await;
        assert_eq!(res.status, 401, "{name}: {}", res.text);
        assert_eq!(
            res.header("www-authenticate"),
            Some("Bearer realm=\"api\""),
            "{name}"
        );
        assert!(res.body["detail"].is_string(), "{name}");
    }
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let mut config = crm_testkit::test_config();
    config.jwt.issuer = Some("https://auth.example.com/".into());
    config.jwt.audience = Some("crm-api".into());
    let app = TestApp::start_with(leads::app, config.clone()).await;
    let tenant = app.tenant("Acme").await;
    let request = TokenRequest {
        tenant_id: tenant.id.as_uuid(),
        user_id: "u1",
        role: Role::Owner,
        email: None,
        ttl_seconds: 600,
    };
    let good = issue_token(&config.jwt, &request);
    app.get(LEADS).bearer(&good).send().await.expect(200);
    for (iss, aud) in [
        (None, Some("crm-api")),
        (Some("https://evil.example.com/"), Some("crm-api")),
        (Some("https://auth.example.com/"), None),
        (Some("https://auth.example.com/"), Some("other-api")),
    ] {
        let jwt = JwtConfig {
            secret: config.jwt.secret.clone(),
            issuer: iss.map(str::to_string),
            audience: aud.map(str::to_string),
        };
        let token = issue_token(&jwt, &request);
        app.get(LEADS).bearer(&token).send().await.expect(401);
    }
}

#[tokio::test]
async fn tenant_header_must_agree_with_the_token() {
    let app = start().await;
    let (a, token_a) = tenant_owner(&app, "A").await;
    let b = app.tenant("B").await;
    app.get(LEADS)
        .bearer(&token_a)
        .header("X-Tenant-Id", &a.id.to_string())
        .send()
        .await
        .expect(200);
    let res = app
        .get(LEADS)
        .bearer(&token_a)
        .header("X-Tenant-Id", &b.id.to_string())
        .send()
        .await
        .expect(403);
    assert!(res.body["detail"]
        .as_str()
        .unwrap()
        .contains("different tenant"));
    let res = app
        .get(LEADS)
        .bearer(&token_a)
        .header("X-Tenant-Id", "tenant-uuid")
        .send()
        .await
        .expect(400);
    assert_eq!(res.body, json!({"X-Tenant-Id": ["Must be a valid UUID."]}));
}

#[tokio::test]
async fn unknown_and_suspended_tenants_are_refused() {
    let app = start().await;
    let ghost = crm_domain::tenant::Tenant::new("Ghost".into(), "ghost".into(), None);
    let token = app.token(&ghost, "u1", Role::Owner);
    app.get(LEADS).bearer(&token).send().await.expect(403);

    let (tenant, token) = tenant_owner(&app, "Acme").await;
    app.get(LEADS).bearer(&token).send().await.expect(200);
    app.suspend(&tenant).await;
    let res = app.get(LEADS).bearer(&token).send().await.expect(403);
    assert_eq!(res.body, json!({"detail": "This tenant is suspended."}));
    app.post(LEADS)
        .bearer(&token)
        .json(john())
        .send()
        .await
        .expect(403);
}

#[tokio::test]
async fn readonly_reads_but_never_writes() {
    let app = start().await;
    let (tenant, owner) = tenant_owner(&app, "Acme").await;
    let lead = create(&app, &owner, john()).await;
    let url = lead_url(lead["id"].as_str().unwrap());
    let ro = app.token(&tenant, "viewer", Role::Readonly);
    app.get(LEADS).bearer(&ro).send().await.expect(200);
    app.get(&url).bearer(&ro).send().await.expect(200);
    let res = app
        .post(LEADS)
        .bearer(&ro)
        .json(person(1))
        .send()
        .await
        .expect(403);
    assert_eq!(
        res.body,
        json!({"detail": "You do not have permission to perform this action."})
    );
    app.patch(&url)
        .bearer(&ro)
        .json(json!({"phone": "1"}))
        .send()
        .await
        .expect(403);
    app.put(&url)
        .bearer(&ro)
        .json(john())
        .send()
        .await
        .expect(403);
    app.delete(&url).bearer(&ro).send().await.expect(403);
    assert_eq!(app.get(&url).bearer(&owner).send().await.body, lead);
}

#[tokio::test]
async fn users_edit_only_their_own_or_unassigned_leads() {
    let app = start().await;
    let (tenant, owner) = tenant_owner(&app, "Acme").await;
    let alice = app.token(&tenant, "alice", Role::User);
    let unassigned = create(&app, &owner, person(1)).await;
    let bobs = create(
        &app,
        &owner,
        json!({"first_name": "B", "last_name": "B", "email": "b@x.example", "assigned_to": "bob"}),
    )
    .await;
    let url = |l: &Value| lead_url(l["id"].as_str().unwrap());

    // A user creates leads, for themselves or unassigned, not for others.
    let own = create(&app, &alice, json!({"first_name": "A", "last_name": "A", "email": "a@x.example", "assigned_to": "alice"})).await;
    assert_eq!(own["assigned_to"], "alice");
    assert_eq!(own["created_by"], "alice");
    let res = app
        .post(LEADS)
        .bearer(&alice)
        .json(json!({"first_name": "C", "last_name": "C", "email": "c@x.example", "assigned_to": "bob"}))
        .send()
        .await
        .expect(403);
    assert!(res.body["detail"].as_str().unwrap().contains("managers"));

    app.patch(&url(&unassigned))
        .bearer(&alice)
        .json(json!({"phone": "1"}))
        .send()
        .await
        .expect(200);
    app.patch(&url(&own))
        .bearer(&alice)
        .json(json!({"phone": "2"}))
        .send()
        .await
        .expect(200);
    app.patch(&url(&bobs))
        .bearer(&alice)
        .json(json!({"phone": "3"}))
        .send()
        .await
        .expect(403);
    app.put(&url(&bobs))
        .bearer(&alice)
        .json(person(9))
        .send()
        .await
        .expect(403);
    // Taking an unassigned lead is fine; handing it to someone else is not.
    app.patch(&url(&unassigned))
        .bearer(&alice)
        .json(json!({"assigned_to": "bob"}))
        .send()
        .await
        .expect(403);
    app.patch(&url(&unassigned))
        .bearer(&alice)
        .json(json!({"assigned_to_id": "alice"}))
        .send()
        .await
        .expect(200);
    app.delete(&url(&own))
        .bearer(&alice)
        .send()
        .await
        .expect(403);
    assert_eq!(
        app.get(&url(&bobs)).bearer(&owner).send().await.body["phone"],
        Value::Null
    );
}

#[tokio::test]
async fn managers_edit_and_assign_any_lead_admins_delete() {
    let app = start().await;
    let (tenant, owner) = tenant_owner(&app, "Acme").await;
    let manager = app.token(&tenant, "mia", Role::Manager);
    let admin = app.token(&tenant, "adam", Role::Admin);
    let lead = create(
        &app,
        &owner,
        json!({"first_name": "B", "last_name": "B", "email": "b@x.example", "assigned_to": "bob"}),
    )
    .await;
    let url = lead_url(lead["id"].as_str().unwrap());
    let res = app
        .patch(&url)
        .bearer(&manager)
        .json(json!({"assigned_to": "carol"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["assigned_to"], "carol");
    app.delete(&url).bearer(&manager).send().await.expect(403);
    app.delete(&url).bearer(&admin).send().await.expect(204);
}
