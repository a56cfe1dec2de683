//! `template.yaml` agrees with the code:
//! - its table has the keys and indexes of `crm_shared::table::definition()`, which the local
//!   stack and the tests create;
//! - its HTTP API routes, the local gateway's router (`cargo lambda watch`, root Cargo.toml
//!   `[workspace.metadata.lambda.watch.router]`) and this function's own router agree: no
//!   path is reachable in one and a 404 in another.
//!
//! The parsing and matching helpers are generic over functions; the router checks run for
//! the function this crate builds (its `Binary` in the template). A new function's crate
//! gets the same test for its own routes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::*;

/// This crate's binary, as named by the template's `BuildProperties.Binary`.
const BINARY: &str = "leads";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// template.yaml

/// YAML to JSON, with CloudFormation's short tags (`!Ref x`, `!GetAtt a.b`, `!Sub s`, ...)
/// turned into their long form (`{"Ref": x}`, `{"Fn::GetAtt": [a, b]}`, `{"Fn::Sub": s}`).
fn to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap(),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match to_json(k) {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').expect("!GetAtt a.b");
                        json!({"Fn::GetAtt": [resource, attribute]})
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                _ => json!({ format!("Fn::{name}"): inner }),
            }
        }
    }
}

fn template() -> Value {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&repo_file("template.yaml")).expect("template.yaml is YAML");
    to_json(yaml)
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

/// A route of the HTTP API: which function's binary serves which method and path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    binary: String,
    method: String,
    path: String,
}

fn template_routes(template: &Value) -> Vec<Route> {
    let mut routes = Vec::new();
    for (name, function) in resources_of_type(template, "AWS::Serverless::Function") {
        let events = function["Properties"]["Events"].as_object();
        let http: Vec<&Value> = events
            .into_iter()
            .flat_map(|e| e.values())
            .filter(|e| e["Type"] == "HttpApi")
            .collect();
        if http.is_empty() {
            continue;
        }
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}: BuildMethod"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Metadata.BuildProperties.Binary"));
        for event in http {
            let props = &event["Properties"];
            assert_eq!(
                props["ApiId"],
                json!({"Ref": "Api"}),
                "{name}: one HTTP API"
            );
            routes.push(Route {
                binary: binary.to_string(),
                method: props["Method"].as_str().expect("Method").to_uppercase(),
                path: props["Path"].as_str().expect("Path").to_string(),
            });
        }
    }
    routes.sort();
    routes
}

/// API Gateway HTTP API path matching: exact segments (so `/x` and `/x/` differ), `{name}`
/// for one segment, `{name+}` as the last segment for the rest.
fn apigw_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    for (i, p) in pattern.iter().enumerate() {
        if p.starts_with('{') && p.ends_with("+}") {
            return i == pattern.len() - 1 && path.len() > i && !path[i..].concat().is_empty();
        }
        match path.get(i) {
            None => return false,
            Some(s) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return false;
                }
            }
            Some(s) if s == p => {}
            Some(_) => return false,
        }
    }
    pattern.len() == path.len()
}

fn template_route_for<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .find(|r| (r.method == "ANY" || r.method == method) && apigw_matches(&r.path, path))
}

#[test]
fn the_template_table_is_the_one_the_local_stack_creates() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let props = &tables[0].1["Properties"];
    let ours = crm_shared::table::definition("unused");

    assert_eq!(props["BillingMode"], ours["BillingMode"]);
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("a list: {v}"))
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    assert_eq!(
        set(&props["KeySchema"]),
        set(&ours["KeySchema"]),
        "KeySchema"
    );
    assert_eq!(
        set(&props["AttributeDefinitions"]),
        set(&ours["AttributeDefinitions"]),
        "AttributeDefinitions"
    );
    let indexes = |v: &Value| -> BTreeMap<String, (BTreeSet<String>, Value)> {
        v.as_array()
            .unwrap_or_else(|| panic!("a list: {v}"))
            .iter()
            .map(|i| {
                let known = ["IndexName", "KeySchema", "Projection"];
                for field in i.as_object().unwrap().keys() {
                    assert!(known.contains(&field.as_str()), "{field} in {i}");
                }
                (
                    i["IndexName"].as_str().unwrap().to_string(),
                    (set(&i["KeySchema"]), i["Projection"].clone()),
                )
            })
            .collect()
    };
    assert_eq!(
        indexes(&props["GlobalSecondaryIndexes"]),
        indexes(&ours["GlobalSecondaryIndexes"]),
        "GlobalSecondaryIndexes"
    );
    assert!(props.get("LocalSecondaryIndexes").is_none());
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

fn function_of<'a>(template: &'a Value, binary: &str) -> &'a Value {
    resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("no function builds {binary}"))
        .1
}

