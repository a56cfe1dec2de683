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
    assert_eq!(lead["assigned_to"]["id"], "someone");

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
    assert_eq!(created["assigned_to"]["id"], json!(ann.id));
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
        apps.leads.lead(&owner, id).await["assigned_to"]["id"],
        json!(ann.id)
    );
}

#[tokio::test]
async fn the_detail_shows_the_assignee_and_rows_their_name() {
    let apps = start().await;
    let app = &apps.accounts;
    let (tenant, _) = app.owner("Acme").await;
    app.member(&tenant, "boss@example.com", Role::Owner).await;
    let ann = app.member(&tenant, "ann@example.com", Role::User).await;
    app.member(&tenant, "mo@example.com", Role::Manager).await;
    let owner = app.sign_in("boss@example.com", None).await;
    let manager = app.sign_in("mo@example.com", None).await;

    // Written through `assigned_to_id` (the original's name) or `assigned_to`.
    let mut body = lead_body();
    body["assigned_to_id"] = json!(ann.id);
    let lead = apps.leads.create_lead(&owner, body).await;
    let id = lead["id"].as_str().unwrap().to_string();
    let expected = json!({
        "id": ann.id.to_string(),
        "email": "ann@example.com",
        "first_name": ann.first_name,
        "last_name": ann.last_name,
        "full_name": ann.full_name(),
    });
    assert_eq!(lead["assigned_to"], expected);
    assert_eq!(apps.leads.lead(&owner, &id).await["assigned_to"], expected);
    // Emails are for admins and owners, as in the members list.
    let seen = apps.leads.lead(&manager, &id).await;
    assert_eq!(seen["assigned_to"]["email"], Value::Null);
    assert_eq!(seen["assigned_to"]["full_name"], json!(ann.full_name()));

    // Unassigned: null; list rows carry the id and the name.
    let mut other = lead_body();
    other["first_name"] = json!("Unassigned");
    let free = apps.leads.create_lead(&owner, other).await;
    assert_eq!(free["assigned_to"], Value::Null);
    let rows = crm_testkit::all_pages(&apps.leads, &owner, paths::LEADS).await;
    let row = |lead_id: &str| rows.iter().find(|r| r["id"] == lead_id).unwrap().clone();
    assert_eq!(row(&id)["assigned_to"], json!(ann.id.to_string()));
    assert_eq!(row(&id)["assigned_to_name"], json!(ann.full_name()));
    let free_row = row(free["id"].as_str().unwrap());
    assert_eq!(free_row["assigned_to_name"], Value::Null);
}

#[tokio::test]
async fn an_assignee_who_is_not_a_member_shows_only_the_id() {
    let apps = start().await;
    let app = &apps.accounts;
    // A tenant without members (an outside provider's), assigning a user of another tenant.
    let (_, outside) = app.owner("Outside").await;
    let other = app.tenant("Other").await;
    let bob = app.member(&other, "bob@example.com", Role::Owner).await;
    for assignee in [bob.id.to_string(), "someone".to_string()] {
        let mut body = lead_body();
        body["assigned_to"] = json!(assignee);
        let lead = apps.leads.create_lead(&outside, body).await;
        let expected = json!({"id": assignee, "email": null, "first_name": null,
            "last_name": null, "full_name": null});
        assert_eq!(lead["assigned_to"], expected);
        let rows = crm_testkit::all_pages(&apps.leads, &outside, paths::LEADS).await;
        let row = rows.iter().find(|r| r["id"] == lead["id"]).unwrap();
        assert_eq!(row["assigned_to"], json!(assignee));
        assert_eq!(row["assigned_to_name"], Value::Null);
    }
}
