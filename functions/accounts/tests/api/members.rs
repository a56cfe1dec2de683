//! The tenant's members: listing (emails for admins and owners), role changes and
//! removals taking effect on the next request, the owner rules, tenancy.

use crate::common::*;

#[tokio::test]
async fn members_are_listed_with_emails_for_admins_only() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "owner@example.com", Role::Owner).await;
    app.member(&tenant, "admin@example.com", Role::Admin).await;
    app.member(&tenant, "user@example.com", Role::User).await;
    let other = app.tenant("Other").await;
    app.member(&other, "stranger@example.com", Role::Owner)
        .await;

    let admin = app.sign_in("admin@example.com", None).await;
    let rows = app.read(MEMBERS, &admin).await["results"].clone();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["email"].is_string()));
    assert!(rows
        .iter()
        .any(|r| r["email"] == "user@example.com" && r["role"] == "user"));

    let user = app.sign_in("user@example.com", None).await;
    let rows = app.read(MEMBERS, &user).await["results"].clone();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.get("email").is_none()), "{rows:?}");
    assert!(rows.iter().all(|r| r["full_name"].is_string()));

    // Pages follow the cursor; a forged cursor is a 400
    let first = app.read(&format!("{MEMBERS}?page_size=2"), &admin).await;
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert!(first["next"].is_string());
    app.get(&format!("{MEMBERS}?cursor=forged"))
        .bearer(&admin)
        .send()
        .await
        .expect(400);
}

