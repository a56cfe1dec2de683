//! The bulk benchmark (issue #6): what a bulk-update of 1,000 leads costs.
//!
//! Seeds one tenant with `BENCH_LEADS` leads (default 1,000) of one shape in dynoxide
//! (in-process, over loopback HTTP, as the functions talk to DynamoDB), then sends real API
//! Gateway v2 requests through the real bulk and leads routers and reports, per operation:
//! leads changed, DynamoDB round trips, consumed read/write units, write units per changed
//! lead, and wall time. A single-lead PATCH making the same change is the yardstick: a bulk
//! operation writes exactly what the same PATCHes would, so write units per lead must match.
//!
//! Run: `cargo bench -p bulk --bench bulk` (figures in docs/benchmark.md).

use std::time::{Duration, Instant};

use crm_domain::Role;
use crm_store::usage::{measure, Usage};
use crm_testkit::fixtures::{env_number, seed_lead};
use crm_testkit::paths::{self, BULK_ASSIGN, BULK_UPDATE};
use crm_testkit::{TestApp, TestRequest};
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

/// Leads of one shape (same fields, same lengths), so that every lead's write costs the
/// same and the per-lead figures compare exactly.
fn lead_body(n: u32) -> Map<String, Value> {
    json!({
        "first_name": format!("First{n:05}"),
        "last_name": format!("Last{n:05}"),
        "email": format!("lead{n:05}@example.com"),
        "company": "Zenith Labs",
        "job_title": "Head of Sales",
        "industry": "Software",
        "status": "new",
        "priority": "medium",
        "source": "website",
        "assigned_to": "seed-user",
        "phone": "+1 555 0100",
    })
    .as_object()
    .unwrap()
    .clone()
}

/// Writes leads through the store, as the API would (transaction with guards, tokens and
/// counters), 16 at a time. Returns their ids in order.
async fn seed(app: &TestApp, tenant: crm_domain::TenantId, count: u32) -> Vec<String> {
    let store = app.state.store.clone();
    let ids: Vec<String> = stream::iter(0..count)
        .map(|n| {
            let store = store.clone();
            async move {
                let lead = seed_lead(&store, tenant, &lead_body(n), 0).await;
                lead.id.to_string()
            }
        })
        .buffered(16)
        .collect()
        .await;
    ids
}

struct Sample {
    changed: usize,
    usage: Usage,
    wall: Duration,
}

async fn run(req: TestRequest) -> Sample {
    let started = Instant::now();
    let (res, usage) = measure(req.send()).await;
    let wall = started.elapsed();
    assert!(res.status < 300, "{} {}", res.status, res.text);
    let changed = match res.body.get("updated_count") {
        Some(n) => n.as_u64().unwrap_or(0) as usize,
        None => 1,
    };
    Sample {
        changed,
        usage,
        wall,
    }
}

fn row(name: &str, s: &Sample) {
    let per_lead = if s.changed == 0 {
        "".to_string()
    } else {
        format!("{:.1}", s.usage.write_units / s.changed as f64)
    };
    println!(
        "| {name} | {} | {} | {:.1} | {:.1} | {per_lead} | {:.0} |",
        s.changed,
        s.usage.round_trips,
        s.usage.read_units,
        s.usage.write_units,
        s.wall.as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() {
    let count: u32 = env_number("BENCH_LEADS", 1000);
    // As deployed: a warm instance trusts a tenant's status for TENANT_CACHE_SECONDS.
    let mut config = crm_testkit::test_config();
    config.tenant_cache_ttl = Duration::from_secs(300);
    let app = TestApp::start_with(bulk::app, config).await;
    let leads = app.with_function(leads::app);
    let tenant = app.tenant("Bulk Tenant").await;
    let started = Instant::now();
    // One more lead than the bulk changes: the single PATCH's subject.
    let mut ids = seed(&app, tenant.id, count + 1).await;
    let single = ids.pop().expect("seeded");
    eprintln!("seeded {} leads in {:.0?}", count + 1, started.elapsed());
    let token = app.token(&tenant, "bench-manager", Role::Manager);

    // Warm the tenant cache, so every measured request starts from a warm instance.
    let lead = paths::lead(&single);
    run(leads.get(&lead).bearer(&token)).await;

    println!(
        "\n{count} leads in one tenant, each changed by every bulk operation; 16 writes in flight.\n"
    );
    println!("| operation | leads changed | round trips | read units | write units | write units per changed lead | wall ms |");
    println!("|---|---|---|---|---|---|---|");
    updates(&app, &leads, &token, &ids, &lead).await;
    assignments(&app, &leads, &token, &ids, &lead).await;
}

/// A single PATCH and bulk-updates of the same fields, keyed, replayed and unchanging.
async fn updates(app: &TestApp, leads: &TestApp, token: &str, ids: &[String], lead: &str) {
    let patch = run(leads
        .patch(lead)
        .bearer(token)
        .json(json!({"status": "qualified"})))
    .await;
    row("PATCH one lead (status)", &patch);
    let update = run(app
        .post(BULK_UPDATE)
        .bearer(token)
        .json(json!({"lead_ids": ids, "status": "qualified"})))
    .await;
    row("bulk-update (status)", &update);
    let patch2 = run(leads
        .patch(lead)
        .bearer(token)
        .json(json!({"priority": "high", "source": "event"})))
    .await;
    row("PATCH one lead (priority, source)", &patch2);
    let keyed = app
        .post(BULK_UPDATE)
        .bearer(token)
        .header("Idempotency-Key", "bench-1")
        .json(json!({"lead_ids": ids, "priority": "high", "source": "event"}));
    let update2 = run(keyed).await;
    row(
        "bulk-update (priority, source) with Idempotency-Key",
        &update2,
    );
    let replay = run(app
        .post(BULK_UPDATE)
        .bearer(token)
        .header("Idempotency-Key", "bench-1")
        .json(json!({"lead_ids": ids, "priority": "high", "source": "event"})))
    .await;
    let replay = Sample {
        changed: 0,
        ..replay
    };
    row("the same request replayed (same key)", &replay);
    let unchanged = run(app
        .post(BULK_UPDATE)
        .bearer(token)
        .json(json!({"lead_ids": ids, "status": "qualified"})))
    .await;
    row("bulk-update that changes nothing", &unchanged);
}

/// A single PATCH of the assignee and balanced bulk-assigns.
async fn assignments(app: &TestApp, leads: &TestApp, token: &str, ids: &[String], lead: &str) {
    let patch3 = run(leads
        .patch(lead)
        .bearer(token)
        .json(json!({"assigned_to": "user-0"})))
    .await;
    row("PATCH one lead (assigned_to)", &patch3);
    let assignees: Vec<String> = (0..10).map(|n| format!("user-{n}")).collect();
    let balanced = run(app
        .post(BULK_ASSIGN)
        .bearer(token)
        .json(json!({"lead_ids": ids, "assignees": assignees, "strategy": "least_loaded"})))
    .await;
    row("bulk-assign least_loaded over 10 users", &balanced);
    let rr = run(app
        .post(BULK_ASSIGN)
        .bearer(token)
        .json(json!({"lead_ids": ids, "assignees": assignees[5..], "strategy": "round_robin"})))
    .await;
    row("bulk-assign round_robin over 5 users", &rr);
}
