//! The HTTP API's contract: an OpenAPI 3.1 document built with utoipa's builders from the
//! domain's own rules (its enums, bounds and limits), one module per HTTP function.
//!
//! `make openapi` writes it to `openapi.json` at the repository root; the leads function
//! serves that file at `GET /api/schema/` (and a page made from it at `GET /api/docs/`).
//! Tests keep the three in step: the committed file is what this crate builds, every path
//! of every function's route table is in it with the methods its router serves, and
//! `make fuzz` runs schemathesis over it against the local stack.

mod accounts;
mod actions;
mod bulk;
mod domains;
mod dsl;
mod leads;
mod ops;
mod resources;
mod tenants;
mod webhooks;

use utoipa::openapi::path::{HttpMethod, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Required, ResponseBuilder,
};

use dsl::{integer, string, Obj};
use ops::{json_response, public, tenant_header, Op, API_KEY, BEARER};

/// Where the leads function serves the document and its page.
pub const SCHEMA_PATH: &str = "/api/schema";
pub const DOCS_PATH: &str = "/api/docs";

/// The paths as the document spells them: with the trailing slash of the original's
/// paths (every path is served without it too).
pub fn documented_path(path: &str) -> String {
    if path == "/" {
        path.to_string()
    } else {
        format!("{path}/")
    }
}

/// The paths being described, with their operations.
pub struct Api {
    paths: Paths,
}

impl Api {
    /// Adds `op` at `path` (written as in a route table, without its trailing slash),
    /// with the path's `{id}` and, for an authenticated operation, `X-Tenant-Id`.
    pub fn add(&mut self, path: &str, op: Op) {
        let method = op.method.clone();
        let mut op = op;
        if path.contains("{id}") {
            op = op.param(
                ParameterBuilder::new()
                    .name("id")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(dsl::uuid()))
                    .description(Some(id_description(path)))
                    .build(),
            );
        }
        if op.authenticated() {
            op = op.param(tenant_header());
        }
        self.paths
            .add_path_operation(documented_path(path), vec![method], op.build());
    }
}

fn id_description(path: &str) -> String {
    let before = path
        .split("/{id}")
        .next()
        .and_then(|p| p.rsplit('/').next())
        .unwrap_or("record");
    let noun = match before {
        "leads" => "lead",
        "sources" => "source",
        "tags" => "tag",
        "activities" => "activity",
        "notes" => "note",
        "custom-fields" => "custom field",
        "webhooks" => "webhook subscription",
        "members" => "member's user",
        "invitations" => "invitation",
        "api-keys" => "API key",
        "domains" => "domain",
        other => other,
    };
    format!("The {noun}'s id.")
}

const DESCRIPTION: &str = "The CRM lead service: leads, their actions and bulk operations, \
sources, tags, activities, notes and custom fields, for many tenants; sign-in, members and \
invitations.\n\n\
Every path is served with and without its trailing slash. Requests carry a bearer JWT \
(`Authorization: Bearer <token>`) whose `tenant_id` names the tenant; roles are `owner`, \
`admin`, `manager`, `user` and `readonly`. Servers call with an API key instead \
(`X-API-Key` or `Authorization: Api-Key <key>`), scoped and tied to its tenant. Each tenant \
has a request rate limit (per minute) and each API key its own (per hour): every \
authenticated answer carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, \
and past a limit the answer is 429 with `Retry-After`. Errors are JSON as DRF answers them: \
`400 {\"field\": [\"message\"]}`, and `{\"detail\": \"...\"}` otherwise. Versioned records \
carry an `ETag`; send it back in `If-Match` to refuse a change made meanwhile (412). Lists \
are cursor-paginated: `{\"next\", \"previous\", \"results\"}`.";

fn health(api: &mut Api) {
    let health = Obj::new()
        .req("status", string().into())
        .req("service", string().into())
        .closed();
    let configured = |extra: Option<&str>| {
        let o = Obj::new().req("configured", dsl::boolean());
        match extra {
            Some(name) => o.req(name, string().into()),
            None => o,
        }
        .closed()
    };
    let info = Obj::new()
        .req("service", string().into())
        .req("version", string().into())
        .req("status", string().into())
        .req(
            "integrations",
            Obj::new()
                .req("dynamodb", configured(Some("table")))
                .req("ai_agents", configured(None))
                .req("scoring_queue", configured(None))
                .req("insights_queue", configured(None))
                .closed(),
        )
        .closed();
    let check = Obj::new()
        .req(
            "status",
            string().enum_values(Some(["healthy", "unhealthy"])).into(),
        )
        .req("service", string().into())
        .req(
            "checks",
            Obj::new()
                .req("dynamodb", string().into())
                .req("sqs", string().into())
                .closed(),
        )
        .closed();
    let get = |id: &str, summary: &str| public(HttpMethod::Get, id, "health", summary);
    api.add(
        "/",
        get("service_info", "Service information")
            .response(200, json_response("The service.", info)),
    );
    api.add(
        "/health",
        get("health", "Liveness").response(200, json_response("Alive.", health)),
    );
    let mut unhealthy = json_response("The table or the queues do not answer.", check.clone());
    unhealthy.headers.insert(
        "Retry-After".into(),
        utoipa::openapi::header::HeaderBuilder::new()
            .schema(integer(Some(0), None))
            .build(),
    );
    api.add(
        "/health-check",
        get("health_check", "Checks the table and the queues")
            .response(200, json_response("Healthy.", check))
            .response(503, unhealthy),
    );
}

