//! The CRM's domain: types and rules with no AWS, HTTP or JWT in them.
//!
//! Records ([`lead`], [`sources`], [`tags`], [`activities`], [`notes`], [`custom_fields`])
//! and their validated inputs; the rules over them ([`scoring`], [`insights`], [`search`]
//! tokens, [`stats`] counter deltas, what a lead write changes besides the lead
//! ([`lead_writes`]), list [`filters`]); who acts ([`identity`], [`tenant`]);
//! and the one domain [`Error`]. Everything here is tested without an emulator.

pub mod accounts;
pub mod actions;
pub mod activities;
pub mod api_keys;
pub mod audit;
pub mod bulk;
pub mod changes;
pub mod cursor;
pub mod custom_fields;
pub mod domains;
pub mod error;
pub mod events;
pub mod filters;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod identity;
pub mod insights;
pub mod lead;
pub mod lead_insights;
pub mod lead_size;
pub mod lead_writes;
pub mod notes;
pub mod plan;
pub mod query;
pub mod record;
pub mod scoring;
pub mod search;
pub mod sources;
pub mod stats;
pub mod tags;
pub mod tenant;
pub mod tenant_settings;
pub mod validate;
pub mod webhooks;

pub use error::Error;
pub use identity::{Caller, Role};
pub use tenant::TenantId;
