//! Deliveries: events of real lead changes, signed and delivered by the worker; the field
//! filter, retries with the log of every attempt, redeliver, test, the SSRF check at
//! delivery time, and stable event ids.

use crm_app::webhooks::{Deliverer, DeliveryRequest, DeliveryWorker, Handled, WebhookSettings};
use crm_testkit::fixtures::{id, john};
use serde_json::{json, Value};

use crate::common::*;

fn types(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn subscribed_events_of_real_lead_changes_arrive_signed() {
    let w = World::start().await;
    let all = Receiver::start(&[]).await;
    let status_only = Receiver::start(&[]).await;
    let secret = w
        .subscribe(
            &all,
            &[
                "lead.created",
                "lead.updated",
                "lead.status_changed",
                "lead.deleted",
            ],
            &[],
        )
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let filtered_secret = w
        .subscribe(&status_only, &["lead.updated"], &["status"])
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();

    // Created through the leads function; the change's images read from the table.
    let lead = w.leads.create_lead(&w.owner, john()).await;
    let lead_id = id(&lead);
    let created = w.stored(&lead_id).await.unwrap();
    assert_eq!(
        w.dispatch(&w.lead_change("rec-1", None, Some(&created)))
            .await,
        1
    );
    // A phone change: lead.updated, which the status filter holds back.
    w.leads
        .update_lead(&w.owner, &lead_id, json!({"phone": "+1 555 0199"}))
        .await;
    let phoned = w.stored(&lead_id).await.unwrap();
    assert_eq!(
        w.dispatch(&w.lead_change("rec-2", Some(&created), Some(&phoned)))
            .await,
        1
    );
    // A status change: lead.updated and lead.status_changed; both subscriptions.
    w.leads
        .update_lead(&w.owner, &lead_id, json!({"status": "qualified"}))
        .await;
    let qualified = w.stored(&lead_id).await.unwrap();
    assert_eq!(
        w.dispatch(&w.lead_change("rec-3", Some(&phoned), Some(&qualified)))
            .await,
        3
    );
    w.leads.delete_lead(&w.owner, &lead_id).await;
    assert_eq!(
        w.dispatch(&w.lead_change("rec-4", Some(&qualified), None))
            .await,
        1
    );
    assert_eq!(w.deliver().await, 6);

    let got = all.received();
    let mut kinds = types(&got);
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            "lead.created",
            "lead.deleted",
            "lead.status_changed",
            "lead.updated",
            "lead.updated"
        ]
    );
    for r in &got {
        assert!(signature_is_valid(&r.signature, &r.body, &secret), "{r:?}");
        assert!(!signature_is_valid(&r.signature, &r.body, &filtered_secret));
        let body = r.json();
        assert_eq!(body["tenant_id"], w.tenant.id.to_string());
        assert_eq!(body["data"]["id"], lead_id);
        assert!(body["id"].as_str().unwrap().starts_with("evt_"));
        assert!(body["occurred_at"].is_string());
    }
    let status_change = got
        .iter()
        .map(Received::json)
        .find(|b| b["type"] == "lead.status_changed")
        .unwrap();
    assert_eq!(
        status_change["changes"],
        json!({"status": {"old": "new", "new": "qualified"}})
    );
    let phone_change = got
        .iter()
        .map(Received::json)
        .find(|b| b["type"] == "lead.updated" && b["changes"].get("phone").is_some())
        .unwrap();
    assert_eq!(phone_change["changes"]["phone"]["new"], "+1 555 0199");
    assert_eq!(phone_change["data"]["phone"], "+1 555 0199");

    // The filtered subscription got the status change's lead.updated only.
    let filtered = status_only.received();
    assert_eq!(types(&filtered), vec!["lead.updated"]);
    assert!(filtered[0].json()["changes"].get("status").is_some());
    assert!(signature_is_valid(
        &filtered[0].signature,
        &filtered[0].body,
        &filtered_secret
    ));
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_the_log_shows_both_attempts() {
    let w = World::start().await;
    let receiver = Receiver::start(&[500]).await;
    let hook = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let lead = w.leads.create_lead(&w.owner, john()).await;
    let created = w.stored(&id(&lead)).await.unwrap();
    w.dispatch(&w.lead_change("rec-1", None, Some(&created)))
        .await;
    assert_eq!(w.deliver().await, 2, "the first try and its retry");

    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body, "the same event, byte for byte");
    let log = w
        .app
        .read(&format!("{}deliveries/", webhook(&id(&hook))), &w.owner)
        .await;
    let rows = log["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{log}");
    // Newest first.
    assert_eq!(rows[0]["attempt"], 2);
    assert_eq!(rows[0]["status_code"], 200);
    assert_eq!(rows[0]["success"], true);
    assert_eq!(rows[0]["trigger"], "retry");
    assert_eq!(rows[1]["attempt"], 1);
    assert_eq!(rows[1]["status_code"], 500);
    assert_eq!(rows[1]["success"], false);
    assert!(rows[1]["error"].as_str().unwrap().contains("500"));
    for row in rows {
        assert_eq!(row["event_type"], "lead.created");
        assert!(row["latency_ms"].is_u64());
        assert!(row["delivered_at"].is_string());
        assert!(row.get("payload").is_none());
    }
    // The failure started the subscription's failure clock; the success stopped it.
    let detail = w.app.read(&webhook(&id(&hook)), &w.owner).await;
    assert_eq!(detail["failing_since"], Value::Null);
    assert_eq!(detail["is_active"], true);

    // Pages follow the log, newest first.
    let first = w
        .app
        .get(&format!("{}deliveries/?page_size=1", webhook(&id(&hook))))
        .bearer(&w.owner)
        .send()
        .await
        .expect(200);
    assert_eq!(first.body["results"][0]["attempt"], 2);
    let next = first.link("next").expect("a next page");
    let second = w.app.read(&next, &w.owner).await;
    assert_eq!(second["results"][0]["attempt"], 1);
    assert_eq!(second["next"], Value::Null);
}

