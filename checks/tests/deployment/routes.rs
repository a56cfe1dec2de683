//! The HTTP API's routes (template.yaml), the local gateway's router (root Cargo.toml
//! `[workspace.metadata.lambda.watch.router]`, served by `cargo lambda watch`) and each HTTP
//! function's own router agree: no path is reachable in one and a 404 in another, and each
//! goes to the same function everywhere.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use crm_domain::Role;
use crm_testkit::{paths, TestApp};

/// Served by every router that merges `crm_http::health_routes` (so a function
/// invoked directly answers them), deployed on one function only.
const HEALTH_PATHS: [&str; 3] = ["/", "/health", "/health-check"];

fn is_health_path(path: &str) -> bool {
    let bare = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    HEALTH_PATHS.contains(&bare)
}

#[test]
fn the_matchers_follow_their_routers_rules() {
    assert!(apigw_matches("/a/{id}", "/a/1"));
    assert!(!apigw_matches("/a/{id}", "/a/1/"));
    assert!(!apigw_matches("/a/{id}", "/a/"));
    assert!(apigw_matches("/a/{id}/", "/a/1/"));
    assert!(apigw_matches("/a/{proxy+}", "/a/1/2"));
    assert!(!apigw_matches("/a/{proxy+}", "/a/"));
    assert!(apigw_matches("/", "/"));
    assert!(!apigw_matches("/", "/x"));
    assert!(matchit_match("/a/{*rest}", "/a/1/2/").is_some());
    assert!(matchit_match("/a/{*rest}", "/a/").is_none());
    assert!(matchit_match("/a/{id}", "/a/1/").is_none());
    let router = vec![
        ("/a/{id}".to_string(), "x".to_string(), vec![]),
        ("/a/b".to_string(), "y".to_string(), vec![]),
        ("/a/{id}/c".to_string(), "z".to_string(), vec![]),
    ];
    assert_eq!(
        local_gateway_target(&router, "GET", "/a/b").as_deref(),
        Some("y")
    );
    assert_eq!(
        local_gateway_target(&router, "GET", "/a/c").as_deref(),
        Some("x")
    );
    assert_eq!(
        local_gateway_target(&router, "GET", "/a/c/c").as_deref(),
        Some("z")
    );
    assert_eq!(local_gateway_target(&router, "GET", "/b"), None);
    // matchit refuses a catch-all beside a parameter (cargo-lambda then does not start).
    assert_eq!(matchit_conflicts(&["/a/{*rest}", "/a/{id}/c"]).len(), 1);
    assert_eq!(matchit_conflicts(&["/a/{id}", "/a/{lead}/c"]).len(), 1);
    assert!(matchit_conflicts(&["/a/{*rest}", "/a/b", "/c/{id}"]).is_empty());
    assert!(matchit_conflicts(&["/a/{id}", "/a/{id}/c", "/a/b"]).is_empty());
    // API Gateway prefers the more specific route.
    let routes = vec![
        Route {
            binary: "x".into(),
            method: "ANY".into(),
            path: "/a/{id}".into(),
        },
        Route {
            binary: "y".into(),
            method: "ANY".into(),
            path: "/a/b".into(),
        },
    ];
    assert_eq!(
        template_route_for(&routes, "GET", "/a/b").unwrap().binary,
        "y"
    );
    assert_eq!(
        template_route_for(&routes, "GET", "/a/c").unwrap().binary,
        "x"
    );
}

