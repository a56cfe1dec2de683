//! The use cases: what a request or a queue message asks the service to do, over the
//! domain's rules, the store and the queues. HTTP and queue plumbing stay outside; every
//! function here returns the domain's [`crm_domain::Error`].
//!
//! A module per resource (`sources`, `tags`, ...) re-exports its domain types, so a caller
//! finds a resource's records, inputs and operations in one place; their lifecycle (read,
//! create, versioned update, delete, list) is the one of [`resource`], over what each
//! states as its own in `impl Resource`. Lost races follow the one policy of [`retry`].

pub mod accounts;
pub mod actions;
pub mod activities;
pub mod ai;
mod allocator;
pub mod api_keys;
pub mod bulk;
pub mod changes;
pub mod config;
pub mod custom_fields;
pub mod domains;
pub mod lead_insights;
pub mod lead_records;
pub mod leads;
pub mod notes;
pub mod plan;
pub mod queue;
pub mod rescoring;
pub mod resource;
pub mod retry;
pub mod sources;
pub mod tags;
pub mod telemetry;
pub mod webhooks;
