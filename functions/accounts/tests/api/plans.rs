//! Plans and their limits, enforced exactly: leads (also under concurrent creates at the
//! boundary) and users (invitations and their acceptance).

use crate::common::*;
use crm_domain::plan::{LimitOverrides, Tier};
use crm_domain::tenant::Tenant;
use futures::future::join_all;

const ACCEPT_PASSWORD: &str = "a brand new password";

async fn set_limits(app: &TestApp, tenant: &Tenant, overrides: LimitOverrides) {
    app.state
        .store
        .set_plan(tenant.id, Tier::Free, overrides)
        .await
        .expect("set the plan")
        .expect("the tenant exists");
}

fn assert_plan_limit(res: &crm_testkit::TestResponse) {
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(res.body["code"], "plan_limit", "{}", res.text);
    assert!(res.body["detail"].as_str().unwrap().contains("plan"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_stop_exactly_at_max_leads() {
    let apps = start().await;
    let (tenant, token) = apps.leads.owner("Acme").await;
    let max_leads = 5;
    set_limits(
        &apps.accounts,
        &tenant,
        LimitOverrides {
            max_leads: Some(max_leads),
            ..Default::default()
        },
    )
    .await;
    for _ in 0..3 {
        assert_eq!(create_lead_status(&apps, &token).await, 201);
    }

    // WHEN 20 creates race for the 2 places left
    let attempts = (0..20).map(|_| {
        apps.leads
            .post(paths::LEADS)
            .bearer(&token)
            .json(lead_body())
            .send()
    });
    let results = join_all(attempts).await;

    // THEN exactly 2 are created and 18 refused by the plan, with nothing half-written
    let created = results.iter().filter(|r| r.status == 201).count();
    let refused: Vec<_> = results.iter().filter(|r| r.status != 201).collect();
    assert_eq!(created, 2, "{results:?}");
    assert_eq!(refused.len(), 18);
    refused.iter().for_each(|r| assert_plan_limit(r));
    let before = apps.leads.table_items().await;
    assert_plan_limit(
        &apps
            .leads
            .post(paths::LEADS)
            .bearer(&token)
            .json(lead_body())
            .send()
            .await,
    );
    assert_eq!(
        apps.leads.table_items().await,
        before,
        "a refused create wrote"
    );
    let list = apps.leads.read(paths::LEADS, &token).await;
    assert_eq!(list["results"].as_array().unwrap().len(), 5);
    let current = apps.accounts.read(CURRENT_TENANT, &token).await;
    assert_eq!(current["usage"]["leads"], 5);
    assert_eq!(current["limits"]["max_leads"], 5);

    // AND deleting a lead frees its place
    let id = list["results"][0]["id"].as_str().unwrap();
    apps.leads
        .request("DELETE", &paths::lead(id))
        .bearer(&token)
        .send()
        .await
        .expect(204);
    assert_eq!(create_lead_status(&apps, &token).await, 201);
    assert_eq!(create_lead_status(&apps, &token).await, 403);
}

#[tokio::test]
async fn the_free_plan_allows_five_users() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "owner@example.com", Role::Owner).await;
    let owner = app.sign_in("owner@example.com", None).await;
    for n in 0..3 {
        app.member(&tenant, &format!("m{n}@example.com"), Role::User)
            .await;
    }
    let current = app.read(CURRENT_TENANT, &owner).await;
    assert_eq!(current["subscription_tier"], "free");
    assert_eq!(current["limits"]["max_users"], 5);
    assert_eq!(current["usage"]["users"], 4);

    // Two invitations while one seat is left: both may be sent...
    let mut secrets = Vec::new();
    for email in ["x@example.com", "y@example.com"] {
        let invitation = app
            .create(INVITATIONS, &owner, json!({"email": email, "role": "user"}))
            .await;
        secrets.push(invitation["token"].as_str().unwrap().to_string());
    }
    // ...but only one accepted
    let accepts = secrets.iter().map(|secret| {
        app.post(ACCEPT)
            .json(json!({"token": secret, "password": ACCEPT_PASSWORD}))
            .send()
    });
    let results = join_all(accepts).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    let refused = results.iter().find(|r| r.status != 200).unwrap();
    assert_plan_limit(refused);
    assert_eq!(app.read(CURRENT_TENANT, &owner).await["usage"]["users"], 5);

    // AND a full tenant cannot invite, until a member is removed
    let res = app
        .post(INVITATIONS)
        .bearer(&owner)
        .json(json!({"email": "z@example.com", "role": "user"}))
        .send()
        .await;
    assert_plan_limit(&res);
    let members = app.read(MEMBERS, &owner).await;
    let removable = members["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap();
    app.request(
        "DELETE",
        &member_path(removable["user_id"].as_str().unwrap()),
    )
    .bearer(&owner)
    .send()
    .await
    .expect(204);
    app.post(INVITATIONS)
        .bearer(&owner)
        .json(json!({"email": "z@example.com", "role": "user"}))
        .send()
        .await
        .expect(201);
}
