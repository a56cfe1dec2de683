//! DynamoDB failing under the function: a fault-injecting proxy between the real client and
//! the emulator (`crm_testkit::faults`) throttles, cancels, fails and hangs the calls each
//! test picks. Transient faults are retried and the request succeeds, once; a persistent
//! fault is a 503 with `Retry-After` that wrote nothing.

use std::time::Duration;

use crm_testkit::{Fault, Faults, Rule};

use crate::common::*;

const TRANSACT: &str = "TransactWriteItems";

/// The three faults a retry can get through.
fn transient_faults() -> [Fault; 3] {
    [
        Fault::Throttle,
        Fault::InternalError,
        Fault::TransactionConflict,
    ]
}

async fn start_faulty() -> (TestApp, Faults) {
    TestApp::start_with_faults(leads::app).await
}

/// The 503 a persistent fault gets: `Retry-After` in whole seconds, and a body that names
/// nothing internal.
#[track_caller]
fn assert_unavailable(res: &TestResponse) {
    assert_eq!(res.status, 503, "{}", res.text);
    let retry_after: u64 = res
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        res.body,
        json!({"detail": "Service temporarily unavailable, try again later."})
    );
}

#[tokio::test]
async fn a_write_through_transient_faults_succeeds_once() {
    let (app, faults) = start_faulty().await;
    for fault in transient_faults() {
        let (tenant, token) = app.owner(&format!("{fault:?}")).await;
        faults.reset_counts();
        // The lead's transaction fails twice: the SDK retries throttling and 500s, the
        // store a cancelled transaction; the third try commits.
        faults.add(Rule::on(TRANSACT, fault.clone()).times(2));
        let created = app.create_lead(&token, john()).await;
        assert_eq!(faults.injected(TRANSACT), 2, "{fault:?}");
        let id = id(&created);
        assert_eq!(app.lead(&token, &id).await["email"], "john@company.com");
        assert_eq!(
            app.audit(&tenant, &id).await.len(),
            1,
            "{fault:?}: one create"
        );
        let dash = app.dashboard(&token).await;
        assert_eq!(dash["total_leads"], 1, "{fault:?}: counted once");

        faults.add(Rule::on(TRANSACT, fault.clone()).times(2));
        let updated = app
            .update_lead(&token, &id, json!({"status": "qualified"}))
            .await;
        assert_eq!(updated["version"], 2, "{fault:?}: one update");
        assert_eq!(app.audit(&tenant, &id).await.len(), 2, "{fault:?}");
        let dash = app.dashboard(&token).await;
        assert_eq!(dash["by_status"]["qualified"], 1, "{fault:?}");
        assert_eq!(dash["by_status"]["new"], 0, "{fault:?}");
    }
}

