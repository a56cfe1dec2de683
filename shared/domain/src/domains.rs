//! Custom domains: a tenant's own host names (`crm.acme.example`), proved theirs by a DNS
//! TXT record before they resolve anything. A name is unique across the service; one
//! verified domain of a tenant may be its primary.
//!
//! The rules here: what a domain name may be ([`normalise_host`], [`DomainName::parse`]),
//! the record and its verification value, and the inputs of the routes. The DNS lookup
//! and the store are the app's and the store's business.

use chrono::{DateTime, Utc};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::error::Error;
use crate::tenant::TenantId;

/// Domains a tenant may register at most: each is an item and a guard, and a custom
/// domain is a deployment resource (a certificate, a mapping), not a list to grow.
pub const MAX_DOMAINS_PER_TENANT: u64 = 20;
/// The label the verification TXT record is published under.
pub const VERIFICATION_LABEL: &str = "_crm-verify";
/// Random bytes of a verification value (256 bits; the brief asks for at least 128).
const VERIFICATION_BYTES: usize = 32;
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// Domains that are never a tenant's: AWS's own (API Gateway's default
/// `*.execute-api.*.amazonaws.com`) and loopback names. Not registrable, never looked up.
pub const SERVICE_SUFFIXES: [&str; 2] = ["amazonaws.com", "localhost"];

/// The field every domain name error names.
pub const FIELD: &str = "domain";

/// A host name as a request or a client gives it, normalised: trimmed, lowercased, one
/// trailing dot dropped. `None` when it is not a plain DNS host name (at least two
/// labels of ASCII letters, digits and inner hyphens, labels 1–63 long, 253 in all, not
/// all-numeric at the top: no IP literal, wildcard, scheme, port, path or user part).
pub fn normalise_host(raw: &str) -> Option<String> {
    let name = raw.trim().to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(label_ok) {
        return None;
    }
    // A top-level label of digits only is an IPv4 literal (or part of one), never a name.
    let top = labels.last().copied().unwrap_or_default();
    if top.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(name.to_string())
}

/// The host part of a `Host` header (`name[:port]`), normalised; `None` for anything that
/// is not a host name ([`normalise_host`]): IP literals, `localhost`, junk.
pub fn host_of_header(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.starts_with('[') {
        return None;
    }
    let host = match raw.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return None,
        None => raw,
    };
    normalise_host(host)
}

/// Whether `host` is `base` or one of its subdomains (both normalised).
pub fn is_within(host: &str, base: &str) -> bool {
    host == base
        || host
            .strip_suffix(base)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The names a tenant may not register: the service's own (its tenants' base domain and
/// the API's own domain names, with their subdomains).
#[derive(Clone, Debug, Default)]
pub struct Reserved<'a> {
    pub base_domain: Option<&'a str>,
    pub service_hosts: &'a [String],
}

/// A custom domain name as registered: a valid host name that is not the service's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainName(String);

