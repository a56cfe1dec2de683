use crm_app::queue::{ScoreRequest, SCORING_QUEUE};
use crm_domain::Role;
use crm_store::AuditAction;
use crm_testkit::{sqs_event, TestApp, TestQueues};
use crm_worker::Worker;
use serde_json::{json, Value};
use uuid::Uuid;

const LEADS: &str = "/api/leads/api/v1/leads/";

struct Loop {
    leads: TestApp,
    actions: TestApp,
    queues: TestQueues,
    worker: Worker,
}

async fn start() -> Loop {
    let queues = TestQueues::create().await;
    let leads = TestApp::start_with(leads::app, queues.configure(crm_testkit::test_config())).await;
    let actions = leads.with_function(actions::app);
    let worker = leads.worker(None);
    Loop {
        leads,
        actions,
        queues,
        worker,
    }
}

impl Loop {
    /// Delivers everything waiting in the scoring queue; returns the messages received.
    async fn run_worker(&self) -> usize {
        let worker = &self.worker;
        self.queues
            .deliver(&self.queues.scoring, |event| scoring::handle(worker, event))
            .await
            .iter()
            .map(|r| r.received)
            .sum()
    }

    async fn lead(&self, token: &str, id: &str) -> Value {
        self.leads
            .get(&format!("{LEADS}{id}/"))
            .bearer(token)
            .send()
            .await
            .expect(200)
            .body
    }

    async fn score_audits(&self, tenant: &crm_domain::tenant::Tenant, id: &str) -> usize {
        self.leads
            .state
            .store
            .lead_audit(tenant.id, id.parse().unwrap())
            .await
            .unwrap()
            .iter()
            .filter(|a| a.action == AuditAction::Score)
            .count()
    }
}

