use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use crm_app::ai::AiAgentsClient;
use crm_domain::Role;
use crm_testkit::fixtures::id;
use crm_testkit::{paths, TestApp, TestQueues, TestStream};
use crm_worker::Worker;
use serde_json::{json, Value};

/// How the stand-in AI agents service behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    Answer,
    Fail,
    Hang,
}

/// A local AI agents service on a free port; returns its base URL and its call counter.
async fn ai_service(behaviour: Behaviour) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/api/v1/leads/insights",
        post(move |Json(request): Json<Value>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                match behaviour {
                    Behaviour::Answer => {
                        let name = request["lead"]["first_name"].as_str().unwrap_or("").to_string();
                        (
                            StatusCode::OK,
                            Json(json!({
                                "recommendations": [{"type": "demo", "message": format!("Book a demo with {name}"), "priority": "high"}],
                                "risk_factors": [],
                                "opportunities": [{"type": "upsell", "message": "Ask about the other teams"}],
                                "next_best_action": format!("Call {name} today"),
                            })),
                        )
                    }
                    Behaviour::Fail => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "boom"}))),
                    Behaviour::Hang => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        (StatusCode::OK, Json(json!({})))
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

struct Loop {
    leads: TestApp,
    actions: TestApp,
    queues: TestQueues,
    stream: TestStream,
}

async fn start() -> Loop {
    let queues = TestQueues::create().await;
    let leads = TestApp::start_with_queues(leads::app, &queues).await;
    let actions = leads.with_function(actions::app);
    let stream = TestStream::open(&leads).await;
    Loop {
        leads,
        actions,
        queues,
        stream,
    }
}

impl Loop {
    /// Feeds the table's stream to the changes worker (which sends the insight requests),
    /// then the insights queue to `worker`; the messages it received.
    async fn run_insights(&self, worker: &Worker) -> usize {
        self.stream.deliver_changes(&self.queues).await;
        self.queues
            .deliver(&self.queues.insights, |event| {
                insights::handle(worker, event)
            })
            .await
            .iter()
            .map(|r| r.received)
            .sum()
    }

    async fn lead(&self, token: &str) -> String {
        let grace = json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example",
                           "company": "Navy", "job_title": "Director"});
        id(&self.leads.create_lead(token, grace).await)
    }
}

fn client(url: &str, timeout: Duration) -> AiAgentsClient {
    AiAgentsClient::new(url, timeout, 1)
        .unwrap()
        .with_backoff(Duration::from_millis(10))
}

#[tokio::test]
async fn insights_are_queued_produced_by_the_ai_service_and_then_served() {
    let l = start().await;
    let (tenant, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let id = l.lead(&owner).await;
    let url = paths::lead_path(&id, "ai-insights");
    let (ai_url, calls) = ai_service(Behaviour::Answer).await;
    let worker = l
        .leads
        .worker(Some(client(&ai_url, Duration::from_secs(5))));

    let pending = l.actions.get(&url).bearer(&owner).send().await.expect(202);
    assert_eq!(pending.body["status"], "pending");
    assert_eq!(pending.header("retry-after"), Some("2"));
    assert_eq!(pending.body["previous"], Value::Null);
    // Polling again queues nothing more.
    let again = l.actions.get(&url).bearer(&owner).send().await.expect(202);
    assert_eq!(again.body["requested_at"], pending.body["requested_at"]);

    assert_eq!(l.run_insights(&worker).await, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let ready = l.actions.read(&url, &owner).await;
    assert_eq!(ready["generated_by"], "ai-agents");
    assert_eq!(ready["next_best_action"], "Call Grace today");
    assert_eq!(ready["recommendations"][0]["type"], "demo");
    // The breakdown is the lead's own score card: the worker scored the lead first.
    let lead = l.leads.lead(&owner, &id).await;
    assert_eq!(ready["score_breakdown"], lead["score_factors"]);
    assert_eq!(ready["lead_version"], lead["version"]);

    // A redelivered request is answered already: no second call to the service.
    insights::handle(
        &worker,
        crm_testkit::sqs_event(&[json!({
            "tenant_id": tenant.id.as_uuid(), "lead_id": id,
            "requested_at": pending.body["requested_at"], "force": false,
        })]),
    )
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // POST forces new insights even though these are fresh; the stale ones are shown meanwhile.
    let forced = l.actions.post(&url).bearer(&owner).send().await.expect(202);
    assert_eq!(forced.body["previous"]["generated_by"], "ai-agents");
    assert_eq!(l.run_insights(&worker).await, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let renewed = l.actions.read(&url, &owner).await;
    assert_ne!(renewed["generated_at"], ready["generated_at"]);
}

#[tokio::test]
async fn a_failing_or_silent_ai_service_gives_rule_based_insights() {
    let l = start().await;
    let (_, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    for (behaviour, timeout) in [
        (Behaviour::Fail, Duration::from_secs(5)),
        (Behaviour::Hang, Duration::from_millis(300)),
    ] {
        let id = l.lead(&owner).await;
        let url = paths::lead_path(&id, "ai-insights");
        let (ai_url, calls) = ai_service(behaviour).await;
        let worker = l.leads.worker(Some(client(&ai_url, timeout)));
        l.actions.get(&url).bearer(&owner).send().await.expect(202);
        assert_eq!(l.run_insights(&worker).await, 1);
        // One retry, then the rules.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let ready = l.actions.read(&url, &owner).await;
        assert_eq!(ready["generated_by"], "rules-v1");
        assert!(!ready["recommendations"].as_array().unwrap().is_empty());
        l.leads.delete_lead(&owner, &id).await;
    }
}

#[tokio::test]
async fn a_request_for_a_deleted_lead_is_done_and_leaves_nothing() {
    let l = start().await;
    let (tenant, owner) = l.leads.tenant_with("Acme", "owner", Role::Owner).await;
    let id = l.lead(&owner).await;
    l.actions
        .get(&paths::lead_path(&id, "ai-insights"))
        .bearer(&owner)
        .send()
        .await
        .expect(202);
    l.leads.delete_lead(&owner, &id).await;
    let worker = l.leads.worker(None);
    l.stream.deliver_changes(&l.queues).await;
    let rounds = l
        .queues
        .deliver(&l.queues.insights, |event| insights::handle(&worker, event))
        .await;
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0].deleted, 1);
    let stored = l
        .leads
        .state
        .store
        .lead_insights(tenant.id, id.parse().unwrap())
        .await
        .unwrap();
    assert!(stored.is_none(), "{stored:?}");
}
