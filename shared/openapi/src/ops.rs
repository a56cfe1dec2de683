//! Operations and their responses: the DRF-shaped errors every authenticated operation can
//! answer (`crm_http::error` is the one place that decides them), and a small builder
//! that adds them by what an operation reads (a path id, a body, `If-Match`).

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Components, Ref, RefOr, Required};

use crate::dsl::{array, formatted, integer, r, string, Obj, S};
use utoipa::openapi::schema::AnyOfBuilder;

pub const JSON: &str = "application/json";
pub const BEARER: &str = "bearerAuth";
pub const API_KEY: &str = "apiKeyAuth";

/// The error responses of the document: `(status, component name, description)`.
const ERRORS: [(u16, &str, &str); 10] = [
    (
        400,
        "BadRequest",
        "Invalid input: `{\"field\": [\"message\", ...]}` naming each field, query parameter \
         or header at fault (`non_field_errors` for the body as a whole), or \
         `{\"detail\": \"...\"}` for a body that is not JSON.",
    ),
    (
        401,
        "Unauthorized",
        "No credentials, or a token that is malformed, expired, not yet valid or signed \
         otherwise.",
    ),
    (
        403,
        "Forbidden",
        "The caller's role may not do this, or the tenant is unknown, suspended, or not the \
         one `X-Tenant-Id` names.",
    ),
    (
        404,
        "NotFound",
        "No such record in the caller's tenant (an id that is not a UUID names none).",
    ),
    (
        409,
        "Conflict",
        "The request conflicts with the record's state (or with concurrent requests): \
         retrying may help.",
    ),
    (
        412,
        "PreconditionFailed",
        "`If-Match` does not match the record's current version (its `ETag`).",
    ),
    (
        413,
        "PayloadTooLarge",
        "The body is larger than the configured limit (`MAX_BODY_BYTES`).",
    ),
    (
        415,
        "UnsupportedMediaType",
        "The body is not `application/json`.",
    ),
    (
        429,
        "TooManyRequests",
        "Too many requests: the tenant's requests per minute or the API key's requests per \
         hour are used up (at sign-in: too many failed attempts); retry after `Retry-After` \
         seconds.",
    ),
    (
        503,
        "ServiceUnavailable",
        "DynamoDB stayed throttled or did not answer through the retries; nothing was \
         written. Retry after `Retry-After` seconds.",
    ),
];

/// The error bodies: DRF's `{"detail": "..."}` and its field errors.
pub fn error_schemas() -> Vec<(&'static str, S)> {
    vec![
        (
            "Detail",
            Obj::new()
                .describe(
                    "DRF's error body; `code` is `plan_limit` on a 403 the tenant's plan \
                     refused.",
                )
                .req("detail", string().into())
                .opt("code", string().enum_values(Some(["plan_limit"])).into())
                .closed(),
        ),
        (
            "FieldErrors",
            utoipa::openapi::schema::ObjectBuilder::new()
                .description(Some(
                    "DRF's validation errors: each field (or query parameter, or header) at \
                     fault with its messages.",
                ))
                .additional_properties(Some(array(string().into()).min_items(Some(1))))
                .min_properties(Some(1))
                .into(),
        ),
    ]
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(integer(Some(0), None))
        .description(Some("Seconds to wait before retrying."))
        .build()
}

/// The IETF `RateLimit-*` fields every answer to an authenticated request carries (those
/// refused before the caller is known, 401s, do not).
fn rate_limit_headers() -> [(&'static str, utoipa::openapi::header::Header); 3] {
    let header = |description: &str| {
        HeaderBuilder::new()
            .schema(integer(Some(0), None))
            .description(Some(description))
            .build()
    };
    [
        (
            "RateLimit-Limit",
            header("Requests allowed in the current window (the most constrained one)."),
        ),
        ("RateLimit-Remaining", header("Requests left in it.")),
        ("RateLimit-Reset", header("Seconds until it ends.")),
    ]
}

/// The error responses, as components every operation refers to.
pub fn error_responses(mut components: Components) -> Components {
    for (status, name, description) in ERRORS {
        let schema: S = if status == 400 {
            AnyOfBuilder::new()
                .item(r("FieldErrors"))
                .item(r("Detail"))
                .into()
        } else {
            r("Detail")
        };
        let mut response = ResponseBuilder::new()
            .description(description)
            .content(JSON, ContentBuilder::new().schema(Some(schema)).build());
        if matches!(status, 429 | 503) {
            response = response.header("Retry-After", retry_after());
        }
        if status != 401 {
            for (name, header) in rate_limit_headers() {
                response = response.header(name, header);
            }
        }
        if status == 401 {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(string())
                    .description(Some("`Bearer realm=\"api\"`"))
                    .build(),
            );
        }
        components.responses.insert(name.into(), response.into());
    }
    components
}

