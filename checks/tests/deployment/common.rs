//! What the checks share: the repository's files, `template.yaml` as JSON, the functions the
//! template deploys (with what their code needs), and the two routers' matching rules.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use crm_app::changes::Services as ChangesServices;
use crm_app::queue::{QueueSpec, INSIGHTS_QUEUE, SCORING_QUEUE, WEBHOOKS_QUEUE};
use crm_http::{App, AppState};
use crm_worker::Worker;
pub use serde_json::{json, Value};

pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// A lead id for instantiating `{id}` in paths (the one the event files name).
pub const EXAMPLE_LEAD_ID: &str = "b7e4f0a2-5c3d-4f81-8e29-6a1d9c0b3e55";

pub fn repo_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

pub fn repo_file(name: &str) -> String {
    let path = repo_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// The functions

/// An SQS worker's handler, as its `main` calls it.
pub type WorkerHandler =
    for<'a> fn(&'a Worker, SqsEvent) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + 'a>>;

/// The stream worker's handler, as its `main` calls it.
pub type StreamHandler = for<'a> fn(
    &'a ChangesServices,
    StreamEvent,
) -> Pin<Box<dyn Future<Output = DynamoDbEventResponse> + 'a>>;

pub enum Kind {
    /// Behind the HTTP API: the function's router, and whether it merges the health routes
    /// (`/`, `/health`, `/health-check`: the last calls DescribeTable and
    /// GetQueueAttributes on every queue it is configured with).
    Http {
        app: fn(AppState) -> App,
        health: bool,
    },
    /// Fed by an SQS event source mapping on `queue`.
    Worker {
        queue: QueueSpec,
        handle: WorkerHandler,
    },
    /// Fed by the DynamoDB event source mapping on the table's stream.
    Stream { handle: StreamHandler },
}

/// A function of the template, keyed by its binary (`Metadata.BuildProperties.Binary`), and
/// what its code needs from the deployment.
pub struct Function {
    pub binary: &'static str,
    pub kind: Kind,
    /// The queues it sends to (`crm_app::queue::Queues::send_all`, from the changes
    /// worker only): it needs the queue's URL variable and `sqs:SendMessage` on it.
    pub sends_to: &'static [QueueSpec],
    /// The queues whose URL it is given without sending to them: an HTTP function learns
    /// that the queue's worker is deployed (else it does the work inline), and its health
    /// check, if it serves one, reads the queue's attributes.
    pub knows: &'static [QueueSpec],
    /// Exactly the DynamoDB actions its code calls, with the resource each applies to:
    /// `table`, `table/index/*` or `table/index/<name>`. A transaction needs the actions of
    /// what it contains: a lead write is Put (the lead, its audit entry, activities, new
    /// search tokens) + Update (the counters), and Delete only when it can drop something:
    /// an email guard, search tokens or tag memberships (a change of email, name, company,
    /// job title, industry, phone or tags), or the lead itself.
    pub dynamodb: &'static [(&'static str, &'static str)],
    /// Variables beyond those every function gets (`TABLE_NAME`, `LOG_LEVEL`) and those of
    /// every HTTP function ([`HTTP_ENV`]) and of its queues.
    pub env: &'static [&'static str],
}

impl Function {
    pub fn http_app(&self) -> Option<fn(AppState) -> App> {
        match self.kind {
            Kind::Http { app, .. } => Some(app),
            Kind::Worker { .. } | Kind::Stream { .. } => None,
        }
    }

    pub fn serves_health(&self) -> bool {
        matches!(self.kind, Kind::Http { health: true, .. })
    }
}

/// What `Config::from_env` reads that every HTTP function must be given (the JWT settings
/// must be the same everywhere, or one function would accept tokens another refuses).
pub const HTTP_ENV: &[&str] = &[
    "JWT_SECRET_KEY",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWKS_URL",
    "JWT_TENANT_CLAIM",
    "JWT_ROLE_CLAIM",
    "TENANT_CACHE_SECONDS",
    "MAX_BODY_BYTES",
    "TENANT_BASE_DOMAIN",
    "API_DOMAIN_NAME",
    "DNS_NAMESERVER",
];
/// Every function: `Config::from_env` / `Worker::from_env` and the telemetry.
pub const COMMON_ENV: &[&str] = &["TABLE_NAME", "LOG_LEVEL"];
/// Variables the template may pass that the code does not read (yet), on purpose.
pub const PASSED_ON: &[&str] = &[];

