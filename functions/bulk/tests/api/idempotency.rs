//! Idempotency-Key: a retry gets the first answer and applies nothing twice.

use crate::common::*;
use aws_sdk_dynamodb::types::AttributeValue;
use crm_store::idempotency;
use futures::future::join_all;

/// A bulk request to `path` as `token`, with `Idempotency-Key: key`.
fn keyed(apps: &Apps, token: &str, key: &str, path: &str) -> TestRequest {
    apps.bulk
        .post(path)
        .bearer(token)
        .header("Idempotency-Key", key)
}

#[tokio::test]
async fn a_retry_returns_the_first_answer_and_applies_once() {
    let (apps, tenant, token, ids) = acme_with_leads(3, json!({})).await;
    let body = json!({"lead_ids": ids, "status": "contacted"});
    let first = keyed(&apps, &token, "retry-1", BULK_UPDATE)
        .json(body.clone())
        .send()
        .await
        .expect(200);
    assert_eq!(first.body["updated_count"], 3);
    assert_eq!(first.header(bulk::REPLAYED), None);
    // Someone else changes a lead in between; the retry must not undo that.
    apps.leads
        .update_lead(&token, &ids[0], json!({"status": "qualified"}))
        .await;
    // The same body in another key order is the same request.
    let retry = keyed(&apps, &token, "retry-1", BULK_UPDATE)
        .json(json!({"status": "contacted", "lead_ids": ids}))
        .send()
        .await
        .expect(200);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header(bulk::REPLAYED), Some("true"));
    assert_eq!(
        apps.leads.lead(&token, &ids[0]).await["status"],
        "qualified"
    );
    for id in &ids[1..] {
        let lead = apps.leads.lead(&token, id).await;
        assert_eq!(lead["version"], 2, "applied once");
        assert_eq!(apps.bulk.audit(&tenant, id).await.len(), 2);
    }
    // A new key is a new request.
    let again = keyed(&apps, &token, "retry-2", BULK_UPDATE)
        .json(body)
        .send()
        .await
        .expect(200);
    assert_eq!(again.body["updated_count"], 1);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_a_409() {
    let (apps, tenant, token, ids) = acme_with_leads(1, json!({})).await;
    keyed(&apps, &token, "k", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "lost"}))
        .send()
        .await
        .expect(200);
    let conflict = json!({"detail": "This Idempotency-Key was used for a different request."});
    // Another body, another endpoint, another user of the tenant.
    let res = keyed(&apps, &token, "k", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "new"}))
        .send()
        .await
        .expect(409);
    assert_eq!(res.body, conflict);
    let res = keyed(&apps, &token, "k", BULK_ASSIGN)
        .json(json!({"lead_ids": ids, "assigned_to": "x"}))
        .send()
        .await
        .expect(409);
    assert_eq!(res.body, conflict);
    let colleague = apps.bulk.token(&tenant, "manager-2", Role::Manager);
    keyed(&apps, &colleague, "k", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "lost"}))
        .send()
        .await
        .expect(409);
    assert_eq!(apps.leads.lead(&token, &ids[0]).await["status"], "lost");
    // Keys are per tenant: another tenant's identical key is its own.
    let (_, other) = apps.bulk.manager("Other").await;
    let theirs = apps.leads.create_leads(&other, 1, json!({})).await;
    let res = keyed(&apps, &other, "k", BULK_UPDATE)
        .json(json!({"lead_ids": theirs, "status": "new"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["results"][0]["status"], "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_apply_once() {
    let (apps, tenant, token, ids) = acme_with_leads(5, json!({})).await;
    let body = json!({"lead_ids": ids, "assignees": ["ann", "bob"], "strategy": "round_robin"});
    let attempts = (0..6).map(|_| {
        keyed(&apps, &token, "once", BULK_ASSIGN)
            .json(body.clone())
            .send()
    });
    let results = join_all(attempts).await;
    let firsts: Vec<&TestResponse> = results
        .iter()
        .filter(|r| r.status == 200 && r.header(bulk::REPLAYED).is_none())
        .collect();
    assert_eq!(firsts.len(), 1, "{results:?}");
    for r in &results {
        match r.status {
            200 => assert_eq!(r.body, firsts[0].body),
            409 => assert_eq!(
                r.body,
                json!({"detail": "A request with this Idempotency-Key is in progress; retry later."})
            ),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    for id in &ids {
        assert_eq!(
            apps.bulk.audit(&tenant, id).await.len(),
            2,
            "one create, one assignment"
        );
    }
}

#[tokio::test]
async fn a_claimed_unfinished_key_answers_409_in_progress() {
    let (apps, tenant, token, ids) = acme_with_leads(1, json!({})).await;
    let body = json!({"lead_ids": ids, "status": "lost"});
    // A request that claimed the key and is still working (or died within the lease).
    let fingerprint =
        idempotency::fingerprint("manager-1", "bulk-update", body.as_object().unwrap());
    let claim = idempotency::claim(&apps.bulk.state.store, tenant.id, "busy", &fingerprint)
        .await
        .unwrap();
    assert!(matches!(claim, idempotency::Claim::Claimed(_)));
    let res = keyed(&apps, &token, "busy", BULK_UPDATE)
        .json(body)
        .send()
        .await
        .expect(409);
    assert!(res.body["detail"].as_str().unwrap().contains("in progress"));
    assert_eq!(apps.leads.lead(&token, &ids[0]).await["status"], "new");
}

#[tokio::test]
async fn keys_are_checked() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    let body = json!({"lead_ids": [Uuid::new_v4().to_string()], "status": "lost"});
    let res = keyed(&apps, &token, &"k".repeat(256), BULK_UPDATE)
        .json(body.clone())
        .send()
        .await
        .expect(400);
    assert_eq!(
        res.body,
        json!({"Idempotency-Key": ["Ensure this value has at most 255 characters."]})
    );
    keyed(&apps, &token, &"k".repeat(255), BULK_UPDATE)
        .json(body)
        .send()
        .await
        .expect(200);
    // A request refused as invalid claims nothing: the key is still free afterwards.
    keyed(&apps, &token, "fresh", BULK_UPDATE)
        .json(json!({"lead_ids": []}))
        .send()
        .await
        .expect(400);
    let ids = vec![Uuid::new_v4().to_string()];
    keyed(&apps, &token, "fresh", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "lost"}))
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn records_expire_after_a_day() {
    let (apps, tenant, token, ids) = acme_with_leads(1, json!({})).await;
    keyed(&apps, &token, "day", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "lost"}))
        .send()
        .await
        .expect(200);
    let key = crm_store::keys::idempotency(tenant.id, "day").item_key();
    let item = apps
        .bulk
        .dynamodb()
        .get_item()
        .table_name(apps.bulk.state.store.table())
        .set_key(Some(key))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item[idempotency::EXPIRES_AT]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let in_a_day = chrono::Utc::now().timestamp() + 24 * 3600;
    assert!((in_a_day - expires).abs() < 60, "{expires} vs {in_a_day}");
}

