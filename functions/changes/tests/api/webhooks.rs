//! Webhook deliveries come from the table's stream: a subscription's events are queued by
//! the changes worker from committed changes (leads, new activities and notes), with the
//! same event ids when a batch is delivered again.

use crm_domain::Role;
use crm_testkit::fixtures::{id, john};
use crm_testkit::{TestApp, TestQueues, TestStream};
use serde_json::{json, Value};

const WEBHOOKS: &str = "/api/leads/api/v1/webhooks/";

/// The deliveries waiting on the webhooks queue, as (event type, event id).
async fn queued(queues: &TestQueues) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = queues
        .peek(&queues.webhooks.url)
        .await
        .iter()
        .map(|body| {
            let message: Value = serde_json::from_str(body).unwrap();
            (
                message["event_type"].as_str().unwrap().to_string(),
                message["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn committed_changes_become_webhook_deliveries_with_stable_event_ids() {
    let queues = TestQueues::create().await;
    let mut config = queues.configure(crm_testkit::test_config());
    // The receiver is on this machine.
    config.webhooks.allow_private = true;
    let leads = TestApp::start_with(leads::app, config).await;
    let resources = leads.with_function(sources::app);
    let stream = TestStream::open(&leads).await;
    let services = queues.changes_services(&leads.state.store);
    let (_, owner) = leads.tenant_with("Acme", "owner", Role::Owner).await;
    let (_, other) = leads.tenant_with("Other", "owner", Role::Owner).await;
    resources
        .create(
            WEBHOOKS,
            &owner,
            json!({
                "url": "http://127.0.0.1:9/hooks",
                "events": ["lead.created", "lead.status_changed", "activity.created", "note.created"],
            }),
        )
        .await;

    let lead = id(&leads.create_lead(&owner, john()).await);
    leads
        .update_lead(&owner, &lead, json!({"status": "qualified"}))
        .await;
    resources
        .create(
            "/api/leads/api/v1/notes/",
            &owner,
            json!({"lead": lead, "content": "Wants a demo"}),
        )
        .await;
    resources
        .create(
            "/api/leads/api/v1/activities/",
            &owner,
            json!({"lead": lead, "activity_type": "call", "title": "Intro call", "description": "Went well"}),
        )
        .await;
    // Another tenant's lead: no subscription there, no delivery.
    leads.create_lead(&other, john()).await;

    let start = stream.position().await;
    let rounds = stream
        .deliver(|event| changes::handle(&services, event))
        .await;
    assert!(rounds.iter().all(|r| r.failed.is_none()), "{rounds:?}");
    let first = queued(&queues).await;
    let types: Vec<&str> = first.iter().map(|(t, _)| t.as_str()).collect();
    // The status change logs an activity of its own, besides the call.
    assert_eq!(
        types,
        [
            "activity.created",
            "activity.created",
            "lead.created",
            "lead.status_changed",
            "note.created"
        ],
        "{first:?}"
    );

    // The same records again (a retried batch): the same event ids, so a receiver drops them.
    stream.rewind(start).await;
    stream
        .deliver(|event| changes::handle(&services, event))
        .await;
    let twice = queued(&queues).await;
    assert_eq!(twice.len(), 2 * first.len());
    for (kind, event_id) in &first {
        let copies = twice
            .iter()
            .filter(|(t, e)| t == kind && e == event_id)
            .count();
        assert_eq!(copies, 2, "{kind} {event_id}");
    }
}