fn scoring_handler(
    worker: &Worker,
    event: SqsEvent,
) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + '_>> {
    Box::pin(scoring::handle(worker, event))
}

fn insights_handler(
    worker: &Worker,
    event: SqsEvent,
) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + '_>> {
    Box::pin(insights::handle(worker, event))
}

fn changes_handler(
    services: &ChangesServices,
    event: StreamEvent,
) -> Pin<Box<dyn Future<Output = DynamoDbEventResponse> + '_>> {
    Box::pin(changes::handle(services, event))
}

fn webhooks_handler(
    worker: &Worker,
    event: SqsEvent,
) -> Pin<Box<dyn Future<Output = SqsBatchResponse> + '_>> {
    Box::pin(webhooks::handle(worker, event))
}

/// A lead write that changes no searchable field, email or tag (actions, scores).
const LEAD_WRITE: [(&str, &str); 2] = [("PutItem", "table"), ("UpdateItem", "table")];
/// What an edit can drop: an email guard, search tokens, tag memberships; or a delete.
const LEAD_DELETE: (&str, &str) = ("DeleteItem", "table");

/// Every function the template deploys. A new function gets a line here (the checks fail
/// until it has one), its routes in the template and the local gateway, and `events/<binary>/`.
pub fn functions() -> Vec<Function> {
    vec![
        Function {
            binary: "leads",
            kind: Kind::Http {
                app: leads::app,
                health: true,
            },
            sends_to: &[],
            knows: &[],
            dynamodb: &[
                // tenant, lead, counters
                ("GetItem", "table"),
                // search hits
                ("BatchGetItem", "table"),
                // search tokens (table), list views (indexes)
                ("Query", "table"),
                ("Query", "table/index/*"),
                LEAD_WRITE[0],
                LEAD_WRITE[1],
                LEAD_DELETE,
                // GET /health-check/
                ("DescribeTable", "table"),
            ],
            env: &["AI_AGENTS_URL"],
        },
        Function {
            binary: "actions",
            kind: Kind::Http {
                app: actions::app,
                health: false,
            },
            sends_to: &[],
            // says whether the insights worker is deployed (else insights are inline)
            knows: &[INSIGHTS_QUEUE],
            dynamodb: &[
                // tenant, lead, scoring settings, insights record
                ("GetItem", "table"),
                // lead writes, settings (PutItem), insights record and request mark
                LEAD_WRITE[0],
                LEAD_WRITE[1],
                // the insights record is written only while the lead exists
                ("ConditionCheckItem", "table"),
            ],
            // inline insights, only without INSIGHTS_QUEUE_URL
            env: &["AI_AGENTS_URL"],
        },
        Function {
            binary: "bulk",
            kind: Kind::Http {
                app: bulk::app,
                health: false,
            },
            sends_to: &[],
            // says whether the scoring worker is deployed (else update-scores is inline)
            knows: &[SCORING_QUEUE],
            dynamodb: &[
                // tenant, idempotency record
                ("GetItem", "table"),
                // the leads, 100 per call
                ("BatchGetItem", "table"),
                // least_loaded: Select=COUNT on the assignee index (routes.rs checks the name)
                ("Query", "table/index/GSI5"),
                // lead writes (bulk-update may change tags; bulk-tag removes them);
                // idempotency claim, answer (Put) and release (Delete); new sources, tags
                LEAD_WRITE[0],
                LEAD_WRITE[1],
                LEAD_DELETE,
                // update-scores' rescore requests, written only while their lead exists
                ("ConditionCheckItem", "table"),
            ],
            env: &[],
        },
        Function {
            binary: "sources",
            kind: Kind::Http {
                app: sources::app,
                health: false,
            },
            sends_to: &[],
            knows: &[],
            dynamodb: &[
                // tenant, lead, source, tag, activity, note, custom field
                ("GetItem", "table"),
                // the sources, tags and custom fields lists
                ("Query", "table"),
                // activities and notes: the tenant's (Created), a lead's timeline (Score)
                ("Query", "table/index/GSI1"),
                ("Query", "table/index/GSI2"),
                // a tag's lead memberships (Source), for deleting the tag
                ("Query", "table/index/GSI6"),
                // upcoming and overdue tasks (FollowUp)
                ("Query", "table/index/GSI7"),
                // records with their name guards and counters; an activity's lead write
                LEAD_WRITE[0],
                LEAD_WRITE[1],
                // deletes (and name guards); tag deletion drops the leads' memberships
                LEAD_DELETE,
                // notes and activities are written only while their lead exists
                ("ConditionCheckItem", "table"),
            ],
            env: &[],
        },
        Function {
            binary: "accounts",
            kind: Kind::Http {
                app: accounts::app,
                health: false,
            },
            sends_to: &[],
            knows: &[],
            dynamodb: &[
                // users, email guards, memberships, sessions, tokens, failure counts, tenants
                ("GetItem", "table"),
                // the users of a member page
                ("BatchGetItem", "table"),
                // a tenant's members and invitations, a user's memberships and sessions
                ("Query", "table"),
                // users, memberships and the member counts, sessions, invitations, counts,
                // tenants and their slug guards
                ("PutItem", "table"),
                ("UpdateItem", "table"),
                ("DeleteItem", "table"),
            ],
            env: &[
                "ACCESS_TOKEN_SECONDS",
                "REFRESH_TOKEN_SECONDS",
                "LOGIN_MAX_FAILURES",
                "LOGIN_WINDOW_SECONDS",
                "ALLOW_TENANT_SIGNUP",
            ],
        },
        Function {
            binary: "scoring",
            kind: Kind::Worker {
                queue: SCORING_QUEUE,
                handle: scoring_handler,
            },
            sends_to: &[],
            knows: &[],
            dynamodb: &[
                // lead, scoring settings
                ("GetItem", "table"),
                LEAD_WRITE[0],
                LEAD_WRITE[1],
            ],
            env: &[],
        },
        Function {
            binary: "insights",
            kind: Kind::Worker {
                queue: INSIGHTS_QUEUE,
                handle: insights_handler,
            },
            sends_to: &[],
            knows: &[],
            dynamodb: &[
                // lead, insights record, scoring settings
                ("GetItem", "table"),
                // the rescore before insights when the lead changed, the insights record
                LEAD_WRITE[0],
                LEAD_WRITE[1],
                ("ConditionCheckItem", "table"),
            ],
            env: &["AI_AGENTS_URL"],
        },
        Function {
            binary: "changes",
            kind: Kind::Stream {
                handle: changes_handler,
            },
            sends_to: &[SCORING_QUEUE, INSIGHTS_QUEUE, WEBHOOKS_QUEUE],
            knows: &[],
            // the tenants' webhook subscriptions (the stream's permissions are checked apart)
            dynamodb: &[("Query", "table")],
            env: &[],
        },
        Function {
            binary: "webhooks",
            kind: Kind::Worker {
                queue: WEBHOOKS_QUEUE,
                handle: webhooks_handler,
            },
            // each retry is a new message on its own queue, with a delay
            sends_to: &[WEBHOOKS_QUEUE],
            knows: &[],
            dynamodb: &[
                // the subscription
                ("GetItem", "table"),
                // the delivery log; the subscription's failure state (a versioned Put)
                ("PutItem", "table"),
            ],
            // after 24 hours of failures a delivery goes to the dead-letter queue
            env: &["WEBHOOKS_DLQ_URL"],
        },
    ]
}

