//! The list/search/dashboard benchmark (issue: "Lead list at scale").
//!
//! Seeds one tenant with `BENCH_LEADS` realistic leads (default 100,000) and a second tenant
//! beside it in dynoxide (in-process, over loopback HTTP, as the functions talk to DynamoDB),
//! then sends real API Gateway v2 requests through the real router and reports, per
//! operation: rows returned, DynamoDB round trips, consumed read/write units, latency p50/p95;
//! and the same numbers for the naive approach (query the whole tenant, filter in memory).
//!
//! Run: `BENCH_LEADS=100000 cargo bench -p leads --bench list` (figures in docs/benchmark.md).

use std::time::{Duration, Instant};

use chrono::{Duration as Days, Utc};
use crm_domain::filters::{LeadQuery, View};
use crm_domain::lead::Lead;
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use crm_http::ListQuery;
use crm_store::usage::{measure, Usage};
use crm_testkit::fixtures::{env_number, seed_lead, Rng};
use crm_testkit::{paths, TestApp};
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

const STATUSES: [(&str, u32); 8] = [
    ("new", 30),
    ("contacted", 20),
    ("qualified", 15),
    ("proposal", 8),
    ("negotiation", 5),
    ("converted", 10),
    ("lost", 10),
    ("unresponsive", 2),
];
const PRIORITIES: [(&str, u32); 4] = [("low", 30), ("medium", 45), ("high", 18), ("urgent", 7)];
const SOURCES: [&str; 8] = [
    "website",
    "referral",
    "google ads",
    "linkedin",
    "event",
    "webinar",
    "partner",
    "cold call",
];
const TITLES: [&str; 6] = [
    "CEO",
    "CTO",
    "Head of Sales",
    "Engineer",
    "Manager",
    "VP Marketing",
];
const INDUSTRIES: [&str; 6] = [
    "Software",
    "Retail",
    "Finance",
    "Healthcare",
    "Manufacturing",
    "Education",
];
const WORDS: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Gringotts",
    "Oscorp",
    "Zenith",
    "Nimbus",
    "Aperture",
    "Monarch",
    "Pied",
    "Piper",
    "Dunder",
    "Mifflin",
    "Sterling",
    "Cooper",
];

fn lead_body(n: u32, rng: &mut Rng) -> Map<String, Value> {
    let company = format!("{} {}", WORDS[rng.next(24)], WORDS[rng.next(24)]);
    let mut body = json!({
        "first_name": format!("First{n}"),
        "last_name": format!("Last{}", rng.next(5000)),
        "email": format!("lead{n}@{}.example", company.to_lowercase().replace(' ', "-")),
        "company": company,
        "job_title": TITLES[rng.next(6)],
        "industry": INDUSTRIES[rng.next(6)],
        "status": rng.weighted(&STATUSES),
        "priority": rng.weighted(&PRIORITIES),
        "decision_maker": rng.next(3) == 0,
        "budget": rng.next(200) * 1000,
    });
    if rng.next(10) > 0 {
        body["source"] = json!(SOURCES[rng.next(8)]);
    }
    if rng.next(100) >= 15 {
        body["assigned_to"] = json!(format!("user{}", rng.next(20)));
    }
    if rng.next(2) == 0 {
        body["phone"] = json!(format!("+1 555 {:04}", rng.next(10000)));
    }
    if rng.next(10) < 4 {
        let days = rng.next(60) as i64 - 30;
        body["next_follow_up"] = json!((Utc::now() + Days::days(days)).to_rfc3339());
    }
    body.as_object().unwrap().clone()
}