#[tokio::test]
async fn role_changes_and_removals_take_effect_on_the_next_request() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "admin@example.com", Role::Admin).await;
    let bob = app.member(&tenant, "bob@example.com", Role::User).await;
    let admin = app.sign_in("admin@example.com", None).await;
    let token = app.sign_in("bob@example.com", None).await;
    assert_eq!(create_lead_status(&apps, &token).await, 201);

    // WHEN an admin makes him readonly THEN his same token may no longer create leads
    let res = app
        .patch(&member_path(bob.id))
        .bearer(&admin)
        .json(json!({"role": "readonly"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["role"], "readonly");
    assert_eq!(res.body["email"], "bob@example.com");
    assert_eq!(create_lead_status(&apps, &token).await, 403);
    assert_eq!(list_status(&apps, &token).await, 200);

    // WHEN he is deactivated THEN his token is refused; reactivated, it works again
    let deactivate = |active: bool| {
        app.patch(&member_path(bob.id))
            .bearer(&admin)
            .json(json!({"is_active": active}))
            .send()
    };
    deactivate(false).await.expect(200);
    assert_eq!(list_status(&apps, &token).await, 401);
    deactivate(true).await.expect(200);
    assert_eq!(list_status(&apps, &token).await, 200);

    // WHEN his user is deactivated THEN the same
    app.state
        .store
        .set_user_active(bob.id, false)
        .await
        .unwrap();
    assert_eq!(list_status(&apps, &token).await, 401);
    app.state.store.set_user_active(bob.id, true).await.unwrap();

    // WHEN he is removed THEN his token is refused and he cannot sign in to the tenant
    app.delete(&member_path(bob.id))
        .bearer(&admin)
        .send()
        .await
        .expect(204);
    assert_eq!(list_status(&apps, &token).await, 401);
    app.post(LOGIN)
        .json(json!({"email": "bob@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect(401);
    app.delete(&member_path(bob.id))
        .bearer(&admin)
        .send()
        .await
        .expect(404);
}

#[tokio::test]
async fn the_last_active_owner_stays() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let owner = app.member(&tenant, "owner@example.com", Role::Owner).await;
    let token = app.sign_in("owner@example.com", None).await;
    let url = member_path(owner.id);

    for change in [json!({"role": "admin"}), json!({"is_active": false})] {
        let res = app.patch(&url).bearer(&token).json(change).send().await;
        assert_eq!(res.status, 409, "{}", res.text);
        assert!(res.body["detail"]
            .as_str()
            .unwrap()
            .contains("last active owner"));
    }
    app.delete(&url).bearer(&token).send().await.expect(409);

    // GIVEN a second owner THEN the first may step down
    let second = app.member(&tenant, "second@example.com", Role::User).await;
    app.patch(&member_path(second.id))
        .bearer(&token)
        .json(json!({"role": "owner"}))
        .send()
        .await
        .expect(200);
    app.patch(&url)
        .bearer(&token)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .expect(200);
    // AND the second is now the last one
    let second_token = app.sign_in("second@example.com", None).await;
    app.delete(&member_path(second.id))
        .bearer(&second_token)
        .send()
        .await
        .expect(409);
}

#[tokio::test]
async fn only_owners_touch_the_owner_role_and_roles_are_checked_first() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let owner = app.member(&tenant, "owner@example.com", Role::Owner).await;
    app.member(&tenant, "admin@example.com", Role::Admin).await;
    app.member(&tenant, "manager@example.com", Role::Manager)
        .await;
    let user = app.member(&tenant, "user@example.com", Role::User).await;
    let admin = app.sign_in("admin@example.com", None).await;
    let manager = app.sign_in("manager@example.com", None).await;

    // An admin may not grant, change or remove the owner role
    let patch = |token: &str, who: uuid::Uuid, body: Value| {
        app.patch(&member_path(who)).bearer(token).json(body).send()
    };
    patch(&admin, user.id, json!({"role": "owner"}))
        .await
        .expect(403);
    patch(&admin, owner.id, json!({"role": "user"}))
        .await
        .expect(403);
    app.delete(&member_path(owner.id))
        .bearer(&admin)
        .send()
        .await
        .expect(403);
    patch(&admin, user.id, json!({"role": "manager"}))
        .await
        .expect(200);
    // Bad values name their field
    let res = patch(
        &admin,
        user.id,
        json!({"role": "root", "is_active": "maybe"}),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(res.body["role"].is_array() && res.body["is_active"].is_array());

    // A manager gets 403 before the body is read (even one that is not JSON)
    let res = app
        .patch(&member_path(user.id))
        .bearer(&manager)
        .raw_body("text/plain", "nonsense")
        .send()
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    app.delete(&member_path(user.id))
        .bearer(&manager)
        .send()
        .await
        .expect(403);
}

#[tokio::test]
async fn another_tenants_members_are_not_found() {
    let apps = start().await;
    let app = &apps.accounts;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    app.member(&a, "owner-a@example.com", Role::Owner).await;
    let bob = app.member(&b, "bob@example.com", Role::User).await;
    app.member(&b, "owner-b@example.com", Role::Owner).await;
    let owner_a = app.sign_in("owner-a@example.com", None).await;

    app.patch(&member_path(bob.id))
        .bearer(&owner_a)
        .json(json!({"role": "admin"}))
        .send()
        .await
        .expect(404);
    app.delete(&member_path(bob.id))
        .bearer(&owner_a)
        .send()
        .await
        .expect(404);
    app.delete(&member_path("not-a-uuid"))
        .bearer(&owner_a)
        .send()
        .await
        .expect(404);
    let rows = app.read(MEMBERS, &owner_a).await;
    assert_eq!(rows["results"].as_array().unwrap().len(), 1);
    // Bob is untouched in his tenant
    let owner_b = app.sign_in("owner-b@example.com", None).await;
    let rows = app.read(MEMBERS, &owner_b).await;
    assert!(rows["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["user_id"] == json!(bob.id) && r["role"] == "user"));
}

#[tokio::test]
async fn tokens_of_outside_issuers_keep_working_without_memberships() {
    let apps = start().await;
    let (tenant, token) = apps.accounts.owner("Outside Co").await;
    assert_eq!(create_lead_status(&apps, &token).await, 201);
    // They see the tenant's members (none yet) and may invite, as their role says
    let rows = apps.accounts.read(MEMBERS, &token).await;
    assert_eq!(rows["results"], json!([]));
    apps.accounts
        .member(&tenant, "ann@example.com", Role::User)
        .await;
    let rows = apps.accounts.read(MEMBERS, &token).await;
    assert_eq!(rows["results"].as_array().unwrap().len(), 1);
    // But they have no profile here, and logging out ends nothing
    apps.accounts
        .get(PROFILE)
        .bearer(&token)
        .send()
        .await
        .expect(403);
    apps.accounts
        .post(LOGOUT)
        .bearer(&token)
        .send()
        .await
        .expect(204);
    assert_eq!(list_status(&apps, &token).await, 200);
}