pub fn function(binary: &str) -> Function {
    functions()
        .into_iter()
        .find(|f| f.binary == binary)
        .unwrap_or_else(|| panic!("{binary} is not in checks' functions()"))
}

/// Functions of the workspace that the template does not deploy yet (their `events/` folder
/// may exist). Once the template has one, move it into [`functions`].
pub const NOT_DEPLOYED_YET: &[&str] = &[];

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

pub fn template() -> Value {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&repo_file("template.yaml")).expect("template.yaml is YAML");
    to_json(yaml)
}

pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

pub fn resource<'a>(template: &'a Value, name: &str) -> &'a Value {
    let r = &template["Resources"][name];
    assert!(r.is_object(), "no resource {name}");
    r
}

/// The logical name a `{"Ref": name}` or `{"Fn::GetAtt": [name, attr]}` points at.
pub fn referenced(value: &Value) -> Option<&str> {
    value["Ref"]
        .as_str()
        .or_else(|| value["Fn::GetAtt"][0].as_str())
}

/// The template's functions by binary: `(logical name, resource)`.
pub fn template_functions(template: &Value) -> BTreeMap<String, (String, Value)> {
    let mut out = BTreeMap::new();
    for (name, function) in resources_of_type(template, "AWS::Serverless::Function") {
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{name}: BuildMethod"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Metadata.BuildProperties.Binary"));
        let previous = out.insert(binary.to_string(), (name.to_string(), function.clone()));
        assert!(previous.is_none(), "two functions build {binary}");
    }
    out
}