impl DomainName {
    /// `{domain}` from a create's body: a 400 naming `domain` for anything else.
    pub fn parse(body: &Map<String, Value>, reserved: &Reserved<'_>) -> Result<Self, Error> {
        let raw = match body.get(FIELD) {
            None | Some(Value::Null) => return Err(Error::field(FIELD, crate::validate::REQUIRED)),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(Error::field(FIELD, "This field may not be blank."))
            }
            Some(Value::String(s)) => s,
            Some(_) => return Err(Error::field(FIELD, "Not a valid string.")),
        };
        let name = normalise_host(raw).ok_or_else(|| {
            Error::field(
                FIELD,
                "Enter a host name such as crm.example.com: letters, digits and hyphens, \
                 at least two labels, no scheme, port, path, wildcard or IP address.",
            )
        })?;
        let own = reserved
            .base_domain
            .into_iter()
            .chain(reserved.service_hosts.iter().map(String::as_str))
            .chain(SERVICE_SUFFIXES)
            .any(|own| is_within(&name, own));
        if own {
            return Err(Error::field(
                FIELD,
                "This is one of the service's own domains; register a domain of yours.",
            ));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant's custom domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomDomain {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub domain: String,
    /// What the `_crm-verify.{domain}` TXT record must hold; random, made once.
    pub verification_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub is_primary: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

impl CustomDomain {
    pub fn new(tenant: TenantId, name: DomainName, now: DateTime<Utc>) -> Self {
        let mut bytes = [0u8; VERIFICATION_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            domain: name.0,
            verification_value: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            verified_at: None,
            is_primary: false,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    pub fn is_verified(&self) -> bool {
        self.verified_at.is_some()
    }

    /// Where the verification record is published.
    pub fn verification_name(&self) -> String {
        format!("{VERIFICATION_LABEL}.{}", self.domain)
    }

    /// Whether the TXT strings found at [`Self::verification_name`] prove the domain: one
    /// record (its strings joined, as long records are split) equals the value.
    pub fn proved_by(&self, records: &[Vec<String>]) -> bool {
        records
            .iter()
            .any(|strings| strings.concat().trim() == self.verification_value)
    }

    /// The domain as the API shows it, with the record that verifies it.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "domain": self.domain,
            "is_verified": self.is_verified(),
            "verified_at": self.verified_at,
            "is_primary": self.is_primary,
            "verification": {
                "type": "TXT",
                "name": self.verification_name(),
                "value": self.verification_value,
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// `PATCH .../domains/{id}/`: `{is_primary: bool}`, the one field a domain changes.
#[derive(Debug, PartialEq, Eq)]
pub struct DomainEdit {
    pub is_primary: Option<bool>,
}

impl DomainEdit {
    pub fn parse(body: &Map<String, Value>) -> Result<Self, Error> {
        if let Some(other) = body.keys().find(|k| k.as_str() != "is_primary") {
            return Err(Error::field(
                other,
                "Unknown field; only is_primary can be changed.",
            ));
        }
        match body.get("is_primary") {
            None => Ok(Self { is_primary: None }),
            Some(Value::Bool(b)) => Ok(Self {
                is_primary: Some(*b),
            }),
            Some(_) => Err(Error::field("is_primary", "Must be a valid boolean.")),
        }
    }

    /// 400 when asked to make an unverified domain the primary one.
    pub fn check(&self, domain: &CustomDomain) -> Result<(), Error> {
        if self.is_primary == Some(true) && !domain.is_verified() {
            return Err(Error::field(
                "is_primary",
                "Only a verified domain can be the primary domain.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: Value) -> Result<DomainName, Error> {
        let body = json!({ "domain": raw });
        DomainName::parse(
            body.as_object().unwrap(),
            &Reserved {
                base_domain: Some("crm.example.com"),
                service_hosts: &["api.example.com".to_string()],
            },
        )
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            parse(json!("  CRM.Acme.Example. ")).unwrap().as_str(),
            "crm.acme.example"
        );
        assert_eq!(parse(json!("a-b.c0.io")).unwrap().as_str(), "a-b.c0.io");
    }

    #[test]
    fn what_is_not_a_host_name_is_refused_naming_the_field() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        for bad in [
            json!(""),
            json!("localhost"),
            json!("https://acme.example"),
            json!("acme.example:443"),
            json!("acme.example/path"),
            json!("*.acme.example"),
            json!("10.0.0.1"),
            json!("[::1]"),
            json!("-acme.example"),
            json!("acme-.example"),
            json!("acme..example"),
            json!("acme.example.."),
            json!("ácme.example"),
            json!("user@acme.example"),
            json!(long_label),
            json!(long_name),
            json!(7),
            json!(null),
        ] {
            match parse(bad.clone()) {
                Err(Error::Validation(errors)) => assert!(errors.has(FIELD), "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_services_own_domains_are_refused() {
        for own in [
            "crm.example.com",
            "acme.crm.example.com",
            "api.example.com",
            "x.execute-api.us-east-1.amazonaws.com",
        ] {
            assert!(parse(json!(own)).is_err(), "{own}");
        }
        assert!(parse(json!("notcrm.example.com")).is_ok());
    }

    #[test]
    fn hosts_of_headers() {
        assert_eq!(
            host_of_header("Acme.Example:8443").as_deref(),
            Some("acme.example")
        );
        for none in ["127.0.0.1:8007", "localhost", "[::1]:80", "a.b:x", ""] {
            assert_eq!(host_of_header(none), None, "{none}");
        }
        assert!(is_within("a.crm.example.com", "crm.example.com"));
        assert!(!is_within("acrm.example.com", "crm.example.com"));
    }

    #[test]
    fn the_value_is_random_and_proved_by_one_record() {
        let name = parse(json!("crm.acme.example")).unwrap();
        let t = TenantId::from_uuid(Uuid::new_v4());
        let a = CustomDomain::new(t, name.clone(), Utc::now());
        let b = CustomDomain::new(t, name, Utc::now());
        assert_ne!(a.verification_value, b.verification_value);
        assert_eq!(a.verification_value.len(), 64);
        assert_eq!(a.verification_name(), "_crm-verify.crm.acme.example");
        let value = a.verification_value.clone();
        assert!(a.proved_by(&[vec!["other".into()], vec![value.clone()]]));
        assert!(a.proved_by(&[vec![value[..10].into(), value[10..].into()]]));
        assert!(!a.proved_by(&[vec!["other".into()]]));
        assert!(!a.proved_by(&[]));
    }

    #[test]
    fn edits() {
        let edit = |v: Value| DomainEdit::parse(v.as_object().unwrap());
        assert_eq!(
            edit(json!({"is_primary": true})).unwrap().is_primary,
            Some(true)
        );
        assert!(edit(json!({"is_primary": "yes"})).is_err());
        assert!(edit(json!({"domain": "x.example"})).is_err());
    }
}
