use crm_http::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    crm_app::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::run(accounts::app(state)).await
}
