//! ai-insights without an insights queue: produced inline, stored, served while fresh.

use crate::common::*;

#[tokio::test]
async fn insights_are_produced_stored_and_renewed_when_the_lead_changes() {
    let apps = start().await;
    let tenant = apps.actions.tenant("Acme").await;
    let owner = apps.actions.token(&tenant, "owner", Role::Owner);
    let reader = apps.actions.token(&tenant, "reader", Role::Readonly);
    let id = create(&apps, &owner, person(1)).await;
    let url = action_url(&id, "ai-insights");

    let first = apps
        .actions
        .get(&url)
        .bearer(&reader)
        .send()
        .await
        .expect(200);
    assert_eq!(first.body["status"], "ready");
    assert_eq!(first.body["generated_by"], "rules-v1");
    assert!(first.body["next_best_action"]
        .as_str()
        .is_some_and(|a| !a.is_empty()));
    // No budget: the original's "discovery" recommendation.
    let kinds: Vec<&str> = first.body["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"discovery"), "{kinds:?}");
    assert!(!first.body["score_breakdown"].as_array().unwrap().is_empty());

    // Producing them scored the lead first, so they describe its current score.
    let lead = get_lead(&apps, &owner, &id).await;
    assert_eq!(first.body["lead_version"], lead["version"]);

    let again = apps
        .actions
        .get(&url)
        .bearer(&reader)
        .send()
        .await
        .expect(200);
    assert_eq!(again.body["generated_at"], first.body["generated_at"]);

    // A change to the lead makes them stale.
    apps.leads
        .patch(&format!("{LEADS}{id}/"))
        .bearer(&owner)
        .json(json!({"budget": "50000"}))
        .send()
        .await
        .expect(200);
    let renewed = apps
        .actions
        .get(&url)
        .bearer(&reader)
        .send()
        .await
        .expect(200);
    assert_ne!(renewed.body["generated_at"], first.body["generated_at"]);
    assert!(renewed.body["lead_version"].as_u64() > first.body["lead_version"].as_u64());

    // Forcing a refresh costs a call to the AI service: readers may not.
    apps.actions
        .post(&url)
        .bearer(&reader)
        .send()
        .await
        .expect(403);
    let forced = apps
        .actions
        .post(&url)
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    assert_ne!(forced.body["generated_at"], renewed.body["generated_at"]);
}

#[tokio::test]
async fn deleting_a_lead_deletes_its_insights() {
    let apps = start().await;
    let tenant = apps.actions.tenant("Acme").await;
    let owner = apps.actions.token(&tenant, "owner", Role::Owner);
    let id = create(&apps, &owner, person(1)).await;
    apps.actions
        .get(&action_url(&id, "ai-insights"))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    let lead_id = id.parse().unwrap();
    assert!(apps
        .actions
        .state
        .store
        .lead_insights(tenant.id, lead_id)
        .await
        .unwrap()
        .is_some());
    apps.leads
        .delete(&format!("{LEADS}{id}/"))
        .bearer(&owner)
        .send()
        .await
        .expect(204);
    assert!(apps
        .actions
        .state
        .store
        .lead_insights(tenant.id, lead_id)
        .await
        .unwrap()
        .is_none());
}
