//! The table's stream of a [`TestApp`]'s emulator, fed to the changes worker as Lambda's
//! DynamoDB event source mapping would feed it (`crm_local::stream`): real stream records,
//! the template's filter, real `DynamoDbEvent`s, and redelivery from the record the worker
//! reports failed.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use crm_local::stream::{deliver_once, StreamReader, StreamRound};
use tokio::sync::Mutex;

use crate::TestApp;

/// A reader of one app's table stream, remembering how far the worker got.
pub struct TestStream {
    reader: StreamReader,
    /// The app's table (the changes worker reads webhook subscriptions from it).
    store: crm_store::Store,
    position: Mutex<Option<String>>,
}

impl TestStream {
    /// The stream of `app`'s table, from its oldest record.
    pub async fn open(app: &TestApp) -> Self {
        let reader = StreamReader::open(&app.endpoint, &app.state.config.table_name)
            .await
            .expect("open the table's stream");
        Self {
            reader,
            store: app.state.store.clone(),
            position: Mutex::new(None),
        }
    }

    /// One round: the next batch (up to `batch_size` records the filter passes) to
    /// `worker`; the position moves past what it handled.
    pub async fn deliver_once<F, Fut>(&self, batch_size: usize, worker: F) -> StreamRound
    where
        F: FnOnce(Event) -> Fut,
        Fut: std::future::Future<Output = DynamoDbEventResponse>,
    {
        let mut position = self.position.lock().await;
        deliver_once(
            &self.reader,
            &mut position,
            batch_size,
            |event| async move {
                // The event as Lambda's runtime would parse it: this checks the records'
                // shape as much as it feeds the worker.
                let event: Event = serde_json::from_value(event).map_err(|e| e.to_string())?;
                serde_json::to_value(worker(event).await).map_err(|e| e.to_string())
            },
        )
        .await
        .expect("read the table's stream")
    }

    /// Rounds of up to 100 records until the stream has nothing more, or until the
    /// worker reports a failure (Lambda would retry it; the test decides when). Returns the
    /// rounds that delivered records.
    pub async fn deliver<F, Fut>(&self, worker: F) -> Vec<StreamRound>
    where
        F: Fn(Event) -> Fut,
        Fut: std::future::Future<Output = DynamoDbEventResponse>,
    {
        let mut rounds = Vec::new();
        for _ in 0..1000 {
            let round = self.deliver_once(100, &worker).await;
            let (delivered, failed) = (round.delivered, round.failed.is_some());
            if round.read == 0 {
                return rounds;
            }
            if delivered > 0 {
                rounds.push(round);
            }
            if failed {
                return rounds;
            }
        }
        panic!("the stream did not drain after 1000 rounds");
    }

    /// Feeds the stream to the changes worker, sending to `queues`, until it is drained
    /// (a failure fails the test); returns the records delivered.
    pub async fn deliver_changes(&self, queues: &crate::TestQueues) -> usize {
        let services = queues.changes_services(&self.store);
        let rounds = self
            .deliver(|event| crm_worker::changes::handle(&services, event))
            .await;
        assert!(rounds.iter().all(|r| r.failed.is_none()), "{rounds:?}");
        rounds.iter().map(|r| r.delivered).sum()
    }

    /// The last sequence number handled (None before the first).
    pub async fn position(&self) -> Option<String> {
        self.position.lock().await.clone()
    }

    /// Moves back to `position`, so the records after it are delivered again (as after a
    /// failed invocation or a redelivered batch).
    pub async fn rewind(&self, position: Option<String>) {
        *self.position.lock().await = position;
    }
}
