//! The service's queues in the run's SQS emulator (moto), fed to the workers as Lambda
//! would feed them.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use crm_http::config::Config;
use crm_local::poller::{poll_once, Round, Source};
use crm_local::queues::LocalQueue;
use uuid::Uuid;

use crate::{sqs_client, sqs_endpoint};

/// The service's queues (with their dead-letter queues and redrive policies) for one test,
/// under a unique prefix in the run's SQS emulator.
pub struct TestQueues {
    pub sqs: aws_sdk_sqs::Client,
    pub scoring: LocalQueue,
    pub insights: LocalQueue,
    pub webhooks: LocalQueue,
}

impl TestQueues {
    pub async fn create() -> Self {
        sqs_endpoint();
        let sqs = sqs_client();
        let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..12]);
        let mut queues = crm_local::queues::create_all(&sqs, &prefix)
            .await
            .expect("create the test queues")
            .into_iter();
        Self {
            scoring: queues.next().expect("scoring queue"),
            insights: queues.next().expect("insights queue"),
            webhooks: queues.next().expect("webhooks queue"),
            sqs,
        }
    }

    /// `config` with these queues' URLs.
    pub fn configure(&self, mut config: Config) -> Config {
        config.scoring_queue_url = Some(self.scoring.url.clone());
        config.insights_queue_url = Some(self.insights.url.clone());
        config
    }

    /// The changes worker's services on `store`, sending to these queues.
    pub fn changes_services(&self, store: &crm_store::Store) -> crm_app::changes::Services {
        self.changes_services_via(store, self.sqs.clone())
    }

    /// The changes worker's services on `store`, sending to these queues' URLs through
    /// `sqs` (say, a client of an endpoint that is down).
    pub fn changes_services_via(
        &self,
        store: &crm_store::Store,
        sqs: aws_sdk_sqs::Client,
    ) -> crm_app::changes::Services {
        crm_app::changes::Services {
            store: store.clone(),
            queues: crm_app::queue::Queues::new(
                sqs,
                Some(self.scoring.url.clone()),
                Some(self.insights.url.clone()),
            )
            .with_webhooks(crm_app::queue::WebhookQueue {
                url: Some(self.webhooks.url.clone()),
                dlq_url: Some(self.webhooks.dlq_url.clone()),
                settings: crm_app::webhooks::WebhookSettings::default(),
            }),
        }
    }

    /// The queue side of the webhook worker on these queues, with `settings`.
    pub fn webhook_queues(
        &self,
        settings: crm_app::webhooks::WebhookSettings,
    ) -> crm_app::queue::Queues {
        crm_app::queue::Queues::new(self.sqs.clone(), None, None).with_webhooks(
            crm_app::queue::WebhookQueue {
                url: Some(self.webhooks.url.clone()),
                dlq_url: Some(self.webhooks.dlq_url.clone()),
                settings,
            },
        )
    }

    /// Feeds `queue` to `worker` as Lambda would, batch after batch, until it is empty;
    /// failed messages come back at once (no visibility delay) until the redrive policy
    /// moves them to the dead-letter queue. Returns the rounds that received messages.
    pub async fn deliver<F, Fut>(&self, queue: &LocalQueue, worker: F) -> Vec<Round>
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = SqsBatchResponse>,
    {
        let source = Source {
            queue_url: queue.url.clone(),
            queue_arn: queue.arn.clone(),
            batch_size: 10,
            wait_seconds: 0,
            retry_after_seconds: 0,
        };
        let mut rounds = Vec::new();
        // Bounded: each message is received at most maxReceiveCount times.
        for _ in 0..100 {
            let round = poll_once(&self.sqs, &source, |event| {
                let handled = worker(event);
                async move { Ok(handled.await) }
            })
            .await
            .expect("poll the test queue");
            if round.received == 0 {
                return rounds;
            }
            rounds.push(round);
        }
        panic!("{} did not empty after 100 rounds", queue.url);
    }

    /// The bodies waiting in `queue` (received, then made visible again at once).
    pub async fn peek(&self, url: &str) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .expect("receive");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }
}
