use aws_lambda_events::event::dynamodb::Event;
use crm_app::changes::Services;
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use crm_store::AuditAction;
use crm_testkit::fixtures::{id, john};
use crm_testkit::{paths, TestApp, TestQueues, TestStream};
use crm_worker::Worker;
use serde_json::{json, Value};

struct Stack {
    leads: TestApp,
    queues: TestQueues,
    stream: TestStream,
    changes: Services,
    scorer: Worker,
}

async fn start() -> Stack {
    let queues = TestQueues::create().await;
    let leads = TestApp::start_with_queues(leads::app, &queues).await;
    let stream = TestStream::open(&leads).await;
    Stack {
        changes: queues.changes_services(&leads.state.store),
        scorer: leads.worker(None),
        leads,
        queues,
        stream,
    }
}

/// Services whose SQS endpoint is down (nothing listens on the discard port).
fn sqs_down(queues: &TestQueues, store: &crm_store::Store) -> Services {
    queues.changes_services_via(store, crm_testkit::sqs_client_at("http://127.0.0.1:9"))
}

impl Stack {
    /// Feeds the table's stream to the changes worker until it is drained (or a record
    /// fails); returns the records delivered.
    async fn run_changes(&self, services: &Services) -> (usize, Option<String>) {
        let rounds = self
            .stream
            .deliver(|event| changes::handle(services, event))
            .await;
        let delivered = rounds.iter().map(|r| r.delivered).sum();
        (delivered, rounds.last().and_then(|r| r.failed.clone()))
    }

    /// Delivers the scoring queue to the scoring worker; the messages received.
    async fn run_scoring(&self) -> usize {
        let worker = &self.scorer;
        self.queues
            .deliver(&self.queues.scoring, |event| scoring::handle(worker, event))
            .await
            .iter()
            .map(|r| r.received)
            .sum()
    }

    async fn score_audits(&self, tenant: &Tenant, id: &str) -> usize {
        self.leads
            .audit(tenant, id)
            .await
            .iter()
            .filter(|a| a.action == AuditAction::Score)
            .count()
    }
}

#[tokio::test]
async fn the_request_path_sends_nothing_and_the_stream_asks_for_the_score() {
    let s = start().await;
    let (tenant, owner) = s.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let lead = id(&s.leads.create_lead(&owner, john()).await);
    assert!(s.queues.peek(&s.queues.scoring.url).await.is_empty());

    let (delivered, failed) = s.run_changes(&s.changes).await;
    assert_eq!((delivered, failed), (1, None));
    assert_eq!(s.run_scoring().await, 1);
    let scored = s.leads.lead(&owner, &lead).await;
    assert!(scored["score"].as_u64().unwrap() > 0, "{scored}");

    // The scoring worker's own write comes through the stream too, and asks for nothing.
    assert_eq!(s.run_changes(&s.changes).await, (1, None));
    assert_eq!(s.run_scoring().await, 0);
    // A field the score ignores: no request either.
    s.leads
        .update_lead(&owner, &lead, json!({"notes": "Met at the fair"}))
        .await;
    assert_eq!(s.run_changes(&s.changes).await, (1, None));
    assert_eq!(s.run_scoring().await, 0);
    assert_eq!(s.score_audits(&tenant, &lead).await, 1);
}

