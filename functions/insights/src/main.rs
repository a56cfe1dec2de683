use aws_lambda_events::event::sqs::SqsEvent;
use crm_worker::Worker;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    crm_app::telemetry::init();
    let worker = Worker::from_env().await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(insights::handle(worker, event.payload).await)
    }))
    .await
}
