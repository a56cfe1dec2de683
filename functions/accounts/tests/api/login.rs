//! `POST /api/auth/login/`: one tenant and several, the one 401 of every failure, the
//! lockout, and the tokens working on the lead routes.

use crate::common::*;
use crm_store::ResourceType;
use crm_testkit::fixtures::setup_entry;

#[tokio::test]
async fn a_member_of_one_tenant_signs_in_and_uses_the_token() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let user = app.member(&tenant, "Ann@Example.com", Role::Manager).await;

    // WHEN she signs in (any case of her email)
    let res = app
        .post(LOGIN)
        .json(json!({"email": "ann@EXAMPLE.com", "password": PASSWORD}))
        .send()
        .await
        .expect(200);
    let body = res.body;

    // THEN she gets an access token for her tenant and role, a refresh token, herself
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["tenant"]["id"], json!(tenant.id));
    assert_eq!(body["tenant"]["role"], "manager");
    assert_eq!(body["tenants"].as_array().unwrap().len(), 1);
    assert_eq!(body["user"]["id"], json!(user.id));
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert!(body["refresh"].as_str().unwrap().len() >= 43);
    assert!(!res.text.contains("argon2") && !res.text.contains("password"));
    let token = body["token"].as_str().unwrap();
    let claims = claims(token);
    assert_eq!(claims["sub"], json!(user.id));
    assert_eq!(claims["tenant_id"], json!(tenant.id));
    assert_eq!(claims["role"], "manager");
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["iss"], "crm-accounts");
    for claim in ["exp", "iat", "jti", "sid"] {
        assert!(!claims[claim].is_null(), "{claim}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    // AND the token works on the lead routes, with her role
    assert_eq!(create_lead_status(&apps, token).await, 201);
    assert_eq!(list_status(&apps, token).await, 200);
}

#[tokio::test]
async fn a_member_of_several_tenants_chooses_one() {
    let apps = start().await;
    let app = &apps.accounts;
    let a = app.tenant("Alpha").await;
    let b = app.tenant("Beta").await;
    let user = app.member(&a, "multi@example.com", Role::User).await;
    app.join(&b, &user, Role::Admin).await;

    // WHEN she signs in without naming a tenant THEN a 400 on tenant_id lists both
    let res = app
        .post(LOGIN)
        .json(json!({"email": "multi@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect(400);
    let message = res.body["tenant_id"][0].as_str().unwrap();
    assert!(
        message.contains(&a.id.to_string()) && message.contains("Beta"),
        "{message}"
    );

    // WHEN she names one THEN she is signed in there with her role there
    let body = app.login("multi@example.com", Some(&b)).await;
    assert_eq!(body["tenant"]["id"], json!(b.id));
    assert_eq!(claims(body["token"].as_str().unwrap())["role"], "admin");
    assert_eq!(body["tenants"].as_array().unwrap().len(), 2);
    // AND a tenant she does not belong to is the sign-in failure
    let other = app.tenant("Other").await;
    app.post(LOGIN)
        .json(json!({"email": "multi@example.com", "password": PASSWORD, "tenant_id": other.id}))
        .send()
        .await
        .expect(401);
}

#[tokio::test]
async fn every_failure_is_the_same_401() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let ok = app.member(&tenant, "ok@example.com", Role::User).await;
    let inactive = app
        .member(&tenant, "inactive@example.com", Role::User)
        .await;
    app.state
        .store
        .set_user_active(inactive.id, false)
        .await
        .unwrap();
    let left = app.member(&tenant, "left@example.com", Role::User).await;
    let membership = app
        .state
        .store
        .get_membership(tenant.id, left.id)
        .await
        .unwrap()
        .unwrap();
    let mut off = membership.clone();
    off.is_active = false;
    app.state
        .store
        .change_membership(
            &membership,
            Some(&off),
            &setup_entry(ResourceType::Member, membership.user_id),
        )
        .await
        .unwrap();
    app.user("nomember@example.com").await;

    let mut bodies = Vec::new();
    for (email, password) in [
        ("ok@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
        ("inactive@example.com", PASSWORD),
        ("left@example.com", PASSWORD),
        ("nomember@example.com", PASSWORD),
    ] {
        let res = app
            .post(LOGIN)
            .json(json!({"email": email, "password": password}))
            .send()
            .await;
        assert_eq!(res.status, 401, "{email}: {}", res.text);
        assert_eq!(res.header("www-authenticate"), Some("Bearer realm=\"api\""));
        bodies.push(res.body);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(app.login(&ok.email, None).await["user"]["id"], json!(ok.id));
}

#[tokio::test]
async fn bad_bodies_name_their_fields() {
    let apps = start().await;
    let app = &apps.accounts;
    for (body, field) in [
        (json!({"password": PASSWORD}), "email"),
        (json!({"email": "a@b.co"}), "password"),
        (json!({"email": "a@b.co", "password": ""}), "password"),
        (json!({"email": "a@b.co", "password": 12}), "password"),
        (
            json!({"email": "a@b.co", "password": "x", "tenant_id": "nope"}),
            "tenant_id",
        ),
    ] {
        let res = app.post(LOGIN).json(body.clone()).send().await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert!(res.body[field].is_array(), "{body}: {}", res.text);
    }
    app.post(LOGIN)
        .raw_body("text/plain", "email=a")
        .send()
        .await
        .expect(415);
}

#[tokio::test]
async fn five_failures_lock_the_email_and_a_success_resets_the_count() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "locked@example.com", Role::User).await;
    app.member(&tenant, "reset@example.com", Role::User).await;
    let attempt = |email: &'static str, password: &'static str| {
        let app = app.clone();
        async move {
            app.post(LOGIN)
                .json(json!({"email": email, "password": password}))
                .send()
                .await
        }
    };

    // GIVEN four failures, a success, and four more: never locked
    for _ in 0..4 {
        assert_eq!(
            attempt("reset@example.com", "wrong password").await.status,
            401
        );
    }
    assert_eq!(attempt("reset@example.com", PASSWORD).await.status, 200);
    for _ in 0..4 {
        assert_eq!(
            attempt("reset@example.com", "wrong password").await.status,
            401
        );
    }
    assert_eq!(attempt("reset@example.com", PASSWORD).await.status, 200);

    // GIVEN five failures in a row THEN even the right password gets 429 with Retry-After
    for _ in 0..5 {
        assert_eq!(
            attempt("locked@example.com", "wrong password").await.status,
            401
        );
    }
    let res = attempt("locked@example.com", PASSWORD).await;
    assert_eq!(res.status, 429, "{}", res.text);
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(res.body["detail"].is_string());
    // AND another email is not affected; nor is an unknown one locked by that
    assert_eq!(attempt("reset@example.com", PASSWORD).await.status, 200);
}
