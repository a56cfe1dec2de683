//! The tenant's scoring settings: admins read and write them, with validation.

use crate::common::*;

#[tokio::test]
async fn admins_read_and_change_the_scoring_settings() {
    let apps = start().await;
    let actions = &apps.actions;
    let (tenant, admin) = actions.tenant_with("Acme", "admin", Role::Admin).await;
    let manager = actions.token(&tenant, "manager", Role::Manager);

    let defaults = actions.read(SETTINGS, &admin).await;
    assert_eq!(defaults["model"], "explainable");
    assert!(defaults["title_keywords"].as_array().unwrap().len() > 5);

    actions
        .get(SETTINGS)
        .bearer(&manager)
        .send()
        .await
        .expect(403);
    actions
        .patch(SETTINGS)
        .bearer(&manager)
        .json(json!({"model": "legacy"}))
        .send()
        .await
        .expect(403);

    let bad = actions
        .put(SETTINGS)
        .bearer(&admin)
        .json(json!({"model": "magic", "ideal_industries": "software"}))
        .send()
        .await
        .expect(400);
    assert!(bad.body["model"].is_array() && bad.body["ideal_industries"].is_array());

    let saved = actions
        .patch(SETTINGS)
        .bearer(&admin)
        .json(json!({"ideal_industries": ["Software"], "target_countries": ["DE"]}))
        .send()
        .await
        .expect(200);
    assert_eq!(saved.body["ideal_industries"], json!(["Software"]));
    assert_eq!(saved.body["model"], "explainable");
    let read = actions.read(SETTINGS, &admin).await;
    assert_eq!(read, saved.body);

    // Another tenant still has the defaults.
    let (_, other_admin) = actions.tenant_with("Other", "admin", Role::Admin).await;
    let theirs = actions.read(SETTINGS, &other_admin).await;
    assert_eq!(theirs, defaults);
}