#[test]
fn every_function_of_the_template_is_known_and_every_known_one_deployed() {
    let template = template();
    let deployed: BTreeSet<String> = template_functions(&template).into_keys().collect();
    let known: BTreeSet<String> = functions().iter().map(|f| f.binary.to_string()).collect();
    assert_eq!(
        deployed, known,
        "template.yaml's functions (by Binary) and checks' functions() must be the same"
    );
    for binary in NOT_DEPLOYED_YET {
        assert!(
            !deployed.contains(*binary),
            "{binary} is in the template now: move it from NOT_DEPLOYED_YET into functions()"
        );
    }
    for f in functions() {
        let manifest = repo_file(&format!("functions/{}/Cargo.toml", f.binary));
        assert!(
            manifest.contains(&format!("name = \"{}\"", f.binary)),
            "functions/{}/Cargo.toml builds the binary {}",
            f.binary,
            f.binary
        );
        let (name, function) = function_of(&template, f.binary);
        let has_http = function["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, e)| e["Type"] == "HttpApi");
        assert_eq!(
            has_http,
            f.http_app().is_some(),
            "{name}: HTTP routes exactly for HTTP functions"
        );
    }
}

#[test]
fn no_two_template_routes_are_the_same() {
    let routes = template_routes(&template());
    let mut seen = BTreeMap::new();
    for r in &routes {
        if let Some(other) = seen.insert((r.method.clone(), r.path.clone()), r.binary.clone()) {
            panic!(
                "{} {} is routed to {other} and {}",
                r.method, r.path, r.binary
            );
        }
    }
}

#[test]
fn every_template_route_has_both_spellings() {
    let routes = template_routes(&template());
    let paths: BTreeSet<(&str, &str)> = routes
        .iter()
        .map(|r| (r.binary.as_str(), r.path.as_str()))
        .collect();
    for r in &routes {
        if r.path == "/" {
            continue;
        }
        for spelling in both_spellings(&r.path) {
            assert!(
                paths.contains(&(r.binary.as_str(), spelling.as_str())),
                "{} has {} but not {spelling}",
                r.binary,
                r.path
            );
        }
    }
}

/// The paths the code itself lists for its functions are exactly their template routes.
#[test]
fn the_template_routes_the_paths_the_functions_list() {
    let routes = template_routes(&template());
    let of = |binary: &str| -> BTreeSet<String> {
        routes
            .iter()
            .filter(|r| r.binary == binary)
            .map(|r| r.path.clone())
            .collect()
    };
    let listed = |paths: Vec<String>| -> BTreeSet<String> {
        paths.iter().flat_map(|p| both_spellings(p)).collect()
    };
    for table in [
        leads::routes(),
        actions::routes(),
        bulk::routes(),
        sources::routes(),
        accounts::routes(),
    ] {
        let binary = table.service().trim_start_matches("crm-");
        let mut paths = table.paths();
        if table.serves_health() {
            paths.extend(HEALTH_PATHS.map(str::to_string));
        }
        let mut expected = listed(paths);
        expected.remove(""); // "/" has one spelling
        assert_eq!(of(binary), expected, "{binary}::routes()");
    }
    // bulk's least_loaded counts read the assignee index; its IAM grants Query on that one.
    assert_eq!(
        crm_store::keys::LeadIndex::Assignee.name(),
        "GSI5",
        "update the bulk function's Query resource in template.yaml and checks' functions()"
    );
    // sources reads these indexes by name in its IAM policy (activities, notes, memberships).
    use crm_store::keys::LeadIndex;
    assert_eq!(
        [
            LeadIndex::Timeline.name(),
            LeadIndex::OwnerTimeline.name(),
            LeadIndex::Source.name(),
            LeadIndex::FollowUp.name(),
        ],
        ["GSI1", "GSI2", "GSI6", "GSI7"],
        "update the sources function's Query resources in template.yaml and checks' functions()"
    );
}

#[test]
fn the_local_gateway_routes_every_template_route_to_its_function() {
    let routes = template_routes(&template());
    let router = cargo_lambda_router();
    assert!(!routes.is_empty());
    let patterns: Vec<&str> = router.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(
        matchit_conflicts(&patterns),
        vec![],
        "cargo lambda watch refuses these route pairs"
    );
    for route in &routes {
        let path = instantiate(&route.path, EXAMPLE_LEAD_ID);
        let methods: Vec<&str> = if route.method == "ANY" {
            METHODS.to_vec()
        } else {
            vec![route.method.as_str()]
        };
        for method in methods {
            assert_eq!(
                local_gateway_target(&router, method, &path).as_deref(),
                Some(route.binary.as_str()),
                "the local gateway must send {method} {path} to {}",
                route.binary
            );
        }
    }
    // Every route of the local gateway is deployed, to the same function.
    let binaries: BTreeSet<&str> = routes.iter().map(|r| r.binary.as_str()).collect();
    for (pattern, function, methods) in &router {
        assert!(
            binaries.contains(function.as_str()),
            "{function} has no route in the template"
        );
        let path = instantiate(pattern, EXAMPLE_LEAD_ID);
        let methods = if methods.is_empty() {
            METHODS.iter().map(|m| m.to_string()).collect()
        } else {
            methods.clone()
        };
        for method in methods {
            let deployed = template_route_for(&routes, &method, &path);
            assert_eq!(
                deployed.map(|r| r.binary.as_str()),
                Some(function.as_str()),
                "the local gateway serves {method} {pattern}; the template must too"
            );
        }
    }
    // The lead paths the design names: actions under a lead go to actions, the lead itself
    // and the views to leads, bulk operations to bulk.
    let base = paths::bare(paths::LEADS);
    for (path, function) in [
        (format!("{base}/{EXAMPLE_LEAD_ID}/convert"), "actions"),
        (format!("{base}/{EXAMPLE_LEAD_ID}/convert/"), "actions"),
        (format!("{base}/{EXAMPLE_LEAD_ID}"), "leads"),
        (format!("{base}/{EXAMPLE_LEAD_ID}/"), "leads"),
        (format!("{base}/dashboard/"), "leads"),
        (format!("{base}/bulk-update/"), "bulk"),
        (format!("{base}/{EXAMPLE_LEAD_ID}/activities/"), "sources"),
        (format!("{base}/{EXAMPLE_LEAD_ID}/notes"), "sources"),
        (format!("{}upcoming/", paths::ACTIVITIES), "sources"),
        (paths::activity(EXAMPLE_LEAD_ID), "sources"),
    ] {
        assert_eq!(
            local_gateway_target(&router, "POST", &path).as_deref(),
            Some(function),
            "{path}"
        );
        assert_eq!(
            template_route_for(&routes, "POST", &path).map(|r| r.binary.as_str()),
            Some(function),
            "{path}"
        );
    }
}

/// Paths to probe a function's router with, beyond the template's: the local gateway's,
/// the routes the design names (hyphenated and with underscores, as the original served
/// some), the paths the functions list, and path literals from the function's source.
fn probe_patterns(binary: &str, router: &[(String, String, Vec<String>)]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = router.iter().map(|(p, _, _)| p.clone()).collect();
    let base = paths::V1;
    let tails = [
        "leads",
        "leads/{id}",
        "leads/dashboard",
        "leads/overdue",
        "leads/high-priority",
        "leads/unassigned",
        "leads/dashboard-stats",
        "leads/overdue-followups",
        "leads/{id}/update-score",
        "leads/{id}/mark-contacted",
        "leads/{id}/convert",
        "leads/{id}/mark-lost",
        "leads/{id}/ai-insights",
        "leads/{id}/activities",
        "leads/{id}/notes",
        "leads/{id}/tags",
        "leads/bulk-update",
        "leads/bulk-assign",
        "leads/bulk-tag",
        "scoring-settings",
        "sources",
        "sources/{id}",
        "tags",
        "tags/{id}",
        "activities",
        "activities/{id}",
        "notes",
        "notes/{id}",
        "custom-fields",
        "custom-fields/{id}",
    ];
    for tail in tails {
        out.insert(format!("{base}/{tail}"));
        out.insert(format!("{base}/{}", tail.replace('-', "_")));
    }
    for p in ["/", "/health", "/health-check", "/api", "/api/leads", base] {
        out.insert(p.to_string());
    }
    for table in [
        leads::routes(),
        actions::routes(),
        bulk::routes(),
        sources::routes(),
        accounts::routes(),
    ] {
        out.extend(table.paths());
    }
    // String literals in the source that look like paths, with `{CONST}` resolved.
    let source = std::fs::read_to_string(repo_path(&format!("functions/{binary}/src/lib.rs")))
        .unwrap_or_default();
    let mut consts = BTreeMap::new();
    for line in source.lines() {
        if let Some(rest) = line.trim().strip_prefix("pub const ") {
            if let Some((name, value)) = rest.split_once(": &str = \"") {
                consts.insert(name.to_string(), value.trim_end_matches("\";").to_string());
            }
        }
    }
    for literal in source.split('"').skip(1).step_by(2) {
        let mut path = literal.to_string();
        for (name, value) in &consts {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        if path.starts_with('/') && !path.contains(' ') {
            out.insert(path);
        }
    }
    let all: Vec<String> = out.iter().cloned().collect();
    for p in all {
        if p != "/" && !p.contains("{*") {
            out.extend(both_spellings(&p));
        }
    }
    out.retain(|p| !p.contains("{*") && !p.is_empty());
    out
}

/// Every template route of `binary` is served by its router, and every route its router
/// serves is deployed to it (health routes: to the one function the template gives them).
async fn check_function_router(binary: &'static str) {
    let spec = function(binary);
    let build = spec.http_app().expect("an HTTP function");
    let routes = template_routes(&template());
    let ours: Vec<Route> = routes
        .iter()
        .filter(|r| r.binary == binary)
        .cloned()
        .collect();
    assert!(!ours.is_empty(), "the template has no route for {binary}");

    // Leads are created through the leads function, on the same table.
    let creator = TestApp::start(leads::app).await;
    let (app, calls) = crate::recorder::recorded_function(&creator, build).await;
    let tenant = app.tenant("Routes Co").await;
    let owner = app.token(&tenant, "owner-1", Role::Owner);
    let lead = json!({"first_name": "John", "last_name": "Doe", "email": "john@company.com"});
    let id = crm_testkit::fixtures::id(&creator.create_lead(&owner, lead).await);
    // A read-only caller: every existing route answers (200, 202, 400, 403, ...) without
    // changing leads, while an unknown route is the router's 404 and a wrong method its 405.
    let reader = app.token(&tenant, "reader", Role::Readonly);
    let status = |method: &'static str, path: String| {
        let app = app.clone();
        let reader = reader.clone();
        async move {
            app.request(method, &path)
                .bearer(&reader)
                .send()
                .await
                .status
        }
    };

    for route in &ours {
        let path = instantiate(&route.path, &id);
        let methods: Vec<&'static str> = if route.method == "ANY" {
            METHODS.to_vec()
        } else {
            METHODS.into_iter().filter(|m| *m == route.method).collect()
        };
        let mut answers = Vec::new();
        for method in methods {
            answers.push((method, status(method, path.clone()).await));
        }
        assert!(
            answers.iter().any(|(_, s)| *s != 404 && *s != 405),
            "template route {} {} is not served by {binary}: {answers:?}",
            route.method,
            route.path
        );
    }

    let router = cargo_lambda_router();
    let mut served = 0;
    for pattern in probe_patterns(binary, &router) {
        let path = instantiate(&pattern, &id);
        for method in METHODS {
            let answer = status(method, path.clone()).await;
            if answer == 404 || answer == 405 {
                continue;
            }
            served += 1;
            let route = template_route_for(&routes, method, &path);
            if is_health_path(&path) {
                assert!(
                    spec.serves_health(),
                    "{binary} serves {path}: set `health: true` for it in checks' functions()"
                );
                let target = route.map(|r| function(&r.binary));
                assert!(
                    target.is_some_and(|f| f.serves_health()),
                    "{binary} serves {method} {path}; the template must route it to a \
                     function that does"
                );
                continue;
            }
            // A more specific route of another function shadows one of ours (a lead id
            // `bulk-update` is bulk's path): API Gateway never sends it here.
            let shadowed = route.is_some_and(|r| r.binary != binary)
                && ours.iter().any(|r| apigw_matches(&r.path, &path));
            if shadowed {
                continue;
            }
            assert_eq!(
                route.map(|r| r.binary.as_str()),
                Some(binary),
                "{binary} serves {method} {path} ({answer}) but the template does not \
                 route it there"
            );
        }
    }
    assert!(served >= ours.len(), "{served} routes served");
    crate::recorder::assert_granted(binary, "probing its routes", &calls.take());

    // `health` in functions() says whether the router has the health routes (which call
    // DescribeTable and GetQueueAttributes: the IAM check relies on it).
    let health = status("GET", "/health-check/".into()).await;
    assert_eq!(
        health != 404,
        spec.serves_health(),
        "{binary}: GET /health-check/ answers {health}"
    );
}

#[tokio::test]
async fn the_leads_router_serves_exactly_its_template_routes() {
    check_function_router("leads").await;
}

#[tokio::test]
async fn the_actions_router_serves_exactly_its_template_routes() {
    check_function_router("actions").await;
}

#[tokio::test]
async fn the_bulk_router_serves_exactly_its_template_routes() {
    check_function_router("bulk").await;
}

#[tokio::test]
async fn the_sources_router_serves_exactly_its_template_routes() {
    check_function_router("sources").await;
}

#[tokio::test]
async fn the_accounts_router_serves_exactly_its_template_routes() {
    check_function_router("accounts").await;
}

#[test]
fn every_http_function_has_its_router_check() {
    // The four tests above; a new HTTP function needs its own.
    let http: BTreeSet<&str> = functions()
        .iter()
        .filter(|f| f.http_app().is_some())
        .map(|f| f.binary)
        .collect();
    assert_eq!(
        http,
        BTreeSet::from(["leads", "actions", "bulk", "sources", "accounts"])
    );
}
