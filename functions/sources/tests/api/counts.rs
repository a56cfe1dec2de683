//! Source counts stay exact through lead writes (checked against a recount over the
//! leads), leads show their source, deletion is refused while a source has leads, and the
//! lead list's source filter and the dashboard's top sources work by id.

use std::collections::BTreeMap;

use crate::common::*;

const STATUSES: [&str; 4] = ["new", "qualified", "converted", "lost"];

/// `(total, converted)` per source id, recounted from every lead.
async fn recount(apps: &Apps, token: &str) -> BTreeMap<String, (i64, i64)> {
    let mut counts: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for row in all_pages(&apps.leads, token, &format!("{LEADS}?page_size=100")).await {
        let lead = apps.leads.lead(token, &id(&row)).await;
        if let Some(source) = lead["source"]["id"].as_str() {
            let e = counts.entry(source.to_string()).or_default();
            e.0 += 1;
            e.1 += i64::from(lead["status"] == "converted");
        }
    }
    counts
}

#[tokio::test]
async fn counts_are_exact_after_random_lead_operations() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let mut rng = Rng(7);
    let named = ["Website", "Referral", "Ads"];
    let explicit = create_source(&apps.sources, &token, "Partner").await;
    let mut leads: Vec<String> = Vec::new();
    for step in 0..60 {
        match rng.next(6) {
            // create, with a source by name, by id, or none
            0 | 1 => {
                let mut body = person(step);
                body["status"] = json!(STATUSES[rng.next(4)]);
                match rng.next(4) {
                    0 => body["source"] = json!(named[rng.next(3)].to_lowercase()),
                    1 => body["source"] = json!(named[rng.next(3)]),
                    2 => body["source_id"] = json!(id(&explicit)),
                    _ => {}
                }
                leads.push(id(&apps.leads.create_lead(&token, body).await));
            }
            // move between sources, or clear
            2 if !leads.is_empty() => {
                let lead = &leads[rng.next(leads.len())];
                let body = match rng.next(3) {
                    0 => json!({"source": named[rng.next(3)]}),
                    1 => json!({"source": id(&explicit)}),
                    _ => json!({"source_id": null}),
                };
                apps.leads.update_lead(&token, lead, body).await;
            }
            // convert / unconvert
            3 | 4 if !leads.is_empty() => {
                let lead = &leads[rng.next(leads.len())];
                apps.leads
                    .update_lead(&token, lead, json!({"status": STATUSES[rng.next(4)]}))
                    .await;
            }
            // delete
            _ if !leads.is_empty() => {
                let lead = leads.swap_remove(rng.next(leads.len()));
                apps.leads.delete_lead(&token, &lead).await;
            }
            _ => {}
        }
    }
    let expected = recount(&apps, &token).await;
    let sources = all_pages(&apps.sources, &token, SOURCES).await;
    assert_eq!(
        sources.len(),
        4,
        "three named on first use and one explicit"
    );
    for source in &sources {
        let (total, converted) = expected.get(&id(source)).copied().unwrap_or_default();
        assert_eq!(source["total_leads"], total, "{source}");
        assert_eq!(source["leads_count"], total, "{source}");
        assert_eq!(source["converted_leads"], converted, "{source}");
        let rate = if total == 0 {
            0.0
        } else {
            (converted as f64 * 10000.0 / total as f64).round() / 100.0
        };
        assert_eq!(source["conversion_rate"], rate, "{source}");
    }

    // The dashboard's top sources are the same counts, by id, with the names.
    let dashboard = apps.leads.dashboard(&token).await;
    for top in dashboard["top_sources"].as_array().unwrap() {
        let source = sources
            .iter()
            .find(|s| s["id"] == top["id"])
            .expect("a known source");
        assert_eq!(top["name"], source["name"]);
        assert_eq!(top["leads_count"], source["total_leads"]);
    }
    let with_leads = sources
        .iter()
        .filter(|s| s["total_leads"].as_i64() > Some(0))
        .count();
    assert_eq!(
        dashboard["top_sources"].as_array().unwrap().len(),
        with_leads.min(5)
    );
}

#[tokio::test]
async fn leads_show_and_filter_by_their_source() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    // Named for the first time: the source is created, with the name as first written.
    let mut body = person(1);
    body["source"] = json!("Website");
    let lead = apps.leads.create_lead(&token, body).await;
    let source_id = lead["source"]["id"].as_str().unwrap().to_string();
    assert_eq!(lead["source"]["name"], "Website");
    assert_eq!(lead["source_id"], source_id.as_str());
    assert_eq!(lead["source_name"], "Website");
    // The same name in another case, and the id (as `source` or `source_id`), are that source.
    for (n, value) in [
        (2, json!({"source": "WEBSITE"})),
        (3, json!({"source": source_id})),
        (4, json!({"source_id": source_id})),
    ] {
        let mut body = person(n);
        body.as_object_mut()
            .unwrap()
            .extend(value.as_object().unwrap().clone());
        let lead = apps.leads.create_lead(&token, body).await;
        assert_eq!(lead["source"]["id"], source_id.as_str());
    }
    apps.leads.create_lead(&token, person(5)).await;
    let source = apps.sources.read(&paths::source(&source_id), &token).await;
    assert_eq!(source["total_leads"], 4);

    // An unknown id or a malformed one is a 400 naming the field.
    let unknown = uuid::Uuid::new_v4().to_string();
    let cases = vec![
        (with(person(6), &json!({"source_id": unknown})), "source_id"),
        (
            with(person(6), &json!({"source_id": "website"})),
            "source_id",
        ),
        (
            with(person(6), &json!({"source": "x".repeat(101)})),
            "source",
        ),
    ];
    apps.leads.assert_rejected(LEADS, &token, cases).await;

    // The list filter takes the id or the name (any case); an unknown name matches nothing.
    for filter in [source_id.clone(), "website".into(), "Website".into()] {
        let rows = all_pages(&apps.leads, &token, &format!("{LEADS}?source={filter}")).await;
        assert_eq!(rows.len(), 4, "source={filter}");
        assert!(rows.iter().all(|r| r["source_name"] == "Website"));
    }
    let rows = all_pages(&apps.leads, &token, &format!("{LEADS}?source=nowhere")).await;
    assert!(rows.is_empty());

    // A rename shows on the leads (they keep the id).
    apps.sources
        .patch(&paths::source(&source_id))
        .bearer(&token)
        .json(json!({"name": "Web form"}))
        .send()
        .await
        .expect(200);
    let lead = apps.leads.lead(&token, &id(&lead)).await;
    assert_eq!(lead["source"]["name"], "Web form");
    let rows = all_pages(&apps.leads, &token, &format!("{LEADS}?source=web%20form")).await;
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["source_name"] == "Web form"));
}

