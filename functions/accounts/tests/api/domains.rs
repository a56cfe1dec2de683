//! Custom domains: registered with the TXT record that proves them, verified against a DNS
//! server on loopback, made primary (one at a time, verified only), unique across the
//! service, deleted (which frees the name); only owners and admins write; another
//! tenant's domain is a 404 on every route.

use crate::common::*;
use crate::keys::{create_key, secret, with_key};
use crm_testkit::{test_config, TestDns};

pub const DOMAINS: &str = "/api/tenants/current/domains/";
pub const TENANT_BASE: &str = "crm.test";

pub fn domain_path(id: &str) -> String {
    format!("{DOMAINS}{id}/")
}

pub fn verify_path(id: &str) -> String {
    format!("{DOMAINS}{id}/verify/")
}

/// Both functions, domain verification asking `dns`, and `{slug}.crm.test` as the tenants'
/// subdomains.
pub async fn start_with_dns() -> (Apps, TestDns) {
    let dns = TestDns::start().await;
    let mut config = dns.configure(test_config());
    config.domains.base_domain = Some(TENANT_BASE.into());
    let accounts = TestApp::start_with(accounts::app, config).await;
    let leads = accounts.with_function(leads::app);
    (Apps { accounts, leads }, dns)
}

/// Registers `domain` for `token`'s tenant.
pub async fn register(app: &TestApp, token: &str, domain: &str) -> Value {
    app.create(DOMAINS, token, json!({ "domain": domain }))
        .await
}

/// Registers `domain`, publishes its TXT record and verifies it.
pub async fn register_verified(app: &TestApp, dns: &TestDns, token: &str, domain: &str) -> Value {
    let created = register(app, token, domain).await;
    let record = &created["verification"];
    dns.set_txt(
        record["name"].as_str().unwrap(),
        &[record["value"].as_str().unwrap()],
    );
    app.post(&verify_path(created["id"].as_str().unwrap()))
        .bearer(token)
        .send()
        .await
        .expect(200)
        .body
}

fn id(domain: &Value) -> &str {
    domain["id"].as_str().unwrap()
}

