//! The list's filters, orderings, views and search, each checked against a brute-force
//! recount over a seeded tenant, paging through every page.

use std::cmp::Ordering;

use crate::common::*;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

type Predicate = Box<dyn Fn(&Value) -> bool>;
type Order = fn(&Value, &Value) -> Ordering;

const SOURCES: [&str; 4] = ["website", "referral", "Google Ads", "event"];
const SIZES: [&str; 5] = ["startup", "small", "medium", "large", "enterprise"];
const USERS: [&str; 3] = ["alice", "bob", "carol"];
const COMPANIES: [&str; 5] = ["Acme Corp", "Globex", "Initech", "Acme Rockets", "Umbrella"];
const TIMELINES: [&str; 4] = ["immediate", "next month", "this quarter", "ASAP please"];

/// A deterministic spread of values over every filtered field.
fn seed_body(n: usize) -> Value {
    let pick =
        |list: &[&str], salt: usize| list[(n * 7 + salt * 3 + n / 3) % list.len()].to_string();
    let mut body = json!({
        "first_name": if n % 5 == 0 { "John".to_string() } else { format!("Ann{n}") },
        "last_name": format!("Zed{}", (n * 13) % 17),
        "email": format!("person{n}@example.com"),
        "status": pick(&STATUSES, 1),
        "priority": pick(&PRIORITIES, 2),
        "company_size": pick(&SIZES, 4),
        "decision_maker": n % 3 == 0,
        "industry": if n % 4 == 0 { "Software" } else { "Retail" },
        "utm_source": if n % 2 == 0 { "google" } else { "newsletter" },
        "timeline": pick(&TIMELINES, 5),
    });
    if n % 6 != 0 {
        body["source"] = json!(pick(&SOURCES, 3));
    }
    if n % 4 != 1 {
        body["assigned_to"] = json!(pick(&USERS, 6));
    }
    if n % 3 != 2 {
        body["company"] = json!(pick(&COMPANIES, 7));
    }
    if n % 2 == 0 {
        body["phone"] = json!(format!("+1 555 {n:04}"));
    }
    if n % 5 != 4 {
        body["budget"] = json!((n * 3719) % 120_000);
    }
    match n % 3 {
        0 => {
            body["next_follow_up"] =
                json!((Utc::now() - Duration::days((n % 9 + 1) as i64)).to_rfc3339())
        }
        1 => {
            body["next_follow_up"] =
                json!((Utc::now() + Duration::days((n % 9 + 1) as i64)).to_rfc3339())
        }
        _ => {}
    }
    if n % 7 == 0 {
        body["notes"] = json!("Met at the acmeconf booth");
    }
    body
}

/// Sets a lead's score as the scoring worker would: a versioned write through the store.
async fn set_score(app: &TestApp, tenant: &crm_domain::tenant::Tenant, id: Uuid, score: u8) {
    let store = &app.state.store;
    let before = store.get_lead(tenant.id, id).await.unwrap().unwrap();
    rescore(store, &before, score).await.unwrap();
}

struct Seeded {
    app: TestApp,
    tenant: crm_domain::tenant::Tenant,
    token: String,
    other_token: String,
    leads: Vec<Value>,
}

async fn seed(count: usize) -> Seeded {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let (_, other_token) = app.owner("Other").await;
    for n in 0..count {
        let lead = app.create_lead(&token, seed_body(n)).await;
        let score = ((n * 37) % 101) as u8;
        set_score(
            &app,
            &tenant,
            lead["id"].as_str().unwrap().parse().unwrap(),
            score,
        )
        .await;
        // The other tenant holds look-alike leads that must never show up.
        app.create_lead(&other_token, seed_body(n)).await;
    }
    let mut leads = Vec::new();
    let ids: Vec<Value> = all_pages(&app, &token, &format!("{LEADS}?page_size=100")).await;
    for row in ids {
        leads.push(app.lead(&token, &id(&row)).await);
    }
    assert_eq!(leads.len(), count);
    Seeded {
        app,
        tenant,
        token,
        other_token,
        leads,
    }
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(id).collect()
}

