//! The webhook worker: SQS batches of [`DeliveryRequest`]s, each one signed POST to its
//! subscription (`crm_app::webhooks`), logged; a failure is retried by a new message with
//! an exponential delay for 24 hours, then the request goes to the dead-letter queue.
//! Messages are reported failed only when their outcome could not be recorded or their
//! retry could not be queued (`ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use crm_app::webhooks::{DeliveryRequest, Handled};
use crm_domain::Error;
use crm_worker::batch::process_batch;
use crm_worker::Worker;

pub async fn handle(worker: &Worker, event: SqsEvent) -> SqsBatchResponse {
    let deliveries = &worker.deliveries();
    process_batch(event, |request: DeliveryRequest| async move {
        let outcome = deliveries.handle(request).await?;
        if let Handled::Delivered(a) | Handled::Retrying { attempted: a, .. } | Handled::GaveUp(a) =
            &outcome
        {
            if let Some(webhook) = &a.deactivated {
                // The seam for the audit log: the subscription this failure deactivated.
                tracing::warn!(
                    webhook_id = %webhook.id,
                    tenant_id = %webhook.tenant_id,
                    "webhook deactivated after failing for 3 days"
                );
            }
        }
        Ok::<(), Error>(())
    })
    .await
}