#[tokio::test]
async fn a_domain_is_registered_verified_through_dns_made_primary_and_deleted() {
    let (apps, dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (_, owner) = app.owner("Acme").await;

    // WHEN the owner registers a domain THEN 201 with the TXT record that proves it
    let created = register(app, &owner, " CRM.Acme.Example. ").await;
    assert_eq!(created["domain"], "crm.acme.example");
    assert_eq!(created["is_verified"], false);
    assert_eq!(created["is_primary"], false);
    assert_eq!(created["verification"]["type"], "TXT");
    assert_eq!(
        created["verification"]["name"],
        "_crm-verify.crm.acme.example"
    );
    let value = created["verification"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        value.len() >= 32 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        "{value}"
    );
    let verify = verify_path(id(&created));

    // WHEN nothing is published THEN verifying is a 400 saying so
    let res = app.post(&verify).bearer(&owner).send().await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(
        res.body["detail"]
            .as_str()
            .unwrap()
            .contains("No TXT record"),
        "{}",
        res.text
    );
    // WHEN another value is published THEN still a 400, and nothing changed
    dns.set_txt("_crm-verify.crm.acme.example", &["something-else"]);
    let res = app.post(&verify).bearer(&owner).send().await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.body["detail"]
        .as_str()
        .unwrap()
        .contains("does not hold"));
    let detail = app.read(&domain_path(id(&created)), &owner).await;
    assert_eq!(detail["is_verified"], false);

    // THEN an unverified domain cannot be the primary one
    let res = app
        .patch(&domain_path(id(&created)))
        .bearer(&owner)
        .json(json!({"is_primary": true}))
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.body["is_primary"].is_array(), "{}", res.text);

    // WHEN the right value is published (beside another record) THEN verified
    dns.set_txt("_crm-verify.crm.acme.example", &["v=spf1 -all", &value]);
    let verified = app
        .post(&verify)
        .bearer(&owner)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(verified["is_verified"], true);
    assert!(verified["verified_at"].is_string());
    // Verifying again changes nothing.
    app.post(&verify).bearer(&owner).send().await.expect(200);

    // WHEN it is made primary, then a second verified domain THEN only one is primary
    let first = app
        .patch(&domain_path(id(&created)))
        .bearer(&owner)
        .json(json!({"is_primary": true}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(first["is_primary"], true);
    let second = register_verified(app, &dns, &owner, "www.acme.example").await;
    let second = app
        .patch(&domain_path(id(&second)))
        .bearer(&owner)
        .json(json!({"is_primary": true}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(second["is_primary"], true);
    let list = app.read(DOMAINS, &owner).await;
    let primaries: Vec<&str> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["is_primary"] == true)
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(primaries, ["www.acme.example"], "{list}");
    assert_eq!(list["results"].as_array().unwrap().len(), 2);

    // WHEN the primary one is deleted THEN it is gone, and another can be primary
    app.delete(&domain_path(id(&second)))
        .bearer(&owner)
        .send()
        .await
        .expect(204);
    app.get(&domain_path(id(&second)))
        .bearer(&owner)
        .send()
        .await
        .expect(404);
    let again = app
        .patch(&domain_path(id(&created)))
        .bearer(&owner)
        .json(json!({"is_primary": true}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(again["is_primary"], true);
}

#[tokio::test]
async fn invalid_domains_are_400s_naming_the_domain() {
    let (apps, _dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (tenant, owner) = app.owner("Acme").await;
    let before = app.table_items().await;
    let cases = [
        json!({}),
        json!({"domain": ""}),
        json!({"domain": 42}),
        json!({"domain": "localhost"}),
        json!({"domain": "https://crm.acme.example"}),
        json!({"domain": "crm.acme.example:8443"}),
        json!({"domain": "crm.acme.example/path"}),
        json!({"domain": "*.acme.example"}),
        json!({"domain": "192.168.1.10"}),
        json!({"domain": "[2001:db8::1]"}),
        json!({"domain": "bad_label.example"}),
        json!({"domain": format!("{}.example", "a".repeat(64))}),
        // The service's own: its tenants' base domain, a tenant's subdomain, the API's host.
        json!({"domain": TENANT_BASE}),
        json!({"domain": format!("{}.{TENANT_BASE}", tenant.slug)}),
        json!({"domain": crm_testkit::requests::API_HOST}),
        json!({"domain": "abc.execute-api.us-east-1.amazonaws.com"}),
    ];
    app.assert_rejected(
        DOMAINS,
        &owner,
        cases.into_iter().map(|c| (c, "domain")).collect(),
    )
    .await;
    assert_eq!(app.table_items().await, before, "nothing was written");
}

#[tokio::test]
async fn a_domain_is_unique_across_the_service_until_deleted() {
    let (apps, _dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (_, owner_a) = app.owner("Acme").await;
    let (_, owner_b) = app.owner("Globex").await;
    let a = register(app, &owner_a, "crm.shared.example").await;

    // WHEN another tenant (or the same one) registers the name, in any spelling THEN 409
    for (token, spelling) in [
        (&owner_b, "CRM.shared.example."),
        (&owner_a, "crm.shared.example"),
    ] {
        let res = app
            .post(DOMAINS)
            .bearer(token)
            .json(json!({ "domain": spelling }))
            .send()
            .await;
        assert_eq!(res.status, 409, "{}", res.text);
        assert_eq!(res.body["detail"], "This domain is already registered.");
    }
    assert_eq!(
        app.read(DOMAINS, &owner_b).await["results"],
        json!([]),
        "nothing half-written for B"
    );

    // WHEN A deletes it THEN B may register it
    app.delete(&domain_path(id(&a)))
        .bearer(&owner_a)
        .send()
        .await
        .expect(204);
    register(app, &owner_b, "crm.shared.example").await;
}

#[tokio::test]
async fn a_tenant_registers_at_most_its_cap_of_domains() {
    let (apps, _dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (_, owner) = app.owner("Acme").await;
    let cap = crm_domain::domains::MAX_DOMAINS_PER_TENANT;
    for n in 0..cap {
        register(app, &owner, &format!("d{n}.acme.example")).await;
    }
    let res = app
        .post(DOMAINS)
        .bearer(&owner)
        .json(json!({"domain": "one-more.acme.example"}))
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.body["domain"].is_array(), "{}", res.text);
    // Pages follow the cursor to every domain.
    let rows = crm_testkit::all_pages(app, &owner, &format!("{DOMAINS}?page_size=7")).await;
    assert_eq!(rows.len() as u64, cap);
}

#[tokio::test]
async fn members_read_and_only_owners_admins_and_settings_keys_write() {
    let (apps, dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (tenant, owner) = app.owner("Acme").await;
    let admin = app.token(&tenant, "admin-1", Role::Admin);
    let created = register(app, &admin, "crm.acme.example").await;
    let one = domain_path(id(&created));
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = app.token(&tenant, "someone", role);
        // A body that is not even JSON: the 403 comes before it is read.
        let res = app
            .post(DOMAINS)
            .bearer(&token)
            .raw_body("text/plain", "nope")
            .send()
            .await;
        assert_eq!(res.status, 403, "{role:?}: {}", res.text);
        let res = app
            .patch(&one)
            .bearer(&token)
            .json(json!({"is_primary": true}))
            .send()
            .await;
        assert_eq!(res.status, 403, "{role:?}: {}", res.text);
        assert_eq!(app.delete(&one).bearer(&token).send().await.status, 403);
        let res = app
            .post(&verify_path(id(&created)))
            .bearer(&token)
            .send()
            .await;
        assert_eq!(res.status, 403, "{role:?}: {}", res.text);
        // Reading is every member's.
        assert_eq!(
            app.read(DOMAINS, &token).await["results"][0]["id"],
            created["id"]
        );
        assert_eq!(app.read(&one, &token).await["domain"], "crm.acme.example");
    }

    // API keys: `settings` writes like an admin; other scopes reach no domain route.
    let settings = secret(&create_key(app, &owner, &["settings"]).await);
    let res = with_key(app.post(DOMAINS), &settings)
        .json(json!({"domain": "keyed.acme.example"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let reader = secret(&create_key(app, &owner, &["leads:read", "leads:write"]).await);
    for req in [
        app.get(DOMAINS),
        app.post(DOMAINS).json(json!({"domain": "no.acme.example"})),
    ] {
        let res = with_key(req, &reader).send().await;
        assert_eq!(res.status, 403, "{}", res.text);
    }
    let _ = dns;
}

#[tokio::test]
async fn another_tenants_domain_is_a_404_on_every_route() {
    let (apps, dns) = start_with_dns().await;
    let app = &apps.accounts;
    let (_, owner_a) = app.owner("Acme").await;
    let (_, owner_b) = app.owner("Globex").await;
    let a = register(app, &owner_a, "crm.acme.example").await;
    let record = &a["verification"];
    dns.set_txt(
        record["name"].as_str().unwrap(),
        &[record["value"].as_str().unwrap()],
    );
    let one = domain_path(id(&a));
    for (method, path) in [
        ("GET", one.clone()),
        ("PATCH", one.clone()),
        ("DELETE", one.clone()),
        ("POST", verify_path(id(&a))),
    ] {
        app.expect_json_404(method, &path, &owner_b).await;
    }
    // Unknown and malformed ids: 404 too.
    app.expect_json_404(
        "GET",
        &domain_path(&uuid::Uuid::new_v4().to_string()),
        &owner_a,
    )
    .await;
    app.expect_json_404("POST", &verify_path("not-a-uuid"), &owner_a)
        .await;
    // A's domain is untouched, still unverified.
    let detail = app.read(&one, &owner_a).await;
    assert_eq!(detail["is_verified"], false);
    assert_eq!(app.read(DOMAINS, &owner_b).await["results"], json!([]));
}

#[tokio::test]
async fn a_dns_that_does_not_answer_is_a_400_not_a_server_error() {
    // A nameserver nobody listens on: the lookup fails (refused or timed out).
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let mut config = test_config();
    config.domains.nameserver = Some(addr);
    let app = TestApp::start_with(accounts::app, config).await;
    let (_, owner) = app.owner("Acme").await;
    let created = register(&app, &owner, "crm.acme.example").await;
    let res = app
        .post(&verify_path(id(&created)))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.body["detail"].is_string(), "{}", res.text);
    assert_eq!(
        app.read(&domain_path(id(&created)), &owner).await["is_verified"],
        false
    );
}
