//! The scoring worker: SQS batches of [`ScoreRequest`]s, each rescored through
//! `crm_app::rescoring` (idempotent, never overwriting a newer score), with the failed
//! messages reported for redelivery (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use crm_app::queue::{reason, ScoreRequest};
use crm_app::rescoring::{self, Rescored, SCORING_WORKER};
use crm_worker::batch::process_batch;
use crm_worker::Worker;

pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    process_batch(event, |request: ScoreRequest| async move {
        let outcome = rescoring::rescore(
            &worker.store,
            request.tenant(),
            request.lead_id,
            // A manual request (update-scores) rescores whatever the stored version.
            (request.reason != reason::MANUAL).then_some(request.version),
            SCORING_WORKER,
            &crm_domain::audit::NO_ORIGIN,
        )
        .await?;
        let outcome = match outcome {
            Rescored::Written { .. } => "scored",
            Rescored::Unchanged { .. } => "unchanged",
            Rescored::AlreadyCurrent => "already current",
            Rescored::Gone => "lead deleted",
        };
        tracing::info!(
            lead_id = %request.lead_id,
            version = request.version,
            reason = %request.reason,
            outcome,
            "score request handled"
        );
        Ok::<(), crm_domain::Error>(())
    })
    .await
}
