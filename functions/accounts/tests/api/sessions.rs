//! Refresh-token rotation and reuse detection, logout, logout-all, and a password change
//! ending the other sessions.

use crate::common::*;

async fn refresh(app: &TestApp, token: &Value) -> crm_testkit::TestResponse {
    app.post(REFRESH)
        .json(json!({"refresh": token}))
        .send()
        .await
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_family() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "ann@example.com", Role::User).await;
    let first = app.login("ann@example.com", None).await;

    // WHEN the refresh token is exchanged THEN a new pair of the same session comes back
    let second = refresh(app, &first["refresh"]).await.expect(200).body;
    assert_eq!(second["expires_in"], 900);
    assert_ne!(second["refresh"], first["refresh"]);
    let (a, b) = (
        claims(first["token"].as_str().unwrap()),
        claims(second["token"].as_str().unwrap()),
    );
    assert_eq!(a["sid"], b["sid"]);
    assert_ne!(a["jti"], b["jti"]);
    assert_eq!(
        list_status(&apps, second["token"].as_str().unwrap()).await,
        200
    );

    // WHEN the first refresh token is presented again THEN 401, and the family is revoked:
    // the newest refresh token and the session's access tokens stop working too
    assert_eq!(refresh(app, &first["refresh"]).await.status, 401);
    assert_eq!(refresh(app, &second["refresh"]).await.status, 401);
    assert_eq!(
        list_status(&apps, second["token"].as_str().unwrap()).await,
        401
    );

    // AND a new login starts a new, working session
    let again = app.login("ann@example.com", None).await;
    assert_eq!(refresh(app, &again["refresh"]).await.status, 200);
}

#[tokio::test]
async fn refresh_refuses_what_is_not_a_refresh_token() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "ann@example.com", Role::User).await;
    let access = app.sign_in("ann@example.com", None).await;

    // The original's form: an access token in "token"
    let res = app
        .post(REFRESH)
        .json(json!({"token": access}))
        .send()
        .await
        .expect(400);
    assert!(
        res.body["token"][0].as_str().unwrap().contains("refresh"),
        "{}",
        res.text
    );
    // An unknown or malformed one
    assert_eq!(refresh(app, &json!("not-a-token")).await.status, 401);
    // (an access token is longer than any refresh token: a 400 naming the field)
    let res = refresh(app, &json!(access)).await;
    assert_eq!(res.status, 400);
    assert!(res.body["refresh"].is_array());
    let res = refresh(app, &json!(null)).await;
    assert_eq!(res.status, 400);
    assert!(res.body["refresh"].is_array());
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_all_every_one() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "ann@example.com", Role::User).await;
    let phone = app.login("ann@example.com", None).await;
    let laptop = app.login("ann@example.com", None).await;
    let tablet = app.login("ann@example.com", None).await;
    let token = |s: &Value| s["token"].as_str().unwrap().to_string();

    // WHEN the phone signs out THEN its tokens stop working, the others' do not
    app.post(LOGOUT)
        .bearer(&token(&phone))
        .send()
        .await
        .expect(204);
    assert_eq!(refresh(app, &phone["refresh"]).await.status, 401);
    assert_eq!(list_status(&apps, &token(&phone)).await, 401);
    assert_eq!(list_status(&apps, &token(&laptop)).await, 200);

    // WHEN the laptop signs out everywhere THEN no session is left
    app.post(LOGOUT_ALL)
        .bearer(&token(&laptop))
        .send()
        .await
        .expect(204);
    for session in [&laptop, &tablet] {
        assert_eq!(refresh(app, &session["refresh"]).await.status, 401);
        assert_eq!(list_status(&apps, &token(session)).await, 401);
    }
    // AND without credentials both are a 401
    app.post(LOGOUT).send().await.expect(401);
    app.post(LOGOUT_ALL).send().await.expect(401);
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    app.member(&tenant, "ann@example.com", Role::User).await;
    let here = app.login("ann@example.com", None).await;
    let elsewhere = app.login("ann@example.com", None).await;
    let token = here["token"].as_str().unwrap();

    // A wrong current password, a weak or unchanged new one: 400s naming the field
    app.assert_rejected(
        PASSWORD_CHANGE,
        token,
        vec![
            (
                json!({"current_password": "wrong one!", "new_password": "a new long password"}),
                "current_password",
            ),
            (
                json!({"current_password": PASSWORD, "new_password": "short"}),
                "new_password",
            ),
            (
                json!({"current_password": PASSWORD, "new_password": "ann@example.com"}),
                "new_password",
            ),
            (
                json!({"current_password": PASSWORD, "new_password": PASSWORD}),
                "new_password",
            ),
            (
                json!({"new_password": "a new long password"}),
                "current_password",
            ),
        ],
    )
    .await;

    // WHEN she changes it THEN the other session ends, this one stays
    app.post(PASSWORD_CHANGE)
        .bearer(token)
        .json(json!({"current_password": PASSWORD, "new_password": "a new long password"}))
        .send()
        .await
        .expect(204);
    assert_eq!(refresh(app, &elsewhere["refresh"]).await.status, 401);
    assert_eq!(
        list_status(&apps, elsewhere["token"].as_str().unwrap()).await,
        401
    );
    assert_eq!(list_status(&apps, token).await, 200);
    assert_eq!(refresh(app, &here["refresh"]).await.status, 200);

    // AND only the new password signs in
    let with = |password: &str| {
        app.post(LOGIN)
            .json(json!({"email": "ann@example.com", "password": password}))
            .send()
    };
    assert_eq!(with(PASSWORD).await.status, 401);
    assert_eq!(with("a new long password").await.status, 200);
}