fn error_ref(status: u16) -> RefOr<Response> {
    let (_, name, _) = ERRORS
        .iter()
        .find(|(s, _, _)| *s == status)
        .unwrap_or_else(|| panic!("no error response {status}"));
    Ref::from_response_name(*name).into()
}

/// A JSON response with `schema`.
pub fn json_response(description: &str, schema: S) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// A JSON response of a versioned record, with its `ETag` (the version `If-Match` takes).
pub fn versioned(description: &str, schema: S) -> Response {
    let mut response = json_response(description, schema);
    response.headers.insert(
        "ETag".into(),
        HeaderBuilder::new()
            .schema(string().pattern(Some("^\"[0-9]+\"$")))
            .description(Some("The record's version, quoted."))
            .build(),
    );
    response
}

/// An operation being described.
pub struct Op {
    pub method: HttpMethod,
    builder: OperationBuilder,
    authenticated: bool,
    errors: Vec<u16>,
}

/// An authenticated operation: bearer JWT, `X-Tenant-Id`, and the errors every one can
/// answer (400 for a malformed `X-Tenant-Id`, 401, 403, 429, 503).
pub fn op(method: HttpMethod, id: &str, tag: &str, summary: &str) -> Op {
    Op {
        method,
        builder: OperationBuilder::new()
            .operation_id(Some(id))
            .tag(tag)
            .summary(Some(summary))
            .security(SecurityRequirement::new(BEARER, Vec::<String>::new()))
            .security(SecurityRequirement::new(API_KEY, Vec::<String>::new())),
        authenticated: true,
        errors: vec![400, 401, 403, 429, 503],
    }
}

/// An operation that needs no credentials.
pub fn public(method: HttpMethod, id: &str, tag: &str, summary: &str) -> Op {
    Op {
        method,
        builder: OperationBuilder::new()
            .operation_id(Some(id))
            .tag(tag)
            .summary(Some(summary))
            .securities(Some(Vec::new())),
        authenticated: false,
        errors: Vec::new(),
    }
}

pub fn query(name: &str, schema: S, description: &str) -> Parameter {
    optional(ParameterIn::Query, name, schema, description)
}

pub fn header(name: &str, schema: S, description: &str) -> Parameter {
    optional(ParameterIn::Header, name, schema, description)
}

/// A parameter a request may leave out.
fn optional(place: ParameterIn, name: &str, schema: S, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(Required::False)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

impl Op {
    pub fn describe(mut self, description: &str) -> Self {
        self.builder = self.builder.description(Some(description));
        self
    }

    pub fn param(mut self, parameter: Parameter) -> Self {
        self.builder = self.builder.parameter(parameter);
        self
    }

    pub fn params(self, parameters: Vec<Parameter>) -> Self {
        parameters.into_iter().fold(self, Op::param)
    }

    /// A JSON object body (415 when it is not JSON, 413 when too large, 400 when invalid).
    pub fn body(mut self, schema: S, required: bool) -> Self {
        let required = if required {
            Required::True
        } else {
            Required::False
        };
        self.builder = self.builder.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(required))
                .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
                .build(),
        ));
        self.errors(&[409, 413, 415])
    }

    /// `If-Match`: the version the change is for (412 when the record has another).
    pub fn if_match(self) -> Self {
        self.param(header(
            "If-Match",
            string().into(),
            "The record's `ETag` (or `*`): the change is refused with 412 if the record has \
             another version since.",
        ))
        .errors(&[412])
    }

    pub fn errors(mut self, statuses: &[u16]) -> Self {
        for status in statuses {
            if !self.errors.contains(status) {
                self.errors.push(*status);
            }
        }
        self
    }

    pub fn response(mut self, status: u16, mut response: Response) -> Self {
        if self.authenticated {
            for (name, header) in rate_limit_headers() {
                response.headers.insert(name.into(), header);
            }
        }
        self.builder = self.builder.response(status.to_string(), response);
        self
    }

    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// The finished operation, its error responses in status order.
    pub fn build(self) -> Operation {
        let mut errors = self.errors;
        errors.sort_unstable();
        let mut builder = self.builder;
        for status in errors {
            builder = builder.response(status.to_string(), error_ref(status));
        }
        builder.build()
    }
}

/// `X-Tenant-Id`: optional; when given it must name the credentials' tenant.
pub fn tenant_header() -> Parameter {
    header(
        "X-Tenant-Id",
        formatted("uuid").into(),
        "The tenant the request is for: it must be the tenant of the credentials (403 \
         otherwise; 400 when not a UUID).",
    )
}