/// Writes an idempotency record as a request of the past left it.
async fn plant(apps: &Apps, tenant: &Tenant, key: &str, fields: &[(&str, AttributeValue)]) {
    let mut item = crm_store::keys::idempotency(tenant.id, key).item_key();
    for (name, value) in fields {
        item.insert(name.to_string(), value.clone());
    }
    apps.bulk
        .dynamodb()
        .put_item()
        .table_name(apps.bulk.state.store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn epoch(offset_seconds: i64) -> AttributeValue {
    AttributeValue::N((chrono::Utc::now().timestamp() + offset_seconds).to_string())
}

/// A claim of the request with `fingerprint` whose lease lapsed a second ago: its request
/// died (a Lambda timeout).
fn lapsed_claim(fingerprint: String) -> Vec<(&'static str, AttributeValue)> {
    vec![
        ("fingerprint", AttributeValue::S(fingerprint)),
        ("state", AttributeValue::S("pending".into())),
        ("claim", AttributeValue::S("old-claim".into())),
        ("lease_until", epoch(-1)),
        (idempotency::EXPIRES_AT, epoch(3600)),
    ]
}

#[tokio::test]
async fn a_lapsed_claim_of_the_same_request_is_taken_over() {
    let (apps, tenant, token, ids) = acme_with_leads(1, json!({})).await;
    let body = json!({"lead_ids": ids, "status": "lost"});
    let fingerprint =
        idempotency::fingerprint("manager-1", "bulk-update", body.as_object().unwrap());
    // Its request died (a Lambda timeout) more than the lease ago.
    plant(&apps, &tenant, "died", &lapsed_claim(fingerprint)).await;
    let res = keyed(&apps, &token, "died", BULK_UPDATE)
        .json(body.clone())
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 1);
    let replay = keyed(&apps, &token, "died", BULK_UPDATE)
        .json(body)
        .send()
        .await
        .expect(200);
    assert_eq!(replay.header(bulk::REPLAYED), Some("true"));
    // Another request cannot take a lapsed claim over: it is still someone else's key.
    plant(
        &apps,
        &tenant,
        "died-2",
        &lapsed_claim("another request".into()),
    )
    .await;
    keyed(&apps, &token, "died-2", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "new"}))
        .send()
        .await
        .expect(409);
}

#[tokio::test]
async fn an_expired_record_frees_its_key_before_dynamodb_deletes_it() {
    let (apps, tenant, token, ids) = acme_with_leads(1, json!({})).await;
    plant(
        &apps,
        &tenant,
        "old",
        &[
            (
                "fingerprint",
                AttributeValue::S("yesterday's request".into()),
            ),
            ("state", AttributeValue::S("done".into())),
            ("claim", AttributeValue::S("old-claim".into())),
            ("status_code", AttributeValue::N("200".into())),
            ("response", AttributeValue::S("{}".into())),
            (idempotency::EXPIRES_AT, epoch(-1)),
        ],
    )
    .await;
    let res = keyed(&apps, &token, "old", BULK_UPDATE)
        .json(json!({"lead_ids": ids, "status": "lost"}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 1);
    assert_eq!(res.header(bulk::REPLAYED), None);
}
