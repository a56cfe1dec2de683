//! The tenant's scoring settings: admins read and write them, with validation.

use crate::common::*;

#[tokio::test]
async fn admins_read_and_change_the_scoring_settings() {
    let apps = start().await;
    let tenant = apps.actions.tenant("Acme").await;
    let admin = apps.actions.token(&tenant, "admin", Role::Admin);
    let manager = apps.actions.token(&tenant, "manager", Role::Manager);

    let defaults = apps
        .actions
        .get(SETTINGS)
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(defaults.body["model"], "explainable");
    assert!(defaults.body["title_keywords"].as_array().unwrap().len() > 5);

    apps.actions
        .get(SETTINGS)
        .bearer(&manager)
        .send()
        .await
        .expect(403);
    apps.actions
        .patch(SETTINGS)
        .bearer(&manager)
        .json(json!({"model": "legacy"}))
        .send()
        .await
        .expect(403);

    let bad = apps
        .actions
        .put(SETTINGS)
        .bearer(&admin)
        .json(json!({"model": "magic", "ideal_industries": "software"}))
        .send()
        .await
        .expect(400);
    assert!(bad.body["model"].is_array() && bad.body["ideal_industries"].is_array());

    let saved = apps
        .actions
        .patch(SETTINGS)
        .bearer(&admin)
        .json(json!({"ideal_industries": ["Software"], "target_countries": ["DE"]}))
        .send()
        .await
        .expect(200);
    assert_eq!(saved.body["ideal_industries"], json!(["Software"]));
    assert_eq!(saved.body["model"], "explainable");
    let read = apps
        .actions
        .get(SETTINGS)
        .bearer(&admin)
        .send()
        .await
        .expect(200);
    assert_eq!(read.body, saved.body);

    // Another tenant still has the defaults.
    let other = apps.actions.tenant("Other").await;
    let other_admin = apps.actions.token(&other, "admin", Role::Admin);
    let theirs = apps
        .actions
        .get(SETTINGS)
        .bearer(&other_admin)
        .send()
        .await
        .expect(200);
    assert_eq!(theirs.body, defaults.body);
}
