//! Outside identity providers: RS256/ES256 tokens verified through a JWKS served from a
//! loopback port with the committed TEST-ONLY keys, next to the HS256 secret; algorithm
//! confusion refused; the tenant and role of tokens that carry none taken from this
//! service's membership.

use std::time::Duration;

use crm_testkit::jwks::{self, TestJwks, EC, RSA, RSA_2, RSA_PUBLIC_PEM};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use crate::common::*;

/// Both functions, their configuration naming `jwks` (refetched at most once per `refetch`).
async fn start_with(jwks: &TestJwks, refetch: Duration) -> Apps {
    let accounts = TestApp::start_with(accounts::app, jwks.config(refetch)).await;
    let leads = accounts.with_function(leads::app);
    Apps { accounts, leads }
}

fn claims_for(tenant: &crm_domain::tenant::Tenant, role: &str) -> Value {
    jwks::claims(json!({"tenant_id": tenant.id.to_string(), "role": role}))
}

#[tokio::test]
async fn rs256_and_es256_tokens_of_the_jwks_are_accepted_next_to_hs256() {
    let provider = TestJwks::start(&[RSA, EC]).await;
    let apps = start_with(&provider, Duration::from_secs(60)).await;
    let (tenant, hs256) = apps.leads.owner("Acme").await;
    for kid in [RSA, EC] {
        let token = jwks::sign(kid, &claims_for(&tenant, "manager"));
        assert_eq!(create_lead_status(&apps, &token).await, 201, "{kid}");
    }
    assert_eq!(list_status(&apps, &hs256).await, 200);
    let readonly = jwks::sign(RSA, &claims_for(&tenant, "readonly"));
    assert_eq!(list_status(&apps, &readonly).await, 200);
    assert_eq!(create_lead_status(&apps, &readonly).await, 403);
    // The keys were fetched once, on the first token, and kept.
    assert_eq!(provider.fetches(), 1);
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_keys_again_at_most_once_a_minute() {
    let provider = TestJwks::start(&[RSA]).await;
    let apps = start_with(&provider, Duration::from_secs(60)).await;
    let tenant = apps.leads.tenant("Acme").await;
    let token = jwks::sign(RSA, &claims_for(&tenant, "owner"));
    assert_eq!(list_status(&apps, &token).await, 200);
    // A rotation the instance fetched less than a minute ago does not see yet: refused,
    // without asking the provider for every made-up kid.
    provider.publish(&[RSA, RSA_2]);
    let rotated = jwks::sign(RSA_2, &claims_for(&tenant, "owner"));
    assert_eq!(list_status(&apps, &rotated).await, 401);
    assert_eq!(list_status(&apps, &rotated).await, 401);
    assert_eq!(provider.fetches(), 1);
}

#[tokio::test]
async fn an_unknown_kid_is_refetched_then_refused() {
    let provider = TestJwks::start(&[RSA]).await;
    let apps = start_with(&provider, Duration::ZERO).await;
    let tenant = apps.leads.tenant("Acme").await;
    let claims = claims_for(&tenant, "owner");
    assert_eq!(list_status(&apps, &jwks::sign(RSA, &claims)).await, 200);
    assert_eq!(provider.fetches(), 1);
    // Not in the set even after fetching it again: 401.
    let unknown = jwks::sign_as(RSA_2, Some("no-such-kid"), &claims);
    let res = apps.leads.get(paths::LEADS).bearer(&unknown).send().await;
    assert_eq!(res.status, 401, "{}", res.text);
    assert!(res.body["detail"].as_str().unwrap().contains("kid"));
    assert_eq!(provider.fetches(), 2);
    // The provider rotated: the new key's kid is fetched and accepted.
    provider.publish(&[RSA, RSA_2]);
    assert_eq!(list_status(&apps, &jwks::sign(RSA_2, &claims)).await, 200);
    assert_eq!(provider.fetches(), 3);
}

#[tokio::test]
async fn wrong_keys_algorithm_confusion_and_expired_tokens_are_401() {
    let provider = TestJwks::start(&[RSA, EC]).await;
    let apps = start_with(&provider, Duration::from_secs(60)).await;
    let tenant = apps.leads.tenant("Acme").await;
    let claims = claims_for(&tenant, "owner");
    let hs256_with = |secret: &[u8]| {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 3600);
    let mut ours = claims.clone();
    ours["iss"] = json!(crm_auth::SERVICE_ISSUER);
    ours["sid"] = json!(uuid::Uuid::new_v4());
    let jwk_text = jwks::jwk(RSA).to_string();
    let cases = [
        ("wrong key", jwks::sign_as(RSA_2, Some(RSA), &claims)),
        (
            "EC key under the RSA kid",
            jwks::sign_as(EC, Some(RSA), &claims),
        ),
        (
            "RSA key under the EC kid",
            jwks::sign_as(RSA, Some(EC), &claims),
        ),
        ("no kid", jwks::sign_as(RSA, None, &claims)),
        ("expired", jwks::sign(RSA, &expired)),
        ("claims this service's issuer", jwks::sign(RSA, &ours)),
        (
            "HS256 keyed with the public PEM",
            hs256_with(RSA_PUBLIC_PEM.as_bytes()),
        ),
        (
            "HS256 keyed with the public JWK",
            hs256_with(jwk_text.as_bytes()),
        ),
        (
            "alg none",
            unsigned(&json!({"alg": "none", "kid": RSA}), &claims),
        ),
    ];
    for (name, token) in cases {
        let res = apps.leads.get(paths::LEADS).bearer(&token).send().await;
        assert_eq!(res.status, 401, "{name}: {}", res.text);
        assert!(res.body["detail"].is_string(), "{name}");
    }
    assert_eq!(list_status(&apps, &jwks::sign(RSA, &claims)).await, 200);
}

fn unsigned(header: &Value, claims: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", part(header), part(claims))
}

#[tokio::test]
async fn jwks_tokens_are_refused_where_no_jwks_is_configured() {
    let provider = TestJwks::start(&[RSA]).await;
    let apps = start().await;
    let tenant = apps.leads.tenant("Acme").await;
    let token = jwks::sign(RSA, &claims_for(&tenant, "owner"));
    assert_eq!(list_status(&apps, &token).await, 401);
    assert_eq!(provider.fetches(), 0);
}

#[tokio::test]
async fn tenant_and_role_come_from_the_membership_when_the_token_has_none() {
    let provider = TestJwks::start(&[RSA]).await;
    let apps = start_with(&provider, Duration::from_secs(60)).await;
    let a = apps.leads.tenant("A").await;
    let b = apps.leads.tenant("B").await;
    apps.accounts
        .member(&a, "reader@example.com", Role::Readonly)
        .await;
    let token = |email: &str| jwks::sign(RSA, &jwks::claims(json!({"email": email})));

    // One membership: its tenant and role.
    let reader = token("Reader@Example.com");
    assert_eq!(list_status(&apps, &reader).await, 200);
    assert_eq!(create_lead_status(&apps, &reader).await, 403);

    // Several: the request names one, else a 400 naming X-Tenant-Id.
    let both = apps
        .accounts
        .member(&a, "both@example.com", Role::Manager)
        .await;
    apps.accounts.join(&b, &both, Role::Readonly).await;
    let both = token("both@example.com");
    let res = apps
        .leads
        .get(paths::LEADS)
        .bearer(&both)
        .send()
        .await
        .expect(400);
    assert!(res.body["X-Tenant-Id"].is_array(), "{}", res.text);
    let in_tenant = |tenant: &crm_domain::tenant::Tenant| {
        apps.leads
            .post(paths::LEADS)
            .bearer(&both)
            .header("X-Tenant-Id", &tenant.id.to_string())
            .json(lead_body())
    };
    in_tenant(&a).send().await.expect(201);
    in_tenant(&b).send().await.expect(403);

    // No user, or no membership in the token's tenant: 401.
    assert_eq!(
        list_status(&apps, &token("stranger@example.com")).await,
        401
    );
    let elsewhere = jwks::claims(json!({"email": "reader@example.com", "tenant_id": b.id}));
    assert_eq!(list_status(&apps, &jwks::sign(RSA, &elsewhere)).await, 401);
    // An email the provider says is not verified is not trusted for the lookup.
    let unverified = jwks::claims(json!({"email": "reader@example.com", "email_verified": false}));
    assert_eq!(list_status(&apps, &jwks::sign(RSA, &unverified)).await, 401);
}

#[tokio::test]
async fn claim_names_are_configurable_and_the_subject_may_name_the_user() {
    let provider = TestJwks::start(&[EC]).await;
    let mut config = provider.config(Duration::from_secs(60));
    config.jwt.claims.tenant = "custom:tenant_id".into();
    config.jwt.claims.role = "custom:role".into();
    let accounts = TestApp::start_with(accounts::app, config).await;
    let apps = Apps {
        leads: accounts.with_function(leads::app),
        accounts,
    };
    let tenant = apps.leads.tenant("Acme").await;
    let user = apps
        .accounts
        .member(&tenant, "m@example.com", Role::Manager)
        .await;
    // Cognito-style custom claims carry the tenant; the role comes from the membership.
    let cognito = jwks::claims(json!({
        "sub": user.id.to_string(),
        "custom:tenant_id": tenant.id.to_string(),
    }));
    let token = jwks::sign(EC, &cognito);
    let lead = apps
        .leads
        .post(paths::LEADS)
        .bearer(&token)
        .json(lead_body())
        .send()
        .await
        .expect(201);
    assert_eq!(lead.body["created_by"], json!(user.id.to_string()));
    let mut both = cognito.clone();
    both["custom:role"] = json!("readonly");
    assert_eq!(create_lead_status(&apps, &jwks::sign(EC, &both)).await, 403);
    // `tenant_id` is no longer the tenant claim: the membership decides.
    let plain = jwks::claims(json!({"sub": user.id.to_string(), "tenant_id": "not-a-uuid"}));
    assert_eq!(list_status(&apps, &jwks::sign(EC, &plain)).await, 200);
}

#[tokio::test]
async fn hs256_outside_tokens_without_tenant_use_the_membership_too() {
    let apps = start().await;
    let tenant = apps.leads.tenant("Acme").await;
    apps.accounts
        .member(&tenant, "h@example.com", Role::User)
        .await;
    let claims = jwks::claims(json!({"email": "h@example.com"}));
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(crm_testkit::JWT_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(create_lead_status(&apps, &token).await, 201);
}