fn s<'a>(l: &'a Value, f: &str) -> Option<&'a str> {
    match f {
        // The seeded leads are details: the assignee is an object.
        "assigned_to" => l[f]["id"].as_str(),
        _ => l[f].as_str(),
    }
}
fn num(l: &Value, f: &str) -> Option<f64> {
    l[f].as_str()
        .and_then(|v| v.parse().ok())
        .or_else(|| l[f].as_f64())
}
fn time(l: &Value, f: &str) -> Option<DateTime<Utc>> {
    s(l, f).map(|t| t.parse().unwrap())
}
fn active(l: &Value) -> bool {
    ["new", "contacted", "qualified", "proposal", "negotiation"].contains(&s(l, "status").unwrap())
}
fn overdue(l: &Value) -> bool {
    active(l) && time(l, "next_follow_up").is_some_and(|t| t < Utc::now())
}
fn score(l: &Value) -> i64 {
    l["score"].as_i64().unwrap()
}

/// The default order: score, then creation, newest first.
fn by_score_desc(a: &Value, b: &Value) -> Ordering {
    score(b)
        .cmp(&score(a))
        .then(time(b, "created_at").cmp(&time(a, "created_at")))
}

async fn check(
    seeded: &Seeded,
    query: &str,
    expected: impl Fn(&Value) -> bool,
    order: impl Fn(&Value, &Value) -> Ordering,
) {
    let mut want: Vec<&Value> = seeded.leads.iter().filter(|l| expected(l)).collect();
    want.sort_by(|a, b| order(a, b));
    let want: Vec<String> = want.iter().copied().map(id).collect();
    let got = all_pages(
        &seeded.app,
        &seeded.token,
        &format!("{LEADS}?page_size=7&{query}"),
    )
    .await;
    assert_eq!(ids(&got), want, "{query}");
    // The other tenant's token sees only its own look-alikes, never these.
    let theirs = all_pages(
        &seeded.app,
        &seeded.other_token,
        &format!("{LEADS}?page_size=50&{query}"),
    )
    .await;
    assert!(
        ids(&theirs).iter().all(|id| !want.contains(id)),
        "{query} leaked across tenants"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_filter_matches_a_brute_force_recount() {
    let seeded = seed(48).await;
    let week_ago = (Utc::now() - Duration::days(7)).to_rfc3339();
    let created_after = format!("created_after={}", urlencode(&week_ago));
    let cases: Vec<(&str, Predicate)> = vec![
        ("", Box::new(|_| true)),
        ("status=new", Box::new(|l| s(l, "status") == Some("new"))),
        (
            "status=new,contacted",
            Box::new(|l| matches!(s(l, "status"), Some("new" | "contacted"))),
        ),
        (
            "status=new&status=qualified",
            Box::new(|l| matches!(s(l, "status"), Some("new" | "qualified"))),
        ),
        (
            "priority=high,urgent",
            Box::new(|l| matches!(s(l, "priority"), Some("high" | "urgent"))),
        ),
        (
            "source=website",
            Box::new(|l| s(l, "source_name") == Some("website")),
        ),
        (
            "source=google%20ads",
            Box::new(|l| s(l, "source_name") == Some("Google Ads")),
        ),
        (
            "company_size=small,medium",
            Box::new(|l| matches!(s(l, "company_size"), Some("small" | "medium"))),
        ),
        ("score_min=50", Box::new(|l| score(l) >= 50)),
        ("score_max=30", Box::new(|l| score(l) <= 30)),
        (
            "score_min=20&score_max=60",
            Box::new(|l| (20..=60).contains(&score(l))),
        ),
        (
            "budget_min=10000",
            Box::new(|l| num(l, "budget").is_some_and(|b| b >= 10000.0)),
        ),
        (
            "budget_max=5000",
            Box::new(|l| num(l, "budget").is_some_and(|b| b <= 5000.0)),
        ),
        (created_after.as_str(), Box::new(|_| true)),
        ("created_today=true", Box::new(|_| true)),
        ("created_before=2020-01-01", Box::new(|_| false)),
        (
            "decision_maker=true",
            Box::new(|l| l["decision_maker"] == true),
        ),
        (
            "has_budget=true",
            Box::new(|l| num(l, "budget").is_some_and(|b| b > 0.0)),
        ),
        ("has_phone=false", Box::new(|l| l["phone"].is_null())),
        (
            "is_assigned=false",
            Box::new(|l| l["assigned_to"].is_null()),
        ),
        (
            "is_assigned=true",
            Box::new(|l| !l["assigned_to"].is_null()),
        ),
        ("is_overdue=true", Box::new(overdue)),
        (
            "timeline_urgent=true",
            Box::new(|l| {
                s(l, "timeline").is_some_and(|t| {
                    let t = t.to_lowercase();
                    t.contains("immediate") || t.contains("asap")
                })
            }),
        ),
        (
            "assigned_to=alice",
            Box::new(|l| s(l, "assigned_to") == Some("alice")),
        ),
        (
            "assigned_to=alice,carol",
            Box::new(|l| matches!(s(l, "assigned_to"), Some("alice" | "carol"))),
        ),
        (
            "industry=software",
            Box::new(|l| s(l, "industry") == Some("Software")),
        ),
        (
            "utm_source=google",
            Box::new(|l| s(l, "utm_source") == Some("google")),
        ),
        (
            "email=PERSON3@example.com",
            Box::new(|l| s(l, "email") == Some("person3@example.com")),
        ),
        (
            "company__icontains=acme",
            Box::new(|l| s(l, "company").is_some_and(|c| c.contains("Acme"))),
        ),
        (
            "last_name=zed3",
            Box::new(|l| s(l, "last_name") == Some("Zed3")),
        ),
        (
            "first_name__contains=nn1",
            Box::new(|l| s(l, "first_name").unwrap().contains("nn1")),
        ),
        ("no_activity_days=0", Box::new(|_| true)),
        (
            "status=new&priority=high",
            Box::new(|l| s(l, "status") == Some("new") && s(l, "priority") == Some("high")),
        ),
        (
            "source=website&has_phone=true&score_min=30",
            Box::new(|l| {
                s(l, "source_name") == Some("website") && !l["phone"].is_null() && score(l) >= 30
            }),
        ),
        (
            "assigned_to=bob&status=contacted,qualified&priority=low,medium",
            Box::new(|l| {
                s(l, "assigned_to") == Some("bob")
                    && matches!(s(l, "status"), Some("contacted" | "qualified"))
                    && matches!(s(l, "priority"), Some("low" | "medium"))
            }),
        ),
    ];
    for (query, expected) in cases {
        check(&seeded, query, expected, by_score_desc).await;
    }
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderings_views_and_search_match_a_recount() {
    let seeded = seed(36).await;
    fn created(a: &Value, b: &Value) -> Ordering {
        time(a, "created_at").cmp(&time(b, "created_at"))
    }
    check(&seeded, "ordering=-score", |_| true, by_score_desc).await;
    check(
        &seeded,
        "ordering=score",
        |_| true,
        |a, b| by_score_desc(b, a),
    )
    .await;
    check(&seeded, "ordering=created_at", |_| true, created).await;
    check(
        &seeded,
        "ordering=-created_at&status=new,lost",
        |l| matches!(s(l, "status"), Some("new" | "lost")),
        |a, b| created(b, a),
    )
    .await;
    // Orderings without an index: sorted in memory, ties by id, nulls last.
    let by_id = |a: &Value, b: &Value| s(a, "id").cmp(&s(b, "id"));
    let company = |a: &Value, b: &Value| {
        let key = |l: &Value| s(l, "company").map(str::to_lowercase);
        match (key(a), key(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(|| by_id(a, b))
    };
    check(&seeded, "ordering=company", |_| true, company).await;
    check(
        &seeded,
        "ordering=-last_name",
        |_| true,
        |a, b| {
            s(b, "last_name")
                .unwrap()
                .to_lowercase()
                .cmp(&s(a, "last_name").unwrap().to_lowercase())
                .then_with(|| s(a, "id").cmp(&s(b, "id")))
        },
    )
    .await;
    check(
        &seeded,
        "ordering=next_follow_up&is_overdue=true",
        overdue,
        |a, b| time(a, "next_follow_up").cmp(&time(b, "next_follow_up")),
    )
    .await;

    // Views, with their own filters on top.
    let hot = |l: &Value| {
        active(l) && (matches!(s(l, "priority"), Some("high" | "urgent")) || score(l) >= 70)
    };
    let views: Vec<(&str, Predicate, Order)> = vec![
        ("overdue/", Box::new(overdue), |a, b| {
            time(a, "next_follow_up").cmp(&time(b, "next_follow_up"))
        }),
        ("overdue/?ordering=-score", Box::new(overdue), by_score_desc),
        ("high-priority/", Box::new(hot), by_score_desc),
        (
            "high-priority/?source=website",
            Box::new(move |l| hot(l) && s(l, "source_name") == Some("website")),
            by_score_desc,
        ),
        (
            "unassigned/",
            Box::new(|l| l["assigned_to"].is_null()),
            by_score_desc,
        ),
        (
            "unassigned/?status=new,contacted,qualified",
            Box::new(|l| {
                l["assigned_to"].is_null()
                    && matches!(s(l, "status"), Some("new" | "contacted" | "qualified"))
            }),
            by_score_desc,
        ),
        ("high_priority/", Box::new(hot), by_score_desc),
    ];
    for (view, expected, order) in views {
        let mut want: Vec<&Value> = seeded.leads.iter().filter(|l| expected(l)).collect();
        want.sort_by(|a, b| order(a, b));
        let sep = if view.contains('?') { '&' } else { '?' };
        let got = all_pages(
            &seeded.app,
            &seeded.token,
            &format!("{LEADS}{view}{sep}page_size=4"),
        )
        .await;
        assert_eq!(
            ids(&got),
            want.iter().copied().map(id).collect::<Vec<_>>(),
            "{view}"
        );
        let theirs = all_pages(&seeded.app, &seeded.other_token, &format!("{LEADS}{view}")).await;
        assert!(
            ids(&theirs).iter().all(|id| !ids(&got).contains(id)),
            "{view} leaked"
        );
    }

    // Search: word prefixes, case-insensitive, over name, email, company, notes...
    let words = |l: &Value| -> Vec<String> {
        [
            "first_name",
            "last_name",
            "company",
            "email",
            "job_title",
            "industry",
            "notes",
        ]
        .iter()
        .filter_map(|f| s(l, f))
        .flat_map(|v| {
            v.split(|c: char| !c.is_alphanumeric())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .chain(std::iter::once(s(l, "email").unwrap().to_lowercase()))
        .collect()
    };
    for (query, terms) in [
        ("acm", vec!["acm"]),
        ("john%20acme", vec!["john", "acme"]),
        ("ZED1", vec!["zed1"]),
        ("person12%40example.com", vec!["person12", "example", "com"]),
        ("acmeconf", vec!["acmeconf"]),
    ] {
        let want: std::collections::BTreeSet<String> = seeded
            .leads
            .iter()
            .filter(|l| {
                let w = words(l);
                terms.iter().all(|t| w.iter().any(|x| x.starts_with(t)))
            })
            .map(id)
            .collect();
        let got = all_pages(
            &seeded.app,
            &seeded.token,
            &format!("{LEADS}?page_size=3&search={query}"),
        )
        .await;
        let got: std::collections::BTreeSet<String> = ids(&got).into_iter().collect();
        assert_eq!(got, want, "search={query}");
        assert!(
            !want.is_empty() || query == "acmeconf" && want.is_empty(),
            "{query} found something"
        );
        let theirs = all_pages(
            &seeded.app,
            &seeded.other_token,
            &format!("{LEADS}?search={query}"),
        )
        .await;
        assert!(ids(&theirs).iter().all(|id| !want.contains(id)));
    }
    // Search combines with filters.
    let acme = ids(&all_pages(&seeded.app, &seeded.token, &format!("{LEADS}?search=acme")).await);
    let got = all_pages(
        &seeded.app,
        &seeded.token,
        &format!("{LEADS}?search=acme&status=new"),
    )
    .await;
    assert!(got
        .iter()
        .all(|r| r["status"] == "new" && acme.contains(&r["id"].as_str().unwrap().to_string())));
    let _ = &seeded.tenant;
}

#[tokio::test]
async fn paging_is_stable_under_concurrent_inserts_and_backwards() {
    let seeded = seed(20).await;
    let app = &seeded.app;
    let mut seen = Vec::new();
    let mut url = format!("{LEADS}?page_size=6");
    let mut pages = Vec::new();
    for n in 0.. {
        let res = app.get(&url).bearer(&seeded.token).send().await.expect(200);
        pages.push(res.body.clone());
        seen.extend(ids(res.body["results"].as_array().unwrap()));
        // Someone adds leads between our page reads (score 0, newest).
        app.create_lead(&seeded.token, person(1000 + n)).await;
        match res.link("next") {
            Some(next) => url = next,
            None => break,
        }
    }
    let originals: Vec<String> = seeded.leads.iter().map(id).collect();
    for id in &originals {
        assert_eq!(
            seen.iter().filter(|s| *s == id).count(),
            1,
            "{id} seen exactly once"
        );
    }
    // Going back from the last page returns the pages before it.
    let last = pages.last().unwrap();
    let previous = link(last, "previous").unwrap();
    let back = app.read(&previous, &seeded.token).await;
    let before_last = &pages[pages.len() - 2];
    assert_eq!(
        ids(back["results"].as_array().unwrap()),
        ids(before_last["results"].as_array().unwrap())
    );
}

#[tokio::test]
async fn bad_filters_are_400_naming_the_parameter() {
    let app = start().await;
    let (_, token) = app.owner("Acme").await;
    for (query, field) in [
        ("colour=red", "colour"),
        ("status=won", "status"),
        ("priority=critical", "priority"),
        ("company_size=huge", "company_size"),
        ("score_min=abc", "score_min"),
        ("score_max=101", "score_max"),
        ("score_min=80&score_max=20", "score_min"),
        ("budget_min=-1", "budget_min"),
        ("created_after=yesterday", "created_after"),
        ("has_phone=maybe", "has_phone"),
        ("no_activity_days=-3", "no_activity_days"),
        ("ordering=salary", "ordering"),
        ("email__startswith=a", "email__startswith"),
    ] {
        for path in [
            LEADS.to_string(),
            format!("{LEADS}overdue/"),
            format!("{LEADS}unassigned/"),
        ] {
            let res = app
                .get(&format!("{path}?{query}"))
                .bearer(&token)
                .send()
                .await
                .expect(400);
            assert!(
                res.body.get(field).is_some(),
                "{path}?{query}: {}",
                res.text
            );
        }
    }
}

#[tokio::test]
async fn cursors_are_bound_to_their_query_and_tenant() {
    let seeded = seed(12).await;
    let app = &seeded.app;
    for query in ["?page_size=2&status=new,contacted,qualified,proposal,negotiation,converted,lost,unresponsive", "high-priority/?page_size=1", "?page_size=1&search=ann", "?page_size=2&ordering=company"] {
        let res = app.get(&format!("{LEADS}{query}")).bearer(&seeded.token).send().await.expect(200);
        let Some(next) = res.link("next") else { continue };
        app.get(&next).bearer(&seeded.token).send().await.expect(200);
        let res = app.get(&next).bearer(&seeded.other_token).send().await.expect(400);
        assert_eq!(res.body, json!({"cursor": ["Invalid cursor."]}), "{query}");
        // The same cursor on a different query of the same tenant is refused too.
        let cursor = next.split("cursor=").nth(1).unwrap();
        let res = app.get(&format!("{LEADS}?status=lost&cursor={cursor}")).bearer(&seeded.token).send().await.expect(400);
        assert_eq!(res.body, json!({"cursor": ["Invalid cursor."]}));
    }
}

#[tokio::test]
async fn unindexed_orderings_and_filters_read_within_their_limits() {
    let mut config = crm_testkit::test_config();
    config.list = crm_app::config::ListLimits {
        read_budget: 10,
        sort_cap: 5,
        sort_reads: 20,
    };
    let app = TestApp::start_with(leads::app, config).await;
    let (_, token) = app.owner("Acme").await;
    for n in 0..30 {
        let mut body = person(n);
        body["industry"] = json!(if n == 3 { "Mining" } else { "Retail" });
        app.create_lead(&token, body).await;
    }
    // One match, but finding it by post-filtering would read the whole tenant: refused.
    let res = app
        .get(&format!("{LEADS}?ordering=company&industry=mining"))
        .bearer(&token)
        .send()
        .await
        .expect(400);
    assert!(res.body["ordering"][0]
        .as_str()
        .unwrap()
        .contains("at most 5 leads"));
    // With an indexed order the same filter answers in budget-sized steps, each with a
    // cursor to continue, and finds the lead.
    let rows = all_pages(&app, &token, &format!("{LEADS}?industry=mining")).await;
    assert_eq!(rows.len(), 1);
    let first = app.read(&format!("{LEADS}?industry=mining"), &token).await;
    assert!(first["next"].is_string(), "a budget-limited page continues");
}
