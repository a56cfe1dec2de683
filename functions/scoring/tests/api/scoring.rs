use crm_app::queue::{ScoreRequest, SCORING_QUEUE};
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use crm_store::AuditAction;
use crm_testkit::fixtures::{id, john, with};
use crm_testkit::{paths, sqs_event, TestApp, TestQueues, TestStream};
use crm_worker::Worker;
use serde_json::{json, Value};
use uuid::Uuid;

struct Loop {
    leads: TestApp,
    actions: TestApp,
    queues: TestQueues,
    stream: TestStream,
    worker: Worker,
}

async fn start() -> Loop {
    let queues = TestQueues::create().await;
    let leads = TestApp::start_with_queues(leads::app, &queues).await;
    let actions = leads.with_function(actions::app);
    let worker = leads.worker(None);
    let stream = TestStream::open(&leads).await;
    Loop {
        leads,
        actions,
        queues,
        stream,
        worker,
    }
}

impl Loop {
    /// Feeds the table's stream to the changes worker (which sends the scoring requests),
    /// then delivers everything waiting in the scoring queue; returns the messages received.
    async fn run_worker(&self) -> usize {
        self.run_changes().await;
        let worker = &self.worker;
        self.queues
            .deliver(&self.queues.scoring, |event| scoring::handle(worker, event))
            .await
            .iter()
            .map(|r| r.received)
            .sum()
    }

    async fn run_changes(&self) {
        self.stream.deliver_changes(&self.queues).await;
    }

    async fn score_audits(&self, tenant: &Tenant, id: &str) -> usize {
        let audit = self.leads.audit(tenant, id).await;
        audit
            .iter()
            .filter(|a| a.action == AuditAction::Score)
            .count()
    }
}

/// The lead `A B <a@b.example>`, with `extra`'s fields.
fn a_b(extra: Value) -> Value {
    with(
        json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}),
        &extra,
    )
}

