//! ai-insights without an insights queue: produced inline, stored, served while fresh.

use crate::common::*;

#[tokio::test]
async fn insights_are_produced_stored_and_renewed_when_the_lead_changes() {
    let apps = start().await;
    let actions = &apps.actions;
    let (tenant, owner) = actions.tenant_with("Acme", "owner", Role::Owner).await;
    let reader = actions.token(&tenant, "reader", Role::Readonly);
    let id = create(&apps, &owner, person(1)).await;
    let url = paths::lead_path(&id, "ai-insights");

    let first = actions.read(&url, &reader).await;
    assert_eq!(first["status"], "ready");
    assert_eq!(first["generated_by"], "rules-v1");
    assert!(first["next_best_action"]
        .as_str()
        .is_some_and(|a| !a.is_empty()));
    // No budget: the original's "discovery" recommendation.
    let kinds: Vec<&str> = first["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"discovery"), "{kinds:?}");
    assert!(!first["score_breakdown"].as_array().unwrap().is_empty());

    // Producing them scored the lead first, so they describe its current score.
    let lead = apps.leads.lead(&owner, &id).await;
    assert_eq!(first["lead_version"], lead["version"]);

    let again = actions.read(&url, &reader).await;
    assert_eq!(again["generated_at"], first["generated_at"]);

    // A change to the lead makes them stale.
    apps.leads
        .update_lead(&owner, &id, json!({"budget": "50000"}))
        .await;
    let renewed = actions.read(&url, &reader).await;
    assert_ne!(renewed["generated_at"], first["generated_at"]);
    assert!(renewed["lead_version"].as_u64() > first["lead_version"].as_u64());

    // Forcing a refresh costs a call to the AI service: readers may not.
    actions.post(&url).bearer(&reader).send().await.expect(403);
    let forced = actions.post(&url).bearer(&owner).send().await.expect(200);
    assert_ne!(forced.body["generated_at"], renewed["generated_at"]);
}

#[tokio::test]
async fn deleting_a_lead_deletes_its_insights() {
    let apps = start().await;
    let actions = &apps.actions;
    let (tenant, owner) = actions.tenant_with("Acme", "owner", Role::Owner).await;
    let id = create(&apps, &owner, person(1)).await;
    actions
        .get(&paths::lead_path(&id, "ai-insights"))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    let stored = || {
        actions
            .state
            .store
            .lead_insights(tenant.id, id.parse().unwrap())
    };
    assert!(stored().await.unwrap().is_some());
    apps.leads.delete_lead(&owner, &id).await;
    assert!(stored().await.unwrap().is_none());
}