pub fn function_of(template: &Value, binary: &str) -> (String, Value) {
    template_functions(template)
        .remove(binary)
        .unwrap_or_else(|| panic!("no function of the template builds {binary}"))
}

/// The queue resource of a spec: the one named `${AWS::StackName}-<name>`.
pub fn queue_resource<'a>(template: &'a Value, spec: &QueueSpec) -> (&'a str, &'a Value) {
    queue_named(template, spec.name)
}

pub fn queue_named<'a>(template: &'a Value, suffix: &str) -> (&'a str, &'a Value) {
    let wanted = format!("${{AWS::StackName}}-{suffix}");
    let found: Vec<_> = resources_of_type(template, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(_, q)| q["Properties"]["QueueName"]["Fn::Sub"] == wanted.as_str())
        .collect();
    assert_eq!(found.len(), 1, "one queue named {wanted}");
    found[0]
}

/// A route of the HTTP API: which function's binary serves which method and path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub binary: String,
    pub method: String,
    pub path: String,
}

pub fn template_routes(template: &Value) -> Vec<Route> {
    let mut routes = Vec::new();
    for (binary, (name, function)) in template_functions(template) {
        let events = function["Properties"]["Events"].as_object().cloned();
        for event in events.into_iter().flat_map(|e| e.into_values()) {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let props = &event["Properties"];
            assert_eq!(
                props["ApiId"],
                json!({"Ref": "Api"}),
                "{name}: one HTTP API"
            );
            routes.push(Route {
                binary: binary.clone(),
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
pub fn apigw_matches(pattern: &str, path: &str) -> bool {
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

/// The template route API Gateway picks for `method path`: the most specific match (static
/// segments before parameters, as API Gateway does).
pub fn template_route_for<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| (r.method == "ANY" || r.method == method) && apigw_matches(&r.path, path))
        .max_by_key(|r| r.path.split('/').filter(|s| !s.starts_with('{')).count())
}

/// A concrete path for a template or router pattern: parameters become `id`.
pub fn instantiate(pattern: &str, id: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with('{') { id } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// `path` and the same path with (or without) its trailing slash.
pub fn both_spellings(path: &str) -> [String; 2] {
    let bare = path.trim_end_matches('/');
    [bare.to_string(), format!("{bare}/")]
}

// ---------------------------------------------------------------------------------------
// The local gateway: cargo-lambda's router (matchit syntax)

/// `(path pattern, function, methods or empty for all)` from the root Cargo.toml.
pub fn cargo_lambda_router() -> Vec<(String, String, Vec<String>)> {
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
pub fn matchit_match(pattern: &str, path: &str) -> Option<(usize, usize)> {
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

/// Route pairs matchit refuses to hold together (cargo-lambda then fails to start): at the
/// same position after the same static prefix, a catch-all beside a parameter or another
/// catch-all, or two parameters with different names.
pub fn matchit_conflicts(patterns: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (n, a) in patterns.iter().enumerate() {
        for b in &patterns[n + 1..] {
            let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
            for (x, y) in sa.iter().zip(&sb) {
                let (px, py) = (x.starts_with('{'), y.starts_with('{'));
                if px && py {
                    let catch_all = x.starts_with("{*") || y.starts_with("{*");
                    if catch_all || x != y {
                        out.push((a.to_string(), b.to_string()));
                    }
                    if x != y {
                        break;
                    }
                } else if x != y {
                    break;
                }
            }
        }
    }
    out
}

/// The function the local gateway sends `method path` to.
pub fn local_gateway_target(
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
