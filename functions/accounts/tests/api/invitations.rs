//! Invitations: new and existing users, one-time secrets, revoked and expired ones, who
//! may invite whom, tenancy.

use crate::common::*;
use crm_domain::accounts::secrets::{digest, new_secret};
use crm_domain::accounts::{Invitation, InvitationInput};
use crm_domain::Caller;
use crm_store::ResourceType;
use crm_testkit::fixtures::setup_entry;

async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> Value {
    app.create(INVITATIONS, token, json!({"email": email, "role": role}))
        .await
}

async fn accept(app: &TestApp, body: Value) -> crm_testkit::TestResponse {
    app.post(ACCEPT).json(body).send().await
}

#[tokio::test]
async fn a_new_user_accepts_and_is_signed_in() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "owner@example.com", Role::Owner).await;
    let owner = app.sign_in("owner@example.com", None).await;

    // WHEN the owner invites a new email THEN the secret is shown once
    let invitation = invite(app, &owner, "New.Person@Example.com", "manager").await;
    assert_eq!(invitation["email"], "new.person@example.com");
    assert_eq!(invitation["role"], "manager");
    let secret = invitation["token"].as_str().unwrap().to_string();
    let listed = app.read(INVITATIONS, &owner).await;
    let rows = listed["results"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].get("token").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&secret));

    // A weak password is refused, naming the field
    let res = accept(app, json!({"token": secret, "password": "short"})).await;
    assert_eq!(res.status, 400);
    assert!(res.body["password"].is_array());

    // WHEN the invitee accepts THEN they are a signed-in manager of the tenant
    let res = accept(
        app,
        json!({"token": secret, "password": "a brand new password", "first_name": "New", "last_name": "Person"}),
    )
    .await
    .expect(200);
    assert_eq!(res.body["tenant"]["id"], json!(tenant.id));
    assert_eq!(res.body["tenant"]["role"], "manager");
    assert_eq!(res.body["user"]["full_name"], "New Person");
    let token = res.body["token"].as_str().unwrap();
    assert_eq!(create_lead_status(&apps, token).await, 201);
    let login = app
        .post(LOGIN)
        .json(json!({"email": "new.person@example.com", "password": "a brand new password"}))
        .send()
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(app.read(INVITATIONS, &owner).await["results"], json!([]));

    // AND the secret works once
    let res = accept(
        app,
        json!({"token": secret, "password": "a brand new password"}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.body["token"].is_array(), "{}", res.text);
}

#[tokio::test]
async fn an_existing_user_accepts_with_their_current_password() {
    let apps = start().await;
    let app = &apps.accounts;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    app.member(&a, "owner@example.com", Role::Owner).await;
    app.member(&b, "ann@example.com", Role::User).await;
    let owner = app.sign_in("owner@example.com", None).await;
    let secret = invite(app, &owner, "ann@example.com", "admin").await["token"].clone();

    let res = accept(
        app,
        json!({"token": secret, "password": "not her password"}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.body["password"].is_array(), "{}", res.text);

    let res = accept(app, json!({"token": secret, "password": PASSWORD}))
        .await
        .expect(200);
    assert_eq!(res.body["tenant"]["id"], json!(a.id));
    assert_eq!(res.body["tenant"]["role"], "admin");
    assert_eq!(res.body["tenants"].as_array().unwrap().len(), 2);
    // Inviting her again: she is a member already
    let res = app
        .post(INVITATIONS)
        .bearer(&owner)
        .json(json!({"email": "ANN@example.com", "role": "user"}))
        .send()
        .await;
    assert_eq!(res.status, 400);
    assert!(res.body["email"].is_array());
}

#[tokio::test]
async fn revoked_and_expired_invitations_are_refused() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let owner_user = app.member(&tenant, "owner@example.com", Role::Owner).await;
    let owner = app.sign_in("owner@example.com", None).await;

    // Revoked
    let invitation = invite(app, &owner, "gone@example.com", "user").await;
    let url = invitation_path(invitation["id"].as_str().unwrap());
    app.delete(&url).bearer(&owner).send().await.expect(204);
    app.delete(&url).bearer(&owner).send().await.expect(404);
    let res = accept(
        app,
        json!({"token": invitation["token"], "password": "a long password"}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.body["token"].is_array());

    // Expired (written as if made eight days ago)
    let caller = Caller {
        tenant: tenant.id,
        user_id: owner_user.id.to_string(),
        role: Role::Owner,
        email: None,
        origin: Default::default(),
        audit_retention_days: 0,
    };
    let mut old = Invitation::new(
        &caller,
        InvitationInput {
            email: "late@example.com".into(),
            role: Role::User,
        },
    );
    old.created_at -= chrono::Duration::days(8);
    old.expires_at -= chrono::Duration::days(8);
    let secret = new_secret();
    app.state
        .store
        .create_invitation(
            &old,
            &digest(&secret),
            &setup_entry(ResourceType::Invitation, old.id),
        )
        .await
        .unwrap();
    assert_eq!(app.read(INVITATIONS, &owner).await["results"], json!([]));
    let res = accept(app, json!({"token": secret, "password": "a long password"})).await;
    assert_eq!(res.status, 400);
    assert!(res.body["token"].is_array());
    // Nonsense
    let res = accept(
        app,
        json!({"token": "nonsense", "password": "a long password"}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.body["token"].is_array());
}

#[tokio::test]
async fn who_may_invite_whom() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "admin@example.com", Role::Admin).await;
    app.member(&tenant, "manager@example.com", Role::Manager)
        .await;
    let admin = app.sign_in("admin@example.com", None).await;
    let manager = app.sign_in("manager@example.com", None).await;

    let post = |token: &str, body: Value| app.post(INVITATIONS).bearer(token).json(body).send();
    post(
        &admin,
        json!({"email": "boss@example.com", "role": "owner"}),
    )
    .await
    .expect(403);
    post(
        &admin,
        json!({"email": "helper@example.com", "role": "admin"}),
    )
    .await
    .expect(201);
    post(&manager, json!({"email": "x@example.com", "role": "user"}))
        .await
        .expect(403);
    app.get(INVITATIONS)
        .bearer(&manager)
        .send()
        .await
        .expect(403);
    let res = post(&admin, json!({"email": "not an email", "role": "boss"})).await;
    assert_eq!(res.status, 400);
    assert!(res.body["email"].is_array() && res.body["role"].is_array());
    // A manager's 403 comes before the body is read
    let res = app
        .post(INVITATIONS)
        .bearer(&manager)
        .raw_body("text/plain", "x")
        .send()
        .await;
    assert_eq!(res.status, 403);
}

#[tokio::test]
async fn another_tenants_invitations_are_not_found() {
    let apps = start().await;
    let app = &apps.accounts;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    app.member(&a, "owner-a@example.com", Role::Owner).await;
    app.member(&b, "owner-b@example.com", Role::Owner).await;
    let owner_a = app.sign_in("owner-a@example.com", None).await;
    let owner_b = app.sign_in("owner-b@example.com", None).await;
    let theirs = invite(app, &owner_b, "someone@example.com", "user").await;
    let url = invitation_path(theirs["id"].as_str().unwrap());

    app.delete(&url).bearer(&owner_a).send().await.expect(404);
    assert_eq!(app.read(INVITATIONS, &owner_a).await["results"], json!([]));
    assert_eq!(
        app.read(INVITATIONS, &owner_b).await["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
