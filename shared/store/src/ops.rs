//! The few DynamoDB calls every part of the store builds on: a consistent read by key, a
//! conditional put for a transaction, and the transaction itself with its failed guards
//! mapped to [`Conflict`]s.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{Put, ReturnConsumedCapacity, TransactWriteItem};

use crate::keys;
use crate::usage::{record, Kind};
use crate::{classify, Conflict, Item, Store, StoreError};

impl Store {
    pub(crate) async fn get(&self, key: &keys::Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item_key()))
            .consistent_read(true)
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
    pub(crate) async fn transact(
        &self,
        actions: Vec<(TransactWriteItem, Option<Conflict>)>,
    ) -> Result<(), StoreError> {
        let (items, guards): (Vec<_>, Vec<_>) = actions.into_iter().unzip();
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
                Ok(())
            }
            Err(SdkError::ServiceError(ctx)) if ctx.err().is_transaction_canceled_exception() => {
                let reasons = match ctx.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => t.cancellation_reasons().to_vec(),
                    _ => Vec::new(),
                };
                for (reason, guard) in reasons.iter().zip(&guards) {
                    if reason.code() == Some("ConditionalCheckFailed") {
                        if let Some(conflict) = guard {
                            return Err(StoreError::Conflict(*conflict));
                        }
                    }
                }
                if reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some(
                            "TransactionConflict"
                                | "ThrottlingError"
                                | "ProvisionedThroughputExceeded"
                        )
                    )
                }) {
                    return Err(StoreError::Throttled);
                }
                Err(StoreError::Other(format!(
                    "transaction cancelled: {:?}",
                    reasons.iter().map(|r| r.code()).collect::<Vec<_>>()
                )))
            }
            Err(e) => Err(classify(e)),
        }
    }
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
