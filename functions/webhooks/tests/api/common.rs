//! The receiver, the apps and the worker the tests share.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use crm_app::webhooks::WebhookSettings;
use crm_domain::events::{lead_events, Change, ChangeEvent};
use crm_domain::lead::Lead;
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use crm_testkit::{test_config, TestApp, TestQueues};
use crm_worker::Worker;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

pub const WEBHOOKS: &str = "/api/leads/api/v1/webhooks";

pub fn webhook(id: &str) -> String {
    format!("{WEBHOOKS}/{id}/")
}

/// What the receiver got: the signature header and the raw body of each request.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// A receiver on 127.0.0.1: answers with the scripted statuses in turn (then 200) and
/// records what it got.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
    pub url: String,
}

impl Receiver {
    pub async fn start(answers: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut receiver = Receiver {
            answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
            ..Default::default()
        };
        receiver.url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        receiver
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    r.got.lock().unwrap().push(Received {
        signature: headers
            .get("x-crm-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body,
    });
    let status = r.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

/// The receiver's own check of `X-CRM-Signature: t=<unix>,v1=<hex>`, written from the
/// documentation (not with the service's code): HMAC-SHA256 over `"<t>.<body>"` keyed
/// with the secret, hex-encoded, and `t` within five minutes.
pub fn signature_is_valid(header: &str, body: &str, secret: &str) -> bool {
    let mut t = "";
    let mut v1 = "";
    for part in header.split(',') {
        if let Some(v) = part.strip_prefix("t=") {
            t = v;
        } else if let Some(v) = part.strip_prefix("v1=") {
            v1 = v;
        }
    }
    let Ok(at) = t.parse::<i64>() else {
        return false;
    };
    if (Utc::now().timestamp() - at).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// The sources function (webhook routes) with private targets allowed, the leads function
/// beside it, the queues, and the worker with no backoff.
pub struct World {
    pub app: TestApp,
    pub leads: TestApp,
    pub queues: TestQueues,
    pub worker: Worker,
    pub tenant: Tenant,
    pub owner: String,
}

pub fn local_settings() -> WebhookSettings {
    WebhookSettings {
        allow_private: true,
        retry_base_seconds: 0,
        ..WebhookSettings::default()
    }
}

impl World {
    pub async fn start() -> Self {
        let queues = TestQueues::create().await;
        let mut config = test_config();
        config.webhooks = local_settings();
        let app = TestApp::start_with(sources::app, config).await;
        let leads = app.with_function(leads::app);
        let worker = app
            .worker(None)
            .with_webhooks(queues.webhook_queues(local_settings()));
        let (tenant, owner) = app.tenant_with("Hooks Co", "owner-1", Role::Owner).await;
        World {
            app,
            leads,
            queues,
            worker,
            tenant,
            owner,
        }
    }

    /// Subscribes `receiver` to `events` (and `fields`); returns the 201's body.
    pub async fn subscribe(&self, receiver: &Receiver, events: &[&str], fields: &[&str]) -> Value {
        self.app
            .create(
                WEBHOOKS,
                &self.owner,
                json!({"url": receiver.url, "events": events, "fields": fields}),
            )
            .await
    }

    /// Runs the worker until the webhooks queue is empty; returns the messages handled.
    pub async fn deliver(&self) -> usize {
        let worker = &self.worker;
        self.queues
            .deliver(&self.queues.webhooks, |event| {
                webhooks::handle(worker, event)
            })
            .await
            .iter()
            .map(|r| r.received)
            .sum()
    }

    /// The lead as stored (an old or new image of a change).
    pub async fn stored(&self, id: &str) -> Option<Lead> {
        self.app
            .state
            .store
            .get_lead(self.tenant.id, id.parse().unwrap())
            .await
            .unwrap()
    }

    /// The events of a lead change, as the stream worker derives them from its images.
    pub fn lead_change(
        &self,
        change_id: &str,
        old: Option<&Lead>,
        new: Option<&Lead>,
    ) -> Vec<ChangeEvent> {
        let change = Change {
            id: change_id,
            occurred_at: Utc::now(),
            tenant: self.tenant.id,
        };
        lead_events(&change, old, new)
    }

    /// Dispatches as the stream worker does, onto this test's webhooks queue.
    pub async fn dispatch(&self, events: &[ChangeEvent]) -> usize {
        let queues = self.queues.webhook_queues(local_settings());
        crm_app::webhooks::dispatch(&self.app.state.store, &queues, events)
            .await
            .expect("dispatch")
    }
}