#[tokio::test]
async fn redeliver_and_test_send_now_and_are_logged() {
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let hook = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let path = webhook(&id(&hook));

    let tested = w
        .app
        .post(&format!("{path}test/"))
        .bearer(&w.owner)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(tested["trigger"], "test");
    assert_eq!(tested["success"], true);
    assert_eq!(tested["event_type"], "webhook.test");
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(signature_is_valid(&got[0].signature, &got[0].body, &secret));
    assert_eq!(got[0].json()["type"], "webhook.test");

    let lead = w.leads.create_lead(&w.owner, john()).await;
    let created = w.stored(&id(&lead)).await.unwrap();
    w.dispatch(&w.lead_change("rec-1", None, Some(&created)))
        .await;
    w.deliver().await;
    let log = w.app.read(&format!("{path}deliveries/"), &w.owner).await;
    let delivered = log["results"][0].clone();
    assert_eq!(delivered["trigger"], "event");

    let again = w
        .app
        .post(&format!("{path}deliveries/{}/redeliver/", id(&delivered)))
        .bearer(&w.owner)
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(again["trigger"], "redeliver");
    assert_eq!(again["event_id"], delivered["event_id"]);
    assert_ne!(again["id"], delivered["id"]);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].body, got[2].body, "the same event again");
    assert!(signature_is_valid(&got[2].signature, &got[2].body, &secret));
    let log = w.app.read(&format!("{path}deliveries/"), &w.owner).await;
    assert_eq!(log["results"].as_array().unwrap().len(), 3);

    // A delivery id that is not this subscription's.
    w.app
        .expect_json_404(
            "POST",
            &format!("{path}deliveries/{}/redeliver/", uuid::Uuid::new_v4()),
            &w.owner,
        )
        .await;
    w.app
        .expect_json_404(
            "POST",
            &format!("{path}deliveries/not-an-id/redeliver/"),
            &w.owner,
        )
        .await;
}

