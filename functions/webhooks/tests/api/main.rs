//! Webhooks end to end: subscriptions through the sources function's real router, events
//! derived from real lead changes (leads function), dispatched to the webhooks queue in the
//! SQS emulator (moto, started by `make test`), delivered by the worker to a receiver on a
//! loopback port that checks each signature with its own HMAC code.

mod common;
mod deliveries;
mod subscriptions;
