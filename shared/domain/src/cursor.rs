//! Opaque, tamper-proof pagination cursors.
//!
//! A cursor carries a position (the sort key of the last row served, or an offset for
//! in-memory orderings) and a direction, and is signed (HMAC-SHA256) together
//! with the tenant and the query it belongs to. A client cannot edit one into another
//! tenant's partition, nor reuse one for a different query: either is a 400.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::tenant::TenantId;

type HmacSha256 = Hmac<Sha256>;

/// Where a page starts, and which way it reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "p")]
    pub position: String,
    /// Reading towards the start of the ordering (a "previous" link).
    #[serde(rename = "b", default, skip_serializing_if = "std::ops::Not::not")]
    pub backwards: bool,
}

#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("Invalid cursor.")]
pub struct InvalidCursor;

impl CursorCodec {
    pub fn new(secret: &str) -> Self {
        Self {
            key: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, tenant: TenantId, scope: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(tenant.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(scope.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        mac
    }

    /// `scope` names the query (route and its filters): a cursor only works for the same.
    pub fn encode(&self, tenant: TenantId, scope: &str, cursor: &Cursor) -> String {
        let payload = serde_json::to_vec(cursor).expect("cursor serialises");
        let tag = self.mac(tenant, scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    pub fn decode(
        &self,
        tenant: TenantId,
        scope: &str,
        token: &str,
    ) -> Result<Cursor, InvalidCursor> {
        let (payload, tag) = token.split_once('.').ok_or(InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidCursor)?;
        self.mac(tenant, scope, &payload)
            .verify_slice(&tag)
            .map_err(|_| InvalidCursor)?;
        serde_json::from_slice(&payload).map_err(|_| InvalidCursor)
    }
}

impl CursorCodec {
    /// Where a forward-only list continues: `None` without a cursor, a 400 naming
    /// `cursor` for a forged, foreign or stale one.
    pub fn position(
        &self,
        tenant: TenantId,
        scope: &str,
        token: Option<&str>,
    ) -> Result<Option<String>, crate::error::Error> {
        token
            .map(|t| self.decode(tenant, scope, t).map(|c| c.position))
            .transpose()
            .map_err(|_| crate::error::Error::field("cursor", "Invalid cursor."))
    }

    /// A page of rows read in key order (`(sort key, row)` pairs), linking forward only:
    /// its `next` is [`Self::after_last`].
    pub fn forward_page<T>(
        &self,
        tenant: TenantId,
        scope: &str,
        rows: Vec<(String, T)>,
        more: bool,
    ) -> Page<T> {
        let next = self.after_last(tenant, scope, &rows, more);
        Page {
            items: rows.into_iter().map(|(_, row)| row).collect(),
            next,
            previous: None,
        }
    }

    /// The cursor after a page read in key order (`(sort key, row)` pairs): past its last
    /// row when the read says there may be more, else none.
    pub fn after_last<T>(
        &self,
        tenant: TenantId,
        scope: &str,
        rows: &[(String, T)],
        more: bool,
    ) -> Option<String> {
        match (more, rows.last()) {
            (true, Some((key, _))) => Some(self.forward(tenant, scope, key.clone())),
            _ => None,
        }
    }

    /// A cursor that continues a list forwards from `position`.
    pub fn forward(&self, tenant: TenantId, scope: &str, position: String) -> String {
        self.encode(
            tenant,
            scope,
            &Cursor {
                position,
                backwards: false,
            },
        )
    }
}

/// One page of results with the cursors that continue it either way.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
    pub previous: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn bound_to_tenant_and_scope() {
        let codec = CursorCodec::new("secret");
        let a = TenantId::from_uuid(Uuid::new_v4());
        let b = TenantId::from_uuid(Uuid::new_v4());
        let cursor = Cursor {
            position: format!("050#2026-01-01T00:00:00.000000Z#{a}"),
            backwards: false,
        };
        let token = codec.encode(a, "leads", &cursor);
        assert_eq!(codec.decode(a, "leads", &token), Ok(cursor));
        assert_eq!(codec.decode(b, "leads", &token), Err(InvalidCursor));
        assert_eq!(
            codec.decode(a, "leads?status=new", &token),
            Err(InvalidCursor)
        );
        let mut forged = token.clone();
        forged.insert(3, 'A');
        assert_eq!(codec.decode(a, "leads", &forged), Err(InvalidCursor));
    }
}