#[tokio::test]
async fn a_source_with_leads_cannot_be_deleted() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let source = create_source(&apps.sources, &token, "Fair").await;
    let url = paths::source(id(&source));
    let mut leads = Vec::new();
    for n in 0..3 {
        let mut body = person(n);
        body["source_id"] = json!(id(&source));
        leads.push(id(&apps.leads.create_lead(&token, body).await));
    }
    let res = apps
        .sources
        .delete(&url)
        .bearer(&token)
        .send()
        .await
        .expect(409);
    assert!(res.body["detail"].as_str().unwrap().contains("leads"));
    // Move one away, delete one, clear one: then the source has none and goes.
    let other = create_source(&apps.sources, &token, "Other").await;
    apps.leads
        .update_lead(&token, &leads[0], json!({"source_id": id(&other)}))
        .await;
    apps.leads.delete_lead(&token, &leads[1]).await;
    apps.sources
        .delete(&url)
        .bearer(&token)
        .send()
        .await
        .expect(409);
    apps.leads
        .update_lead(&token, &leads[2], json!({"source": null}))
        .await;
    apps.sources
        .delete(&url)
        .bearer(&token)
        .send()
        .await
        .expect(204);
    // No lead points at it, and it cannot be named by id any more.
    let lead = apps.leads.lead(&token, &leads[2]).await;
    assert_eq!(lead["source"], Value::Null);
    assert_eq!(lead["source_id"], Value::Null);
    let res = apps
        .leads
        .patch(&paths::lead(&leads[2]))
        .bearer(&token)
        .json(json!({"source_id": id(&source)}))
        .send()
        .await
        .expect(400);
    assert!(res.body["source_id"].is_array());
    let other = apps.sources.read(&paths::source(id(&other)), &token).await;
    assert_eq!(other["total_leads"], 1);
}

#[tokio::test]
async fn counts_stay_exact_under_concurrent_lead_writes() {
    let apps = start().await;
    let (_, token) = apps.sources.owner("Acme").await;
    let names = ["Website", "Referral", "Ads", "Fair"];
    // Concurrent creates, some naming sources for the first time at once.
    let created = futures::future::join_all((0..16).map(|n| {
        let mut body = person(n);
        body["source"] = json!(names[n % 4]);
        body["status"] = json!(if n % 3 == 0 { "converted" } else { "new" });
        apps.leads.post(LEADS).bearer(&token).json(body).send()
    }))
    .await;
    let leads: Vec<String> = created.iter().map(|r| id(&r.body)).collect();
    assert!(created.iter().all(|r| r.status == 201));
    // Concurrent moves, conversions and deletes, several on the same leads.
    let mut rng = Rng(11);
    let ops: Vec<(String, Option<Value>)> = (0..40)
        .map(|_| {
            let lead = leads[rng.next(leads.len())].clone();
            let op = match rng.next(4) {
                0 => Some(json!({"source": names[rng.next(4)]})),
                1 => Some(json!({"status": STATUSES[rng.next(4)]})),
                2 => Some(json!({"source": null})),
                _ => None,
            };
            (lead, op)
        })
        .collect();
    let (leads_app, token_ref) = (&apps.leads, &token);
    let results = futures::future::join_all(ops.iter().map(|(lead, op)| {
        let url = paths::lead(lead);
        let (apps_leads, token) = (leads_app, token_ref);
        async move {
            match op {
                Some(body) => {
                    apps_leads
                        .patch(&url)
                        .bearer(token)
                        .json(body.clone())
                        .send()
                        .await
                }
                None => apps_leads.delete(&url).bearer(token).send().await,
            }
        }
    }))
    .await;
    // A lead deleted by one request is a 404 for the others; nothing else may fail.
    assert!(
        results.iter().all(|r| matches!(r.status, 200 | 204 | 404)),
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, &r.text))
            .collect::<Vec<_>>()
    );
    let expected = recount(&apps, &token).await;
    for source in all_pages(&apps.sources, &token, SOURCES).await {
        let (total, converted) = expected.get(&id(&source)).copied().unwrap_or_default();
        assert_eq!(source["total_leads"], total, "{source}");
        assert_eq!(source["converted_leads"], converted, "{source}");
    }
}