#[tokio::test]
async fn a_private_target_is_refused_at_delivery_time_when_not_allowed() {
    // Subscribed where private targets are allowed; delivered by a worker where they are
    // not (as if the address had changed since).
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let hook = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let strict = DeliveryWorker {
        deliverer: Deliverer::new(w.app.state.store.clone(), WebhookSettings::default()),
        queues: None,
    };
    let request = DeliveryRequest {
        tenant_id: w.tenant.id.as_uuid(),
        webhook_id: id(&hook).parse().unwrap(),
        event_id: "evt_x".into(),
        event_type: "lead.created".into(),
        payload: "{}".into(),
        attempt: 1,
        first_attempt_at: None,
    };
    assert!(strict.handle(request).await.is_err(), "reported failed");
    assert!(receiver.received().is_empty(), "never called");
    let log = w
        .app
        .read(&format!("{}deliveries/", webhook(&id(&hook))), &w.owner)
        .await;
    let row = &log["results"][0];
    assert_eq!(row["success"], false);
    assert_eq!(row["status_code"], Value::Null);
    let error = row["error"].as_str().unwrap();
    assert!(
        error.contains("Not delivered") && error.contains("https"),
        "{error}"
    );
    let detail = w.app.read(&webhook(&id(&hook)), &w.owner).await;
    assert!(detail["failing_since"].is_string());
}

#[tokio::test]
async fn the_same_change_dispatched_twice_carries_one_event_id() {
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    w.subscribe(&receiver, &["lead.created"], &[]).await;
    let lead = w.leads.create_lead(&w.owner, john()).await;
    let created = w.stored(&id(&lead)).await.unwrap();
    // The stream delivers the same record again: the events are derived afresh.
    w.dispatch(&w.lead_change(
        "shard-1:49590338271490256608559692538361571095921575989136588898",
        None,
        Some(&created),
    ))
    .await;
    w.dispatch(&w.lead_change(
        "shard-1:49590338271490256608559692538361571095921575989136588898",
        None,
        Some(&created),
    ))
    .await;
    w.deliver().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].json()["id"], got[1].json()["id"]);
    // Another change of the same lead is another event.
    w.dispatch(&w.lead_change("shard-1:2", None, Some(&created)))
        .await;
    w.deliver().await;
    let got = receiver.received();
    assert_ne!(got[2].json()["id"], got[0].json()["id"]);
}

#[tokio::test]
async fn inactive_subscriptions_get_nothing() {
    let w = World::start().await;
    let receiver = Receiver::start(&[]).await;
    let hook = w.subscribe(&receiver, &["lead.created"], &[]).await;
    w.app
        .patch(&webhook(&id(&hook)))
        .bearer(&w.owner)
        .json(json!({"is_active": false}))
        .send()
        .await
        .expect(200);
    let lead = w.leads.create_lead(&w.owner, john()).await;
    let created = w.stored(&id(&lead)).await.unwrap();
    assert_eq!(
        w.dispatch(&w.lead_change("rec-1", None, Some(&created)))
            .await,
        0
    );
}

/// A queued delivery of `event_type` to `hook`, as dispatch makes it.
fn request(
    w: &World,
    hook: &Value,
    first_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
) -> DeliveryRequest {
    DeliveryRequest {
        tenant_id: w.tenant.id.as_uuid(),
        webhook_id: id(hook).parse().unwrap(),
        event_id: "evt_1".into(),
        event_type: "lead.created".into(),
        payload: "{\"id\":\"evt_1\"}".into(),
        attempt: 3,
        first_attempt_at,
    }
}

fn worker_of(w: &World) -> DeliveryWorker {
    DeliveryWorker {
        deliverer: Deliverer::new(w.app.state.store.clone(), local_settings()),
        queues: Some(w.queues.webhook_queues(local_settings())),
    }
}

