//! DynamoDB failing under a bulk request (a fault-injecting proxy between the client and the
//! emulator, `crm_testkit::faults`): transient faults are retried and every lead is written
//! once; leads whose writes keep failing are reported as `error`, unchanged, and the rest
//! are done; a read of the whole batch that keeps failing is a 503 that wrote nothing.

use crm_testkit::paths::BULK_TAG;
use crm_testkit::{Fault, Faults, Rule};

use crate::common::*;

const TRANSACT: &str = "TransactWriteItems";
const UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";

async fn start_faulty() -> (Apps, Faults) {
    let (bulk, faults) = TestApp::start_with_faults(bulk::app).await;
    let leads = bulk.with_function(leads::app);
    (Apps { bulk, leads }, faults)
}

/// Both functions behind the proxy, a manager of Acme and `count` of its leads.
async fn acme_with_faulty_leads(count: usize) -> (Apps, Faults, Tenant, String, Vec<String>) {
    let (apps, faults) = start_faulty().await;
    let (tenant, token) = apps.bulk.manager("Acme").await;
    let ids = apps.leads.create_leads(&token, count, json!({})).await;
    (apps, faults, tenant, token, ids)
}

fn statuses(res: &TestResponse) -> Vec<String> {
    outcomes(res).into_iter().map(|(_, s)| s).collect()
}

#[tokio::test]
async fn leads_whose_writes_keep_failing_are_errors_and_the_rest_are_done() {
    let (apps, faults, tenant, token, ids) = acme_with_faulty_leads(5).await;
    let before: Vec<Value> = {
        let mut leads = Vec::new();
        for id in &ids {
            leads.push(apps.leads.lead(&token, id).await);
        }
        leads
    };
    // Lead 1's transaction always fails with a 500, lead 3's is always throttled.
    faults.add(Rule::on(TRANSACT, Fault::InternalError).containing(&ids[1]));
    faults.add(Rule::on(TRANSACT, Fault::Throttle).containing(&ids[3]));
    let res = apps
        .update(&token, json!({"lead_ids": ids, "status": "qualified"}))
        .await
        .expect(200);
    assert_eq!(
        statuses(&res),
        ["updated", "error", "updated", "error", "updated"]
    );
    assert_eq!(res.body["updated_count"], 3);
    for n in [1, 3] {
        assert_eq!(res.body["results"][n]["error"], UNAVAILABLE, "{}", res.text);
    }
    faults.clear();

    for (n, id) in ids.iter().enumerate() {
        let lead = apps.leads.lead(&token, id).await;
        let audit = apps.leads.audit(&tenant, id).await;
        if n == 1 || n == 3 {
            assert_eq!(lead, before[n], "lead {n} is unchanged");
            assert_eq!(audit.len(), 1, "lead {n}: only its create");
        } else {
            assert_eq!(lead["status"], "qualified", "lead {n}");
            assert_eq!(audit.len(), 2, "lead {n}: written once");
        }
    }
    let dash = apps.leads.dashboard(&token).await;
    assert_eq!(dash["by_status"]["qualified"], 3);
    assert_eq!(dash["by_status"]["new"], 2);

    // The failed leads can be retried once the table answers again.
    let retry = apps
        .update(
            &token,
            json!({"lead_ids": [ids[1], ids[3]], "status": "qualified"}),
        )
        .await
        .expect(200);
    assert_eq!(statuses(&retry), ["updated", "updated"]);
}

#[tokio::test]
async fn bulk_assign_and_bulk_tag_report_a_persistently_conflicting_lead_as_error() {
    let (apps, faults, tenant, token, ids) = acme_with_faulty_leads(3).await;
    let admin = apps.bulk.token(&tenant, "admin", Role::Admin);
    let sources = apps.bulk.with_function(sources::app);
    let hot = id(&sources
        .create(paths::TAGS, &admin, json!({"name": "hot"}))
        .await);
    // Every transaction on lead 0 meets another one.
    faults.add(Rule::on(TRANSACT, Fault::TransactionConflict).containing(&ids[0]));

    let res = apps
        .assign(&token, json!({"lead_ids": ids, "assigned_to": "alice"}))
        .await
        .expect(200);
    assert_eq!(statuses(&res), ["error", "updated", "updated"]);
    let res = bulk(
        &apps,
        &token,
        BULK_TAG,
        json!({"lead_ids": ids, "add": [hot]}),
    )
    .await
    .expect(200);
    assert_eq!(statuses(&res), ["error", "updated", "updated"]);
    faults.clear();

    let first = apps.leads.lead(&token, &ids[0]).await;
    assert_eq!(first["assigned_to"], Value::Null);
    assert_eq!(first["tag_ids"], json!([]));
    for id in &ids[1..] {
        let lead = apps.leads.lead(&token, id).await;
        assert_eq!(lead["assigned_to"]["id"], "alice");
        assert_eq!(lead["tag_ids"], json!([hot]));
    }
    let tag = sources.read(&paths::tag(&hot), &admin).await;
    assert_eq!(tag["leads_count"], 2, "counted for the written leads only");
}

