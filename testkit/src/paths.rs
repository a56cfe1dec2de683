//! The API's paths, spelled once for the tests, the benchmarks and the deployment checks:
//! constants for the collections and the fixed routes (with the trailing slash clients
//! send), builders for a record's path. The functions serve each path with and without the
//! slash, and some under the original deployment's underscored names: [`bare`] and
//! [`underscored`] give those spellings.

use std::fmt::Display;

/// A path under the API's prefix, as a literal (for constants).
macro_rules! v1 {
    ($tail:literal) => {
        concat!("/api/leads/api/v1", $tail)
    };
}

/// A path under the leads collection, as a literal.
macro_rules! leads {
    ($tail:literal) => {
        concat!(v1!("/leads/"), $tail)
    };
}

/// The prefix of every resource path (no trailing slash).
pub const V1: &str = v1!("");

pub const LEADS: &str = leads!("");
pub const DASHBOARD: &str = leads!("dashboard/");
pub const BULK_UPDATE: &str = leads!("bulk-update/");
pub const BULK_ASSIGN: &str = leads!("bulk-assign/");
pub const BULK_TAG: &str = leads!("bulk-tag/");
pub const UPDATE_SCORES: &str = leads!("update-scores/");
pub const SCORING_SETTINGS: &str = v1!("/scoring-settings/");
pub const SOURCES: &str = v1!("/sources/");
pub const TAGS: &str = v1!("/tags/");
pub const ACTIVITIES: &str = v1!("/activities/");
pub const NOTES: &str = v1!("/notes/");
pub const CUSTOM_FIELDS: &str = v1!("/custom-fields/");

/// A lead: `leads/{id}/`.
pub fn lead(id: impl Display) -> String {
    format!("{LEADS}{id}/")
}

/// What hangs under a lead: `leads/{id}/{tail}/` (an action such as `convert` or
/// `ai-insights`, or its `activities` and `notes`).
pub fn lead_path(id: impl Display, tail: &str) -> String {
    format!("{LEADS}{id}/{tail}/")
}

/// A view or route under the leads collection: `leads/{name}/` (`overdue`, `unassigned`).
pub fn leads_view(name: &str) -> String {
    format!("{LEADS}{name}/")
}

pub fn source(id: impl Display) -> String {
    format!("{SOURCES}{id}/")
}

pub fn tag(id: impl Display) -> String {
    format!("{TAGS}{id}/")
}

pub fn activity(id: impl Display) -> String {
    format!("{ACTIVITIES}{id}/")
}

pub fn note(id: impl Display) -> String {
    format!("{NOTES}{id}/")
}

pub fn custom_field(id: impl Display) -> String {
    format!("{CUSTOM_FIELDS}{id}/")
}

/// `path` without its trailing slash.
pub fn bare(path: &str) -> &str {
    path.trim_end_matches('/')
}

/// A fixed route as the original deployment named some: underscores for hyphens
/// (`bulk_update`, `update_scores`). Not for paths with ids (UUIDs have hyphens).
pub fn underscored(path: &str) -> String {
    path.replace('-', "_")
}
