//! Leads are assigned to members once the tenant has any: the lead writes and the bulk
//! assignment refuse anyone else (400 naming the field).

use crate::common::*;

#[tokio::test]
async fn leads_go_to_active_members_once_the_tenant_has_members() {
    let apps = start().await;
    let bulk = apps.accounts.with_function(bulk::app);
    let app = &apps.accounts;

    // GIVEN a tenant of an outside identity provider only: any user id, as before
    let (tenant, outside) = app.owner("Acme").await;
    let lead = apps
        .leads
        .create_lead(&outside, json!({"first_name": "A", "last_name": "B", "email": "a@lead.example", "assigned_to": "someone"}))
        .await;
    assert_eq!(lead["assigned_to"], "someone");

    // WHEN it has members THEN only an active member may be assigned
    app.member(&tenant, "owner@example.com", Role::Owner).await;
    let ann = app.member(&tenant, "ann@example.com", Role::User).await;
    let gone = app.member(&tenant, "gone@example.com", Role::User).await;
    let owner = app.sign_in("owner@example.com", None).await;
    app.delete(&member_path(gone.id))
        .bearer(&owner)
        .send()
        .await
        .expect(204);

    let mut body = lead_body();
    body["assigned_to"] = json!(ann.id);
    let created = apps.leads.create_lead(&owner, body).await;
    assert_eq!(created["assigned_to"], json!(ann.id));
    for stranger in [
        json!("someone"),
        json!(gone.id),
        json!(uuid::Uuid::new_v4()),
    ] {
        let mut body = lead_body();
        body["assigned_to"] = stranger.clone();
        let res = apps
            .leads
            .post(paths::LEADS)
            .bearer(&owner)
            .json(body)
            .send()
            .await;
        assert_eq!(res.status, 400, "{stranger}: {}", res.text);
        assert!(res.body["assigned_to"].is_array(), "{}", res.text);
        let res = apps
            .leads
            .patch(&paths::lead(created["id"].as_str().unwrap()))
            .bearer(&owner)
            .json(json!({"assigned_to_id": stranger}))
            .send()
            .await;
        assert_eq!(res.status, 400, "{}", res.text);
        assert!(res.body["assigned_to"].is_array(), "{}", res.text);
    }
    // Unassigning stays possible
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        apps.leads
            .update_lead(&owner, id, json!({"assigned_to": null}))
            .await["assigned_to"],
        Value::Null
    );

    // AND the bulk operations check the same
    let res = bulk
        .post(paths::BULK_ASSIGN)
        .bearer(&owner)
        .json(json!({"lead_ids": [id], "assignees": [ann.id.to_string(), "someone"]}))
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.body["assignees"].is_array());
    let res = bulk
        .post(paths::BULK_UPDATE)
        .bearer(&owner)
        .json(json!({"lead_ids": [id], "assigned_to": "someone"}))
        .send()
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert!(res.body["assigned_to"].is_array());
    bulk.post(paths::BULK_ASSIGN)
        .bearer(&owner)
        .json(json!({"lead_ids": [id], "assigned_to": ann.id}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        apps.leads.lead(&owner, id).await["assigned_to"],
        json!(ann.id)
    );
}
