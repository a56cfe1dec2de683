//! The lead's stored layout (`crm_store::lead_item`): leads and their tag copies written in
//! the layout before it (one attribute per field) are still served, and
//! `crm-admin table migrate-leads` (`Store::migrate_leads`) rewrites them in the compact
//! one without changing what the API answers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use crm_store::lead_item::{self, BODY};

use crate::common::*;

type Item = HashMap<String, AttributeValue>;

/// Every lead item and tag copy in the table (whatever its layout).
async fn lead_items(apps: &Apps) -> Vec<Item> {
    let client = apps.leads.dynamodb();
    let out = client
        .scan()
        .table_name(apps.leads.state.store.table())
        .send()
        .await
        .unwrap();
    out.items
        .unwrap_or_default()
        .into_iter()
        .filter(|item| {
            let text = |name: &str| item[name].as_s().unwrap().clone();
            text("PK").contains("#LEAD#")
                && (text("SK") == "LEAD" || text("SK").starts_with("TAG#"))
        })
        .collect()
}

/// Rewrites every lead item and tag copy as the previous layout stored it: its key
/// attributes (table and indexes) and one attribute per field of the lead.
async fn rewrite_in_previous_layout(apps: &Apps) {
    let client = apps.leads.dynamodb();
    for item in lead_items(apps).await {
        let mut previous: Item =
            serde_dynamo::to_item(lead_item::decode(item.clone()).unwrap()).unwrap();
        for (name, value) in &item {
            if name == "PK" || name == "SK" || name.starts_with("GSI") {
                previous.insert(name.clone(), value.clone());
            }
        }
        client
            .put_item()
            .table_name(apps.leads.state.store.table())
            .set_item(Some(previous))
            .send()
            .await
            .unwrap();
    }
}

async fn migrate(apps: &Apps) -> usize {
    let store = &apps.leads.state.store;
    let (mut rewritten, mut start) = (0, None);
    loop {
        let page = store.migrate_leads(start).await.unwrap();
        rewritten += page.rewritten;
        start = page.next;
        if start.is_none() {
            return rewritten;
        }
    }
}

#[tokio::test]
async fn leads_in_the_previous_layout_are_served_and_migrated_unchanged() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let hot = id(&create_tag(&apps.sources, &token, "Hot").await);
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut body = person(n);
        body["tag_ids"] = if n == 0 { json!([hot]) } else { json!([]) };
        body["annual_revenue"] = json!("1250000.50");
        body["notes"] = json!(format!("Met at the fair, note {n}"));
        ids.push(id(&apps.leads.create_lead(&token, body).await));
    }
    let read_all = || async {
        let mut answers = Vec::new();
        for lead in &ids {
            let url = format!("{LEADS}{lead}/");
            answers.push(
                apps.leads
                    .get(&url)
                    .bearer(&token)
                    .send()
                    .await
                    .expect(200)
                    .body,
            );
        }
        let tagged = all_pages(&apps.leads, &token, &format!("{LEADS}?tags={hot}")).await;
        let listed = all_pages(&apps.leads, &token, &format!("{LEADS}?ordering=created_at")).await;
        let found = all_pages(&apps.leads, &token, &format!("{LEADS}?search=fair")).await;
        (answers, tagged, listed, found.len())
    };
    let written = read_all().await;
    assert_eq!(written.1.len(), 1);
    assert_eq!(written.2.len(), 3);
    assert_eq!(written.3, 3);
    let items = lead_items(&apps).await;
    assert_eq!(items.len(), 4, "3 leads and 1 tag copy");
    assert!(items.iter().all(|item| item.contains_key(BODY)));
    // The compact layout keeps no attribute per field besides the ones expressions name.
    assert!(items.iter().all(|item| !item.contains_key("first_name")));

    rewrite_in_previous_layout(&apps).await;
    assert!(lead_items(&apps)
        .await
        .iter()
        .all(|item| !item.contains_key(BODY)));
    assert_eq!(
        read_all().await,
        written,
        "the previous layout reads the same"
    );

    // A write stores the current layout whatever it read.
    apps.leads
        .patch(&format!("{LEADS}{}/", ids[1]))
        .bearer(&token)
        .json(json!({"company": "Globex"}))
        .send()
        .await
        .expect(200);
    let migrated_by_write = lead_items(&apps)
        .await
        .into_iter()
        .filter(|item| item.contains_key(BODY))
        .count();
    assert_eq!(migrated_by_write, 1);

    // The migration rewrites the rest (2 leads and the tag copy), once.
    assert_eq!(migrate(&apps).await, 3);
    assert!(lead_items(&apps)
        .await
        .iter()
        .all(|item| item.contains_key(BODY)));
    assert_eq!(migrate(&apps).await, 0);
    let (answers, tagged, listed, found) = read_all().await;
    assert_eq!(answers[0], written.0[0]);
    assert_eq!(answers[2], written.0[2]);
    assert_eq!(answers[1]["company"], "Globex");
    assert_eq!(tagged, written.1);
    assert_eq!(listed.len(), 3);
    assert_eq!(found, 3);
}