#[tokio::test]
async fn after_24_hours_of_failures_a_delivery_goes_to_the_dead_letter_queue() {
    let w = World::start().await;
    let receiver = Receiver::start(&[503]).await;
    let hook = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let day_ago = chrono::Utc::now() - chrono::Duration::hours(25);
    let handled = worker_of(&w)
        .handle(request(&w, &hook, Some(day_ago)))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::GaveUp(_)), "{handled:?}");
    assert!(
        w.queues.peek(&w.queues.webhooks.url).await.is_empty(),
        "no retry"
    );
    let dead = w.queues.peek(&w.queues.webhooks.dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].contains("evt_1"));
    // Within the 24 hours, the next attempt is queued instead.
    let handled = worker_of(&w)
        .handle(request(&w, &hook, Some(chrono::Utc::now())))
        .await
        .unwrap();
    assert!(
        matches!(handled, Handled::Delivered(_)),
        "the receiver answers 200 now: {handled:?}"
    );
}

#[tokio::test]
async fn a_subscription_failing_for_3_days_is_deactivated_and_says_so() {
    let w = World::start().await;
    let receiver = Receiver::start(&[500, 500]).await;
    let hook = w.subscribe(&receiver, &["lead.created"], &[]).await;
    let store = &w.app.state.store;
    let webhook_id = id(&hook).parse().unwrap();
    // A failure now starts the clock; the subscription stays active.
    let handled = worker_of(&w)
        .handle(request(&w, &hook, Some(chrono::Utc::now())))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Retrying { .. }), "{handled:?}");
    let before: crm_app::webhooks::Webhook = store
        .get_record(w.tenant.id, webhook_id)
        .await
        .unwrap()
        .unwrap();
    assert!(before.is_active && before.failing_since.is_some());
    // As if it had been failing for more than 3 days.
    let mut old = before.clone();
    old.failing_since =
        Some(chrono::Utc::now() - chrono::Duration::days(3) - chrono::Duration::minutes(1));
    old.version += 1;
    let setup = crm_testkit::fixtures::setup_entry(crm_store::ResourceType::Webhook, old.id);
    store.update_record(&before, &old, &setup).await.unwrap();

    let handled = worker_of(&w)
        .handle(request(&w, &hook, Some(chrono::Utc::now())))
        .await
        .unwrap();
    let Handled::GaveUp(attempted) = handled else {
        panic!("a deactivated subscription gets no retry: {handled:?}")
    };
    let deactivated = attempted
        .deactivated
        .expect("the deactivation, for the audit log");
    assert_eq!(deactivated.id, webhook_id);
    let detail = w.app.read(&webhook(&id(&hook)), &w.owner).await;
    assert_eq!(detail["is_active"], false);
    assert!(detail["deactivated_reason"]
        .as_str()
        .unwrap()
        .contains("3 days"));
    // The audit log says who turned it off and what changed (written with the change).
    let entries = store.resource_audit(w.tenant.id, webhook_id).await.unwrap();
    let off = entries
        .iter()
        .find(|e| e.action == crm_store::AuditAction::Deactivate)
        .expect("a deactivate entry");
    assert_eq!(off.actor, "system:webhooks");
    assert_eq!(off.resource_type, crm_store::ResourceType::Webhook);
    assert_eq!(off.changes["is_active"], json!({"old": true, "new": false}));
    // Inactive: nothing more is sent.
    let handled = worker_of(&w)
        .handle(request(&w, &hook, Some(chrono::Utc::now())))
        .await
        .unwrap();
    assert!(matches!(handled, Handled::Skipped));
    assert_eq!(receiver.received().len(), 2);
    // Turned back on by an admin: the clock starts afresh.
    let on = w
        .app
        .patch(&webhook(&id(&hook)))
        .bearer(&w.owner)
        .json(json!({"is_active": true}))
        .send()
        .await
        .expect(200)
        .body;
    assert_eq!(on["failing_since"], Value::Null);
    assert_eq!(on["deactivated_reason"], Value::Null);
}
