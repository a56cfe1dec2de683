//! HTTP plumbing shared by the functions: application state, the verified-caller
//! extractor, JSON bodies, conditional requests, pagination links, security headers,
//! request logging and the DRF-shaped 404/405 fallbacks.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::to_bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tower::util::MapRequest;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;
use uuid::Uuid;

use crm_app::ai::AiAgentsClient;
use crm_app::queue::Queues;
use crm_auth::{resolve_tenant, AuthError, TenantMismatch, TokenVerifier};
use crm_domain::audit::Origin;
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::query::QueryParams;
use crm_domain::tenant::{Tenant, TenantId};
use crm_domain::validate::json_type;
use crm_domain::Caller;
use crm_store::Store;

mod api_keys;
pub mod config;
pub mod error;
mod hosts;
pub mod idempotency;
mod links;
mod outside;
pub mod rate_limit;
pub mod resource;
pub mod routes;
mod sessions;

use config::Config;
pub use error::ApiError;
pub use routes::RouteTable;
pub use sessions::Session;

/// What every handler can reach: built once per Lambda instance, outside the handler.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub config: Config,
    pub store: Store,
    pub verifier: TokenVerifier,
    pub cursors: CursorCodec,
    pub queues: Queues,
    /// The AI agents service client, when `AI_AGENTS_URL` is set (one per cold start: it
    /// holds a connection pool).
    pub ai: Option<AiAgentsClient>,
    tenants: TenantCache,
    sessions: sessions::SessionCache,
    outside: outside::MemberCache,
    api_keys: api_keys::ApiKeys,
    hosts: hosts::HostCache,
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl Services {
    /// What the use cases reach.
    pub fn ctx(&self) -> crm_app::resource::Ctx<'_> {
        crm_app::resource::Ctx {
            store: &self.store,
            queues: &self.queues,
            cursors: &self.cursors,
        }
    }
}

impl AppState {
    pub fn new(
        config: Config,
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
    ) -> Self {
        Self(Arc::new(Services {
            store: Store::new(dynamodb, config.table_name.clone()),
            ai: crm_app::ai::client_for(config.ai_agents_url.as_deref()),
            queues: Queues::new(
                sqs,
                config.scoring_queue_url.clone(),
                config.insights_queue_url.clone(),
            )
            .with_webhooks(crm_app::queue::WebhookQueue {
                settings: config.webhooks,
                ..Default::default()
            }),
            verifier: TokenVerifier::new(&config.jwt),
            cursors: CursorCodec::new(&config.cursor_secret),
            tenants: TenantCache::new(config.tenant_cache_ttl),
            sessions: sessions::SessionCache::new(config.tenant_cache_ttl),
            outside: outside::MemberCache::new(config.tenant_cache_ttl),
            hosts: hosts::HostCache::new(config.tenant_cache_ttl),
            api_keys: api_keys::ApiKeys::new(
                config.tenant_cache_ttl,
                config.rate_limits.usage_flush,
            ),
            config,
        }))
    }

    /// Configuration from the environment and AWS clients from the standard chain, the
    /// DynamoDB client with the retries and timeouts of `crm_store::client`.
    pub async fn from_env() -> Result<Self, crm_app::config::ConfigError> {
        let config = Config::from_env()?;
        let dynamodb = crm_app::config::dynamodb_settings()?;
        let sdk = crm_app::config::aws_sdk_config().await;
        Ok(Self::new(
            config,
            crm_app::config::dynamodb_client(&sdk, &dynamodb),
            aws_sdk_sqs::Client::new(&sdk),
        ))
    }
}

/// Tenant records cached for a short while per warm instance, so that the "tenant exists
/// and is active" check does not cost a read on every request.
struct TenantCache {
    ttl: Duration,
    entries: Mutex<HashMap<TenantId, (Instant, Option<Tenant>)>>,
}

impl TenantCache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    async fn get(&self, store: &Store, id: TenantId) -> Result<Option<Tenant>, ApiError> {
        if let Some((at, tenant)) = self.entries.lock().expect("cache lock").get(&id) {
            if at.elapsed() < self.ttl {
                return Ok(tenant.clone());
            }
        }
        let tenant = store.get_tenant(id).await?;
        if !self.ttl.is_zero() {
            self.entries
                .lock()
                .expect("cache lock")
                .insert(id, (Instant::now(), tenant.clone()));
        }
        Ok(tenant)
    }
}

pub const TENANT_HEADER: &str = "x-tenant-id";