#[test]
fn the_function_gets_its_configuration_and_only_the_permissions_it_uses() {
    let template = template();
    let function = function_of(&template, BINARY);
    let props = &function["Properties"];
    let globals = &template["Globals"]["Function"];
    let setting = |name: &str| props.get(name).or_else(|| globals.get(name)).cloned();
    assert_eq!(setting("Runtime"), Some(json!("provided.al2023")));
    assert_eq!(setting("Architectures"), Some(json!(["arm64"])));
    assert!(props["MemorySize"].is_u64() && props["Timeout"].is_u64());
    assert_eq!(props["LoggingConfig"]["LogFormat"], "JSON");

    // Every variable `Config::from_env` and the telemetry read, from the template.
    let mut env: BTreeSet<&str> = BTreeSet::new();
    for vars in [
        &globals["Environment"]["Variables"],
        &props["Environment"]["Variables"],
    ] {
        env.extend(
            vars.as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.as_str()),
        );
    }
    for var in [
        "TABLE_NAME",
        "JWT_SECRET_KEY",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "AI_AGENTS_URL",
        "LOG_LEVEL",
        "TENANT_CACHE_SECONDS",
        "MAX_BODY_BYTES",
    ] {
        assert!(env.contains(var), "{var} is not set for {BINARY}");
    }
    assert_eq!(
        template["Parameters"]["JwtSecretKey"]["NoEcho"], true,
        "the secret parameter must be NoEcho"
    );

    // The table actions the function may use: exactly those it calls.
    let mut actions = BTreeSet::new();
    for policy in props["Policies"].as_array().expect("inline policies") {
        for statement in policy["Statement"].as_array().expect("statements") {
            assert_eq!(statement["Effect"], "Allow");
            let listed = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(a) => a.iter().map(|a| a.as_str().unwrap().to_string()).collect(),
                other => panic!("Action {other}"),
            };
            for action in listed {
                assert!(!action.contains('*'), "no wildcard actions: {action}");
                actions.insert(action);
            }
        }
    }
    let expected: BTreeSet<String> = [
        "GetItem",
        "BatchGetItem",
        "Query",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "ConditionCheckItem",
        "DescribeTable",
    ]
    .iter()
    .map(|a| format!("dynamodb:{a}"))
    .collect();
    assert_eq!(actions, expected);
}

// ---------------------------------------------------------------------------------------
// The local gateway: cargo-lambda's router (matchit syntax)

/// `(path pattern, function, methods or empty for all)` from the root Cargo.toml.
fn cargo_lambda_router() -> Vec<(String, String, Vec<String>)> {
    let manifest: toml::Table = repo_file("Cargo.toml").parse().expect("Cargo.toml");
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]");
    let mut out = Vec::new();
    for (path, target) in router {
        match target {
            toml::Value::String(function) => out.push((path.clone(), function.clone(), vec![])),
            toml::Value::Array(entries) => {
                for entry in entries {
                    let function = entry["function"].as_str().expect("function").to_string();
                    let method = entry["method"].as_str().expect("method").to_uppercase();
                    out.push((path.clone(), function, vec![method]));
                }
            }
            other => panic!("router entry {path}: unexpected {other}"),
        }
    }
    out
}

/// matchit: `{name}` is one non-empty segment, `{*name}` (last) the non-empty rest. Returns
/// the match's priority (static segments rank above parameters, parameters above the
/// catch-all), or None.
fn matchit_match(pattern: &str, path: &str) -> Option<(usize, usize)> {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    let mut statics = 0;
    for (i, p) in pattern.iter().enumerate() {
        if p.starts_with("{*") {
            assert!(p.ends_with('}') && i == pattern.len() - 1, "catch-all: {p}");
            let rest = path.get(i..)?.join("/");
            return (!rest.is_empty()).then_some((statics, 0));
        }
        let s = path.get(i)?;
        if p.starts_with('{') {
            assert!(p.ends_with('}'), "only whole-segment parameters: {p}");
            if s.is_empty() {
                return None;
            }
        } else if s == p {
            statics += 1;
        } else {
            return None;
        }
    }
    (pattern.len() == path.len()).then_some((statics, 1))
}

/// The function the local gateway sends `method path` to.
fn local_gateway_target(
    router: &[(String, String, Vec<String>)],
    method: &str,
    path: &str,
) -> Option<String> {
    router
        .iter()
        .filter(|(_, _, methods)| methods.is_empty() || methods.iter().any(|m| m == method))
        .filter_map(|(pattern, function, _)| {
            matchit_match(pattern, path).map(|rank| (rank, function.clone()))
        })
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, function)| function)
}

