//! What store calls cost: round trips and the capacity DynamoDB reports
//! (`ReturnConsumedCapacity`). Counting is scoped to a task with [`measure`], so the
//! benchmark can attribute costs to one API request; outside a scope nothing is counted.

use std::cell::RefCell;
use std::future::Future;

use aws_sdk_dynamodb::types::ConsumedCapacity;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    pub round_trips: u32,
    pub read_units: f64,
    pub write_units: f64,
}

tokio::task_local! {
    static USAGE: RefCell<Usage>;
}

/// Runs `f` and returns what its store calls cost.
pub async fn measure<F: Future>(f: F) -> (F::Output, Usage) {
    USAGE
        .scope(RefCell::new(Usage::default()), async {
            let out = f.await;
            (out, USAGE.with(|u| u.borrow().clone()))
        })
        .await
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Read,
    Write,
}

/// Records one round trip and the capacity it consumed.
pub(crate) fn record(kind: Kind, consumed: &[ConsumedCapacity]) {
    let _ = USAGE.try_with(|u| {
        let mut u = u.borrow_mut();
        u.round_trips += 1;
        for c in consumed {
            let total = c.capacity_units().unwrap_or(0.0);
            match (c.read_capacity_units(), c.write_capacity_units()) {
                (Some(r), Some(w)) => {
                    u.read_units += r;
                    u.write_units += w;
                }
                _ => match kind {
                    Kind::Read => u.read_units += total,
                    Kind::Write => u.write_units += total,
                },
            }
        }
    });
}

/// Records a read made outside the store (the benchmark's naive full-tenant read).
pub fn record_external(consumed: &[ConsumedCapacity]) {
    record(Kind::Read, consumed);
}