/// The tenant a request resolved to, which must exist and be active (else 403).
async fn active_tenant(state: &AppState, tenant: TenantId) -> Result<Tenant, ApiError> {
    match state.tenants.get(&state.store, tenant).await? {
        Some(t) if t.is_active() => Ok(t),
        Some(_) => Err(ApiError::Domain(crm_domain::Error::Forbidden(
            "This tenant is suspended.".into(),
        ))),
        None => Err(ApiError::Domain(crm_domain::Error::Forbidden(
            "Unknown tenant.".into(),
        ))),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        if let Some(key) = api_keys::presented(&parts.headers)? {
            return api_keys::authenticate(parts, state, &key).await;
        }
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let verified = state
            .verifier
            .verify_header(authorization)
            .await
            .map_err(|e: AuthError| ApiError::Unauthenticated(e.to_string()))?;
        let header = parts
            .headers
            .get(TENANT_HEADER)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let host = hosts::host_tenant(parts, state).await?;
        let claims = outside::claims(state, verified, header, host).await?;
        let tenant = resolve_tenant(&claims, header, host).map_err(|e| match e {
            TenantMismatch::MalformedHeader => {
                ApiError::field("X-Tenant-Id", "Must be a valid UUID.")
            }
            TenantMismatch::Different => ApiError::Domain(crm_domain::Error::Forbidden(
                "X-Tenant-Id names a different tenant than your credentials.".into(),
            )),
            TenantMismatch::Host => hosts::host_mismatch(),
        })?;
        let record = active_tenant(state, tenant).await?;
        let role = match claims.session {
            Some(session) => {
                let role = state.sessions.role(&state.store, tenant, session).await?;
                parts.extensions.insert(Session(Some(session)));
                role
            }
            None => claims.role,
        };
        rate_limit::admit(parts, state, &record, None).await?;
        let span = tracing::Span::current();
        span.record("tenant", tracing::field::display(tenant));
        span.record("user", claims.user_id.as_str());
        let caller = Caller {
            tenant,
            user_id: claims.user_id,
            role,
            email: claims.email,
            origin: origin(parts),
            audit_retention_days: record.limits().audit_retention_days,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// Refuses, before a write's input is read, a caller whose role may not write at all: the
/// permission check comes before the request's problems (a readonly caller learns nothing
/// from a 400, 412 or 415). The input extractors ([`JsonObject`], [`OptionalJsonObject`],
/// [`IfMatch`]) call it; they follow [`Caller`] in a handler's arguments, which is what put
/// the caller in the request's extensions. Finer rules (admins only, the lead's assignee)
/// need the record and stay with the use cases, which check them before the input.
fn refuse_read_only(extensions: &axum::http::Extensions) -> Result<(), ApiError> {
    match extensions.get::<Caller>() {
        Some(caller) if !caller.is_at_least(crm_domain::Role::User) => {
            Err(ApiError::Domain(crm_domain::Error::forbidden()))
        }
        _ => Ok(()),
    }
}

/// A JSON object request body: `Content-Type: application/json` (else 415), at most
/// `MAX_BODY_BYTES` (else 413), an object (else 400).
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        refuse_read_only(req.extensions())?;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mime = content_type.split(';').next().unwrap_or("").trim();
        let is_json = mime.eq_ignore_ascii_case("application/json")
            || (mime.starts_with("application/") && mime.ends_with("+json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(content_type));
        }
        let limit = state.config.max_body_bytes;
        let bytes = to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(limit))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Domain(crm_domain::Error::BadRequest(format!(
                "JSON parse error - {e}"
            )))
        })?;
        match value {
            Value::Object(map) => Ok(JsonObject(map)),
            other => Err(ApiError::field(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    json_type(&other)
                ),
            )),
        }
    }
}

/// Like [`JsonObject`], for actions whose body is optional (`mark-contacted`, `convert`):
/// an empty body, with or without a content type, reads as `{}`.
pub struct OptionalJsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        refuse_read_only(req.extensions())?;
        let limit = state.config.max_body_bytes;
        let (parts, body) = req.into_parts();
        let bytes = to_bytes(body, limit)
            .await
            .map_err(|_| ApiError::PayloadTooLarge(limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(Map::new()));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        JsonObject::from_request(req, state)
            .await
            .map(|JsonObject(map)| Self(map))
    }
}

/// A record id from the path. Ids are UUIDs; anything else cannot name a record, so it
/// is a 404 like a missing one.
pub fn path_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::Domain(crm_domain::Error::NotFound))
}

