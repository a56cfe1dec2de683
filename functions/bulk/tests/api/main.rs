//! The bulk function's integration tests: API Gateway v2 events through the real routers
//! (bulk, and leads beside it on the same emulator for creating and reading leads), against
//! an in-process DynamoDB emulator, with real JWTs.
//!
//! One test binary for all of them, as for the leads function (disk space in CI).

mod common;

mod assign;
mod concurrency;
mod dashboard;
mod faults;
mod idempotency;
mod roles;
mod tags_and_scores;
mod update;
