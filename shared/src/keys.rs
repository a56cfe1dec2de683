//! Every DynamoDB key the service writes or reads is built here, and nowhere else.
//!
//! Single-table design with generic attribute names. Every partition key of the table and of
//! its indexes starts with the tenant id (`{tenant}#...`), so a request can only reach the
//! partitions of the tenant it was authorised for, and IAM `dynamodb:LeadingKeys` can
//! enforce the same in AWS. The one exception is the slug registry (`SLUG#{slug}`), a global
//! lookup the admin command writes to keep tenant slugs unique; no request path reads it
//! with a tenant's credentials.
//!
//! | item            | PK                          | SK                       | GSI1PK          | GSI1SK              |
//! |-----------------|-----------------------------|--------------------------|-----------------|---------------------|
//! | tenant          | `{t}#TENANT`                | `TENANT`                 |                 |                     |
//! | lead            | `{t}#LEAD#{id}`             | `LEAD`                   | `{t}#LEADS`     | `{created_at}#{id}` |
//! | lead audit      | `{t}#LEAD#{id}`             | `AUDIT#{at}#{audit id}`  |                 |                     |
//! | email guard     | `{t}#EMAIL#{lower(email)}`  | `EMAIL`                  |                 |                     |
//! | slug registry   | `SLUG#{slug}`               | `SLUG`                   |                 |                     |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::tenant::TenantId;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";

/// Key attributes of one index entry or table item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }

    /// As a table primary key.
    pub fn item_key(&self) -> HashMap<String, AttributeValue> {
        self.attrs(PK, SK)
    }

    /// As the given attribute pair (table or index).
    pub fn attrs(&self, pk_name: &str, sk_name: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (pk_name.to_string(), AttributeValue::S(self.pk.clone())),
            (sk_name.to_string(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

/// Timestamps in sort keys: fixed-width RFC 3339 so that text order is time order.
pub fn sortable_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn tenant(t: TenantId) -> Key {
    Key::new(format!("{t}#TENANT"), "TENANT")
}

pub fn slug(slug: &str) -> Key {
    Key::new(format!("SLUG#{slug}"), "SLUG")
}

fn lead_partition(t: TenantId, id: Uuid) -> String {
    format!("{t}#LEAD#{id}")
}

pub fn lead(t: TenantId, id: Uuid) -> Key {
    Key::new(lead_partition(t, id), "LEAD")
}

/// The uniqueness guard for a lead's email: one item per tenant and lowercased address,
/// written in the same transaction as the lead, conditioned on not existing.
pub fn lead_email(t: TenantId, email: &str) -> Key {
    Key::new(format!("{t}#EMAIL#{}", email.to_lowercase()), "EMAIL")
}

pub fn lead_audit(t: TenantId, lead_id: Uuid, at: DateTime<Utc>, audit_id: Uuid) -> Key {
    Key::new(
        lead_partition(t, lead_id),
        format!("AUDIT#{}#{audit_id}", sortable_time(at)),
    )
}

/// Prefix of the sort keys of a lead's audit entries, for `begins_with`.
pub fn lead_audit_prefix(t: TenantId, lead_id: Uuid) -> Key {
    Key::new(lead_partition(t, lead_id), "AUDIT#")
}

/// GSI1 entry of a lead: the tenant's leads, newest first.
pub fn leads_by_created(t: TenantId, created_at: DateTime<Utc>, id: Uuid) -> Key {
    Key::new(
        leads_by_created_partition(t),
        format!("{}#{id}", sortable_time(created_at)),
    )
}

pub fn leads_by_created_partition(t: TenantId) -> String {
    format!("{t}#LEADS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_key_starts_with_the_tenant() {
        let t = TenantId::from_uuid(Uuid::new_v4());
        let id = Uuid::new_v4();
        let now = Utc::now();
        for key in [
            tenant(t),
            lead(t, id),
            lead_email(t, "A@B.example"),
            lead_audit(t, id, now, Uuid::new_v4()),
            leads_by_created(t, now, id),
        ] {
            assert!(key.pk.starts_with(&t.to_string()), "{key:?}");
        }
        assert_eq!(lead_email(t, "A@B.example"), lead_email(t, "a@b.example"));
    }

    #[test]
    fn sortable_times_sort_as_text() {
        let a = "2026-01-02T03:04:05Z".parse::<DateTime<Utc>>().unwrap();
        let b = "2026-01-02T03:04:05.5Z".parse::<DateTime<Utc>>().unwrap();
        assert!(sortable_time(a) < sortable_time(b));
    }
}
