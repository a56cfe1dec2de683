//! The tenant's audit log: every kind of write leaves an entry (actor, action, resource,
//! changes, and the source IP and user agent API Gateway reported), committed with the
//! write; `GET /api/tenants/current/audit-log/` shows them newest first, filtered and
//! paged, to admins and owners of the tenant only.

use chrono::Utc;
use crm_domain::plan::{LimitOverrides, Tier};
use crm_testkit::{all_pages, TestRequest};

use crate::common::*;

const AUDIT_LOG: &str = "/api/tenants/current/audit-log/";
const IP: &str = "203.0.113.7";
const UA: &str = "audit-test/1.0";

/// Every function whose writes the tests audit, on one emulator.
struct World {
    accounts: TestApp,
    leads: TestApp,
    sources: TestApp,
    actions: TestApp,
    bulk: TestApp,
}

async fn world() -> World {
    let Apps { accounts, leads } = start().await;
    World {
        sources: accounts.with_function(sources::app),
        actions: accounts.with_function(actions::app),
        bulk: accounts.with_function(bulk::app),
        accounts,
        leads,
    }
}

/// A request from the test client's address and user agent.
fn from_client(req: TestRequest) -> TestRequest {
    req.from_client(IP, UA)
}

/// Every entry of the log for `query` (`resource_type=lead&...`), all pages, newest first.
async fn log(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    all_pages(app, token, &format!("{AUDIT_LOG}?page_size=100&{query}")).await
}

fn actions_of(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

#[track_caller]
fn assert_from_client(entry: &Value) {
    assert_eq!(entry["ip"], IP, "{entry}");
    assert_eq!(entry["user_agent"], UA, "{entry}");
}

/// The one entry of `entries` with this resource type and action.
#[track_caller]
fn the<'a>(entries: &'a [Value], resource_type: &str, action: &str) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|e| e["resource_type"] == resource_type && e["action"] == action)
        .collect();
    assert_eq!(found.len(), 1, "{resource_type} {action} in {entries:?}");
    found[0]
}

#[tokio::test]
async fn lead_writes_their_actions_and_bulk_leave_entries_with_the_client_origin() {
    let w = world().await;
    let (_, owner) = w.accounts.owner("Acme").await;
    // GIVEN a lead created, edited, converted, bulk-updated and deleted from one client
    let lead = from_client(w.leads.post(paths::LEADS))
        .bearer(&owner)
        .json(lead_body())
        .send()
        .await
        .expect(201)
        .body;
    let id = lead["id"].as_str().unwrap().to_string();
    from_client(w.leads.patch(&paths::lead(&id)))
        .bearer(&owner)
        .json(json!({"company": "Initech"}))
        .send()
        .await
        .expect(200);
    from_client(w.actions.post(&paths::lead_path(&id, "convert")))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    let bulk = from_client(w.bulk.post(paths::BULK_UPDATE))
        .bearer(&owner)
        .json(json!({"lead_ids": [id], "priority": "high"}))
        .send()
        .await;
    assert!(bulk.status < 300, "{}", bulk.text);
    // THEN the lead's history still shows every change
    let history = w
        .leads
        .read(&paths::lead_path(&id, "history"), &owner)
        .await;
    assert_eq!(history["results"].as_array().unwrap().len(), 4, "{history}");
    from_client(w.leads.delete(&paths::lead(&id)))
        .bearer(&owner)
        .send()
        .await
        .expect(204);

    // THEN the log has each write of the lead, newest first, with who, what and from where
    let entries = log(&w.accounts, &owner, &format!("resource_id={id}")).await;
    assert_eq!(
        actions_of(&entries),
        ["delete", "update", "update", "update", "create"],
        "{entries:?}"
    );
    for entry in &entries {
        assert_from_client(entry);
        assert_eq!(entry["actor"], "owner-1");
        assert_eq!(entry["resource_type"], "lead");
        assert_eq!(entry["resource_id"], id.as_str());
    }
    assert_eq!(entries[3]["changes"]["company"]["new"], "Initech");
    assert_eq!(entries[2]["changes"]["status"]["new"], "converted");
    assert_eq!(entries[1]["changes"]["priority"]["new"], "high");
    assert_eq!(entries[1]["via"], "bulk");
    assert_eq!(entries[2]["via"], Value::Null);
    assert_eq!(entries[4]["changes"]["email"]["new"], lead["email"]);
    assert_eq!(entries[0]["changes"]["email"]["old"], lead["email"]);
}

