//! The actions function's tests: API Gateway v2 events through the real routers (leads to
//! create, actions to act) on one in-process DynamoDB emulator, with real JWTs.

mod common;

mod actions;
mod contract;
mod insights;
mod settings;