#[tokio::test]
async fn transient_faults_are_retried_and_every_lead_is_written_once() {
    let (apps, faults, tenant, token, ids) = acme_with_faulty_leads(4).await;
    for (fault, status) in [
        (Fault::Throttle, "contacted"),
        (Fault::InternalError, "qualified"),
        (Fault::TransactionConflict, "proposal"),
    ] {
        faults.add(Rule::on(TRANSACT, fault.clone()).times(2));
        let res = apps
            .update(&token, json!({"lead_ids": ids, "status": status}))
            .await
            .expect(200);
        assert_eq!(res.body["updated_count"], 4, "{fault:?}: {}", res.text);
    }
    for id in &ids {
        assert_eq!(apps.leads.lead(&token, id).await["status"], "proposal");
        assert_eq!(apps.leads.audit(&tenant, id).await.len(), 4, "create + 3");
    }
    let dash = apps.leads.dashboard(&token).await;
    assert_eq!(dash["by_status"]["proposal"], 4);
    assert_eq!(dash["total_leads"], 4);
}

#[tokio::test]
async fn a_throttled_batch_read_is_asked_again_and_one_that_stays_throttled_is_a_503() {
    let (apps, faults, _, token, ids) = acme_with_faulty_leads(3).await;
    // DynamoDB throttles a BatchGetItem by leaving its keys unprocessed.
    faults.add(Rule::on("BatchGetItem", Fault::Throttle).times(2));
    let res = apps
        .update(&token, json!({"lead_ids": ids, "status": "contacted"}))
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 3);
    assert_eq!(faults.injected("BatchGetItem"), 2);

    let before = apps.bulk.table_items().await;
    faults.add(Rule::on("BatchGetItem", Fault::Throttle));
    let request = || {
        apps.bulk
            .post(BULK_UPDATE)
            .bearer(&token)
            .header("Idempotency-Key", "retry-me")
            .json(json!({"lead_ids": ids, "status": "qualified"}))
    };
    let res = request().send().await;
    assert_eq!(res.status, 503, "{}", res.text);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_eq!(res.body, json!({"detail": UNAVAILABLE}));
    faults.clear();
    // Nothing written, and the key's claim released: the retry runs.
    assert_eq!(apps.bulk.table_items().await, before);
    let retry = request().send().await.expect(200);
    assert_eq!(retry.body["updated_count"], 3);
    assert_eq!(retry.header(bulk::REPLAYED), None);
}

#[tokio::test]
async fn an_idempotency_claim_whose_answer_was_lost_is_still_the_requests_own() {
    let (apps, faults, tenant, token, ids) = acme_with_faulty_leads(2).await;
    // The claim's conditional put is written, its answer lost; the SDK sends it again and
    // finds the claim taken: by this very request, which goes on rather than 409.
    faults.add(Rule::on("PutItem", Fault::LoseResponse).times(1));
    let request = || {
        apps.bulk
            .post(BULK_UPDATE)
            .bearer(&token)
            .header("Idempotency-Key", "lost-answer")
            .json(json!({"lead_ids": ids, "status": "qualified"}))
    };
    let res = request().send().await.expect(200);
    assert_eq!(faults.injected("PutItem"), 1);
    assert_eq!(res.body["updated_count"], 2);
    let replay = request().send().await.expect(200);
    assert_eq!(replay.header(bulk::REPLAYED), Some("true"));
    assert_eq!(replay.body, res.body);
    for id in &ids {
        assert_eq!(apps.leads.audit(&tenant, id).await.len(), 2);
    }
}

/// The dashboard counters are sharded by lead (`crm_domain::stats::shard_of`): two bulk
/// updates running at once in one tenant, over leads of different shards, name no item in
/// common, so DynamoDB has nothing to cancel. The proxy cancels any transaction that
/// meets another in flight on an item, as DynamoDB does; here none is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bulk_updates_in_one_tenant_share_no_counters_item() {
    let (apps, faults, tenant, token, ids) = acme_with_faulty_leads(40).await;
    let mut by_shard = std::collections::BTreeMap::new();
    for id in &ids {
        let shard = crm_domain::stats::shard_of(id.parse().unwrap());
        by_shard.entry(shard).or_insert_with(|| id.clone());
    }
    let ids: Vec<String> = by_shard.into_values().collect();
    assert!(
        ids.len() >= 8,
        "40 random ids cover at least 8 of 16 shards"
    );
    let (first, second) = ids.split_at(ids.len() / 2);
    let seen_before = faults.transactions().len();
    faults.simulate_conflicts(true);
    let (a, b) = futures::join!(
        apps.update(&token, json!({"lead_ids": first, "status": "qualified"})),
        apps.update(&token, json!({"lead_ids": second, "priority": "urgent"})),
    );
    faults.simulate_conflicts(false);
    assert_eq!(a.expect(200).body["updated_count"], first.len());
    assert_eq!(b.expect(200).body["updated_count"], second.len());
    assert_eq!(
        faults.conflicts(),
        Vec::<String>::new(),
        "no transaction cancelled"
    );

    // Each lead write named one counters item, its lead's shard, and no two the same;
    // none named the lead count item (only creates and deletes do).
    let counters: Vec<String> = faults.transactions()[seen_before..]
        .iter()
        .flat_map(|items| items.iter().filter(|i| i.contains("#STATS")).cloned())
        .collect();
    assert_eq!(counters.len(), ids.len(), "{counters:?}");
    let distinct: std::collections::BTreeSet<&String> = counters.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{counters:?}");
    let count_item = format!("{}#STATS|STATS", tenant.id);
    assert!(!counters.contains(&count_item));

    let dashboard = apps.leads.dashboard(&token).await;
    assert_eq!(dashboard["total_leads"], 40);
    assert_eq!(dashboard["by_status"]["qualified"], first.len());
    assert_eq!(dashboard["by_priority"]["urgent"], second.len());
}