/// A concrete path for a template or router pattern: parameters become `id`.
fn instantiate(pattern: &str, id: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { id } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_local_gateway_routes_every_template_route_to_its_function() {
    let routes = template_routes(&template());
    let router = cargo_lambda_router();
    assert!(!routes.is_empty());
    let id = "b7e4f0a2-5c3d-4f81-8e29-6a1d9c0b3e55";
    for route in &routes {
        let path = instantiate(&route.path, id);
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
    // Every literal route of the local gateway is deployed, to the same function.
    for (pattern, function, methods) in &router {
        let binaries: BTreeSet<&str> = routes.iter().map(|r| r.binary.as_str()).collect();
        assert!(
            binaries.contains(function.as_str()),
            "{function} is not in the template"
        );
        if pattern.contains('{') {
            assert!(
                routes.iter().any(|r| &r.binary == function
                    && matchit_match(pattern, &instantiate(&r.path, id)).is_some()),
                "local route {pattern} covers no template route of {function}"
            );
            continue;
        }
        let methods = if methods.is_empty() {
            METHODS.iter().map(|m| m.to_string()).collect()
        } else {
            methods.clone()
        };
        for method in methods {
            let deployed = template_route_for(&routes, &method, pattern);
            assert_eq!(
                deployed.map(|r| r.binary.as_str()),
                Some(function.as_str()),
                "the local gateway serves {method} {pattern}; the template must too"
            );
        }
    }
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
        ("/a/{*rest}".to_string(), "x".to_string(), vec![]),
        ("/a/b".to_string(), "y".to_string(), vec![]),
    ];
    assert_eq!(
        local_gateway_target(&router, "GET", "/a/b").as_deref(),
        Some("y")
    );
    assert_eq!(
        local_gateway_target(&router, "GET", "/a/c").as_deref(),
        Some("x")
    );
    assert_eq!(local_gateway_target(&router, "GET", "/b"), None);
}

// ---------------------------------------------------------------------------------------
// This function's own router

/// Paths to probe the function's router with, beyond the template's: the local gateway's,
/// the routes the design names (so a route added to the code but not to the template is
/// found), and path literals from the function's source.
fn probe_patterns(router: &[(String, String, Vec<String>)]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = router.iter().map(|(p, _, _)| p.clone()).collect();
    let base = "/api/leads/api/v1";
    for tail in [
        "leads",
        "leads/{id}",
        "leads/dashboard",
        "leads/overdue",
        "leads/high-priority",
        "leads/unassigned",
        "leads/dashboard_stats",
        "leads/overdue_followups",
        "leads/high_priority",
        "leads/{id}/update-score",
        "leads/{id}/mark-contacted",
        "leads/{id}/convert",
        "leads/{id}/mark-lost",
        "leads/{id}/ai-insights",
        "leads/bulk-update",
        "leads/bulk-assign",
        "leads/bulk-tag",
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
    ] {
        out.insert(format!("{base}/{tail}"));
    }
    for p in ["/", "/health", "/health-check", "/api", "/api/leads", base] {
        out.insert(p.to_string());
    }
    // String literals in the source that look like paths, with `{CONST}` resolved.
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))
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
    // Both spellings of each: with and without the trailing slash.
    let all: Vec<String> = out.iter().cloned().collect();
    for p in all {
        if p != "/" && !p.contains("{*") {
            out.insert(format!("{}/", p.trim_end_matches('/')));
            out.insert(p.trim_end_matches('/').to_string());
        }
    }
    out.retain(|p| !p.contains("{*") && !p.is_empty());
    out
}

#[tokio::test]
async fn the_template_and_the_function_router_serve_the_same_routes() {
    let routes = template_routes(&template());
    let ours: Vec<Route> = routes
        .iter()
        .filter(|r| r.binary == BINARY)
        .cloned()
        .collect();
    assert!(!ours.is_empty(), "the template has no route for {BINARY}");

    let app = start().await;
    let (tenant, owner) = tenant_owner(&app, "Routes Co").await;
    let lead = create(&app, &owner, john()).await;
    let id = lead["id"].as_str().unwrap().to_string();
    // Read-only: every existing route answers (200, or 403 for writes) without changing data,
    // while an unknown route is the router's 404 and a wrong method its 405.
    let reader = app.token(&tenant, "reader", Role::Readonly);
    let probe = |method: &'static str, path: String| {
        let app = app.clone();
        let reader = reader.clone();
        async move {
            let res = app.request(method, &path).bearer(&reader).send().await;
            (method, path, res.status)
        }
    };

    // Every template route of this function is served by its router.
    for route in &ours {
        let path = instantiate(&route.path, &id);
        if route.method == "ANY" {
            let mut answers = Vec::new();
            for method in METHODS {
                answers.push(probe(method, path.clone()).await);
            }
            assert!(
                answers.iter().any(|(_, _, s)| *s != 404 && *s != 405),
                "template route ANY {} is not served by {BINARY}: {answers:?}",
                route.path
            );
        } else {
            let method: &'static str = METHODS
                .into_iter()
                .find(|m| *m == route.method)
                .unwrap_or_else(|| panic!("method {}", route.method));
            let (_, _, status) = probe(method, path.clone()).await;
            assert!(
                status != 404 && status != 405,
                "template route {} {} answers {status}",
                route.method,
                route.path
            );
        }
    }

    // Every route the function serves is in the template, for this function.
    let router = cargo_lambda_router();
    let mut served = 0;
    for pattern in probe_patterns(&router) {
        let path = instantiate(&pattern, &id);
        for method in METHODS {
            let (_, _, status) = probe(method, path.clone()).await;
            if status == 404 || status == 405 {
                continue;
            }
            served += 1;
            let route = template_route_for(&routes, method, &path);
            assert_eq!(
                route.map(|r| r.binary.as_str()),
                Some(BINARY),
                "{BINARY} serves {method} {path} ({status}) but the template does not route it there"
            );
        }
    }
    assert!(served >= ours.len(), "{served} routes served");
}
