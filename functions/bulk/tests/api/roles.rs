//! Bulk operations are for managers and above.

use crate::common::*;

#[tokio::test]
async fn users_and_readonly_get_403_before_anything_is_read() {
    let (apps, tenant, manager, ids) = acme_with_leads(1, json!({"assigned_to": "user-1"})).await;
    for role in [Role::User, Role::Readonly] {
        let token = apps.bulk.token(&tenant, "user-1", role);
        for path in [BULK_UPDATE, BULK_ASSIGN] {
            // A valid request, an invalid one and a non-JSON one all get the same 403.
            let valid = json!({"lead_ids": ids, "status": "lost", "assigned_to": "user-1"});
            for body in [valid, json!({"lead_ids": "nonsense"})] {
                let res = bulk(&apps, &token, path, body).await;
                assert_eq!(res.status, 403, "{role:?} {path}: {}", res.text);
                assert_eq!(
                    res.body,
                    json!({"detail": "Only managers and above can run bulk operations."})
                );
            }
            let res = apps
                .bulk
                .post(path)
                .bearer(&token)
                .raw_body("text/plain", "x")
                .send()
                .await;
            assert_eq!(res.status, 403);
        }
    }
    let lead = apps.leads.lead(&manager, &ids[0]).await;
    assert_eq!(
        (lead["status"].as_str(), lead["version"].as_u64()),
        (Some("new"), Some(1))
    );
}

#[tokio::test]
async fn managers_admins_and_owners_may() {
    let (apps, tenant, _, ids) = acme_with_leads(1, json!({"assigned_to": "someone-else"})).await;
    for (role, status) in [
        (Role::Manager, "contacted"),
        (Role::Admin, "qualified"),
        (Role::Owner, "proposal"),
    ] {
        let token = apps.bulk.token(&tenant, "boss", role);
        let res = apps
            .update(&token, json!({"lead_ids": ids, "status": status}))
            .await
            .expect(200);
        assert_eq!(res.body["updated_count"], 1, "{role:?}");
    }
}

#[tokio::test]
async fn no_token_is_401() {
    let apps = start().await;
    let res = apps
        .bulk
        .post(BULK_UPDATE)
        .json(json!({"lead_ids": [], "status": "lost"}))
        .send()
        .await
        .expect(401);
    assert!(res.header("www-authenticate").is_some());
}
