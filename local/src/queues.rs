//! Creates the service's queues and dead-letter queues in an SQS endpoint (moto locally),
//! from the same [`QueueSpec`]s the template is checked against.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use crm_app::queue::{QueueSpec, QUEUES};

/// A created queue: its URL and ARN, and its dead-letter queue's URL.
#[derive(Clone, Debug)]
pub struct LocalQueue {
    pub spec: QueueSpec,
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

async fn create_one(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, String> {
    let out = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| format!("create queue {name}: {}", crm_store::describe(&e)))?;
    out.queue_url
        .ok_or_else(|| format!("create queue {name}: no URL returned"))
}

async fn arn_of(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("queue attributes of {url}: {}", crm_store::describe(&e)))?;
    out.attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| format!("{url} has no ARN"))
}

/// Creates `{prefix}-{name}` and `{prefix}-{name}-dlq` with the spec's visibility timeout
/// and redrive policy. Creating an existing queue with the same attributes is a no-op.
pub async fn create(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
    spec: QueueSpec,
) -> Result<LocalQueue, String> {
    let dlq_name = format!("{prefix}-{}-dlq", spec.name);
    let dlq_url = create_one(sqs, &dlq_name, HashMap::new()).await?;
    let dlq_arn = arn_of(sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": spec.max_receive_count.to_string(),
    });
    let attributes = HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            spec.visibility_timeout_seconds.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
    ]);
    let url = create_one(sqs, &format!("{prefix}-{}", spec.name), attributes).await?;
    let arn = arn_of(sqs, &url).await?;
    Ok(LocalQueue {
        spec,
        url,
        arn,
        dlq_url,
    })
}

/// Every queue of the service, in [`QUEUES`] order.
pub async fn create_all(
    sqs: &aws_sdk_sqs::Client,
    prefix: &str,
) -> Result<Vec<LocalQueue>, String> {
    let mut out = Vec::new();
    for spec in QUEUES {
        out.push(create(sqs, prefix, spec).await?);
    }
    Ok(out)
}
