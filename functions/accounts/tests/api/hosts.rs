//! Tenant resolution by host, through the leads function: `{slug}.{TENANT_BASE_DOMAIN}` and
//! a verified custom domain name their tenant; credentials (a token, an API key) or an
//! `X-Tenant-Id` naming another one are a 403; an unverified or unknown domain, and the
//! local stack's hosts, resolve nothing.

use std::time::Duration;

use crate::common::*;
use crate::domains::{domain_path, register, register_verified, start_with_dns, TENANT_BASE};
use crate::keys::{create_key, secret, with_key};
use crm_testkit::{test_config, TestDns};

async fn list_status(apps: &Apps, host: &str, token: &str) -> (u16, String) {
    let res = apps
        .leads
        .get(paths::LEADS)
        .host(host)
        .bearer(token)
        .send()
        .await;
    (res.status, res.text)
}

#[tokio::test]
async fn a_tenants_subdomain_admits_its_tokens_only() {
    let (apps, _dns) = start_with_dns().await;
    let (tenant_a, owner_a) = apps.accounts.owner("Acme").await;
    let (tenant_b, owner_b) = apps.accounts.owner("Globex").await;
    let host_a = format!("{}.{TENANT_BASE}", tenant_a.slug);

    // WHEN A's token calls A's subdomain THEN it is served, links on that host
    apps.leads.create(paths::LEADS, &owner_a, lead_body()).await;
    let res = apps
        .leads
        .get(&format!("{}?page_size=1", paths::LEADS))
        .host(&host_a)
        .bearer(&owner_a)
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["results"].as_array().unwrap().len(), 1);

    // WHEN B's token calls A's subdomain THEN 403, saying why
    let (status, text) = list_status(&apps, &host_a, &owner_b).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("different tenant"), "{text}");

    // WHEN X-Tenant-Id agrees with the token but the host names another tenant THEN 403
    let res = apps
        .leads
        .get(paths::LEADS)
        .host(&host_a)
        .bearer(&owner_b)
        .header("x-tenant-id", &tenant_b.id.to_string())
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    // ...and with A's token, an X-Tenant-Id of B on A's host: 403 as well.
    let res = apps
        .leads
        .get(paths::LEADS)
        .host(&host_a)
        .bearer(&owner_a)
        .header("x-tenant-id", &tenant_b.id.to_string())
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);

    // Names that are no tenant's subdomain resolve nothing: the base itself, an unknown
    // slug, a deeper name, the local stack's hosts.
    for host in [
        TENANT_BASE.to_string(),
        format!("no-such-slug.{TENANT_BASE}"),
        format!("x.{}.{TENANT_BASE}", tenant_a.slug),
        "127.0.0.1:8007".to_string(),
        "localhost:8007".to_string(),
        "localhost".to_string(),
    ] {
        let (status, text) = list_status(&apps, &host, &owner_b).await;
        assert_eq!(status, 200, "{host}: {text}");
    }
}

