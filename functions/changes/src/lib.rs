//! The changes worker: batches of the table's stream (`NEW_AND_OLD_IMAGES`, filtered to
//! leads, insights records and rescore requests by the event source mapping) turned into
//! their follow-up work, with the first record not handled reported for redelivery
//! (`ReportBatchItemFailures`). The step is `crm_worker::changes`; the decisions are
//! `crm_domain::changes::follow_ups`.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use crm_app::changes::Services;

pub async fn handle(services: &Services, event: Event) -> DynamoDbEventResponse {
    crm_worker::changes::handle(services, event).await
}
