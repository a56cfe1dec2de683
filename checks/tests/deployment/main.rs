//! Deployment checks: `template.yaml`, `samconfig.toml`, the local gateway's router (root
//! `Cargo.toml`) and `events/` against the code they deploy. `cargo test -p checks`.
//!
//! - `routes`: the HTTP API's routes, the local gateway's and each function's router agree.
//! - `functions`: build settings, logs, environment variables and IAM permissions per
//!   function; the outputs; samconfig's environments.
//! - `queues`: queues, dead-letter queues and event source mappings against `QUEUES`; the
//!   table against `table::definition()`.
//! - `stream`: the table's stream and the changes worker's event source mapping against
//!   `crm_store::stream` (filter, batch size, retries, on-failure destination).
//! - `calls`: the HTTP functions' main paths make only the DynamoDB calls their IAM
//!   policies allow.
//! - `openapi`: the committed OpenAPI document against the functions' routers.
//! - `roles`: every write operation answers a readonly caller 403 before any input problem.
//! - `events`: every file in `events/` replayed through its function (HTTP router or SQS
//!   worker), with the DynamoDB calls it makes checked against the function's IAM policy
//!   (`recorder`).
//!
//! One test binary for the crate: each extra one links the AWS SDK and the emulator again.

mod common;

mod calls;
mod events;
mod functions;
mod openapi;
mod queues;
mod recorder;
mod roles;
mod routes;
mod stream;
