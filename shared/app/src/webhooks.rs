//! Webhooks: subscriptions on the generic resource lifecycle, the producer that turns
//! change events into queued deliveries ([`dispatch`]), and one delivery attempt as the
//! worker, redeliver and test make it ([`Deliverer`]).
//!
//! Targets are guarded against SSRF: unless private targets are allowed (the local stack
//! and tests), a URL must be https and its host must resolve only to public addresses,
//! checked when the subscription is written and again before every delivery, and the
//! request connects to the address that was checked (so a DNS answer that changes between
//! the check and the connection cannot slip past). Redirects are not followed.

pub use crm_domain::webhooks::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::queue::Queues;
use crate::resource::{self, Ctx, Resource};
use crm_domain::audit::{self, AuditAction, AuditEntry, Provenance, ResourceType};
use crm_domain::cursor::Page;
use crm_domain::events::{test_event, ChangeEvent};
use crm_domain::identity::{Caller, Role};
use crm_domain::query::QueryParams;
use crm_domain::record::Record;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{Conflict, Store, StoreError};

/// How deliveries behave; the same for the API (create checks, redeliver, test) and the
/// worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `WEBHOOK_ALLOW_PRIVATE=true`: http and loopback, private and link-local targets
    /// are allowed (the local stack and tests only).
    pub allow_private: bool,
    /// The first retry's delay; each later one doubles it, up to SQS's 900 s
    /// (`WEBHOOK_RETRY_BASE_SECONDS`, default 30; tests use 0).
    pub retry_base_seconds: u32,
    /// A receiver's time to answer.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_base_seconds: 30,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Admins and owners manage and read subscriptions; a tenant has at most
/// [`MAX_SUBSCRIPTIONS`].
impl Resource for Webhook {
    type Input = WebhookInput;

    const WRITER: Option<Role> = Some(Role::Admin);

    fn may_read(caller: &Caller) -> Result<(), Error> {
        caller.require(Role::Admin)
    }

    /// The signing secret, this once: it is generated in [`Resource::blank`], so the
    /// created record carries it.
    fn created_json(&self) -> serde_json::Value {
        self.json_with_secret()
    }