#[tokio::test]
async fn a_verified_custom_domain_names_its_tenant_an_unverified_one_nothing() {
    let (apps, dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (_, owner_a) = app.owner("Acme").await;
    let (_, owner_b) = app.owner("Globex").await;

    // An unverified domain resolves nothing: B's token is not refused because of it.
    let pending = register(app, &owner_a, "pending.acme.example").await;
    let (status, text) = list_status(&apps, "pending.acme.example", &owner_b).await;
    assert_eq!(status, 200, "{text}");
    // An unknown domain neither.
    let (status, text) = list_status(&apps, "nobody.example", &owner_b).await;
    assert_eq!(status, 200, "{text}");

    // WHEN A's domain is verified THEN A's token is served there and B's is refused
    let verified = register_verified(app, &dns, &owner_a, "crm.acme.example").await;
    let (status, text) = list_status(&apps, "crm.acme.example", &owner_a).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = list_status(&apps, "CRM.acme.example:443", &owner_b).await;
    assert_eq!(status, 403, "{text}");

    // An API key of B on A's domain: 403 too.
    let key_b = secret(&create_key(app, &owner_b, &["leads:read"]).await);
    let res = with_key(
        apps.leads.get(paths::LEADS).host("crm.acme.example"),
        &key_b,
    )
    .send()
    .await;
    assert_eq!(res.status, 403, "{}", res.text);
    let key_a = secret(&create_key(app, &owner_a, &["leads:read"]).await);
    let res = with_key(
        apps.leads.get(paths::LEADS).host("crm.acme.example"),
        &key_a,
    )
    .send()
    .await;
    assert_eq!(res.status, 200, "{}", res.text);

    // WHEN A deletes the domain THEN it resolves nothing again (no cache in these tests)
    app.delete(&domain_path(verified["id"].as_str().unwrap()))
        .bearer(&owner_a)
        .send()
        .await
        .expect(204);
    let (status, text) = list_status(&apps, "crm.acme.example", &owner_b).await;
    assert_eq!(status, 200, "{text}");
    let _ = pending;
}

#[tokio::test]
async fn a_hosts_tenant_is_cached_per_instance_for_the_tenant_cache_ttl() {
    let dns = TestDns::start().await;
    let mut config = dns.configure(test_config());
    config.tenant_cache_ttl = Duration::from_secs(300);
    let accounts = TestApp::start_with(accounts::app, config).await;
    let apps = Apps {
        leads: accounts.with_function(leads::app),
        accounts,
    };
    let (_, owner_a) = apps.accounts.owner("Acme").await;
    let (_, owner_b) = apps.accounts.owner("Globex").await;

    // Looked up once as unknown (nothing), then registered and verified: the cached
    // answer stands on this instance until the TTL passes.
    let (status, _) = list_status(&apps, "crm.acme.example", &owner_b).await;
    assert_eq!(status, 200);
    register_verified(&apps.accounts, &dns, &owner_a, "crm.acme.example").await;
    let (status, _) = list_status(&apps, "crm.acme.example", &owner_b).await;
    assert_eq!(status, 200, "the negative answer is cached");

    // A fresh instance (a new state on the same table) sees the domain.
    let state = crm_http::AppState::new(
        apps.leads.state.config.clone(),
        crm_testkit::dynamodb_client(&apps.leads.endpoint),
        crm_testkit::sqs_client(),
    );
    let fresh = TestApp {
        app: leads::app(state.clone()),
        state,
        endpoint: apps.leads.endpoint.clone(),
    };
    let res = fresh
        .get(paths::LEADS)
        .host("crm.acme.example")
        .bearer(&owner_b)
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
}

#[tokio::test]
async fn a_token_without_a_tenant_takes_the_hosts_and_its_membership_there_is_checked() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let (apps, _dns) = start_with_dns().await;
    let (tenant_a, owner_a) = apps.accounts.owner("Acme").await;
    let (tenant_b, _) = apps.accounts.owner("Globex").await;
    let (tenant_c, _) = apps.accounts.owner("Initech").await;
    // A user of A and B, signed in by an outside issuer whose token names no tenant.
    let user = apps
        .accounts
        .member(&tenant_a, "h@example.com", Role::User)
        .await;
    apps.accounts.join(&tenant_b, &user, Role::User).await;
    let claims = crm_testkit::jwks::claims(json!({"email": "h@example.com"}));
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(crm_testkit::JWT_SECRET.as_bytes()),
    )
    .unwrap();

    // WHEN it calls A's subdomain THEN it acts in A
    let host_a = format!("{}.{TENANT_BASE}", tenant_a.slug);
    let lead = apps
        .leads
        .post(paths::LEADS)
        .host(&host_a)
        .bearer(&token)
        .json(lead_body())
        .send()
        .await
        .expect(201)
        .body;
    apps.leads
        .get(&paths::lead(lead["id"].as_str().unwrap()))
        .bearer(&owner_a)
        .send()
        .await
        .expect(200);

    // WHEN it calls C's subdomain, where the user is no member THEN it is refused
    let host_c = format!("{}.{TENANT_BASE}", tenant_c.slug);
    let (status, text) = list_status(&apps, &host_c, &token).await;
    assert!(status == 401 || status == 403, "{status}: {text}");
}