#[tokio::test]
async fn reads_through_transient_faults_succeed() {
    let (app, faults) = start_faulty().await;
    let (_, token) = app.owner("Acme").await;
    let id = id(&app.create_lead(&token, john()).await);
    for fault in [Fault::Throttle, Fault::InternalError] {
        faults.add(Rule::on("GetItem", fault.clone()).times(2));
        assert_eq!(app.lead(&token, &id).await["id"], id.as_str(), "{fault:?}");
        faults.add(Rule::on("Query", fault.clone()).times(2));
        let page = app.read(LEADS, &token).await;
        assert_eq!(page["results"].as_array().unwrap().len(), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_persistent_fault_is_a_503_with_retry_after_and_writes_nothing() {
    let (app, faults) = start_faulty().await;
    for fault in transient_faults() {
        let (tenant, token) = app.owner(&format!("{fault:?}")).await;
        let before = app.table_items().await;
        faults.reset_counts();
        faults.add(Rule::on(TRANSACT, fault.clone()));
        let res = app.post(LEADS).bearer(&token).json(john()).send().await;
        assert_unavailable(&res);
        // Three tries (the SDK's attempts, or the store's for a cancelled transaction),
        // then the answer: bounded, not a loop until the Lambda times out.
        assert_eq!(faults.injected(TRANSACT), 3, "{fault:?}");
        faults.clear();
        assert_eq!(
            app.table_items().await,
            before,
            "{fault:?}: no lead, email guard, audit entry or counter was written"
        );
        let dash = app.dashboard(&token).await;
        assert_eq!(dash["total_leads"], 0, "{fault:?}");
        // Nothing half-written stands in the way of the retry (the email is free).
        let id = id(&app.create_lead(&token, john()).await);

        // An update that cannot commit leaves the lead as it was.
        let lead = app.lead(&token, &id).await;
        let before = app.table_items().await;
        faults.add(Rule::on(TRANSACT, fault.clone()));
        let res = app
            .patch(&paths::lead(&id))
            .bearer(&token)
            .json(json!({"status": "qualified", "email": "jd@company.com"}))
            .send()
            .await;
        assert_unavailable(&res);
        faults.clear();
        assert_eq!(app.table_items().await, before, "{fault:?}");
        assert_eq!(app.lead(&token, &id).await, lead, "{fault:?}");
        assert_eq!(app.audit(&tenant, &id).await.len(), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_persistent_read_fault_is_a_503() {
    let (app, faults) = start_faulty().await;
    let (_, token) = app.owner("Acme").await;
    let id = id(&app.create_lead(&token, john()).await);
    // The tenant check and the lead are GetItems: throttled through the retries.
    faults.add(Rule::on("GetItem", Fault::Throttle));
    let res = app.get(&paths::lead(&id)).bearer(&token).send().await;
    assert_unavailable(&res);
    assert_eq!(
        res.header("retry-after"),
        Some("1"),
        "capacity comes back soon"
    );
    faults.clear();
    faults.add(Rule::on("Query", Fault::InternalError));
    let res = app.get(LEADS).bearer(&token).send().await;
    assert_unavailable(&res);
}

#[tokio::test]
async fn a_call_that_never_answers_times_out_into_a_503_and_writes_nothing() {
    // Short timeouts for this test; the proxy holds the call far longer than all of them,
    // so the outcome does not depend on how fast the machine is.
    let settings = crm_store::ClientSettings {
        attempt_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(10),
        ..crm_testkit::faults::test_settings()
    };
    let (app, faults) = TestApp::start_with_faults_and(leads::app, settings).await;
    let (_, token) = app.owner("Acme").await;
    let before = app.table_items().await;
    faults.add(Rule::on(TRANSACT, Fault::Hang(Duration::from_secs(600))));
    let res = app.post(LEADS).bearer(&token).json(john()).send().await;
    assert_unavailable(&res);
    assert_eq!(res.header("retry-after"), Some("5"));
    assert!(faults.injected(TRANSACT) >= 1);
    faults.clear();
    assert_eq!(app.table_items().await, before);
    // The next request goes through.
    app.create_lead(&token, john()).await;
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_retried_without_applying_twice() {
    let (app, faults) = start_faulty().await;
    let (tenant, token) = app.owner("Acme").await;
    // The transaction commits, its answer is lost, the SDK sends it again with the same
    // client request token: DynamoDB (and the emulator) answer it as done, not again.
    faults.add(Rule::on(TRANSACT, Fault::LoseResponse).times(1));
    let id = id(&app.create_lead(&token, john()).await);
    assert_eq!(faults.injected(TRANSACT), 1);
    assert_eq!(app.audit(&tenant, &id).await.len(), 1);
    assert_eq!(app.dashboard(&token).await["total_leads"], 1);

    faults.add(Rule::on(TRANSACT, Fault::LoseResponse).times(1));
    let updated = app
        .update_lead(&token, &id, json!({"status": "contacted"}))
        .await;
    assert_eq!(updated["version"], 2);
    assert_eq!(app.audit(&tenant, &id).await.len(), 2);
    let dash = app.dashboard(&token).await;
    assert_eq!(dash["by_status"]["contacted"], 1);
    assert_eq!(dash["by_status"]["new"], 0);
}
