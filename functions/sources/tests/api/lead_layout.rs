//! The lead's stored layout (`crm_store::lead_item`): leads and their tag copies written in
//! an earlier layout (one attribute per field; leads on the timeline indexes GSI1/GSI2) are
//! still served, and `crm-admin table migrate-leads` (`Store::migrate_leads`) rewrites them
//! in the current one without changing what the API answers.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use crm_store::keys::LeadIndex;
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
    for item in lead_items(apps).await {
        let mut previous: Item =
            serde_dynamo::to_item(lead_item::decode(item.clone()).unwrap()).unwrap();
        for (name, value) in &item {
            if name == "PK" || name == "SK" || name.starts_with("GSI") {
                previous.insert(name.clone(), value.clone());
            }
        }
        put(apps, previous).await;
    }
}

/// Writes `item` as it is, over whatever has its key.
async fn put(apps: &Apps, item: Item) {
    apps.leads
        .dynamodb()
        .put_item()
        .table_name(apps.leads.state.store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
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

/// Three leads with notes, the first tagged: (the owner's token, the lead ids, the tag id).
async fn three_leads(apps: &Apps) -> (String, Vec<String>, String) {
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
    (token, ids, hot)
}

/// What the API answers about the leads: each detail, the tag's list, the all-leads list
/// by creation, and the number of search hits.
async fn read_all(
    apps: &Apps,
    token: &str,
    ids: &[String],
    tag: &str,
) -> (Vec<Value>, Vec<Value>, Vec<Value>, usize) {
    let mut answers = Vec::new();
    for lead in ids {
        let url = format!("{LEADS}{lead}/");
        answers.push(
            apps.leads
                .get(&url)
                .bearer(token)
                .send()
                .await
                .expect(200)
                .body,
        );
    }
    let tagged = all_pages(&apps.leads, token, &format!("{LEADS}?tags={tag}")).await;
    let listed = all_pages(&apps.leads, token, &format!("{LEADS}?ordering=created_at")).await;
    let found = all_pages(&apps.leads, token, &format!("{LEADS}?search=fair")).await;
    (answers, tagged, listed, found.len())
}

#[tokio::test]
async fn leads_in_the_previous_layout_are_served_and_migrated_unchanged() {
    let apps = start().await;
    let (token, ids, hot) = three_leads(&apps).await;
    let read_all = || read_all(&apps, &token, &ids, &hot);
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

/// Every lead item's attribute `name`, if it has it.
async fn lead_attribute(apps: &Apps, name: &str) -> Vec<Option<AttributeValue>> {
    lead_items(apps)
        .await
        .into_iter()
        .filter(|item| item["SK"].as_s().unwrap() == "LEAD")
        .map(|item| item.get(name).cloned())
        .collect()
}

#[tokio::test]
async fn leads_on_the_timeline_indexes_move_to_their_own_by_the_migration() {
    let apps = start().await;
    let (token, ids, hot) = three_leads(&apps).await;
    let written = read_all(&apps, &token, &ids, &hot).await;
    assert_eq!(written.2.len(), 3);

    // Before GSI9 and GSI10, the all-leads lists were the timelines' partitions.
    let moves = [
        (LeadIndex::Created, LeadIndex::Timeline),
        (LeadIndex::Score, LeadIndex::OwnerTimeline),
    ];
    for mut item in lead_items(&apps).await {
        if item["SK"].as_s().unwrap() != "LEAD" {
            continue;
        }
        for (now, before) in moves {
            let pk = item.remove(&now.pk_attr()).unwrap();
            let sk = item.remove(&now.sk_attr()).unwrap();
            item.insert(before.pk_attr(), pk);
            item.insert(before.sk_attr(), sk);
        }
        put(&apps, item).await;
    }
    // Read by key and on the filter indexes, they are served as they were.
    let before = read_all(&apps, &token, &ids, &hot).await;
    assert_eq!(
        (&before.0, &before.1, before.3),
        (&written.0, &written.1, written.3)
    );

    assert_eq!(
        migrate(&apps).await,
        3,
        "the 3 leads; the tag copy was never moved"
    );
    assert_eq!(migrate(&apps).await, 0);
    for (now, before) in moves {
        assert!(lead_attribute(&apps, &before.pk_attr())
            .await
            .iter()
            .all(Option::is_none));
        assert!(lead_attribute(&apps, &now.pk_attr())
            .await
            .iter()
            .all(Option::is_some));
    }
    assert_eq!(read_all(&apps, &token, &ids, &hot).await, written);
}
