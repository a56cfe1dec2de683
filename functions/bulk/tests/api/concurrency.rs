//! Bulk writes racing single-lead PATCHes on the same leads: nothing is lost.

use crate::common::*;
use futures::future::join;
use futures::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_updates_and_patches_on_the_same_leads_lose_nothing() {
    let (apps, tenant, token, ids) = acme_with_leads(20, json!({})).await;
    let bulk_write = apps.update(
        &token,
        json!({"lead_ids": ids, "status": "qualified", "priority": "urgent"}),
    );
    let patches = join_all(ids.iter().map(|id| {
        apps.leads
            .patch(&paths::lead(id))
            .bearer(&token)
            .json(json!({"phone": "555", "job_title": "CTO"}))
            .send()
    }));
    let (res, patched) = join(bulk_write, patches).await;
    let res = res.expect(200);
    assert_eq!(res.body["updated_count"], 20, "{}", res.text);
    for p in patched {
        assert_eq!(p.status, 200, "{}", p.text);
    }
    for id in &ids {
        let lead = apps.leads.lead(&token, id).await;
        assert_eq!(lead["status"], "qualified");
        assert_eq!(lead["priority"], "urgent");
        assert_eq!(lead["phone"], "555");
        assert_eq!(lead["job_title"], "CTO");
        assert_eq!(lead["version"], 3);
        assert_eq!(apps.bulk.audit(&tenant, id).await.len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_bulk_operations_on_overlapping_leads_both_apply() {
    let (apps, _, token, ids) = acme_with_leads(12, json!({})).await;
    let (a, b) = join(
        apps.update(&token, json!({"lead_ids": ids[..8], "source": "event"})),
        apps.assign(&token, json!({"lead_ids": ids[4..], "assigned_to": "ann"})),
    )
    .await;
    assert_eq!(a.expect(200).body["updated_count"], 8);
    assert_eq!(b.expect(200).body["updated_count"], 8);
    for (n, id) in ids.iter().enumerate() {
        let lead = apps.leads.lead(&token, id).await;
        assert_eq!(
            lead["source"]["name"].as_str(),
            (n < 8).then_some("event"),
            "{n}"
        );
        assert_eq!(
            lead["assigned_to"]["id"].as_str(),
            (n >= 4).then_some("ann"),
            "{n}"
        );
    }
}