#[tokio::test]
async fn a_lead_written_while_sqs_is_down_is_scored_once_it_is_back() {
    let s = start().await;
    let (_, owner) = s.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let created = s.leads.create_lead(&owner, john()).await;
    let lead = id(&created);
    assert_eq!(created["score"], 0);

    // The send fails: the worker reports the lead's record, and the stream keeps it.
    let down = sqs_down(&s.queues, &s.leads.state.store);
    let (delivered, failed) = s.run_changes(&down).await;
    assert_eq!(delivered, 1);
    assert!(failed.is_some(), "the record is reported failed");
    assert!(s.queues.peek(&s.queues.scoring.url).await.is_empty());

    // SQS is back: the same record is delivered again, and the lead is scored.
    assert_eq!(s.run_changes(&s.changes).await, (1, None));
    assert_eq!(s.run_scoring().await, 1);
    assert!(s.leads.lead(&owner, &lead).await["score"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn the_same_batch_twice_gives_one_rescore_and_one_event_id() {
    let s = start().await;
    let (tenant, owner) = s.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let lead = id(&s.leads.create_lead(&owner, john()).await);

    let seen = std::sync::Mutex::new(Vec::<Vec<String>>::new());
    let recording = |event: Event| {
        let ids = event.records.iter().map(|r| r.event_id.clone()).collect();
        seen.lock().unwrap().push(ids);
        changes::handle(&s.changes, event)
    };
    let start = s.stream.position().await;
    s.stream.deliver(&recording).await;
    // Redelivered (as after a timeout that Lambda retries): the same records again.
    s.stream.rewind(start).await;
    s.stream.deliver(&recording).await;
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1], "stable event ids");
    assert_eq!(seen[0].len(), 1);

    // Two requests for the same version: the second finds it scored.
    assert_eq!(s.run_scoring().await, 2);
    assert_eq!(s.score_audits(&tenant, &lead).await, 1);
    assert_eq!(s.leads.lead(&owner, &lead).await["version"], 2);
}

#[tokio::test]
async fn an_unreadable_record_fails_and_holds_the_records_after_it() {
    let s = start().await;
    let (tenant, owner) = s.leads.tenant_with("Acme", "owner", Role::Owner).await;
    // A lead item the worker cannot read (written past the service, so no real lead).
    let bad = uuid::Uuid::new_v4();
    let key = crm_store::keys::lead(tenant.id, bad);
    let mut item = key.item_key();
    item.insert(
        "first_name".into(),
        aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
    );
    s.leads
        .dynamodb()
        .put_item()
        .table_name(crm_testkit::TABLE)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    s.leads.create_lead(&owner, john()).await;

    let (delivered, failed) = s.run_changes(&s.changes).await;
    assert_eq!(delivered, 2);
    assert!(failed.is_some());
    // The good record after it is not handled past the failure (Lambda retries from the
    // failed record; after its retries it goes to the on-failure destination).
    assert!(s.queues.peek(&s.queues.scoring.url).await.is_empty());
}

#[tokio::test]
async fn update_scores_and_ai_insights_ask_through_the_stream() {
    let s = start().await;
    let (tenant, owner) = s.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let lead = id(&s.leads.create_lead(&owner, john()).await);
    s.run_changes(&s.changes).await;
    assert_eq!(s.run_scoring().await, 1);
    s.run_changes(&s.changes).await;

    // update-scores writes rescore requests; the stream turns them into manual requests.
    let bulk = s.leads.with_function(bulk::app);
    let res = bulk
        .post(paths::UPDATE_SCORES)
        .bearer(&owner)
        .json(json!({"lead_ids": [lead]}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["queued_count"], 1, "{}", res.text);
    assert!(s.queues.peek(&s.queues.scoring.url).await.is_empty());
    assert_eq!(s.run_changes(&s.changes).await, (1, None));
    let bodies: Vec<Value> = s
        .queues
        .peek(&s.queues.scoring.url)
        .await
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["reason"], "manual");
    assert_eq!(bodies[0]["tenant_id"], tenant.id.to_string());

    // GET ai-insights records a request; the stream sends it to the insights queue.
    let actions = s.leads.with_function(actions::app);
    actions
        .get(&paths::lead_path(&lead, "ai-insights"))
        .bearer(&owner)
        .send()
        .await
        .expect(202);
    assert!(s.queues.peek(&s.queues.insights.url).await.is_empty());
    assert_eq!(s.run_changes(&s.changes).await, (1, None));
    let asked = s.queues.peek(&s.queues.insights.url).await;
    assert_eq!(asked.len(), 1, "{asked:?}");
}
