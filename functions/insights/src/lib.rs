//! The insights worker: SQS batches of [`InsightRequest`]s, each answered by the AI agents
//! service (`AI_AGENTS_URL`) or, when it is unset or fails, by the rules; the result is
//! stored for `GET ai-insights`. Failed messages are reported for redelivery.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use crm_app::lead_insights;
use crm_app::queue::InsightRequest;
use crm_worker::batch::process_batch;
use crm_worker::Worker;

pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |request: InsightRequest| async move {
        lead_insights::handle_request(&worker.store, worker.ai.as_ref(), &request).await
    })
    .await
}