/// `If-Match` as a version number. `*` matches any version; an entity tag that is not one
/// of ours can never match, which is a 412.
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        refuse_read_only(&parts.extensions)?;
        let Some(raw) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let raw = raw.to_str().unwrap_or("").trim();
        if raw == "*" {
            return Ok(IfMatch(None));
        }
        let tag = raw.trim_start_matches("W/").trim_matches('"');
        tag.parse().map(|v| IfMatch(Some(v))).map_err(|_| {
            ApiError::Domain(crm_domain::Error::PreconditionFailed(format!(
                "If-Match {raw} does not match."
            )))
        })
    }
}

/// The entity tag of a versioned item.
pub fn etag(version: u64) -> (HeaderName, HeaderValue) {
    (
        header::ETAG,
        HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header"),
    )
}

/// The query string of a list request, with the link base for `next`/`previous`.
pub struct ListQuery {
    pub query: QueryParams,
    url_base: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ListQuery {
            query: QueryParams::parse(parts.uri.query().unwrap_or("")),
            url_base: request_base_url(parts),
        })
    }
}

/// This request's URL without its query, for `next`/`previous` (see [`links`]).
fn request_base_url(parts: &Parts) -> String {
    // The path as the client sent it, before its trailing slash was trimmed for routing.
    let path = parts
        .extensions
        .get::<RequestedPath>()
        .map_or(parts.uri.path(), |p| p.0.as_str());
    links::base_url(parts, path)
}

impl std::ops::Deref for ListQuery {
    type Target = QueryParams;
    fn deref(&self) -> &QueryParams {
        &self.query
    }
}

impl ListQuery {
    /// A list query from a raw query string (for callers outside a request).
    pub fn from_query_string(query: &str) -> Self {
        ListQuery {
            query: QueryParams::parse(query),
            url_base: String::new(),
        }
    }

    /// This request's URL with `cursor` replaced.
    fn link(&self, cursor: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.params.iter().filter(|(k, _)| k != "cursor") {
            query.append_pair(k, v);
        }
        query.append_pair("cursor", cursor);
        format!("{}?{}", self.url_base, query.finish())
    }

    /// DRF's cursor-pagination body: `{"next", "previous", "results"}`. The rows are
    /// serialised as they are (a typed row goes straight to the response text).
    pub fn page_response<'p, T, R: Serialize>(
        &self,
        page: &'p Page<T>,
        row: impl Fn(&'p T) -> R,
    ) -> Response {
        #[derive(Serialize)]
        struct Body<R> {
            next: Option<String>,
            previous: Option<String>,
            results: Vec<R>,
        }
        Json(Body {
            next: page.next.as_deref().map(|c| self.link(c)),
            previous: page.previous.as_deref().map(|c| self.link(c)),
            results: page.items.iter().map(row).collect(),
        })
        .into_response()
    }
}

/// Where a request came from: API Gateway's `requestContext.http.sourceIp` and
/// `userAgent`, else the `User-Agent` header (the local gateway's events may lack them);
/// an address only API Gateway can vouch for, so none without it.
pub fn origin(parts: &Parts) -> Origin {
    use lambda_http::request::RequestContext;
    let mut origin = Origin::default();
    if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>() {
        origin.ip = ctx.http.source_ip.clone().filter(|ip| !ip.is_empty());
        origin.user_agent = ctx.http.user_agent.clone().filter(|ua| !ua.is_empty());
    }
    if origin.user_agent.is_none() {
        origin.user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string);
    }
    origin
}

/// [`origin`] as an extractor, for the routes without a [`Caller`] (sign-in, accepting an
/// invitation); a caller carries its origin.
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestOrigin(origin(parts)))
    }
}

/// Request id: API Gateway's, else the caller's `X-Request-Id`, else a new one.
fn request_id(req: &Request) -> String {
    use lambda_http::request::RequestContext;
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.extensions().get::<RequestContext>() {
        if let Some(id) = &ctx.request_id {
            return id.clone();
        }
    }
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string())
}

const SECURITY_HEADERS: [(&str, &str); 6] = [
    (
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
];

/// One JSON log line per request (request id, tenant, route, status, latency), the
/// request id echoed back, and the security headers on every response.
async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request_id(&req);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        route = %route,
        tenant = tracing::field::Empty,
        user = tracing::field::Empty,
    );
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        )
    });
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", id);
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::Domain(crm_domain::Error::NotFound)
}

/// A path whose percent-escapes do not decode to UTF-8 (`/leads/%ff/`) names nothing: a
/// 404 like any unknown id, for every route, before axum's `Path` would answer a plain-text
/// 400.
async fn undecodable_path(req: Request, next: Next) -> Response {
    if percent_decodes_to_utf8(req.uri().path()) {
        next.run(req).await
    } else {
        not_found().await.into_response()
    }
}

