//! What the queue workers share: the [`batch`] helper and the services a worker needs,
//! built once per cold start, and the stream worker's step ([`changes`]). Workers link
//! neither axum nor a JWT library.

pub mod batch;
pub mod changes;

use std::future::Future;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use crm_app::ai::{client_for, AiAgentsClient};
use crm_app::config::{
    aws_sdk_config, dynamodb_client, dynamodb_settings, webhook_queue, ConfigError,
};
use crm_app::queue::Queues;
use crm_app::webhooks::{Deliverer, DeliveryWorker};
use crm_store::Store;
use lambda_runtime::{service_fn, LambdaEvent};

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub ai: Option<AiAgentsClient>,
    /// The webhook worker's queues (retries, the dead-letter queue) and delivery
    /// settings, when `WEBHOOKS_QUEUE_URL` is set.
    pub webhooks: Option<Queues>,
}

impl Worker {
    pub fn new(store: Store, ai: Option<AiAgentsClient>) -> Self {
        Self {
            store,
            ai,
            webhooks: None,
        }
    }

    /// This worker with webhook deliveries through `queues` (its webhook queue and
    /// settings).
    pub fn with_webhooks(mut self, queues: Queues) -> Self {
        self.webhooks = Some(queues);
        self
    }

    /// The webhook deliveries of this worker. Without a webhook queue, a failed delivery
    /// is reported failed and SQS's redelivery (then its dead-letter queue) retries it.
    pub fn deliveries(&self) -> DeliveryWorker {
        let settings = self
            .webhooks
            .as_ref()
            .map(Queues::webhook_settings)
            .unwrap_or_default();
        DeliveryWorker {
            deliverer: Deliverer::new(self.store.clone(), settings),
            queues: self.webhooks.clone(),
        }
    }

    /// `TABLE_NAME` (required) and `AI_AGENTS_URL` (optional; malformed is logged and
    /// ignored, leaving rule-based insights), with AWS clients from the standard chain (the
    /// DynamoDB client with the retries and timeouts of `crm_store::client`).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = std::env::var("TABLE_NAME")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let settings = dynamodb_settings()?;
        let sdk = aws_sdk_config().await;
        let store = Store::new(dynamodb_client(&sdk, &settings), table);
        let ai = client_for(std::env::var("AI_AGENTS_URL").ok().as_deref());
        let webhooks = webhook_queue()?;
        let worker = Self::new(store, ai);
        if webhooks.url.is_none() {
            return Ok(worker);
        }
        let queues =
            Queues::new(aws_sdk_sqs::Client::new(&sdk), None, None).with_webhooks(webhooks);
        Ok(worker.with_webhooks(queues))
    }
}

/// A worker's Lambda entry point: telemetry, the services built once per cold start (kept
/// for the life of the process), then `handle` on every SQS batch.
pub async fn run_sqs<F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static Worker, SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    crm_app::telemetry::init();
    let worker: &'static Worker = Box::leak(Box::new(Worker::from_env().await?));
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async {
        Ok::<_, lambda_runtime::Error>(handle(worker, event.payload).await)
    }))
    .await
}

/// The changes worker's services: the queues it sends follow-up work to
/// (`SCORING_QUEUE_URL` and `INSIGHTS_QUEUE_URL`, both required: a change whose queue is
/// missing could only fail), the webhook queue (`WEBHOOKS_QUEUE_URL`: a change that a
/// subscription wants fails without it) and the table (`TABLE_NAME`: the subscriptions).
pub async fn changes_services_from_env() -> Result<crm_app::changes::Services, ConfigError> {
    let url = |name: &'static str| crm_app::config::var(name).ok_or(ConfigError::Missing(name));
    let (scoring, insights) = (url("SCORING_QUEUE_URL")?, url("INSIGHTS_QUEUE_URL")?);
    let table = url("TABLE_NAME")?;
    let settings = dynamodb_settings()?;
    let sdk = aws_sdk_config().await;
    let queues = Queues::new(
        aws_sdk_sqs::Client::new(&sdk),
        Some(scoring),
        Some(insights),
    )
    .with_webhooks(webhook_queue()?);
    let store = Store::new(dynamodb_client(&sdk, &settings), table);
    Ok(crm_app::changes::Services { store, queues })
}

/// The changes worker's Lambda entry point: telemetry, the services built once per cold
/// start, then `handle` on every batch of the table's stream.
pub async fn run_stream<F, Fut>(handle: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static crm_app::changes::Services, StreamEvent) -> Fut,
    Fut: Future<Output = DynamoDbEventResponse>,
{
    crm_app::telemetry::init();
    let services: &'static crm_app::changes::Services =
        Box::leak(Box::new(changes_services_from_env().await?));
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| async {
        Ok::<_, lambda_runtime::Error>(handle(services, event.payload).await)
    }))
    .await
}