fn schema_and_docs(api: &mut Api) {
    api.add(
        SCHEMA_PATH,
        public(HttpMethod::Get, "schema", "schema", "This OpenAPI document")
            .response(200, json_response("The document.", dsl::free_object())),
    );
    api.add(
        DOCS_PATH,
        public(
            HttpMethod::Get,
            "docs",
            "schema",
            "The API's operations as a page",
        )
        .response(
            200,
            ResponseBuilder::new()
                .description("An HTML page.")
                .content(
                    "text/html",
                    ContentBuilder::new().schema(Some(string())).build(),
                )
                .build(),
        ),
    );
}

const TAGS: [(&str, &str); 16] = [
    (
        "leads",
        "Leads, their list views and the dashboard (the leads function).",
    ),
    (
        "actions",
        "What is done to one lead, and the scoring settings (the actions function).",
    ),
    ("bulk", "Changes to many leads at once (the bulk function)."),
    ("sources", "Lead sources (the sources function)."),
    ("tags", "Lead tags (the sources function)."),
    (
        "activities",
        "Calls, emails, meetings and tasks (the sources function).",
    ),
    ("notes", "Notes on leads (the sources function)."),
    (
        "custom-fields",
        "The tenant's custom lead fields (the sources function).",
    ),
    (
        "webhooks",
        "Webhook subscriptions and their delivery log (the sources function).",
    ),
    (
        "auth",
        "Sign-in, sessions, the profile and password (the accounts function).",
    ),
    (
        "tenants",
        "The current tenant's settings, plan and usage; new tenants (the accounts function).",
    ),
    (
        "members",
        "The current tenant's members and invitations (the accounts function).",
    ),
    (
        "api-keys",
        "The current tenant's API keys (the accounts function).",
    ),
    (
        "domains",
        "The current tenant's custom domains, verified through DNS (the accounts function).",
    ),
    (
        "health",
        "Liveness and dependency checks (the leads function).",
    ),
    ("schema", "This document and its page (the leads function)."),
];

/// The whole document.
pub fn document() -> OpenApi {
    let mut api = Api {
        paths: Paths::new(),
    };
    leads::describe(&mut api);
    actions::describe(&mut api);
    bulk::describe(&mut api);
    resources::describe(&mut api);
    webhooks::describe(&mut api);
    accounts::describe(&mut api);
    domains::describe(&mut api);
    tenants::describe(&mut api);
    health(&mut api);
    schema_and_docs(&mut api);

    let mut components = Components::new();
    let schemas = ops::error_schemas()
        .into_iter()
        .chain(leads::schemas())
        .chain(actions::schemas())
        .chain(bulk::schemas())
        .chain(resources::schemas())
        .chain(webhooks::schemas())
        .chain(accounts::schemas())
        .chain(domains::schemas())
        .chain(tenants::schemas());
    for (name, schema) in schemas {
        components.schemas.insert(name.to_string(), schema);
    }
    components = ops::error_responses(components);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token with `sub`, `tenant_id`, `role` and `exp` claims.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        API_KEY,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-API-Key",
            "An API key of the tenant (`crm_...`; also `Authorization: Api-Key <key>`). Its \
             scopes decide what it reaches: `leads:read` the reads, `leads:write` lead, \
             activity and note writes, `bulk` the bulk operations, `settings` sources, tags, \
             custom fields and scoring settings; never sign-in, the profile, members, \
             invitations or keys (403).",
        ))),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("CRM lead service")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION))
                .build(),
        )
        .paths(api.paths)
        .components(Some(components))
        .tags(Some(TAGS.map(|(name, description)| {
            TagBuilder::new()
                .name(name)
                .description(Some(description))
                .build()
        })))
        .build()
}

/// The document as `openapi.json` holds it: pretty JSON and a final newline.
pub fn json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the document serialises");
    text.push('\n');
    text
}