/// A scoring request, as the functions queue it.
fn score_request(tenant: &Tenant, lead: Uuid, version: u64, reason: &str) -> Value {
    serde_json::to_value(&ScoreRequest {
        tenant_id: tenant.id.as_uuid(),
        lead_id: lead,
        version,
        reason: reason.into(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_lead_created_over_http_is_scored_in_the_background() {
    let l = start().await;
    let (tenant, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let created = l.leads.create_lead(&owner, john()).await;
    let id = id(&created);
    assert_eq!(created["score"], 0);

    assert_eq!(l.run_worker().await, 1);
    let lead = l.leads.lead(&owner, &id).await;
    let score = lead["score"].as_u64().unwrap();
    assert!(score > 0, "{lead}");
    assert_eq!(lead["score_model"], "explainable-v1");
    assert!(lead["last_scored_at"].is_string());
    assert!(factor(&lead, "company_presence").is_object());

    // A scored field changes: rescored. A field the score ignores: no request at all.
    l.leads
        .update_lead(
            &owner,
            &id,
            json!({"company_size": "enterprise", "budget": "250000", "decision_maker": true}),
        )
        .await;
    assert_eq!(l.run_worker().await, 1);
    let rescored = l.leads.lead(&owner, &id).await;
    assert!(rescored["score"].as_u64().unwrap() > score, "{rescored}");

    l.leads
        .update_lead(&owner, &id, json!({"notes": "Met at the fair"}))
        .await;
    assert_eq!(l.run_worker().await, 0);

    // An action that changes the status asks for a rescore too.
    l.actions
        .post(&paths::lead_path(&id, "mark-contacted"))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    assert_eq!(l.run_worker().await, 1);
    assert_eq!(l.score_audits(&tenant, &id).await, 3);
}

#[tokio::test]
async fn a_redelivered_request_gives_one_result() {
    let l = start().await;
    let (tenant, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let id = id(&l
        .leads
        .create_lead(&owner, a_b(json!({"company": "X"})))
        .await);
    let body = score_request(&tenant, id.parse().unwrap(), 1, "created");

    // The same message twice in one batch, and once more later.
    let response = scoring::handle(&l.worker, sqs_event(&[body.clone(), body.clone()])).await;
    assert!(response.batch_item_failures.is_empty());
    let after_first = l.leads.lead(&owner, &id).await;
    let response = scoring::handle(&l.worker, sqs_event(&[body])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(l.leads.lead(&owner, &id).await, after_first);
    assert_eq!(l.score_audits(&tenant, &id).await, 1);
    assert_eq!(after_first["version"], 2);
}

#[tokio::test]
async fn an_older_request_after_a_newer_one_changes_nothing() {
    let l = start().await;
    let (tenant, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let id = id(&l.leads.create_lead(&owner, a_b(json!({}))).await);
    l.leads
        .update_lead(&owner, &id, json!({"company": "Acme", "job_title": "CEO"}))
        .await;
    let request = |version: u64| score_request(&tenant, id.parse().unwrap(), version, "updated");
    // The newer request (version 2) arrives first and scores the current lead.
    scoring::handle(&l.worker, sqs_event(&[request(2)])).await;
    let scored = l.leads.lead(&owner, &id).await;
    assert_eq!(scored["version"], 3);
    // The request for version 1 arrives late: nothing happens.
    scoring::handle(&l.worker, sqs_event(&[request(1)])).await;
    assert_eq!(l.leads.lead(&owner, &id).await, scored);
    assert_eq!(l.score_audits(&tenant, &id).await, 1);
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue_without_blocking_its_batch() {
    let l = start().await;
    let (tenant, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    l.queues
        .sqs
        .send_message()
        .queue_url(&l.queues.scoring.url)
        .message_body("{not json")
        .send()
        .await
        .unwrap();
    // A request for a lead that was deleted meanwhile is done, not failed.
    l.queues
        .sqs
        .send_message()
        .queue_url(&l.queues.scoring.url)
        .message_body(score_request(&tenant, Uuid::new_v4(), 1, "created").to_string())
        .send()
        .await
        .unwrap();
    let id = id(&l
        .leads
        .create_lead(&owner, a_b(json!({"company": "X"})))
        .await);
    l.run_changes().await;

    let worker = &l.worker;
    let rounds = l
        .queues
        .deliver(&l.queues.scoring, |event| scoring::handle(worker, event))
        .await;
    // The good messages went through in the first round; the poison one was retried
    // maxReceiveCount times, then moved on.
    assert_eq!(rounds[0].deleted, 2, "{rounds:?}");
    let failures: usize = rounds.iter().map(|r| r.failed).sum();
    assert_eq!(failures as u32, SCORING_QUEUE.max_receive_count);
    assert!(l.leads.lead(&owner, &id).await["score"].as_u64().unwrap() > 0);
    assert_eq!(
        l.queues.peek(&l.queues.scoring.dlq_url).await,
        vec!["{not json".to_string()]
    );
}

fn factor(lead: &Value, name: &str) -> Value {
    lead["score_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["factor"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} factor in {lead}"))
}

#[tokio::test]
async fn activities_and_the_sources_record_feed_the_score() {
    let l = start().await;
    let sources = l.leads.with_function(sources::app);
    let (_, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let body = json!({"first_name": "A", "last_name": format!("B{n}"),
                          "email": format!("a{n}@b.example"), "source": "webinar"});
        ids.push(id(&l.leads.create_lead(&owner, body).await));
    }
    l.run_worker().await;
    let first = l.leads.lead(&owner, &ids[0]).await;
    assert_eq!(factor(&first, "engagement")["points"], 0, "{first}");

    // A logged call asks for a rescore, and engagement now counts.
    sources
        .post(paths::ACTIVITIES)
        .bearer(&owner)
        .json(
            json!({"lead": ids[0], "activity_type": "call", "title": "Intro call",
                     "description": "Talked budgets"}),
        )
        .send()
        .await
        .expect(201);
    assert_eq!(l.run_worker().await, 1);
    let engaged = l.leads.lead(&owner, &ids[0]).await;
    assert_eq!(engaged["activity_count"], 1);
    assert!(
        factor(&engaged, "engagement")["points"].as_u64().unwrap() > 0,
        "{engaged}"
    );
    assert!(engaged["score"].as_u64() > first["score"].as_u64());

    // Two of the source's five leads convert: its real rate (0.4) scores the others.
    for id in &ids[3..] {
        l.actions
            .post(&paths::lead_path(id, "convert"))
            .bearer(&owner)
            .send()
            .await
            .expect(200);
    }
    l.run_worker().await;
    let rescored = l
        .actions
        .post(&paths::lead_path(&ids[1], "update-score"))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    let quality = factor(&rescored.body, "source_quality");
    assert_eq!(quality["value"]["conversion_rate"], 0.4, "{quality}");
    assert_eq!(quality["points"], quality["max"], "{quality}");
}
