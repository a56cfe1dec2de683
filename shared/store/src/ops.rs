//! The few DynamoDB calls every part of the store builds on: a consistent read by key, a
//! conditional put for a transaction, and the transaction itself with its failed guards
//! mapped to [`Conflict`]s.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{CancellationReason, Put, ReturnConsumedCapacity, TransactWriteItem};

use crate::keys;
use crate::scan::Returned;
use crate::usage::{record, Kind};
use crate::{classify, Conflict, Item, Store, StoreError};

impl Store {
    pub(crate) async fn get(&self, key: &keys::Key) -> Result<Option<Item>, StoreError> {
        self.get_returning(key, Returned::Whole).await
    }

    /// [`Store::get`] returning what `returned` says of the item.
    pub(crate) async fn get_returning(
        &self,
        key: &keys::Key,
        returned: Returned,
    ) -> Result<Option<Item>, StoreError> {
        let (projection, names) = returned.projection(None).unzip();
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .consistent_read(true)
            .set_projection_expression(projection)
            .set_expression_attribute_names(names)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(classify)?;
        record(Kind::Read, out.consumed_capacity.as_slice());
        Ok(out.item)
    }

    pub(crate) fn put(&self, item: Item, condition: Option<&str>) -> Put {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .build()
            .expect("put has table and item")
    }

    /// Runs a transaction. `guards[i]` says which conflict a failed condition on action `i`
    /// means.
    ///
    /// A transaction cancelled only because it met another one on an item
    /// (`TransactionConflict`) or because one of its items was throttled wrote nothing, and
    /// the SDK does not retry a cancellation: it is sent again here, up to
    /// [`TRANSACT_ATTEMPTS`] times with a short jittered backoff, then reported as
    /// [`StoreError::Throttled`]. A failed condition is never retried here: it is an answer
    /// (a [`Conflict`]) for the caller to act on.
    pub(crate) async fn transact(
        &self,
        actions: Vec<(TransactWriteItem, Option<Conflict>)>,
    ) -> Result<(), StoreError> {
        let (items, guards): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
        let mut attempt = 1;
        loop {
            match self.transact_once(items.clone(), &guards).await {
                // Cancelled by contention (not an error the SDK retried already).
                Tried::Cancelled(Err(StoreError::Throttled)) if attempt < TRANSACT_ATTEMPTS => {
                    tracing::debug!(attempt, "transaction cancelled by contention; again");
                    backoff(attempt).await;
                    attempt += 1;
                }
                Tried::Cancelled(result) | Tried::Sent(result) => return result,
            }
        }
    }

    async fn transact_once(
        &self,
        items: Vec<TransactWriteItem>,
        guards: &[Option<Conflict>],
    ) -> Tried {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                record(Kind::Write, out.consumed_capacity());
                Tried::Sent(Ok(()))
            }
            Err(SdkError::ServiceError(ctx)) if ctx.err().is_transaction_canceled_exception() => {
                let reasons = match ctx.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => t.cancellation_reasons().to_vec(),
                    _ => Vec::new(),
                };
                Tried::Cancelled(cancelled(&reasons, guards))
            }
            Err(e) => Tried::Sent(Err(classify(e))),
        }
    }
}

/// How one try of a transaction ended: cancelled (with what its reasons mean), or
/// otherwise, the SDK's own retries spent.
enum Tried {
    Cancelled(Result<(), StoreError>),
    Sent(Result<(), StoreError>),
}

/// Tries of a transaction cancelled by contention (see [`Store::transact`]).
pub const TRANSACT_ATTEMPTS: u32 = 3;

/// The wait before try `attempt + 1` of a call the store retries itself: 20 ms, 40 ms, ...
/// (at most 320 ms) plus up to 20 ms of jitter, so that calls that met do not meet again in
/// step.
pub(crate) async fn backoff(attempt: u32) {
    let jitter = (uuid::Uuid::new_v4().as_u128() % 20) as u64;
    let base = 20u64 << attempt.saturating_sub(1).min(4);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// What a cancelled transaction means: the guard of the first failed condition that has
/// one; contention or throttling (worth another try) when every reason is one of those
/// or `None`; anything else is unexpected.
fn cancelled(
    reasons: &[CancellationReason],
    guards: &[Option<Conflict>],
) -> Result<(), StoreError> {
    for (reason, guard) in reasons.iter().zip(guards) {
        if reason.code() == Some("ConditionalCheckFailed") {
            if let Some(conflict) = guard {
                return Err(StoreError::Conflict(*conflict));
            }
        }
    }
    let transient = |code: Option<&str>| {
        matches!(
            code,
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
        )
    };
    let only_transient = reasons
        .iter()
        .all(|r| transient(r.code()) || matches!(r.code(), None | Some("None")));
    if only_transient && reasons.iter().any(|r| transient(r.code())) {
        return Err(StoreError::Throttled);
    }
    Err(StoreError::Other(format!(
        "transaction cancelled: {:?}",
        reasons.iter().map(|r| r.code()).collect::<Vec<_>>()
    )))
}

/// A single conditional write's failure: its condition failing is `conflict`, anything
/// else as [`classify`] says.
pub(crate) fn conditional<
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
>(
    e: SdkError<E, R>,
    conflict: Conflict,
) -> StoreError {
    if let SdkError::ServiceError(service) = &e {
        if service.err().code() == Some("ConditionalCheckFailedException") {
            return StoreError::Conflict(conflict);
        }
    }
    classify(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes
            .iter()
            .map(|c| CancellationReason::builder().code(*c).build())
            .collect()
    }

    #[test]
    fn a_cancellation_is_a_guard_contention_or_unexpected() {
        let guards = [Some(Conflict::Version), None, Some(Conflict::Email)];
        let got = |codes: &[&str]| cancelled(&reasons(codes), &guards);
        assert!(matches!(
            got(&["None", "None", "ConditionalCheckFailed"]),
            Err(StoreError::Conflict(Conflict::Email))
        ));
        // A failed condition wins over contention on another item: retrying cannot help.
        assert!(matches!(
            got(&["ConditionalCheckFailed", "TransactionConflict", "None"]),
            Err(StoreError::Conflict(Conflict::Version))
        ));
        for transient in [
            &["TransactionConflict", "None", "None"][..],
            &["None", "ThrottlingError", "None"],
            &[
                "ProvisionedThroughputExceeded",
                "TransactionConflict",
                "None",
            ],
        ] {
            assert!(
                matches!(got(transient), Err(StoreError::Throttled)),
                "{transient:?}"
            );
        }
        // A failed condition nobody guards, or a validation error, is not contention.
        assert!(matches!(
            got(&["None", "ConditionalCheckFailed", "TransactionConflict"]),
            Err(StoreError::Other(_))
        ));
        assert!(matches!(
            got(&["ValidationError", "None", "None"]),
            Err(StoreError::Other(_))
        ));
        assert!(matches!(got(&[]), Err(StoreError::Other(_))));
    }
}