#[tokio::test]
async fn resource_writes_leave_entries() {
    let w = world().await;
    let (_, owner) = w.accounts.owner("Acme").await;
    let lead = w.leads.create_lead(&owner, lead_body()).await;
    let lead = lead["id"].as_str().unwrap().to_string();
    let create = |app: &TestApp, path: &str, body: Value| {
        from_client(app.post(path)).bearer(&owner).json(body).send()
    };
    // WHEN a source, a tag, an activity, a note and a custom field are created, the tag
    // renamed, the source deleted and the scoring settings changed
    let source = create(&w.sources, paths::SOURCES, json!({"name": "Fair"}))
        .await
        .expect(201)
        .body;
    let tag = create(&w.sources, paths::TAGS, json!({"name": "Hot"}))
        .await
        .expect(201)
        .body;
    let activity = create(
        &w.sources,
        paths::ACTIVITIES,
        json!({"lead": lead, "activity_type": "note", "title": "Hello", "description": "First"}),
    )
    .await
    .expect(201)
    .body;
    let note = create(
        &w.sources,
        paths::NOTES,
        json!({"lead": lead, "content": "Called back"}),
    )
    .await
    .expect(201)
    .body;
    let field = create(
        &w.sources,
        paths::CUSTOM_FIELDS,
        json!({"name": "budget_code", "field_type": "text"}),
    )
    .await
    .expect(201)
    .body;
    from_client(w.sources.patch(&paths::tag(tag["id"].as_str().unwrap())))
        .bearer(&owner)
        .json(json!({"name": "Warm"}))
        .send()
        .await
        .expect(200);
    from_client(
        w.sources
            .delete(&paths::source(source["id"].as_str().unwrap())),
    )
    .bearer(&owner)
    .send()
    .await
    .expect(204);
    from_client(w.actions.patch(paths::SCORING_SETTINGS))
        .bearer(&owner)
        .json(json!({"model": "legacy"}))
        .send()
        .await
        .expect(200);

    // THEN each has its entry, with its changes and the client's origin
    let entries = log(&w.accounts, &owner, "").await;
    for (kind, record) in [
        ("source", &source),
        ("tag", &tag),
        ("activity", &activity),
        ("note", &note),
        ("custom_field", &field),
    ] {
        let entry = the(&entries, kind, "create");
        assert_eq!(entry["resource_id"], record["id"], "{entry}");
        assert_eq!(entry["actor"], "owner-1");
        assert_from_client(entry);
    }
    let renamed = the(&entries, "tag", "update");
    assert_eq!(
        renamed["changes"]["name"],
        json!({"old": "Hot", "new": "Warm"})
    );
    assert!(renamed["changes"].get("version").is_none(), "{renamed}");
    let deleted = the(&entries, "source", "delete");
    assert_eq!(deleted["changes"]["name"]["old"], "Fair");
    let settings = the(&entries, "scoring_settings", "update");
    assert_eq!(settings["changes"]["model"]["new"], "legacy");
    assert_from_client(settings);
    // AND the activity's side effect on the lead is the lead's entry
    let of_lead = log(&w.accounts, &owner, &format!("resource_id={lead}")).await;
    assert!(of_lead.iter().all(|e| e["resource_type"] == "lead"));
}

