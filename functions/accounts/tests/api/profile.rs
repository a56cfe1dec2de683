//! `GET/PATCH /api/profile/`: the caller's own user.

use crate::common::*;

#[tokio::test]
async fn the_profile_reads_and_changes() {
    let apps = start().await;
    let app = &apps.accounts;
    let tenant = app.tenant("Acme").await;
    let user = app.member(&tenant, "ann@example.com", Role::User).await;
    let token = app.sign_in("ann@example.com", None).await;

    let res = app.get(PROFILE).bearer(&token).send().await.expect(200);
    assert_eq!(res.body["id"], json!(user.id));
    assert_eq!(res.body["email"], "ann@example.com");
    assert_eq!(res.body["username"], "ann@example.com");
    assert_eq!(res.body["timezone"], "UTC");
    assert_eq!(res.body["language"], "en");
    assert!(!res.text.contains("argon2") && !res.text.contains("password"));

    let res = app
        .patch(PROFILE)
        .bearer(&token)
        .json(json!({"first_name": "Ann", "last_name": "Lee", "phone": "+1 555 0100", "timezone": "Europe/Paris", "email": "ignored@example.com"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["full_name"], "Ann Lee");
    assert_eq!(res.body["phone"], "+1 555 0100");
    assert_eq!(res.body["timezone"], "Europe/Paris");
    assert_eq!(res.body["email"], "ann@example.com");
    assert_eq!(app.read(PROFILE, &token).await["full_name"], "Ann Lee");
    // The password still works after the profile write
    app.login("ann@example.com", None).await;

    let res = app
        .patch(PROFILE)
        .bearer(&token)
        .json(json!({"timezone": "not a zone", "language": 7, "first_name": "x".repeat(151)}))
        .send()
        .await;
    assert_eq!(res.status, 400);
    for field in ["timezone", "language", "first_name"] {
        assert!(res.body[field].is_array(), "{field}: {}", res.text);
    }
    app.get(PROFILE).send().await.expect(401);
}
