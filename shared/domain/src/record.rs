//! What every resource a tenant owns has in common, whatever it is (a source, a tag, a
//! note, an activity, a custom field, and the users, memberships and webhooks to come): a
//! record with an id and a version that each edit bumps, and a validated input that
//! creates or edits it. The lifecycle over them (read, create, versioned update, delete,
//! list) is written once, in `crm_app::resource`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::Error;
use crate::lead::WriteMode;
use crate::tenant::TenantId;
use crate::validate::Input;

/// A record of one tenant, versioned: every edit of its own fields bumps `version`, which
/// is its entity tag (`ETag`, `If-Match`).
pub trait Record: Clone + Send + Sync + 'static {
    /// What names it in messages: "source", "custom field".
    const NOUN: &'static str;
    fn id(&self) -> Uuid;
    fn tenant(&self) -> TenantId;
    fn version(&self) -> u64;
    fn set_version(&mut self, version: u64);
    /// Its API representation.
    fn json(&self) -> Value;
}

/// A validated create or edit of `R`, parsed from a request body.
pub trait Edit<R>: Sized + Clone + Send + Sync + 'static {
    /// Every field error of the body at once (400), or the input.
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error>;
    /// Applies the input to a record (a new one, or a copy of the stored one). A check of
    /// the record as a whole may still refuse it.
    fn apply(self, record: &mut R, now: DateTime<Utc>) -> Result<(), Error>;
}

/// The `lead` of a record kept on a lead (a note, an activity): required on create, and
/// never `null`.
pub(crate) fn lead_field(i: &mut Input<'_>, mode: WriteMode) -> Option<Uuid> {
    if mode == WriteMode::Create {
        i.require("lead", true);
    }
    let patch = i.uuid("lead");
    i.non_null("lead", patch)
}

/// 412: `If-Match` names another version than the stored one.
pub fn stale<R: Record>(current: u64) -> Error {
    Error::PreconditionFailed(format!(
        "The {} has changed: If-Match does not match the current version \"{current}\".",
        R::NOUN
    ))
}

/// 412: the record changed between the read and the write of a request.
pub fn changed_meanwhile<R: Record>() -> Error {
    Error::PreconditionFailed(format!(
        "The {} was changed by another request; fetch it again.",
        R::NOUN
    ))
}

/// 409: a write lost every attempt to concurrent writes.
pub fn busy<R: Record>() -> Error {
    Error::Conflict(format!(
        "The {} is being changed by other requests; try again.",
        R::NOUN
    ))
}

/// Implements [`Record`] for a struct with `id`, `tenant_id` and `version` fields and an
/// inherent `json` method: `record!(Source, "source");`.
macro_rules! record {
    ($ty:ty, $noun:literal) => {
        impl $crate::record::Record for $ty {
            const NOUN: &'static str = $noun;
            fn id(&self) -> ::uuid::Uuid {
                self.id
            }
            fn tenant(&self) -> $crate::tenant::TenantId {
                self.tenant_id
            }
            fn version(&self) -> u64 {
                self.version
            }
            fn set_version(&mut self, version: u64) {
                self.version = version;
            }
            fn json(&self) -> ::serde_json::Value {
                <$ty>::json(self)
            }
        }
    };
}
pub(crate) use record;
