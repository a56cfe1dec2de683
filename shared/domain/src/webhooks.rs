//! Webhook subscriptions and their deliveries: validated input, the signing secret, the
//! signature scheme, the SSRF rules for targets, the retry schedule, and the delivery log
//! entry. No HTTP client and no DynamoDB here: the delivery itself is `crm_app::webhooks`.
//!
//! The signing secret must sign every later delivery, so it is stored as it is (it cannot
//! be a one-way hash); it is shown once, in the create's 201, and kept in an attribute
//! that no list or detail shape returns.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::Error;
use crate::events::EVENT_TYPES;
use crate::lead::WriteMode;
use crate::record::{record, Edit};
use crate::tenant::TenantId;
use crate::validate::{Input, Text};

pub const URL_MAX: usize = 2_000;
/// Subscriptions per tenant: each change fans out to every matching one.
pub const MAX_SUBSCRIPTIONS: usize = 25;
pub const SECRET_PREFIX: &str = "whsec_";
/// The request header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-CRM-Signature";
/// How old a signature's `t` a receiver should accept (and how far in the future).
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;
/// A delivery gives up after this long; its message goes to the dead-letter queue.
pub const RETRY_WINDOW_HOURS: i64 = 24;
/// SQS's largest message delay.
pub const MAX_DELAY_SECONDS: u32 = 900;
/// A subscription whose deliveries have failed without a success for this long is
/// deactivated.
pub const DEACTIVATE_AFTER_DAYS: i64 = 3;
/// Deliveries are kept this long (the table's TTL deletes them).
pub const DELIVERY_RETENTION_DAYS: i64 = 30;
/// A receiver's answer kept in the log, at most (bytes of text).
pub const RESPONSE_EXCERPT_MAX: usize = 1_000;

/// The lead fields a subscription's `fields` filter may name: those the API writes, as
/// `changes` names them.
pub const FILTER_FIELDS: [&str; 33] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "job_title",
    "company_website",
    "company_size",
    "industry",
    "annual_revenue",
    "status",
    "priority",
    "source",
    "source_id",
    "tag_ids",
    "custom_fields",
    "assigned_to",
    "notes",
    "next_follow_up",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "referrer",
    "budget",
    "timeline",
    "decision_maker",
    "pain_points",
    "requirements",
    "conversion_value",
    "lost_reason",
    "converted_at",
];

/// A webhook subscription as stored (without its key attributes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub version: u64,
    pub url: String,
    pub events: Vec<String>,
    /// `lead.updated` is delivered only when one of these changed (empty: always).
    #[serde(default)]
    pub fields: Vec<String>,
    pub is_active: bool,
    pub description: Option<String>,
    /// The signing secret, in its own attribute; never in [`Webhook::json`].
    pub signing_secret: String,
    /// The first failed delivery since the last success (cleared by a success).
    #[serde(default)]
    pub failing_since: Option<DateTime<Utc>>,
    /// Why the service deactivated it, if it did.
    #[serde(default)]
    pub deactivated_reason: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// The API shape: everything but the secret.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "events": self.events,
            "fields": self.fields,
            "is_active": self.is_active,
            "description": self.description,
            "failing_since": self.failing_since,
            "deactivated_reason": self.deactivated_reason,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The create's 201: the API shape and, this once, the secret.
    pub fn json_with_secret(&self) -> Value {
        let mut body = self.json();
        body["secret"] = self.signing_secret.clone().into();
        body
    }

    /// Whether this subscription wants `kind` with these changed fields.
    pub fn wants(&self, kind: &str, mut changed: impl Iterator<Item = impl AsRef<str>>) -> bool {
        if !self.is_active || !self.events.iter().any(|e| e == kind) {
            return false;
        }
        if kind != crate::events::LEAD_UPDATED || self.fields.is_empty() {
            return true;
        }
        changed.any(|f| self.fields.iter().any(|w| w == f.as_ref()))
    }

    /// After a failed delivery at `now`: whether it has now failed for long enough to be
    /// deactivated.
    pub fn failing_too_long(&self, now: DateTime<Utc>) -> bool {
        self.failing_since
            .is_some_and(|since| now - since >= Duration::days(DEACTIVATE_AFTER_DAYS))
    }
}

