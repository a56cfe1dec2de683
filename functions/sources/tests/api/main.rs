//! The sources function's integration tests: API Gateway v2 events through the real
//! routers (this function's and, for lead writes, the leads function's) against one
//! in-process DynamoDB emulator per test, with real JWTs.

mod common;

mod activities;
mod contract;
mod counts;
mod custom_fields;
mod lead_layout;
mod lifecycle;
mod notes;
mod sources;
mod tags;
