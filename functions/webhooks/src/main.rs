#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crm_worker::run_sqs(webhooks::handle).await
}