/// Writes leads through the store, as the API would (transaction with guards, tokens and
/// counters), with bounded concurrency.
async fn seed(app: &TestApp, tenant: &Tenant, count: u32, seed: u64) {
    let started = Instant::now();
    let store = app.state.store.clone();
    let bodies: Vec<Map<String, Value>> = {
        let mut rng = Rng(seed);
        (0..count).map(|n| lead_body(n, &mut rng)).collect()
    };
    let mut rng = Rng(seed ^ 0xabcdef);
    let scores: Vec<u8> = (0..count).map(|_| rng.next(101) as u8).collect();
    stream::iter(bodies.into_iter().zip(scores).enumerate())
        .for_each_concurrent(16, |(n, (body, score))| {
            let store = store.clone();
            let tenant = tenant.id;
            async move {
                seed_lead(&store, tenant, &body, score).await;
                if n > 0 && n % 10_000 == 0 {
                    eprintln!("  seeded {n}");
                }
            }
        })
        .await;
    eprintln!(
        "seeded {count} leads for {} in {:.0?}",
        tenant.name,
        started.elapsed()
    );
}

struct Sample {
    rows: usize,
    usage: Usage,
    latency: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(app: &TestApp, token: &str, method: &str, path: &str, body: Option<Value>) -> Sample {
    let req = app.request(method, path).bearer(token).maybe_json(body);
    let started = Instant::now();
    let (res, usage) = measure(req.send()).await;
    let latency = started.elapsed();
    assert!(
        res.status < 300,
        "{method} {path}: {} {}",
        res.status,
        res.text
    );
    let rows = res.body["results"].as_array().map_or(1, Vec::len);
    Sample {
        rows,
        usage,
        latency,
    }
}

/// The naive approach: read every lead of the tenant, filter and sort in memory.
async fn naive(app: &TestApp, tenant: &Tenant, query: &str, view: Option<View>) -> Sample {
    let started = Instant::now();
    let (rows, usage) = measure(async {
        let client = app.dynamodb();
        let mut start = None;
        let mut leads: Vec<Lead> = Vec::new();
        let index = crm_store::keys::LeadIndex::Created;
        loop {
            let out = client
                .query()
                .table_name(app.state.store.table())
                .index_name(index.name())
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", index.pk_attr())
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(crm_store::keys::all_leads(
                        tenant.id,
                    )),
                )
                .set_exclusive_start_key(start)
                .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
                .send()
                .await
                .unwrap();
            record_naive_read(out.consumed_capacity());
            for item in out.items.unwrap_or_default() {
                leads.push(crm_store::lead_item::decode(item).unwrap());
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let params = ListQuery::from_query_string(query);
        let q = LeadQuery::parse(&params, view, Utc::now()).unwrap();
        leads.retain(|l| q.matches(l));
        leads.sort_by(|a, b| b.score.cmp(&a.score).then(b.created_at.cmp(&a.created_at)));
        leads.len().min(20)
    })
    .await;
    Sample {
        rows,
        usage,
        latency: started.elapsed(),
    }
}

/// The benchmark reads raw pages itself for the naive side; count them like the store does.
fn record_naive_read(consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>) {
    crm_store::usage::record_external(consumed.into_iter().cloned().collect::<Vec<_>>().as_slice());
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The list reads measured: name, query string and view.
fn list_reads(created_after: &str) -> Vec<(&'static str, String, Option<View>)> {
    vec![
        ("list (default order)", String::new(), None),
        ("status=qualified", "status=qualified".into(), None),
        ("priority=urgent", "priority=urgent".into(), None),
        ("assigned_to=user7", "assigned_to=user7".into(), None),
        ("source=webinar", "source=webinar".into(), None),
        ("score_min=95", "score_min=95".into(), None),
        (
            "created_after (last 5 s)",
            format!("created_after={created_after}&ordering=-created_at"),
            None,
        ),
        (
            "status=new&priority=high&has_phone=true",
            "status=new&priority=high&has_phone=true".into(),
            None,
        ),
        ("search=zenith", "search=zenith".into(), None),
        ("view: unassigned", String::new(), Some(View::Unassigned)),
        ("view: overdue", String::new(), Some(View::Overdue)),
        (
            "view: high-priority",
            String::new(),
            Some(View::HighPriority),
        ),
    ]
}

const LIST: &str = paths::LEADS;

#[tokio::main]
async fn main() {
    let count: u32 = env_number("BENCH_LEADS", 100_000);
    let repeats: usize = env_number("BENCH_REPEATS", 20);
    // As deployed: a warm instance trusts a tenant's status for TENANT_CACHE_SECONDS.
    let mut config = crm_testkit::test_config();
    config.tenant_cache_ttl = Duration::from_secs(30);
    let app = TestApp::start_with(leads::app, config).await;
    let tenant = app.tenant("Big Tenant").await;
    let neighbour = app.tenant("Neighbour").await;
    seed(&app, &tenant, count, 7).await;
    seed(&app, &neighbour, (count / 10).max(100), 11).await;
    let token = app.token(&tenant, "bench", Role::Owner);

    let created_after = (Utc::now() - Days::seconds(5))
        .to_rfc3339()
        .replace('+', "%2B");
    let sample_id = {
        let res = app
            .get(&format!("{LIST}?page_size=1"))
            .bearer(&token)
            .send()
            .await;
        res.body["results"][0]["id"].as_str().unwrap().to_string()
    };
    println!("\nLeads: {count} in the measured tenant, {} beside it; {repeats} runs per operation; page_size 20.\n", (count / 10).max(100));
    println!("| operation | rows | round trips | read units | write units | p50 ms | p95 ms | naive read units | naive ms | naive / ours (reads) |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, query, view) in list_reads(&created_after) {
        let path = match view {
            Some(View::Overdue) => format!("{LIST}overdue/?{query}"),
            Some(View::HighPriority) => format!("{LIST}high-priority/?{query}"),
            Some(View::Unassigned) => format!("{LIST}unassigned/?{query}"),
            None => format!("{LIST}?{query}"),
        };
        let naive = naive(&app, &tenant, &query, view).await;
        report(&app, &token, name, "GET", &path, None, repeats, Some(naive)).await;
    }
    single_reads_and_writes(&app, &tenant, &token, &sample_id, repeats).await;
    println!(
        "\nPeak memory of the benchmark process (emulator included): {:.0} MiB",
        peak_rss_mib()
    );
}

/// The dashboard, one lead's read and change, and creations.
async fn single_reads_and_writes(
    app: &TestApp,
    tenant: &Tenant,
    token: &str,
    sample_id: &str,
    repeats: usize,
) {
    let naive = naive(app, tenant, "", None).await;
    let dashboard = format!("{LIST}dashboard/");
    report(
        app,
        token,
        "dashboard",
        "GET",
        &dashboard,
        None,
        repeats,
        Some(naive),
    )
    .await;
    let one = format!("{LIST}{sample_id}/");
    report(app, token, "get one lead", "GET", &one, None, repeats, None).await;
    let notes = Some(json!({"notes": "bench"}));
    report(
        app,
        token,
        "patch one lead",
        "PATCH",
        &one,
        notes,
        repeats,
        None,
    )
    .await;
    let mut n = 0;
    let mut samples = Vec::new();
    for _ in 0..repeats {
        n += 1;
        samples.push(run(app, token, "POST", LIST, Some(json!({"first_name": "Bench", "last_name": "Lead", "email": format!("bench{n}@example.com"), "company": "Zenith Labs", "source": "website"}))).await);
    }
    print_row("create one lead", samples, None);
}

#[allow(clippy::too_many_arguments)]
async fn report(
    app: &TestApp,
    token: &str,
    name: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    repeats: usize,
    naive: Option<Sample>,
) {
    let mut samples = Vec::new();
    for _ in 0..repeats {
        samples.push(run(app, token, method, path, body.clone()).await);
    }
    print_row(name, samples, naive);
}

fn print_row(name: &str, samples: Vec<Sample>, naive: Option<Sample>) {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let s = &samples[0];
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let (naive_units, naive_ms, ratio) = match naive {
        Some(n) => (
            format!("{:.0}", n.usage.read_units),
            ms(n.latency),
            format!("{:.0}x", n.usage.read_units / s.usage.read_units.max(0.5)),
        ),
        None => ("".into(), "".into(), "".into()),
    };
    println!(
        "| {name} | {} | {} | {:.1} | {:.1} | {} | {} | {naive_units} | {naive_ms} | {ratio} |",
        s.rows,
        s.usage.round_trips,
        s.usage.read_units,
        s.usage.write_units,
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.95)),
    );
}
