//! The dashboard is one read of counters kept in the write transactions; these tests
//! recount by hand after many random and concurrent writes.

use std::collections::BTreeMap;

use crate::common::*;
use futures::future::join_all;

const SOURCES: [&str; 7] = [
    "website",
    "referral",
    "event",
    "ads",
    "partner",
    "cold call",
    "webinar",
];

fn recount(leads: &[Value]) -> Value {
    let total = leads.len() as i64;
    let count = |f: &dyn Fn(&Value) -> bool| leads.iter().filter(|l| f(l)).count() as i64;
    let converted = count(&|l| l["status"] == "converted");
    let score_sum: i64 = leads.iter().map(|l| l["score"].as_i64().unwrap()).sum();
    let round = |v: f64, places: i32| (v * 10f64.powi(places)).round() / 10f64.powi(places);
    // By source id (names can repeat across renames); ties in id order.
    let mut sources: BTreeMap<(String, String), i64> = BTreeMap::new();
    for l in leads {
        if let (Some(id), Some(name)) = (l["source"]["id"].as_str(), l["source"]["name"].as_str()) {
            *sources
                .entry((id.to_string(), name.to_string()))
                .or_default() += 1;
        }
    }
    let mut top: Vec<((String, String), i64)> = sources.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let by = |field: &str, values: &[&str]| -> Value {
        values
            .iter()
            .map(|v| (v.to_string(), json!(count(&|l| l[field] == *v))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    json!({
        "total_leads": total,
        "new_leads": count(&|l| l["status"] == "new"),
        "converted_leads": converted,
        "recent_leads": total,
        "conversion_rate": if total == 0 { 0.0 } else { round(converted as f64 * 100.0 / total as f64, 2) },
        "average_score": if total == 0 { 0.0 } else { round(score_sum as f64 / total as f64, 1) },
        "score_distribution": {
            "high": count(&|l| l["score"].as_i64().unwrap() >= 70),
            "medium": count(&|l| (40..70).contains(&l["score"].as_i64().unwrap())),
            "low": count(&|l| l["score"].as_i64().unwrap() < 40),
        },
        "top_sources": top.iter().take(5).map(|((id, n), c)| json!({"id": id, "name": n, "leads_count": c})).collect::<Vec<_>>(),
        "by_status": by("status", &STATUSES),
        "by_priority": by("priority", &PRIORITIES),
    })
}

#[tokio::test]
async fn an_empty_tenant_has_a_zero_dashboard() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    let dashboard = app.dashboard(&token).await;
    assert_eq!(dashboard, recount(&[]));
    // The old deployment's name answers the same.
    let old = app
        .read(&paths::leads_view("dashboard_stats"), &token)
        .await;
    assert_eq!(old, dashboard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_stay_exact_under_random_concurrent_writes() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let (_, other) = app.owner("Other").await;
    let mut rng = Rng(42);
    let mut ids: Vec<String> = Vec::new();
    let mut next_email = 0;
    for _wave in 0..6 {
        // A wave of concurrent operations: creates, edits, conversions, rescoring, deletes.
        let mut ops = Vec::new();
        for _ in 0..12 {
            let op = if ids.len() < 5 { 0 } else { rng.next(6) };
            let app = app.clone();
            let token = token.clone();
            let tenant = tenant.clone();
            match op {
                0 | 1 => {
                    next_email += 1;
                    let mut body = person(next_email);
                    body["status"] = json!(STATUSES[rng.next(8)]);
                    body["priority"] = json!(PRIORITIES[rng.next(4)]);
                    if rng.next(4) > 0 {
                        body["source"] = json!(SOURCES[rng.next(7)]);
                    }
                    ops.push(tokio::spawn(async move {
                        app.post(LEADS)
                            .bearer(&token)
                            .json(body)
                            .send()
                            .await
                            .expect(201);
                    }));
                }
                2 => {
                    let id = ids[rng.next(ids.len())].clone();
                    let body = json!({"status": STATUSES[rng.next(8)], "priority": PRIORITIES[rng.next(4)], "source": if rng.next(3) == 0 { Value::Null } else { json!(SOURCES[rng.next(7)]) }});
                    ops.push(tokio::spawn(async move {
                        let res = app
                            .patch(&paths::lead(&id))
                            .bearer(&token)
                            .json(body)
                            .send()
                            .await;
                        assert!(res.status == 200 || res.status == 404, "{}", res.text);
                    }));
                }
                3 => {
                    let id = ids[rng.next(ids.len())].clone();
                    ops.push(tokio::spawn(async move {
                        let res = app
                            .patch(&paths::lead(&id))
                            .bearer(&token)
                            .json(json!({"status": "converted", "conversion_value": 500}))
                            .send()
                            .await;
                        assert!(res.status == 200 || res.status == 404, "{}", res.text);
                    }));
                }
                4 => {
                    let id = ids[rng.next(ids.len())].clone();
                    let score = rng.next(101) as u8;
                    ops.push(tokio::spawn(async move {
                        // As the scoring worker writes: versioned, with its audit entry.
                        let store = &app.state.store;
                        let uuid = id.parse().unwrap();
                        if let Some(before) = store.get_lead(tenant.id, uuid).await.unwrap() {
                            let _ = rescore(store, &before, score).await;
                        }
                    }));
                }
                _ => {
                    let id = ids.remove(rng.next(ids.len()));
                    ops.push(tokio::spawn(async move {
                        let res = app.delete(&paths::lead(&id)).bearer(&token).send().await;
                        assert!(res.status == 204 || res.status == 404, "{}", res.text);
                    }));
                }
            }
        }
        for op in join_all(ops).await {
            op.unwrap();
        }
        ids = all_pages(&app, &token, &format!("{LEADS}?page_size=100"))
            .await
            .iter()
            .map(id)
            .collect();
    }
    let rows = all_pages(&app, &token, &format!("{LEADS}?page_size=100")).await;
    let mut leads = Vec::new();
    for row in &rows {
        leads.push(app.lead(&token, &id(row)).await);
    }
    assert!(leads.len() > 10, "the run kept some leads");
    assert_eq!(app.dashboard(&token).await, recount(&leads));
    // The counters were spread over several shards (and the sum above read them all).
    assert!(counter_items(&app, &tenant).await.len() > 4);
    // The other tenant's dashboard knows nothing of it.
    assert_eq!(app.dashboard(&other).await, recount(&[]));
}

/// The tenant's counters items as stored: the lead count item and the shards that exist.
async fn counter_items(app: &TestApp, tenant: &crm_domain::tenant::Tenant) -> Vec<crm_store::Item> {
    let keys = std::iter::once(crm_store::keys::stats(tenant.id))
        .chain((0..crm_domain::stats::SHARDS).map(|n| crm_store::keys::stats_shard(tenant.id, n)));
    let mut items = Vec::new();
    for key in keys {
        let out = app
            .dynamodb()
            .get_item()
            .table_name(crm_testkit::TABLE)
            .set_key(Some(key.item_key()))
            .send()
            .await
            .unwrap();
        items.extend(out.item);
    }
    items
}

/// A table written before the shards kept every counter in the one stats item. Folding
/// the shards back into it (what such a table holds) reads the same, and writes after it
/// go on from there: no migration is needed.
#[tokio::test]
async fn counters_kept_in_the_single_item_of_old_still_count() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    for n in 0..6 {
        let mut body = person(n);
        body["status"] = json!(STATUSES[n % 3]);
        app.post(LEADS)
            .bearer(&token)
            .json(body)
            .send()
            .await
            .expect(201);
    }
    let before = app.dashboard(&token).await;

    // Rewrite the table as the old layout had it: every counter in `{t}#STATS`.
    let client = app.dynamodb();
    let mut folded: std::collections::BTreeMap<String, i64> = Default::default();
    for item in counter_items(&app, &tenant).await {
        for (k, v) in item {
            if let AttributeValue::N(n) = v {
                *folded.entry(k).or_default() += n.parse::<i64>().unwrap();
            }
        }
    }
    for n in 0..crm_domain::stats::SHARDS {
        client
            .delete_item()
            .table_name(crm_testkit::TABLE)
            .set_key(Some(crm_store::keys::stats_shard(tenant.id, n).item_key()))
            .send()
            .await
            .unwrap();
    }
    let mut old = crm_store::keys::stats(tenant.id).item_key();
    for (k, v) in folded {
        old.insert(k, AttributeValue::N(v.to_string()));
    }
    client
        .put_item()
        .table_name(crm_testkit::TABLE)
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    assert_eq!(counter_items(&app, &tenant).await.len(), 1);
    assert_eq!(app.dashboard(&token).await, before);

    // New writes land in the shards and add up with the old item.
    app.post(LEADS)
        .bearer(&token)
        .json(person(99))
        .send()
        .await
        .expect(201);
    let rows = all_pages(&app, &token, &format!("{LEADS}?page_size=100")).await;
    let mut leads = Vec::new();
    for row in &rows {
        leads.push(app.lead(&token, &id(row)).await);
    }
    assert_eq!(leads.len(), 7);
    assert_eq!(app.dashboard(&token).await, recount(&leads));
}
