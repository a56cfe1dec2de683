//! The leads function's integration tests: API Gateway v2 events through the real router,
//! against an in-process DynamoDB emulator, with real JWTs.
//!
//! One test binary for all of them: each separate binary links the AWS SDK and the emulator
//! again (hundreds of MB with debug info), which is what filled the CI machine's disk.

mod common;

mod auth;
mod concurrency;
mod contract;
mod crud;
mod dashboard;
mod faults;
mod health;
mod history;
mod list;
mod schema;
mod tenancy;
mod validation;
mod write_limits;