record!(Webhook, "webhook");

/// A new signing secret: `whsec_` and 256 random bits, URL-safe base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A validated subscription create or edit.
#[derive(Clone, Debug, Default)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub fields: Option<Vec<String>>,
    pub is_active: Option<bool>,
    pub description: crate::validate::Patch<String>,
}

impl Edit<Webhook> for WebhookInput {
    fn parse(body: &Map<String, Value>, mode: WriteMode) -> Result<Self, Error> {
        let mut i = Input::new(body);
        let full = mode != WriteMode::Partial;
        i.require("url", full);
        i.require("events", full);
        let url = i.url("url", Text::required(URL_MAX)).into_set();
        let events = names(&mut i, body, "events", &EVENT_TYPES, false);
        let fields = names(&mut i, body, "fields", &FILTER_FIELDS, true);
        let is_active = i.flag("is_active");
        let description = i.text("description", Text::optional(1_000));
        i.finish()?;
        Ok(Self {
            url,
            events,
            fields,
            is_active,
            description,
        })
    }

    fn apply(self, w: &mut Webhook, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(url) = self.url {
            w.url = url;
        }
        if let Some(events) = self.events {
            w.events = events;
        }
        if let Some(fields) = self.fields {
            w.fields = fields;
        }
        if let Some(active) = self.is_active {
            // Turning a subscription back on starts its failure clock afresh.
            if active && !w.is_active {
                w.failing_since = None;
                w.deactivated_reason = None;
            }
            w.is_active = active;
        }
        self.description.apply_to(&mut w.description);
        w.updated_at = now;
        Ok(())
    }
}

/// A list of names from `allowed`, without repeats, in the order given; `may_be_empty`
/// for `fields` (`events` needs one at least). `null` is refused.
fn names(
    i: &mut Input<'_>,
    body: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
    may_be_empty: bool,
) -> Option<Vec<String>> {
    let value = body.get(field)?;
    let Value::Array(items) = value else {
        i.error(
            field,
            format!(
                "Expected a list of items but got type \"{}\".",
                crate::validate::json_type(value)
            ),
        );
        return None;
    };
    if items.is_empty() && !may_be_empty {
        i.error(field, "This list may not be empty.");
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        match item.as_str().filter(|s| allowed.contains(s)) {
            Some(name) if !out.iter().any(|o| o == name) => out.push(name.to_string()),
            Some(_) => {}
            None => {
                let shown = item
                    .as_str()
                    .map_or_else(|| item.to_string(), str::to_string);
                let shown: String = shown.chars().take(100).collect();
                i.error(
                    field,
                    format!(
                        "\"{shown}\" is not a valid choice; choose from: {}.",
                        allowed.join(", ")
                    ),
                );
                return None;
            }
        }
    }
    Some(out)
}

/// Why a target address is refused unless private targets are allowed; `None` when it
/// is a public address.
pub fn forbidden_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        // 169.254.169.254 is the cloud metadata service.
        Some("link-local or metadata")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 100 && (64..128).contains(&b) {
        // CGNAT; also Alibaba's metadata address 100.100.100.200.
        Some("shared (CGNAT)")
    } else if a == 192 && b == 0 && c == 0 {
        // IETF protocol assignments; Oracle's metadata address 192.0.0.192.
        Some("reserved or metadata")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if first & 0xfe00 == 0xfc00 {
        // Unique local, which includes AWS's IPv6 metadata address fd00:ec2::254.
        Some("private (unique local) or metadata")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if let Some(v4) = ip.to_ipv4() {
        // IPv4-compatible addresses (::a.b.c.d) reach the IPv4 address.
        forbidden_v4(v4)
    } else {
        None
    }
}

/// Checks a subscription's URL against the target rules: https, unless private targets
/// are allowed (the local stack and tests), and a host that is not a refused address
/// literal. Name resolution is checked separately (the app resolves, then calls
/// [`forbidden_address`] on each address).
pub fn check_url(url: &str, allow_private: bool) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|_| "Enter a valid URL.".to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err("Enter a valid URL.".into());
    }
    if allow_private {
        return Ok(parsed);
    }
    if parsed.scheme() != "https" {
        return Err("The URL must use https.".into());
    }
    let literal = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(reason) = literal.and_then(forbidden_address) {
        return Err(refused(reason));
    }
    Ok(parsed)
}

