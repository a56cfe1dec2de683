#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    crm_worker::run_stream(changes::handle).await
}
