//! The dashboard's counters stay exact through bulk operations: recounted by listing.

use std::collections::BTreeMap;

use crate::common::*;

async fn check_counts(apps: &Apps, token: &str) {
    let leads = all_pages(&apps.leads, token, &format!("{LEADS}?page_size=100")).await;
    let dash = apps.leads.dashboard(token).await;
    let count =
        |field: &str, value: &str| leads.iter().filter(|l| l[field] == value).count() as u64;
    assert_eq!(dash["total_leads"], leads.len() as u64);
    for s in STATUSES {
        assert_eq!(dash["by_status"][s], count("status", s), "status {s}");
    }
    for p in PRIORITIES {
        assert_eq!(dash["by_priority"][p], count("priority", p), "priority {p}");
    }
    assert_eq!(dash["new_leads"], count("status", "new"));
    assert_eq!(dash["converted_leads"], count("status", "converted"));
    let mut sources: BTreeMap<String, u64> = BTreeMap::new();
    for l in &leads {
        if let Some(s) = l["source_name"].as_str() {
            *sources.entry(s.to_string()).or_default() += 1;
        }
    }
    for top in dash["top_sources"].as_array().unwrap() {
        let name = top["name"].as_str().unwrap();
        assert_eq!(top["leads_count"], sources[name], "source {name}");
    }
}

#[tokio::test]
async fn counters_are_exact_after_bulk_operations() {
    let (apps, _, token, ids) = acme_with_leads(15, json!({"source": "website"})).await;
    check_counts(&apps, &token).await;
    for change in [
        json!({"lead_ids": ids[..10], "status": "converted", "priority": "high"}),
        json!({"lead_ids": ids[5..], "status": "lost", "source": "event", "priority": "low"}),
    ] {
        apps.update(&token, change).await.expect(200);
        check_counts(&apps, &token).await;
    }
    apps.update(&token, json!({"lead_ids": ids, "source": null}))
        .await
        .expect(200);
    apps.assign(
        &token,
        json!({"lead_ids": ids, "assignees": ["a", "b"], "strategy": "least_loaded"}),
    )
    .await
    .expect(200);
    check_counts(&apps, &token).await;
    let dash = apps.leads.dashboard(&token).await;
    assert_eq!(dash["by_status"]["converted"], 5);
    assert_eq!(dash["by_status"]["lost"], 10);
    assert_eq!(dash["top_sources"], json!([]));
}
