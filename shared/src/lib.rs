//! Everything the CRM's Lambda functions share: configuration, authentication and tenant
//! resolution, the domain rules, the DynamoDB store (with all key building in [`keys`]),
//! pagination cursors and the HTTP plumbing that maps errors to DRF-shaped responses.
//!
//! Entry points stay thin: they build an [`http::AppState`] once and hand a router to
//! `lambda_http::run`; handlers extract input, call a service in [`leads`] and return.

pub mod actions;
pub mod activities;
pub mod auth;
pub mod bulk;
pub mod config;
pub mod cursor;
pub mod custom_fields;
pub mod error;
pub mod filters;
pub mod http;
pub mod idempotency;
pub mod insights;
pub mod keys;
pub mod lead;
pub mod lead_insights;
pub mod leads;
pub mod notes;
pub mod queue;
pub mod rescoring;
pub mod scoring;
pub mod search;
pub mod sources;
pub mod stats;
pub mod store;
pub mod table;
pub mod tags;
pub mod telemetry;
pub mod tenant;
pub mod usage;
pub mod validate;
pub mod worker;

pub use error::ApiError;
pub use tenant::TenantId;
