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

    // The claims of a good token with one changed or left out.
    let changed = |field: &str, value: Value| with(claims(&tenant), &json!({ field: value }));
    let without = |field: &str| {
        let mut claims = claims(&tenant);
        claims.as_object_mut().unwrap().remove(field);
        claims
    };
    let expired_claims = changed("exp", json!(chrono::Utc::now().timestamp() - 3600));
    let hs = json!({"alg": "HS256", "typ": "JWT"});
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let signed = |header: &Value, claims: &Value, key: &str| {
        bearer(hand_signed(header.clone(), claims, key))
    };
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims(&tenant),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("empty", Some(String::new())),
        ("not bearer", Some(format!("Token {good}"))),
        ("garbage", Some("Bearer not.a.jwt".into())),
        ("expired", signed(&hs, &expired_claims, secret)),
        (
            "wrong key",
            signed(&hs, &claims(&tenant), "another-secret-entirely-xyz"),
        ),
        (
            "alg none",
            bearer(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&claims(&tenant))
            )),
        ),
        (
            "alg none signed",
            signed(&json!({"alg": "none"}), &claims(&tenant), secret),
        ),
        // Algorithm confusion: an RS256 header "verified" with the shared secret.
        (
            "RS256 confusion",
            signed(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &claims(&tenant),
                secret,
            ),
        ),
        ("HS384", bearer(hs384)),
        ("no tenant_id", signed(&hs, &without("tenant_id"), secret)),
        ("no role", signed(&hs, &without("role"), secret)),
        ("no exp", signed(&hs, &without("exp"), secret)),
        (
            "unknown role",
            signed(&hs, &changed("role", json!("root")), secret),
        ),
        (
            "tenant not a uuid",
            signed(&hs, &changed("tenant_id", json!("acme")), secret),
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
            issuer: iss.map(str::to_string),
            audience: aud.map(str::to_string),
            ..JwtConfig::hs256(config.jwt.secret.clone())
        };
        let token = issue_token(&jwt, &request);
        app.get(LEADS).bearer(&token).send().await.expect(401);
    }
}

#[tokio::test]
async fn tenant_header_must_agree_with_the_token() {
    let app = start().await;
    let (a, token_a) = app.owner("A").await;
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

    let (tenant, token) = app.owner("Acme").await;
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
    let (tenant, owner) = app.owner("Acme").await;
    let lead = app.create_lead(&owner, john()).await;
    let url = paths::lead(id(&lead));
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
    for (method, body) in [
        ("PATCH", Some(json!({"phone": "1"}))),
        ("PUT", Some(john())),
        ("DELETE", None),
    ] {
        let request = app.request(method, &url).bearer(&ro).maybe_json(body);
        assert_eq!(request.send().await.status, 403, "{method}");
    }
    assert_eq!(app.get(&url).bearer(&owner).send().await.body, lead);
}

#[tokio::test]
async fn users_edit_only_their_own_or_unassigned_leads() {
    let app = start().await;
    let (tenant, owner) = app.owner("Acme").await;
    let alice = app.token(&tenant, "alice", Role::User);
    let unassigned = app.create_lead(&owner, person(1)).await;
    let bobs = app.create_lead(
        &owner,
        json!({"first_name": "B", "last_name": "B", "email": "b@x.example", "assigned_to": "bob"}),
    )
    .await;
    let url = |l: &Value| paths::lead(id(l));

    // A user creates leads, for themselves or unassigned, not for others.
    let own = app.create_lead(&alice, json!({"first_name": "A", "last_name": "A", "email": "a@x.example", "assigned_to": "alice"})).await;
    assert_eq!(own["assigned_to"]["id"], "alice");
    assert_eq!(own["created_by"], "alice");
    let res = app
        .post(LEADS)
        .bearer(&alice)
        .json(json!({"first_name": "C", "last_name": "C", "email": "c@x.example", "assigned_to": "bob"}))
        .send()
        .await
        .expect(403);
    assert!(res.body["detail"].as_str().unwrap().contains("managers"));

    // Alice's edits, in order: her own and unassigned leads, not Bob's. Taking an unassigned
    // lead is fine; handing it to someone else is not.
    for (method, lead, body, status) in [
        ("PATCH", &unassigned, Some(json!({"phone": "1"})), 200),
        ("PATCH", &own, Some(json!({"phone": "2"})), 200),
        ("PATCH", &bobs, Some(json!({"phone": "3"})), 403),
        ("PUT", &bobs, Some(person(9)), 403),
        (
            "PATCH",
            &unassigned,
            Some(json!({"assigned_to": "bob"})),
            403,
        ),
        (
            "PATCH",
            &unassigned,
            Some(json!({"assigned_to_id": "alice"})),
            200,
        ),
        ("DELETE", &own, None, 403),
    ] {
        let request = app
            .request(method, &url(lead))
            .bearer(&alice)
            .maybe_json(body);
        let res = request.send().await;
        assert_eq!(
            res.status, status,
            "{method} {}: {}",
            lead["email"], res.text
        );
    }
    assert_eq!(
        app.get(&url(&bobs)).bearer(&owner).send().await.body["phone"],
        Value::Null
    );
}

#[tokio::test]
async fn managers_edit_and_assign_any_lead_admins_delete() {
    let app = start().await;
    let (tenant, owner) = app.owner("Acme").await;
    let manager = app.token(&tenant, "mia", Role::Manager);
    let admin = app.token(&tenant, "adam", Role::Admin);
    let lead = app.create_lead(
        &owner,
        json!({"first_name": "B", "last_name": "B", "email": "b@x.example", "assigned_to": "bob"}),
    )
    .await;
    let url = paths::lead(id(&lead));
    let res = app
        .patch(&url)
        .bearer(&manager)
        .json(json!({"assigned_to": "carol"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["assigned_to"]["id"], "carol");
    app.delete(&url).bearer(&manager).send().await.expect(403);
    app.delete(&url).bearer(&admin).send().await.expect(204);
}