#[tokio::test]
async fn a_lead_created_over_http_is_scored_in_the_background() {
    let l = start().await;
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
    let created = l
        .leads
        .post(LEADS)
        .bearer(&owner)
        .json(
            json!({"first_name": "John", "last_name": "Doe", "email": "john@company.com",
                     "company": "Acme Corp", "source": "website"}),
        )
        .send()
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["score"], 0);

    assert_eq!(l.run_worker().await, 1);
    let lead = l.lead(&owner, &id).await;
    let score = lead["score"].as_u64().unwrap();
    assert!(score > 0, "{lead}");
    assert_eq!(lead["score_model"], "explainable-v1");
    assert!(lead["last_scored_at"].is_string());
    let company = lead["score_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["factor"] == "company_presence")
        .cloned();
    assert!(company.is_some(), "{}", lead["score_factors"]);

    // A scored field changes: rescored. A field the score ignores: no request at all.
    l.leads
        .patch(&format!("{LEADS}{id}/"))
        .bearer(&owner)
        .json(json!({"company_size": "enterprise", "budget": "250000", "decision_maker": true}))
        .send()
        .await
        .expect(200);
    assert_eq!(l.run_worker().await, 1);
    let rescored = l.lead(&owner, &id).await;
    assert!(rescored["score"].as_u64().unwrap() > score, "{rescored}");

    l.leads
        .patch(&format!("{LEADS}{id}/"))
        .bearer(&owner)
        .json(json!({"notes": "Met at the fair"}))
        .send()
        .await
        .expect(200);
    assert_eq!(l.run_worker().await, 0);

    // An action that changes the status asks for a rescore too.
    l.actions
        .post(&format!("{LEADS}{id}/mark-contacted/"))
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
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
    let id = l
        .leads
        .post(LEADS)
        .bearer(&owner)
        .json(json!({"first_name": "A", "last_name": "B", "email": "a@b.example", "company": "X"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = serde_json::to_value(&ScoreRequest {
        tenant_id: tenant.id.as_uuid(),
        lead_id: id.parse().unwrap(),
        version: 1,
        reason: "created".into(),
    })
    .unwrap();

    // The same message twice in one batch, and once more later.
    let response = scoring::handle(&l.worker, sqs_event(&[body.clone(), body.clone()])).await;
    assert!(response.batch_item_failures.is_empty());
    let after_first = l.lead(&owner, &id).await;
    let response = scoring::handle(&l.worker, sqs_event(&[body])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(l.lead(&owner, &id).await, after_first);
    assert_eq!(l.score_audits(&tenant, &id).await, 1);
    assert_eq!(after_first["version"], 2);
}

#[tokio::test]
async fn an_older_request_after_a_newer_one_changes_nothing() {
    let l = start().await;
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
    let id = l
        .leads
        .post(LEADS)
        .bearer(&owner)
        .json(json!({"first_name": "A", "last_name": "B", "email": "a@b.example"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    l.leads
        .patch(&format!("{LEADS}{id}/"))
        .bearer(&owner)
        .json(json!({"company": "Acme", "job_title": "CEO"}))
        .send()
        .await
        .expect(200);
    let request = |version: u64| {
        serde_json::to_value(&ScoreRequest {
            tenant_id: tenant.id.as_uuid(),
            lead_id: id.parse().unwrap(),
            version,
            reason: "updated".into(),
        })
        .unwrap()
    };
    // The newer request (version 2) arrives first and scores the current lead.
    scoring::handle(&l.worker, sqs_event(&[request(2)])).await;
    let scored = l.lead(&owner, &id).await;
    assert_eq!(scored["version"], 3);
    // The request for version 1 arrives late: nothing happens.
    scoring::handle(&l.worker, sqs_event(&[request(1)])).await;
    assert_eq!(l.lead(&owner, &id).await, scored);
    assert_eq!(l.score_audits(&tenant, &id).await, 1);
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dead_letter_queue_without_blocking_its_batch() {
    let l = start().await;
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
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
        .message_body(
            serde_json::to_value(&ScoreRequest {
                tenant_id: tenant.id.as_uuid(),
                lead_id: Uuid::new_v4(),
                version: 1,
                reason: "created".into(),
            })
            .unwrap()
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let id = l
        .leads
        .post(LEADS)
        .bearer(&owner)
        .json(json!({"first_name": "A", "last_name": "B", "email": "a@b.example", "company": "X"}))
        .send()
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();

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
    assert!(l.lead(&owner, &id).await["score"].as_u64().unwrap() > 0);
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
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = l
            .leads
            .post(LEADS)
            .bearer(&owner)
            .json(json!({"first_name": "A", "last_name": format!("B{n}"),
                         "email": format!("a{n}@b.example"), "source": "webinar"}))
            .send()
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        ids.push(id);
    }
    l.run_worker().await;
    let first = l.lead(&owner, &ids[0]).await;
    assert_eq!(factor(&first, "engagement")["points"], 0, "{first}");

    // A logged call asks for a rescore, and engagement now counts.
    sources
        .post("/api/leads/api/v1/activities/")
        .bearer(&owner)
        .json(
            json!({"lead": ids[0], "activity_type": "call", "title": "Intro call",
                     "description": "Talked budgets"}),
        )
        .send()
        .await
        .expect(201);
    assert_eq!(l.run_worker().await, 1);
    let engaged = l.lead(&owner, &ids[0]).await;
    assert_eq!(engaged["activity_count"], 1);
    assert!(
        factor(&engaged, "engagement")["points"].as_u64().unwrap() > 0,
        "{engaged}"
    );
    assert!(engaged["score"].as_u64() > first["score"].as_u64());

    // Two of the source's five leads convert: its real rate (0.4) scores the others.
    for id in &ids[3..] {
        l.actions
            .post(&format!("{LEADS}{id}/convert/"))
            .bearer(&owner)
            .send()
            .await
            .expect(200);
    }
    l.run_worker().await;
    let rescored = l
        .actions
        .post(&format!("{LEADS}{}/update-score/", ids[1]))
        .bearer(&owner)
        .send()
        .await
        .expect(200);
    let quality = rescored.body["score_factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["factor"] == "source_quality")
        .cloned()
        .unwrap();
    assert_eq!(quality["value"]["conversion_rate"], 0.4, "{quality}");
    assert_eq!(quality["points"], quality["max"], "{quality}");
}
