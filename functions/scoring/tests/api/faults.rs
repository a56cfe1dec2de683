//! The scoring worker with DynamoDB failing under it (a fault-injecting proxy between its
//! client and the emulator, `crm_testkit::faults`): transient faults are retried within the
//! message; a message whose lead keeps failing is the only one reported in
//! `batchItemFailures`, and SQS's redelivery of it succeeds once the table answers.

use std::collections::BTreeSet;

use crm_app::queue::{reason, ScoreRequest};
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use crm_store::AuditAction;
use crm_testkit::fixtures::{id, person, with};
use crm_testkit::{sqs_event, Fault, Faults, Rule, TestApp};
use serde_json::{json, Value};

async fn start() -> (TestApp, Faults, Tenant, String) {
    let (leads, faults) = TestApp::start_with_faults(leads::app).await;
    let (tenant, owner) = leads.tenant_with("Acme", "owner", Role::Owner).await;
    (leads, faults, tenant, owner)
}

fn request(tenant: &Tenant, lead: &str) -> Value {
    serde_json::to_value(ScoreRequest {
        tenant_id: tenant.id.as_uuid(),
        lead_id: lead.parse().unwrap(),
        version: 1,
        reason: reason::CREATED.into(),
    })
    .unwrap()
}

async fn score_audits(app: &TestApp, tenant: &Tenant, id: &str) -> usize {
    app.audit(tenant, id)
        .await
        .iter()
        .filter(|a| a.action == AuditAction::Score)
        .count()
}

#[tokio::test]
async fn only_the_messages_whose_store_calls_keep_failing_are_reported() {
    let (app, faults, tenant, owner) = start().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        // A company and a title score above the 0 a new lead starts at: each is written.
        let body = with(
            person(n),
            &json!({"company": "Acme Corp", "job_title": "CEO"}),
        );
        ids.push(id(&app.create_lead(&owner, body).await));
    }
    let event = sqs_event(
        &ids.iter()
            .map(|id| request(&tenant, id))
            .collect::<Vec<_>>(),
    );
    let message_ids: Vec<String> = event
        .records
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect();

    // Every call about lead 1 fails with a 500, every transaction of lead 2 is throttled,
    // and lead 3's transaction meets another one twice (then commits).
    faults.add(Rule::on("*", Fault::InternalError).containing(&ids[1]));
    faults.add(Rule::on("TransactWriteItems", Fault::Throttle).containing(&ids[2]));
    faults.add(
        Rule::on("TransactWriteItems", Fault::TransactionConflict)
            .containing(&ids[3])
            .times(2),
    );
    let worker = app.worker(None);
    let response = scoring::handle(&worker, event).await;
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from([message_ids[1].clone(), message_ids[2].clone()])
    );
    faults.clear();

    for (n, id) in ids.iter().enumerate() {
        let lead = app.lead(&owner, id).await;
        let scored = usize::from(n != 1 && n != 2);
        assert_eq!(score_audits(&app, &tenant, id).await, scored, "lead {n}");
        assert_eq!(lead["version"], 1 + scored, "lead {n}");
        assert_eq!(lead["last_scored_at"].is_string(), scored == 1, "lead {n}");
    }

    // SQS delivers the failed messages again: now they go through, each scored once.
    let retry = sqs_event(&[request(&tenant, &ids[1]), request(&tenant, &ids[2])]);
    let response = scoring::handle(&worker, retry).await;
    assert!(response.batch_item_failures.is_empty());
    for id in &ids {
        assert_eq!(score_audits(&app, &tenant, id).await, 1);
    }
}
