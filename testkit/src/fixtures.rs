//! What the tests and benchmarks build their data from: lead bodies, the enums' values, a
//! deterministic generator, and store-level lead writes as the scoring worker and the
//! benchmarks' seeders make them.

use chrono::Utc;
use crm_domain::audit::Provenance;
use crm_domain::lead::{Lead, LeadInput, WriteMode};
use crm_domain::TenantId;
use crm_store::{AuditAction, AuditEntry, Store, StoreError};
use serde_json::{json, Map, Value};

use crate::requests::ORIGIN;

/// Every lead status, in the API's order.
pub const STATUSES: [&str; 8] = [
    "new",
    "contacted",
    "qualified",
    "proposal",
    "negotiation",
    "converted",
    "lost",
    "unresponsive",
];

/// Every lead priority, in the API's order.
pub const PRIORITIES: [&str; 4] = ["low", "medium", "high", "urgent"];

/// The lead of the original's curl example.
pub fn john() -> Value {
    json!({
        "first_name": "John",
        "last_name": "Doe",
        "email": "john@company.com",
        "company": "Acme Corp",
        "source": "website"
    })
}

/// The smallest valid lead, numbered: `First{n} Last{n} <person{n}@example.com>`.
pub fn person(n: usize) -> Value {
    json!({
        "first_name": format!("First{n}"),
        "last_name": format!("Last{n}"),
        "email": format!("person{n}@example.com"),
    })
}

/// `body` with `extra`'s fields set over its own.
pub fn with(mut body: Value, extra: &Value) -> Value {
    for (k, v) in extra.as_object().expect("an object of fields") {
        body[k] = v.clone();
    }
    body
}

/// A record's `id`.
pub fn id(record: &Value) -> String {
    record["id"].as_str().expect("an id").to_string()
}

/// The path (with its query) of a page's link, `next` or `previous`: what a client requests
/// to follow it.
pub fn link(page: &Value, rel: &str) -> Option<String> {
    let url = page[rel].as_str()?;
    Some(url.trim_start_matches(ORIGIN).to_string())
}

/// A small deterministic generator (a 64-bit LCG), so failures and benchmarks replay.
pub struct Rng(pub u64);

impl Rng {
    /// The next number below `n`.
    pub fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }

    /// One of `items`, each as likely as its weight.
    pub fn weighted<'a>(&mut self, items: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut r = self.next(total as usize) as u32;
        for (item, w) in items {
            if r < *w {
                return item;
            }
            r -= w;
        }
        items[0].0
    }
}

/// Writes `score` on `before` as the scoring worker does: a versioned write through the
/// store, with its audit entry.
pub async fn rescore(store: &Store, before: &Lead, score: u8) -> Result<(), StoreError> {
    let mut after = before.clone();
    after.score = score;
    after.version += 1;
    let audit = AuditEntry::lead(
        Provenance::system("scorer", 30),
        after.id,
        AuditAction::Update,
        Utc::now(),
        Lead::diff(Some(before), Some(&after)),
    );
    store.update_lead(before, &after, &audit).await
}

/// Writes a lead through the store as the API would (transaction with guards, tokens and
/// counters), by user `seed`, with `score`: for seeding many leads fast.
pub async fn seed_lead(
    store: &Store,
    tenant: TenantId,
    body: &Map<String, Value>,
    score: u8,
) -> Lead {
    let input = LeadInput::parse(body, WriteMode::Create).expect("valid seed lead");
    let mut lead = Lead::create(tenant, input, "seed", Utc::now());
    lead.score = score;
    let audit = AuditEntry::lead(
        Provenance::system("seed", 30),
        lead.id,
        AuditAction::Create,
        lead.created_at,
        Map::new(),
    );
    store.create_lead(&lead, &audit).await.expect("seed write");
    lead
}

/// A number from the environment (`BENCH_LEADS=1000`), or `default`.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An audit entry for a write a test makes through the store directly (as a setup step).
pub fn setup_entry(resource_type: crm_store::ResourceType, id: uuid::Uuid) -> AuditEntry {
    AuditEntry::new(
        Provenance::system("test-setup", 30),
        resource_type,
        id,
        AuditAction::Update,
        Utc::now(),
        Map::new(),
    )
}