/// The message of a refused target.
pub fn refused(reason: &str) -> String {
    format!("The URL's host resolves to a {reason} address, which webhooks may not call.")
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, t: i64, body: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The `X-CRM-Signature` value of `body` at unix time `t`:
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn sign(secret: &str, t: i64, body: &str) -> String {
    let digest = mac(secret, t, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Why a signature was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Verifies an `X-CRM-Signature` header as a receiver would: the timestamp within
/// `tolerance_seconds` of `now`, and one `v1` that matches (compared in constant time).
pub fn verify(
    header: &str,
    body: &str,
    secret: &str,
    now: i64,
    tolerance_seconds: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if (now - t).abs() > tolerance_seconds {
        return Err(SignatureError::Expired);
    }
    let matches = signatures.iter().any(|hex| {
        decode_hex(hex).is_some_and(|bytes| mac(secret, t, body).verify_slice(&bytes).is_ok())
    });
    matches.then_some(()).ok_or(SignatureError::Mismatch)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// The delay before retry `attempt` (the first retry is attempt 2): `base * 2^(attempt-2)`
/// seconds, capped at SQS's 900 s.
pub fn retry_delay(base_seconds: u32, attempt: u32) -> u32 {
    let doublings = attempt.saturating_sub(2).min(16);
    base_seconds
        .saturating_mul(1u32 << doublings)
        .min(MAX_DELAY_SECONDS)
}

/// Whether a delivery first tried at `first_attempt_at` may still be retried at `now`.
pub fn may_retry(first_attempt_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - first_attempt_at < Duration::hours(RETRY_WINDOW_HOURS)
}

/// A delivery id for an attempt at `at`: a UUID version 7 (RFC 9562: the unix time in
/// milliseconds, then random bits), so ids sort by time and the id alone gives the time
/// its log item is keyed by.
pub fn new_delivery_id(at: DateTime<Utc>) -> Uuid {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or_default();
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

/// The time in a delivery id ([`new_delivery_id`]); `None` for an id that is not a UUID
/// version 7.
pub fn delivery_time(id: Uuid) -> Option<DateTime<Utc>> {
    let bytes = id.as_bytes();
    if id.get_version_num() != 7 {
        return None;
    }
    let mut ms = [0u8; 8];
    ms[2..].copy_from_slice(bytes.get(..6)?);
    DateTime::from_timestamp_millis(i64::try_from(u64::from_be_bytes(ms)).ok()?)
}

/// One delivery attempt, as the log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Time-ordered ([`new_delivery_id`]): the log's sort key is derived from it.
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub webhook_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first try of an event, counting retries; a redelivery starts again at 1.
    pub attempt: u32,
    pub success: bool,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The start of the receiver's answer, for debugging.
    pub response_excerpt: Option<String>,
    pub delivered_at: DateTime<Utc>,
    /// What was sent, so a redelivery sends the same event (re-signed).
    pub payload: String,
    /// `event`, `retry`, `redeliver` or `test`.
    pub trigger: String,
}

impl Delivery {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "webhook": self.webhook_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "attempt": self.attempt,
            "success": self.success,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "response": self.response_excerpt,
            "trigger": self.trigger,
            "delivered_at": self.delivered_at,
        })
    }

    /// When the table's TTL deletes it (epoch seconds).
    pub fn expires_at(&self) -> i64 {
        (self.delivered_at + Duration::days(DELIVERY_RETENTION_DAYS)).timestamp()
    }
}

/// The start of a text, cut at a character boundary.
pub fn excerpt(text: &str) -> String {
    let mut end = text.len().min(RESPONSE_EXCERPT_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_old_time_does_not() {
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX) && secret.len() >= 6 + 43);
        let header = sign(&secret, 1_700_000_000, "{\"a\":1}");
        assert_eq!(
            verify(&header, "{\"a\":1}", &secret, 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(&header, "{\"a\":2}", &secret, 1_700_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, "{\"a\":1}", &secret, 1_700_001_000, 300),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify("v1=zz", "", &secret, 0, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("t=1,v1=zz", "", &secret, 1, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn input_names_bad_events_and_fields() {
        let e = WebhookInput::parse(
            &body(json!({"url": "https://x.example/h", "events": ["lead.nope"]})),
            WriteMode::Create,
        )
        .unwrap_err();
        let Error::Validation(errors) = e else {
            panic!()
        };
        assert!(errors.has("events"));
        let e = WebhookInput::parse(
            &body(json!({"url": "ftp://x", "events": [], "fields": ["score"]})),
            WriteMode::Create,
        )
        .unwrap_err();
        let Error::Validation(errors) = e else {
            panic!()
        };
        for f in ["url", "events", "fields"] {
            assert!(errors.has(f), "{f}");
        }
        assert!(WebhookInput::parse(&body(json!({})), WriteMode::Partial).is_ok());
    }

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        for url in [
            "http://example.com/h",
            "https://127.0.0.1/h",
            "https://10.1.2.3/h",
            "https://169.254.169.254/latest",
            "https://[::1]/h",
            "https://[fd00:ec2::254]/h",
            "https://[::ffff:192.168.0.1]/h",
            "https://100.64.0.1/h",
            "https://0.0.0.0/h",
        ] {
            assert!(check_url(url, false).is_err(), "{url}");
            assert!(check_url(url, true).is_ok(), "{url}");
        }
        assert!(check_url("https://93.184.216.34/h", false).is_ok());
        assert!(check_url("https://hooks.example.com/h", false).is_ok());
    }

    #[test]
    fn delivery_ids_carry_their_time() {
        let at = DateTime::from_timestamp_millis(1_795_428_000_123).unwrap();
        let id = new_delivery_id(at);
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(delivery_time(id), Some(at));
        assert_eq!(delivery_time(Uuid::new_v4()), None);
        assert!(new_delivery_id(at) < new_delivery_id(at + Duration::milliseconds(1)));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(retry_delay(30, 2), 30);
        assert_eq!(retry_delay(30, 3), 60);
        assert_eq!(retry_delay(30, 7), 900);
        assert_eq!(retry_delay(30, u32::MAX), 900);
        assert_eq!(retry_delay(0, 5), 0);
    }

    #[test]
    fn field_filters_apply_to_lead_updated_only() {
        let now = Utc::now();
        let w = Webhook {
            id: Uuid::new_v4(),
            tenant_id: TenantId::from_uuid(Uuid::new_v4()),
            version: 1,
            url: "https://x.example".into(),
            events: vec!["lead.updated".into(), "lead.created".into()],
            fields: vec!["status".into()],
            is_active: true,
            description: None,
            signing_secret: new_secret(),
            failing_since: None,
            deactivated_reason: None,
            created_by: "u".into(),
            created_at: now,
            updated_at: now,
        };
        assert!(w.wants("lead.updated", ["status"].iter()));
        assert!(!w.wants("lead.updated", ["phone"].iter()));
        assert!(w.wants("lead.created", std::iter::empty::<&str>()));
        assert!(!w.wants("lead.deleted", std::iter::empty::<&str>()));
        assert!(!w.json().as_object().unwrap().contains_key("secret"));
        assert!(!w.json().to_string().contains(&w.signing_secret));
    }
}