#[tokio::test]
async fn account_writes_and_sign_ins_leave_entries() {
    let w = world().await;
    let app = &w.accounts;
    let (tenant, owner) = app.owner("Acme").await;
    let member = app.member(&tenant, "member@example.com", Role::User).await;
    let send = |req: TestRequest, body: Option<Value>| {
        from_client(req).bearer(&owner).maybe_json(body).send()
    };
    // WHEN the owner changes the settings, a member's role, invites and revokes, creates
    // and revokes an API key
    send(app.patch(CURRENT_TENANT), Some(json!({"name": "Acme Two"})))
        .await
        .expect(200);
    send(
        app.patch(&member_path(member.id)),
        Some(json!({"role": "manager"})),
    )
    .await
    .expect(200);
    let revoked = send(
        app.post(INVITATIONS),
        Some(json!({"email": "gone@example.com", "role": "user"})),
    )
    .await
    .expect(201)
    .body;
    send(
        app.delete(&invitation_path(revoked["id"].as_str().unwrap())),
        None,
    )
    .await
    .expect(204);
    let invitation = send(
        app.post(INVITATIONS),
        Some(json!({"email": "new@example.com", "role": "user"})),
    )
    .await
    .expect(201)
    .body;
    let key = send(
        app.post(API_KEYS),
        Some(json!({"name": "CI", "scopes": ["leads:read"]})),
    )
    .await
    .expect(201)
    .body;
    send(
        app.delete(&format!("{API_KEYS}{}/", key["id"].as_str().unwrap())),
        None,
    )
    .await
    .expect(204);
    // AND the invitee accepts, a member signs in, then fails to
    let accepted = from_client(app.post(ACCEPT))
        .json(json!({"token": invitation["token"], "password": "a brand new password"}))
        .send()
        .await
        .expect(200)
        .body;
    from_client(app.post(LOGIN))
        .json(json!({"email": "member@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect(200);
    from_client(app.post(LOGIN))
        .json(json!({"email": "member@example.com", "password": "not the password"}))
        .send()
        .await
        .expect(401);

    // THEN each is in the log, from the client, by whom it was
    let entries = log(app, &owner, "").await;
    for entry in &entries {
        assert_from_client(entry);
    }
    let settings = the(&entries, "tenant", "update");
    assert_eq!(settings["resource_id"], tenant.id.to_string());
    assert_eq!(settings["changes"]["name"]["new"], "Acme Two");
    let role = the(&entries, "member", "update");
    assert_eq!(role["resource_id"], member.id.to_string());
    assert_eq!(
        role["changes"]["role"],
        json!({"old": "user", "new": "manager"})
    );
    assert_eq!(
        the(&entries, "invitation", "revoke")["resource_id"],
        revoked["id"]
    );
    assert_eq!(the(&entries, "api_key", "create")["resource_id"], key["id"]);
    assert_eq!(the(&entries, "api_key", "revoke")["resource_id"], key["id"]);
    let accept = the(&entries, "invitation", "accept");
    assert_eq!(accept["resource_id"], invitation["id"]);
    assert_eq!(accept["actor"], accepted["user"]["id"]);
    let login = the(
        &log(app, &owner, &format!("resource_id={}", member.id)).await,
        "user",
        "login",
    )
    .clone();
    assert_eq!(login["actor"], member.id.to_string());
    let failed = the(&entries, "user", "login_failed");
    assert_eq!(failed["resource_id"], member.id.to_string());
    // No secret, digest or hash is ever in an entry.
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [
        invitation["token"].as_str().unwrap(),
        key["key"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "a secret in the log");
    }
    assert!(
        !text.contains("digest") && !text.contains("argon2"),
        "{text}"
    );
}

#[tokio::test]
async fn filters_and_pages_newest_first() {
    let w = world().await;
    let (tenant, owner) = w.accounts.owner("Acme").await;
    let admin = w.accounts.token(&tenant, "admin-2", Role::Admin);
    let ids = w.leads.create_leads(&owner, 3, json!({})).await;
    let middle = Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    w.sources
        .create(paths::TAGS, &admin, json!({"name": "Hot"}))
        .await;
    w.sources
        .create(paths::TAGS, &admin, json!({"name": "Cold"}))
        .await;
    w.leads.delete_lead(&admin, &ids[0]).await;

    let all = log(&w.accounts, &owner, "").await;
    assert_eq!(all.len(), 6, "{all:?}");
    let times: Vec<&str> = all.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    // A cursor carries across pages of 2, with the same rows.
    let paged = all_pages(&w.accounts, &owner, &format!("{AUDIT_LOG}?page_size=2")).await;
    assert_eq!(paged, all);

    let tags = log(&w.accounts, &owner, "resource_type=tag").await;
    assert_eq!(tags.len(), 2);
    let by_admin = log(&w.accounts, &owner, "actor=admin-2").await;
    assert_eq!(actions_of(&by_admin), ["delete", "create", "create"]);
    let deletes = log(&w.accounts, &owner, "action=delete").await;
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["resource_id"], ids[0].as_str());
    let admin_tags = log(
        &w.accounts,
        &owner,
        "actor=admin-2&resource_type=tag&action=create",
    )
    .await;
    assert_eq!(admin_tags.len(), 2);
    let at = middle.to_rfc3339();
    let since = log(&w.accounts, &owner, &format!("since={}", urlencode(&at))).await;
    assert_eq!(since.len(), 3, "{since:?}");
    let until = log(&w.accounts, &owner, &format!("until={}", urlencode(&at))).await;
    assert_eq!(until.len(), 3, "{until:?}");
    let window = log(
        &w.accounts,
        &owner,
        &format!("since={}&until={}", urlencode(&at), urlencode(&at)),
    )
    .await;
    assert!(window.is_empty());
    let one = log(
        &w.accounts,
        &owner,
        &format!("resource_id={}&action=create", ids[1]),
    )
    .await;
    assert_eq!(one.len(), 1);

    // Bad filters are 400s naming the parameter.
    for (query, field) in [
        ("resource_type=planet", "resource_type"),
        ("action=explode", "action"),
        ("resource_id=42", "resource_id"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-02-01&until=2026-01-01", "until"),
        ("actor=", "actor"),
        ("page_size=0", "page_size"),
        ("colour=red", "colour"),
        ("cursor=forged", "cursor"),
    ] {
        let res = w
            .accounts
            .get(&format!("{AUDIT_LOG}?{query}"))
            .bearer(&owner)
            .send()
            .await;
        assert_eq!(res.status, 400, "{query}: {}", res.text);
        assert!(res.body[field].is_array(), "{query}: {}", res.text);
    }
    // A cursor is bound to its filters.
    let first = w
        .accounts
        .read(
            &format!("{AUDIT_LOG}?page_size=1&resource_type=tag"),
            &owner,
        )
        .await;
    let next = first["next"].as_str().unwrap();
    let cursor = next.split("cursor=").nth(1).unwrap();
    let res = w
        .accounts
        .get(&format!("{AUDIT_LOG}?page_size=1&cursor={cursor}"))
        .bearer(&owner)
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
}

fn urlencode(raw: &str) -> String {
    raw.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn only_admins_and_owners_of_the_tenant_read_it() {
    let w = world().await;
    let (tenant, owner) = w.accounts.owner("Acme").await;
    let lead = w.leads.create_lead(&owner, lead_body()).await;
    for role in [Role::Manager, Role::User, Role::Readonly] {
        let token = w.accounts.token(&tenant, "someone", role);
        w.accounts
            .get(AUDIT_LOG)
            .bearer(&token)
            .send()
            .await
            .expect(403);
    }
    let admin = w.accounts.token(&tenant, "admin-1", Role::Admin);
    assert_eq!(
        log(&w.accounts, &admin, "resource_type=lead").await.len(),
        1
    );
    // An API key without the settings scope may not; one with it acts as an admin.
    for (scopes, status) in [(json!(["leads:read"]), 403), (json!(["settings"]), 200)] {
        let key = w
            .accounts
            .create(API_KEYS, &owner, json!({"name": "k", "scopes": scopes}))
            .await;
        let res = w
            .accounts
            .get(AUDIT_LOG)
            .header("x-api-key", key["key"].as_str().unwrap())
            .send()
            .await;
        assert_eq!(res.status, status, "{scopes}: {}", res.text);
        if status == 200 {
            // A key's writes are the key's: `api-key:<id>`.
            let tag = w
                .sources
                .post(paths::TAGS)
                .header("x-api-key", key["key"].as_str().unwrap())
                .json(json!({"name": "Keyed"}))
                .send()
                .await
                .expect(201)
                .body;
            let actor = format!("api-key:{}", key["id"].as_str().unwrap());
            let by_key = log(&w.accounts, &admin, &format!("actor={actor}")).await;
            assert_eq!(by_key.len(), 1, "{by_key:?}");
            assert_eq!(by_key[0]["resource_id"], tag["id"]);
        }
    }
    w.accounts.get(AUDIT_LOG).send().await.expect(401);

    // Another tenant's admin sees none of it, even naming its resources.
    let (_, other) = w.accounts.owner("Other").await;
    let theirs = log(&w.accounts, &other, "").await;
    assert!(theirs.is_empty(), "{theirs:?}");
    let named = log(
        &w.accounts,
        &other,
        &format!("resource_id={}", lead["id"].as_str().unwrap()),
    )
    .await;
    assert!(named.is_empty());
    let by_actor = log(&w.accounts, &other, "actor=owner-1").await;
    assert!(by_actor.is_empty());
}

#[tokio::test]
async fn entries_expire_after_the_plans_retention() {
    let w = world().await;
    let (free, free_owner) = w.accounts.owner("Free").await;
    let (pro, pro_owner) = w.accounts.owner("Pro").await;
    w.accounts
        .state
        .store
        .set_plan(pro.id, Tier::Professional, LimitOverrides::default())
        .await
        .unwrap();
    for (tenant, token, days) in [(&free, &free_owner, 30), (&pro, &pro_owner, 365)] {
        let lead = w.leads.create_lead(token, lead_body()).await;
        let tag = w
            .sources
            .create(paths::TAGS, token, json!({"name": "Hot"}))
            .await;
        let mut entries = w.leads.audit(tenant, lead["id"].as_str().unwrap()).await;
        entries.extend(
            w.accounts
                .state
                .store
                .resource_audit(tenant.id, tag["id"].as_str().unwrap().parse().unwrap())
                .await
                .unwrap(),
        );
        assert_eq!(entries.len(), 2);
        for entry in entries {
            assert_eq!(
                entry.expires_at,
                Some(entry.at.timestamp() + days * 86_400),
                "{entry:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_refused_write_leaves_no_entry() {
    let w = world().await;
    let (_, owner) = w.accounts.owner("Acme").await;
    let lead = w.leads.create_lead(&owner, lead_body()).await;
    let id = lead["id"].as_str().unwrap();
    let before = log(&w.accounts, &owner, "").await;
    // A validation error, a stale If-Match, a taken name, a role that may not.
    w.leads
        .post(paths::LEADS)
        .bearer(&owner)
        .json(json!({"first_name": "x", "email": "not an email"}))
        .send()
        .await
        .expect(400);
    w.leads
        .patch(&paths::lead(id))
        .bearer(&owner)
        .header("if-match", "\"99\"")
        .json(json!({"company": "Late"}))
        .send()
        .await
        .expect(412);
    w.sources
        .create(paths::TAGS, &owner, json!({"name": "Hot"}))
        .await;
    let after_tag = log(&w.accounts, &owner, "").await;
    w.sources
        .post(paths::TAGS)
        .bearer(&owner)
        .json(json!({"name": "hot"}))
        .send()
        .await;
    w.accounts
        .patch(CURRENT_TENANT)
        .bearer(&owner)
        .json(json!({"slug": "Not A Slug!"}))
        .send()
        .await
        .expect(400);
    w.accounts
        .post(LOGIN)
        .json(json!({"email": "nobody@example.com", "password": "whatever it is"}))
        .send()
        .await
        .expect(401);
    assert_eq!(after_tag.len(), before.len() + 1);
    assert_eq!(log(&w.accounts, &owner, "").await, after_tag);
}

#[tokio::test]
async fn domain_writes_leave_entries() {
    let (apps, dns) = crate::domains::start_with_dns().await;
    let (_, owner) = apps.accounts.owner("Acme").await;
    // GIVEN a domain registered, verified, made primary and deleted from one client
    let created = from_client(apps.accounts.post(crate::domains::DOMAINS))
        .bearer(&owner)
        .json(json!({"domain": "crm.acme.example"}))
        .send()
        .await
        .expect(201)
        .body;
    let id = created["id"].as_str().unwrap();
    let record = &created["verification"];
    dns.set_txt(
        record["name"].as_str().unwrap(),
        &[record["value"].as_str().unwrap()],
    );
    from_client(apps.accounts.post(&crate::domains::verify_path(id)))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    from_client(apps.accounts.patch(&crate::domains::domain_path(id)))
        .bearer(&owner)
        .json(json!({"is_primary": true}))
        .send()
        .await
        .expect(200);
    from_client(apps.accounts.delete(&crate::domains::domain_path(id)))
        .bearer(&owner)
        .send()
        .await
        .expect(204);

    // THEN each write left its entry, newest first, with the changed fields
    let entries = log(&apps.accounts, &owner, &format!("resource_id={id}")).await;
    assert_eq!(
        actions_of(&entries),
        ["delete", "update", "update", "create"],
        "{entries:?}"
    );
    for entry in &entries {
        assert_eq!(entry["resource_type"], "domain", "{entry}");
        assert_from_client(entry);
    }
    assert_eq!(entries[0]["changes"]["domain"]["old"], "crm.acme.example");
    assert_eq!(entries[1]["changes"]["is_primary"]["new"], true);
    assert!(entries[2]["changes"]["verified_at"]["new"].is_string());
    assert_eq!(entries[3]["changes"]["domain"]["new"], "crm.acme.example");
}

#[tokio::test]
async fn profile_password_and_sign_out_leave_entries_without_secrets() {
    let w = world().await;
    let app = &w.accounts;
    let (tenant, owner) = app.owner("Acme").await;
    let member = app.member(&tenant, "member@example.com", Role::User).await;
    // GIVEN the member signed in from the client
    let signed_in = from_client(app.post(LOGIN))
        .json(json!({"email": "member@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect(200)
        .body;
    let token = signed_in["token"].as_str().unwrap();
    // WHEN they edit their profile, change their password and sign out
    from_client(app.patch(PROFILE))
        .bearer(token)
        .json(json!({"first_name": "Mia"}))
        .send()
        .await
        .expect(200);
    from_client(app.post(PASSWORD_CHANGE))
        .bearer(token)
        .json(json!({"current_password": PASSWORD, "new_password": "another long password"}))
        .send()
        .await
        .expect(204);
    from_client(app.post(LOGOUT))
        .bearer(token)
        .send()
        .await
        .expect(204);

    // THEN the tenant's log has each, by the member, from the client; no hash anywhere
    let entries = log(app, &owner, &format!("resource_id={}", member.id)).await;
    assert_eq!(
        actions_of(&entries),
        ["logout", "password_change", "update", "login"],
        "{entries:?}"
    );
    for entry in &entries {
        assert_eq!(entry["actor"], member.id.to_string(), "{entry}");
        assert_from_client(entry);
    }
    assert_eq!(entries[2]["changes"]["first_name"]["new"], "Mia");
    assert_eq!(entries[1]["changes"], json!({}));
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains("argon2"), "{text}");
}