    fn blank(caller: &Caller, _: &WebhookInput, now: DateTime<Utc>) -> Self {
        Webhook {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            version: 1,
            url: String::new(),
            events: Vec::new(),
            fields: Vec::new(),
            is_active: true,
            description: None,
            signing_secret: new_secret(),
            failing_since: None,
            deactivated_reason: None,
            created_by: caller.user_id.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    async fn check_create(
        ctx: Ctx<'_>,
        caller: &Caller,
        input: &WebhookInput,
    ) -> Result<(), Error> {
        if ctx.store.webhooks(caller.tenant).await?.len() >= MAX_SUBSCRIPTIONS {
            return Err(Error::BadRequest(format!(
                "A tenant may have at most {MAX_SUBSCRIPTIONS} webhook subscriptions."
            )));
        }
        check_target_input(ctx, input).await
    }

    async fn check_update(
        ctx: Ctx<'_>,
        _: &Caller,
        _: &Self,
        input: &WebhookInput,
    ) -> Result<(), Error> {
        check_target_input(ctx, input).await
    }

    async fn list(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Self>, Error> {
        resource::list_by_key(ctx, caller, query, "webhooks").await
    }
}

async fn check_target_input(ctx: Ctx<'_>, input: &WebhookInput) -> Result<(), Error> {
    let Some(url) = &input.url else {
        return Ok(());
    };
    resolve_target(url, ctx.queues.webhook_settings().allow_private)
        .await
        .map(|_| ())
        .map_err(|e| Error::field("url", e))
}

/// Where a delivery connects: the URL, and for a checked host, the address to use.
struct Target {
    url: url::Url,
    pinned: Option<(String, SocketAddr)>,
}

/// Checks a target URL and resolves its host; every address it resolves to must be
/// public unless private targets are allowed.
async fn resolve_target(url: &str, allow_private: bool) -> Result<Target, String> {
    let url = check_url(url, allow_private)?;
    if allow_private {
        return Ok(Target { url, pinned: None });
    }
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((lookup.as_str(), port))
        .await
        .map_err(|_| "The URL's host could not be resolved.".to_string())?
        .collect();
    if let Some(reason) = addresses.iter().find_map(|a| forbidden_address(a.ip())) {
        return Err(refused(reason));
    }
    let first = addresses
        .first()
        .copied()
        .ok_or_else(|| "The URL's host could not be resolved.".to_string())?;
    Ok(Target {
        url,
        pinned: Some((host, first)),
    })
}

/// "Deliver this event to this subscription": a queue message of the `webhooks` queue.
/// The body is kept as sent, so every attempt signs and sends the same bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRequest {
    pub tenant_id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// 1 for the first try; each retry's message carries the next number.
    pub attempt: u32,
    /// When the first attempt was made (retries stop 24 hours after it).
    pub first_attempt_at: Option<DateTime<Utc>>,
}

impl DeliveryRequest {
    /// The tenant of a queued request: only the service writes to this queue, from
    /// committed changes of that tenant.
    pub fn tenant(&self) -> TenantId {
        TenantId::from_uuid(self.tenant_id)
    }
}

/// Queues one delivery per (active subscription, event) that wants it, in batches. The
/// events may be of several tenants. Returns how many deliveries were queued; `Err` when
/// some could not be queued (the caller retries its batch: event ids are stable, so a
/// receiver drops what it already has).
pub async fn dispatch(
    store: &Store,
    queues: &Queues,
    events: &[ChangeEvent],
) -> Result<usize, Error> {
    let mut requests = Vec::new();
    let mut tenants: Vec<TenantId> = events.iter().map(|e| e.tenant_id).collect();
    tenants.sort_by_key(|t| t.as_uuid());
    tenants.dedup();
    for tenant in tenants {
        let subscriptions = subscriptions(store, tenant).await?;
        for event in events.iter().filter(|e| e.tenant_id == tenant) {
            let matching = subscriptions
                .iter()
                .filter(|w| w.wants(&event.kind, event.changed_fields()));
            for webhook in matching {
                requests.push(DeliveryRequest {
                    tenant_id: tenant.as_uuid(),
                    webhook_id: webhook.id,
                    event_id: event.id.clone(),
                    event_type: event.kind.clone(),
                    payload: event.body(),
                    attempt: 1,
                    first_attempt_at: None,
                });
            }
        }
    }
    if !requests.is_empty() && !queues.webhooks_enabled() {
        return Err(Error::Unavailable(
            "webhook deliveries cannot be queued: WEBHOOKS_QUEUE_URL is not set".into(),
        ));
    }
    let failed = queues.request_deliveries(&requests, 0).await;
    if failed > 0 {
        return Err(Error::Unavailable(format!(
            "{failed} of {} webhook deliveries could not be queued",
            requests.len()
        )));
    }
    Ok(requests.len())
}

/// How long a warm instance reuses a tenant's subscriptions for dispatching. A change to a
/// subscription reaches dispatch within this; the worker reads the subscription itself
/// before each delivery, so a deactivated or deleted one is never called.
const SUBSCRIPTIONS_CACHED_FOR: Duration = Duration::from_secs(5);

type SubscriptionCache = HashMap<TenantId, (Instant, Vec<Webhook>)>;

static SUBSCRIPTIONS: OnceLock<Mutex<SubscriptionCache>> = OnceLock::new();

/// The tenant's subscriptions, from this instance's cache while fresh (one Query else).
async fn subscriptions(store: &Store, tenant: TenantId) -> Result<Vec<Webhook>, Error> {
    let cache = SUBSCRIPTIONS.get_or_init(Mutex::default);
    let fresh = |(at, _): &&(Instant, Vec<Webhook>)| at.elapsed() < SUBSCRIPTIONS_CACHED_FOR;
    if let Ok(cached) = cache.lock() {
        if let Some((_, hooks)) = cached.get(&tenant).filter(fresh) {
            return Ok(hooks.clone());
        }
    }
    let hooks = store.webhooks(tenant).await?;
    if let Ok(mut cached) = cache.lock() {
        cached.retain(|_, entry| fresh(&&*entry));
        cached.insert(tenant, (Instant::now(), hooks.clone()));
    }
    Ok(hooks)
}

/// What one attempt came to, for the caller: the logged delivery, and the subscription
/// if this failure deactivated it (for the audit log: "deactivated after 3 days of
/// failures").
#[derive(Clone, Debug)]
pub struct Attempted {
    pub delivery: Delivery,
    pub deactivated: Option<Webhook>,
}

/// Makes delivery attempts and keeps the log and the subscription's failure state.
#[derive(Clone)]
pub struct Deliverer {
    pub store: Store,
    pub settings: WebhookSettings,
}

impl Deliverer {
    pub fn new(store: Store, settings: WebhookSettings) -> Self {
        Self { store, settings }
    }

    /// One attempt: checks the target again, POSTs the signed payload, logs the
    /// delivery and updates the subscription's failure state.
    pub async fn attempt(
        &self,
        webhook: &Webhook,
        request: &DeliveryRequest,
        trigger: &str,
    ) -> Result<Attempted, Error> {
        let now = Utc::now();
        let started = Instant::now();
        let (status_code, error, response) = self.post(webhook, &request.payload, now).await;
        let success = status_code.is_some_and(|c| (200..300).contains(&c));
        let delivery = Delivery {
            id: new_delivery_id(now),
            tenant_id: webhook.tenant_id,
            webhook_id: webhook.id,
            event_id: request.event_id.clone(),
            event_type: request.event_type.clone(),
            attempt: request.attempt,
            success,
            status_code,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            error: if success {
                None
            } else {
                Some(error.unwrap_or_else(|| {
                    format!("The receiver answered {}.", status_code.unwrap_or_default())
                }))
            },
            response_excerpt: response,
            delivered_at: now,
            payload: request.payload.clone(),
            trigger: trigger.to_string(),
        };
        self.store.put_delivery(&delivery).await?;
        let deactivated = self.track_failures(webhook, success, now).await?;
        tracing::info!(
            webhook_id = %webhook.id,
            event_id = %delivery.event_id,
            attempt = delivery.attempt,
            success,
            status_code = ?status_code,
            "webhook delivery attempted"
        );
        Ok(Attempted {
            delivery,
            deactivated,
        })
    }

    /// `(status, error, start of the answer)` of one POST; never the secret in errors.
    async fn post(
        &self,
        webhook: &Webhook,
        payload: &str,
        now: DateTime<Utc>,
    ) -> (Option<u16>, Option<String>, Option<String>) {
        let target = match resolve_target(&webhook.url, self.settings.allow_private).await {
            Ok(target) => target,
            Err(refusal) => return (None, Some(format!("Not delivered: {refusal}")), None),
        };
        let mut client = reqwest::Client::builder()
            .timeout(self.settings.timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some((host, address)) = &target.pinned {
            client = client.resolve(host, *address);
        }
        let client = match client.build() {
            Ok(client) => client,
            Err(e) => return (None, Some(format!("HTTP client: {e}")), None),
        };
        let sent = client
            .post(target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "crm-webhooks/1")
            .header(
                SIGNATURE_HEADER,
                sign(&webhook.signing_secret, now.timestamp(), payload),
            )
            .body(payload.to_string())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = answer_start(response).await;
                (Some(status), None, Some(text).filter(|t| !t.is_empty()))
            }
            Err(e) if e.is_timeout() => (
                None,
                Some("The receiver did not answer within 10 s.".into()),
                None,
            ),
            Err(e) if e.is_connect() => (
                None,
                Some("Could not connect to the receiver.".into()),
                None,
            ),
            Err(_) => (
                None,
                Some("The request to the receiver failed.".into()),
                None,
            ),
        }
    }

    /// A success clears `failing_since`; a failure sets it if unset, and deactivates the
    /// subscription once it has failed for [`DEACTIVATE_AFTER_DAYS`] without a success.
    /// Returns the subscription this deactivated.
    async fn track_failures(
        &self,
        webhook: &Webhook,
        success: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Webhook>, Error> {
        let tenant = webhook.tenant_id;
        for _ in 0..3 {
            let Some(before) = self.store.get_record::<Webhook>(tenant, webhook.id).await? else {
                return Ok(None);
            };
            let mut after = before.clone();
            let mut deactivated = false;
            if success {
                after.failing_since = None;
            } else {
                after.failing_since.get_or_insert(now);
                if after.is_active && after.failing_too_long(now) {
                    after.is_active = false;
                    after.deactivated_reason = Some(format!(
                        "Deliveries failed for {DEACTIVATE_AFTER_DAYS} days without a success."
                    ));
                    deactivated = true;
                }
            }
            if after == before {
                return Ok(None);
            }
            after.updated_at = now;
            after.set_version(before.version() + 1);
            let audit = self
                .failure_state_entry(&before, &after, deactivated, now)
                .await?;
            match self.store.update_record(&before, &after, &audit).await {
                Ok(()) => return Ok(deactivated.then_some(after)),
                Err(StoreError::Conflict(Conflict::Version)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// The audit entry of the service's own change to a subscription's failure state: a
    /// `deactivate` when it switches the subscription off, else an `update` (the failing
    /// clock started or stopped). Kept as long as the tenant's plan keeps entries.
    async fn failure_state_entry(
        &self,
        before: &Webhook,
        after: &Webhook,
        deactivated: bool,
        now: DateTime<Utc>,
    ) -> Result<AuditEntry, Error> {
        let retention_days = match self.store.get_tenant(before.tenant_id).await? {
            Some(tenant) => tenant.limits().audit_retention_days,
            None => crm_domain::plan::Tier::Free.limits().audit_retention_days,
        };
        let action = if deactivated {
            AuditAction::Deactivate
        } else {
            AuditAction::Update
        };
        let changes = audit::diff(
            Some(&before.json()),
            Some(&after.json()),
            audit::BOOKKEEPING,
        );
        Ok(AuditEntry::new(
            Provenance::system(WEBHOOKS_ACTOR, retention_days),
            ResourceType::Webhook,
            after.id,
            action,
            now,
            changes,
        ))
    }
}

/// The actor of the service's own writes to subscriptions (their failure state).
pub const WEBHOOKS_ACTOR: &str = "system:webhooks";

/// The start of a receiver's answer: read only until [`RESPONSE_EXCERPT_MAX`] bytes, so a
/// receiver cannot make the worker hold a large body.
async fn answer_start(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < RESPONSE_EXCERPT_MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt(&String::from_utf8_lossy(&bytes))
}

/// The worker's side: one queued delivery, and what follows a failure.
#[derive(Clone)]
pub struct DeliveryWorker {
    pub deliverer: Deliverer,
    /// Where retries are queued; without it a failure is an `Err` (SQS redelivers).
    pub queues: Option<Queues>,
}

/// What a queued delivery came to.
#[derive(Debug)]
pub enum Handled {
    /// The subscription is gone or inactive: nothing sent.
    Skipped,
    Delivered(Attempted),
    /// Failed; the next attempt is queued after `delay_seconds`.
    Retrying {
        attempted: Attempted,
        delay_seconds: u32,
    },
    /// Failed for 24 hours: the request went to the dead-letter queue.
    GaveUp(Attempted),
}

impl DeliveryWorker {
    /// Handles one queued delivery. `Err` only when the attempt's outcome could not be
    /// recorded or its retry could not be queued: SQS then delivers the message again.
    pub async fn handle(&self, request: DeliveryRequest) -> Result<Handled, Error> {
        let store = &self.deliverer.store;
        let Some(webhook) = store
            .get_record::<Webhook>(request.tenant(), request.webhook_id)
            .await?
        else {
            return Ok(Handled::Skipped);
        };
        if !webhook.is_active {
            return Ok(Handled::Skipped);
        }
        let trigger = if request.attempt > 1 {
            "retry"
        } else {
            "event"
        };
        let attempted = self.deliverer.attempt(&webhook, &request, trigger).await?;
        if attempted.delivery.success {
            return Ok(Handled::Delivered(attempted));
        }
        let now = Utc::now();
        let first = request
            .first_attempt_at
            .unwrap_or(attempted.delivery.delivered_at);
        let next = DeliveryRequest {
            attempt: request.attempt.saturating_add(1),
            first_attempt_at: Some(first),
            ..request
        };
        let Some(queues) = &self.queues else {
            return Err(Error::Unavailable(format!(
                "webhook delivery failed: {}",
                attempted.delivery.error.as_deref().unwrap_or_default()
            )));
        };
        if attempted.deactivated.is_none() && may_retry(first, now) {
            let delay_seconds =
                retry_delay(self.deliverer.settings.retry_base_seconds, next.attempt);
            if queues.request_deliveries(&[next], delay_seconds).await > 0 {
                return Err(Error::Unavailable("webhook retry not queued".into()));
            }
            return Ok(Handled::Retrying {
                attempted,
                delay_seconds,
            });
        }
        queues
            .dead_letter_delivery(&next)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(Handled::GaveUp(attempted))
    }
}

/// A subscription's deliveries, newest first (`page_size`, `cursor`).
pub async fn deliveries(
    ctx: Ctx<'_>,
    caller: &Caller,
    id: Uuid,
    query: &QueryParams,
) -> Result<Page<Delivery>, Error> {
    let webhook = resource::get::<Webhook>(ctx.store, caller, id).await?;
    query.reject_unknown(&["page_size", "cursor"])?;
    let page_size = query.page_size()?;
    let scope = format!("webhook-deliveries/{}", webhook.id);
    let before = ctx
        .cursors
        .position(caller.tenant, &scope, query.cursor())?;
    let (rows, more) = ctx
        .store
        .deliveries(caller.tenant, webhook.id, before.as_deref(), page_size)
        .await?;
    Ok(Page {
        next: more
            .then(|| {
                rows.last()
                    .map(|(k, _)| ctx.cursors.forward(caller.tenant, &scope, k.clone()))
            })
            .flatten(),
        previous: None,
        items: rows.into_iter().map(|(_, d)| d).collect(),
    })
}

/// Sends a logged delivery's event again, now (one attempt, logged as `redeliver`).
pub async fn redeliver(
    ctx: Ctx<'_>,
    caller: &Caller,
    id: Uuid,
    delivery_id: Uuid,
) -> Result<Attempted, Error> {
    let webhook = resource::get::<Webhook>(ctx.store, caller, id).await?;
    let delivery = ctx
        .store
        .get_delivery(caller.tenant, webhook.id, delivery_id)
        .await?
        .ok_or(Error::NotFound)?;
    let request = DeliveryRequest {
        tenant_id: caller.tenant.as_uuid(),
        webhook_id: webhook.id,
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        payload: delivery.payload,
        attempt: 1,
        first_attempt_at: None,
    };
    Deliverer::new(ctx.store.clone(), ctx.queues.webhook_settings())
        .attempt(&webhook, &request, "redeliver")
        .await
}

/// Sends a `webhook.test` event now (one attempt, logged as `test`), active or not.
pub async fn test(ctx: Ctx<'_>, caller: &Caller, id: Uuid) -> Result<Attempted, Error> {
    let webhook = resource::get::<Webhook>(ctx.store, caller, id).await?;
    let event = test_event(caller.tenant, webhook.id, Utc::now());
    let request = DeliveryRequest {
        tenant_id: caller.tenant.as_uuid(),
        webhook_id: webhook.id,
        event_id: event.id.clone(),
        event_type: event.kind.clone(),
        payload: event.body(),
        attempt: 1,
        first_attempt_at: None,
    };
    Deliverer::new(ctx.store.clone(), ctx.queues.webhook_settings())
        .attempt(&webhook, &request, "test")
        .await
}
