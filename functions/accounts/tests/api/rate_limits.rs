//! Rate limits: a tenant's requests per minute and a key's requests per hour, counted in
//! the table across instances; 429 with `Retry-After` past them, `RateLimit-*` headers on
//! every authenticated answer. Limits are small and windows long (a day), so no test
//! depends on the clock: a window boundary would have to fall within the test's second.

use std::time::Duration;

use futures::future::join_all;

use crate::common::*;
use crate::keys::{create_key, secret, with_key};
use crm_http::config::RateLimitConfig;
use crm_store::usage::measure;
use crm_store::RateWindow;
use crm_testkit::TestResponse;

const DAY: i64 = 86_400;

/// The accounts and leads functions with rate limits on (a tenant's limit is its plan's:
/// the free tier's 60 a minute unless [`limit_tenant`] sets its own).
async fn limited(usage_flush: Duration) -> Apps {
    let mut config = crm_testkit::test_config();
    config.rate_limits = RateLimitConfig {
        enabled: true,
        tenant_window_seconds: DAY,
        key_window_seconds: DAY,
        usage_flush,
    };
    let accounts = TestApp::start_with(accounts::app, config).await;
    let leads = accounts.with_function(leads::app);
    Apps { accounts, leads }
}

/// Gives `tenant` a limit of its own, as `crm-admin tenant set-plan --requests-per-minute`.
async fn limit_tenant(apps: &Apps, tenant: &crm_domain::tenant::Tenant, per_minute: u64) {
    let overrides = crm_domain::plan::LimitOverrides {
        requests_per_minute: Some(per_minute),
        ..Default::default()
    };
    apps.leads
        .state
        .store
        .set_plan(tenant.id, crm_domain::plan::Tier::Free, overrides)
        .await
        .expect("set the plan")
        .expect("the tenant exists");
}

fn header(res: &TestResponse, name: &str) -> u64 {
    res.header(name)
        .unwrap_or_else(|| panic!("{name} missing: {:?}", res.text))
        .parse()
        .expect("a number")
}

/// Fires `n` requests at once; returns the answers.
async fn burst(n: usize, send: impl Fn() -> crm_testkit::TestRequest) -> Vec<TestResponse> {
    join_all((0..n).map(|_| send().send())).await
}

/// Slack: none. Each admission is one conditional `ADD` on the window's item, which
/// DynamoDB applies one at a time, so exactly `limit` get through within a window.
const SLACK: usize = 0;

#[tokio::test]
async fn concurrent_requests_past_a_tenant_limit_get_429_with_headers() {
    let apps = limited(Duration::from_secs(60)).await;
    let (tenant, token) = apps.leads.owner("Acme").await;
    limit_tenant(&apps, &tenant, 5).await;
    let answers = burst(20, || apps.leads.get(paths::LEADS).bearer(&token)).await;
    let ok: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    let limited: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok.len() + limited.len(), 20, "only 200s and 429s");
    assert!(ok.len() <= 5 + SLACK, "{} got through", ok.len());
    assert_eq!(ok.len(), 5, "the limit is used up exactly");
    for res in &ok {
        assert_eq!(header(res, "ratelimit-limit"), 5);
        assert!(header(res, "ratelimit-remaining") < 5);
        assert!((1..=DAY as u64).contains(&header(res, "ratelimit-reset")));
    }
    let mut remaining: Vec<_> = ok
        .iter()
        .map(|r| header(r, "ratelimit-remaining"))
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, [0, 1, 2, 3, 4]);
    for res in &limited {
        assert!(
            res.body["detail"].as_str().unwrap().contains("throttled"),
            "{}",
            res.text
        );
        assert_eq!(header(res, "ratelimit-remaining"), 0);
        assert_eq!(header(res, "retry-after"), header(res, "ratelimit-reset"));
    }
    // Another tenant has its own window.
    let (_, other) = apps.leads.owner("Globex").await;
    apps.leads
        .get(paths::LEADS)
        .bearer(&other)
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn a_tenant_limit_of_its_own_wins_over_its_tier() {
    let apps = limited(Duration::from_secs(60)).await;
    let (tenant, token) = apps.leads.owner("Acme").await;
    limit_tenant(&apps, &tenant, 2).await;
    let answers = burst(6, || apps.leads.get(paths::LEADS).bearer(&token)).await;
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 2);
    assert_eq!(header(&answers[0], "ratelimit-limit"), 2);
}

#[tokio::test]
async fn a_key_has_its_own_hourly_limit_and_counts_usage_without_a_write_per_request() {
    let apps = limited(Duration::from_secs(60)).await;
    let (_, owner) = apps.accounts.owner("Acme").await;
    let created = apps
        .accounts
        .create(
            API_KEYS,
            &owner,
            json!({"name": "Sync", "scopes": ["leads:read"], "rate_limit": 3}),
        )
        .await;
    let key = secret(&created);
    let answers = burst(10, || with_key(apps.leads.get(paths::LEADS), &key)).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert!(ok <= 3 + SLACK, "{ok} got through");
    assert_eq!(ok, 3);
    let refused = answers.iter().find(|r| r.status == 429).expect("a 429");
    assert_eq!(header(refused, "ratelimit-limit"), 3);
    assert!(header(refused, "retry-after") >= 1);

    // Another key of the tenant, and the tenant's users, are not held back by it.
    let other = secret(&create_key(&apps.accounts, &owner, &["leads:read"]).await);
    with_key(apps.leads.get(paths::LEADS), &other)
        .send()
        .await
        .expect(200);
    apps.leads
        .get(paths::LEADS)
        .bearer(&owner)
        .send()
        .await
        .expect(200);

    // Usage is written once per minute per key and instance: the first use only, so far.
    let keys = apps.accounts.read(API_KEYS, &owner).await;
    let row = keys["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap();
    assert_eq!(row["usage_count"], 1, "{row}");
}

#[tokio::test]
async fn usage_flushed_every_time_counts_every_use() {
    let apps = limited(Duration::ZERO).await;
    let (_, owner) = apps.accounts.owner("Acme").await;
    let created = create_key(&apps.accounts, &owner, &["leads:read"]).await;
    let key = secret(&created);
    for _ in 0..3 {
        with_key(apps.leads.get(paths::LEADS), &key)
            .send()
            .await
            .expect(200);
    }
    let keys = apps.accounts.read(API_KEYS, &owner).await;
    assert_eq!(keys["results"][0]["usage_count"], 3, "{keys}");
}

#[tokio::test]
async fn counting_a_request_costs_one_write_unit() {
    let apps = limited(Duration::from_secs(60)).await;
    let tenant = apps.leads.tenant("Acme").await;
    let window = RateWindow {
        tenant: tenant.id,
        subject: "TENANT",
        start: 0,
        seconds: 60,
        limit: 1,
    };
    let store = &apps.leads.state.store;
    let (counted, usage) = measure(store.count_request(&window)).await;
    assert_eq!(counted.unwrap(), Some(1));
    assert_eq!(usage.round_trips, 1);
    assert_eq!(usage.write_units, 1.0);
    // Full: refused, nothing counted (DynamoDB still bills the failed condition's write).
    let (counted, usage) = measure(store.count_request(&window)).await;
    assert_eq!(counted.unwrap(), None);
    assert_eq!(usage.round_trips, 1);
}