fn percent_decodes_to_utf8(path: &str) -> bool {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[hi, lo]) if bytes[i] == b'%' => hex(hi).zip(hex(lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                decoded.push((hi * 16 + lo) as u8);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

/// A handler's panic, caught: logged, and answered as any internal error (a JSON 500).
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::Domain(crm_domain::Error::Internal(format!("panic: {message}"))).into_response()
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// The path a client asked for, kept when the trailing slash is trimmed for routing.
#[derive(Clone, Debug)]
struct RequestedPath(String);

/// Serves `/x/` as `/x`: the original's paths end in a slash, and clients use both.
fn trim_trailing_slash(mut req: lambda_http::Request) -> lambda_http::Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let requested = path.to_string();
        let trimmed = match requested.trim_end_matches('/') {
            "" => "/",
            p => p,
        };
        let path_and_query = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        parts.path_and_query = path_and_query.parse().ok();
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
            req.extensions_mut().insert(RequestedPath(requested));
        }
    }
    req
}

/// A function's router as served: DRF-shaped 404/405, logging and headers, state, and
/// paths accepted with or without their trailing slash. A panic in a handler is caught
/// inside the logging and headers layer, so its JSON 500 carries the request id and the
/// security headers, and the instance keeps serving (the release profile unwinds).
pub type App = MapRequest<Router, fn(lambda_http::Request) -> lambda_http::Request>;

pub fn app(routes: Router<AppState>, state: AppState) -> App {
    let router = routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(rate_limit::headers))
        .layer(middleware::from_fn(undecodable_path))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(observe))
        .with_state(state);
    router.map_request(trim_trailing_slash as fn(_) -> _)
}

/// `GET /health/`, `GET /` and `GET /health-check/`: liveness, service information, and
/// a check of the table (503 when it does not answer).
pub fn health_routes(service: &'static str) -> Router<AppState> {
    Router::new()
        .route(
            "/health",
            get(move || async move { Json(json!({"status": "healthy", "service": service})) }),
        )
        .route(
            "/",
            get(move |State(state): State<AppState>| async move {
                Json(json!({
                    "service": service,
                    "version": env!("CARGO_PKG_VERSION"),
                    "status": "running",
                    "integrations": {
                        "dynamodb": {"configured": true, "table": state.store.table()},
                        "ai_agents": {"configured": state.config.ai_agents_url.is_some()},
                        "scoring_queue": {"configured": state.queues.scoring_enabled()},
                        "insights_queue": {"configured": state.queues.insights_enabled()},
                    },
                }))
            }),
        )
        .route(
            "/health-check",
            get(move |State(state): State<AppState>| async move {
                let limit = Duration::from_secs(3);
                let (table, queues) = tokio::join!(
                    tokio::time::timeout(limit, state.store.ping()),
                    tokio::time::timeout(limit, state.queues.ping()),
                );
                let outcome = |check: Result<Result<(), String>, _>| match check {
                    Ok(Ok(())) => (true, "ok".to_string()),
                    Ok(Err(e)) => (false, e),
                    Err(_) => (false, "timed out".to_string()),
                };
                let (table_ok, dynamodb) = outcome(table.map(|r| r.map_err(|e| e.to_string())));
                let (queues_ok, sqs) = outcome(queues.map(|r| r.map_err(|e| e.to_string())));
                let healthy = table_ok && queues_ok;
                let status = if healthy {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let mut response = (
                    status,
                    Json(json!({
                        "status": if healthy { "healthy" } else { "unhealthy" },
                        "service": service,
                        "checks": {"dynamodb": dynamodb, "sqs": sqs},
                    })),
                )
                    .into_response();
                if !healthy {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                }
                response
            }),
        )
}

/// Headers a created or fetched item carries.
pub fn with_etag(status: StatusCode, version: u64, body: Value) -> Response {
    let mut headers = HeaderMap::new();
    let (name, value) = etag(version);
    headers.insert(name, value);
    (status, headers, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::percent_decodes_to_utf8;

    #[test]
    fn paths_that_decode_to_utf8() {
        for ok in [
            "/a/b/",
            "/a/%20b",
            "/caf%C3%A9",
            "/100%",
            "/%zz",
            "/%e",
            "/%25ff",
        ] {
            assert!(percent_decodes_to_utf8(ok), "{ok}");
        }
        for bad in ["/a/%ff/", "/%c3%28", "/%80", "/caf%C3"] {
            assert!(!percent_decodes_to_utf8(bad), "{bad}");
        }
    }
}
