//! A background rescore does not make a client's ETag stale: only changes to fields a
//! client writes do. Through the real leads and actions routers, the scoring queue (moto)
//! and the real worker.

use crm_domain::Role;
use crm_testkit::{paths, TestApp, TestQueues, TestStream};
use crm_worker::Worker;
use serde_json::{json, Value};

struct Loop {
    leads: TestApp,
    actions: TestApp,
    queues: TestQueues,
    stream: TestStream,
    worker: Worker,
}

impl Loop {
    async fn start() -> Self {
        let queues = TestQueues::create().await;
        let config = queues.configure(crm_testkit::test_config());
        let leads = TestApp::start_with(leads::app, config).await;
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

    /// Feeds the table's stream to the changes worker, then runs the scoring worker over
    /// everything waiting; the messages it received.
    async fn run_worker(&self) -> usize {
        self.stream.deliver_changes(&self.queues).await;
        let worker = &self.worker;
        self.queues
            .deliver(&self.queues.scoring, |event| scoring::handle(worker, event))
            .await
            .iter()
            .map(|r| r.received)
            .sum()
    }

    /// The lead's body and ETag.
    async fn read(&self, token: &str, id: &str) -> (Value, String) {
        let res = self
            .leads
            .get(&paths::lead(id))
            .bearer(token)
            .send()
            .await
            .expect(200);
        let etag = res.header("etag").expect("an ETag").to_string();
        (res.body, etag)
    }

    async fn patch(&self, token: &str, id: &str, etag: &str, body: Value) -> u16 {
        self.leads
            .patch(&paths::lead(id))
            .bearer(token)
            .header("If-Match", etag)
            .json(body)
            .send()
            .await
            .status
    }

    async fn create(&self, token: &str, body: Value) -> String {
        self.leads
            .post(paths::LEADS)
            .bearer(token)
            .json(body)
            .send()
            .await
            .expect(201)
            .body["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn ada() -> Value {
    json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example",
           "company": "Acme", "job_title": "CTO", "decision_maker": true})
}

#[tokio::test]
async fn a_background_rescore_keeps_the_clients_etag_valid() {
    let l = Loop::start().await;
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
    let id = l.create(&owner, ada()).await;
    let (_, etag) = l.read(&owner, &id).await;
    assert_eq!(etag, "\"1\"");

    // The worker scores the lead meanwhile: the stored lead moves on.
    assert_eq!(l.run_worker().await, 1);
    let (scored, _) = l.read(&owner, &id).await;
    assert!(scored["score"].as_u64().unwrap() > 0, "{scored}");

    // The client's edit with the ETag it read before the rescore goes through, keeps the
    // score, and is answered with a new ETag.
    assert_eq!(
        l.patch(&owner, &id, &etag, json!({"company_size": "enterprise"}))
            .await,
        200
    );
    let (edited, edited_etag) = l.read(&owner, &id).await;
    assert_eq!(edited["company_size"], "enterprise");
    assert_eq!(edited["score"], scored["score"]);
    assert_ne!(edited_etag, etag);

    // After that real change, the old ETag is stale: 412, nothing written.
    assert_eq!(
        l.patch(&owner, &id, &etag, json!({"phone": "2"})).await,
        412
    );
    assert_eq!(l.read(&owner, &id).await.0["phone"], Value::Null);

    // The company size is scored: the worker rescores again, and the ETag read before that still
    // holds, for edits, actions and deletes alike.
    assert_eq!(l.run_worker().await, 1);
    let (rescored, _) = l.read(&owner, &id).await;
    assert!(rescored["version"].as_u64() > edited["version"].as_u64());
    assert_eq!(
        l.patch(&owner, &id, &edited_etag, json!({"budget": "250000"}))
            .await,
        200
    );
    let (_, before_action) = l.read(&owner, &id).await;
    assert_eq!(l.run_worker().await, 1);
    l.actions
        .post(&paths::lead_path(&id, "mark-contacted"))
        .bearer(&owner)
        .header("If-Match", &before_action)
        .send()
        .await
        .expect(200);
    // The action changed the status, so the ETag read before it is stale for a delete.
    l.leads
        .delete(&paths::lead(&id))
        .bearer(&owner)
        .header("If-Match", &before_action)
        .send()
        .await
        .expect(412);
    let (_, current) = l.read(&owner, &id).await;
    l.run_worker().await;
    l.leads
        .delete(&paths::lead(&id))
        .bearer(&owner)
        .header("If-Match", &current)
        .send()
        .await
        .expect(204);
}

#[tokio::test]
async fn an_etag_from_before_a_users_change_is_stale_even_after_a_rescore() {
    let l = Loop::start().await;
    let tenant = l.leads.tenant("Acme").await;
    let owner = l.leads.token(&tenant, "owner", Role::Owner);
    let id = l.create(&owner, ada()).await;
    let (_, first) = l.read(&owner, &id).await;
    l.run_worker().await;

    // Another client changes a field, then the worker rescores: the first client's ETag
    // names content that is gone, whatever the system wrote since.
    let (_, second) = l.read(&owner, &id).await;
    assert_eq!(
        l.patch(
            &owner,
            &id,
            &second,
            json!({"company": "Initech", "company_size": "enterprise"})
        )
        .await,
        200
    );
    l.run_worker().await;
    assert_eq!(
        l.patch(&owner, &id, &first, json!({"notes": "x"})).await,
        412
    );
    assert_eq!(
        l.patch(&owner, &id, &second, json!({"notes": "x"})).await,
        412
    );
    let (lead, current) = l.read(&owner, &id).await;
    assert_eq!(lead["company"], "Initech");
    assert!(lead["score"].as_u64().unwrap() > 0, "{lead}");
    assert_eq!(lead["notes"], Value::Null);
    assert_eq!(
        l.patch(&owner, &id, &current, json!({"notes": "x"})).await,
        200
    );
}
