//! The accounts function's custom domains (`crm_domain::domains` parses the bodies and
//! shapes the answers).

use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::ResponseBuilder;

use crm_domain::domains::MAX_DOMAINS_PER_TENANT;

use crate::dsl::*;
use crate::leads::{page, paging};
use crate::ops::{json_response, op};
use crate::Api;

const DOMAINS: &str = "/api/tenants/current/domains";
const TAG: &str = "domains";

pub fn schemas() -> Vec<(&'static str, S)> {
    let verification = Obj::new()
        .req("type", string().enum_values(Some(["TXT"])).into())
        .req(
            "name",
            string()
                .description(Some("Where to publish the record: `_crm-verify.{domain}`."))
                .into(),
        )
        .req(
            "value",
            string()
                .description(Some("What the TXT record must hold (64 hex digits)."))
                .into(),
        )
        .closed();
    vec![
        (
            "Domain",
            Obj::new()
                .req("id", uuid())
                .req(
                    "domain",
                    string()
                        .description(Some("The host name, lowercase, without a trailing dot."))
                        .into(),
                )
                .req("is_verified", boolean())
                .req("verified_at", nullable(datetime()))
                .req("is_primary", boolean())
                .req("verification", verification)
                .req("created_at", datetime())
                .req("updated_at", datetime())
                .closed(),
        ),
        (
            "DomainCreate",
            Obj::new()
                .req(
                    "domain",
                    formatted("hostname")
                        .description(Some(
                            "A host name such as `crm.acme.example`: no scheme, port, path, \
                             wildcard or IP address; not the service's own domains.",
                        ))
                        .into(),
                )
                .open(),
        ),
        (
            "DomainUpdate",
            Obj::new()
                .opt("is_primary", boolean())
                .describe("`is_primary: true` only on a verified domain.")
                .closed(),
        ),
    ]
}

pub fn describe(api: &mut Api) {
    let writers = "Owners and admins (and API keys with the `settings` scope).";
    api.add(
        DOMAINS,
        op(
            HttpMethod::Get,
            "domains_list",
            TAG,
            "The tenant's custom domains",
        )
        .describe("Any member.")
        .params(paging())
        .response(200, json_response("A page of domains.", page(r("Domain")))),
    );
    api.add(
        DOMAINS,
        op(
            HttpMethod::Post,
            "domains_create",
            TAG,
            "Register a custom domain",
        )
        .describe(&format!(
            "{writers} The answer names the TXT record that proves the domain; it resolves \
             nothing until verified. A domain is unique across the service (409); a tenant \
             has at most {MAX_DOMAINS_PER_TENANT}."
        ))
        .body(r("DomainCreate"), true)
        .errors(&[409])
        .response(201, json_response("Registered.", r("Domain"))),
    );
    let one = format!("{DOMAINS}/{{id}}");
    api.add(
        &one,
        op(HttpMethod::Get, "domains_retrieve", TAG, "A custom domain")
            .errors(&[404])
            .response(200, json_response("The domain.", r("Domain"))),
    );
    api.add(
        &one,
        op(
            HttpMethod::Patch,
            "domains_update",
            TAG,
            "Make a domain the primary one",
        )
        .describe(&format!(
            "{writers} `is_primary: true` on a verified domain (400 otherwise) takes it from \
             the previous primary domain in the same write."
        ))
        .body(r("DomainUpdate"), true)
        .errors(&[404, 409])
        .response(200, json_response("The domain.", r("Domain"))),
    );
    api.add(
        &one,
        op(
            HttpMethod::Delete,
            "domains_destroy",
            TAG,
            "Delete a custom domain",
        )
        .describe(&format!("{writers} The name is free again."))
        .errors(&[404, 409])
        .response(204, ResponseBuilder::new().description("Deleted.").build()),
    );
    api.add(
        &format!("{one}/verify"),
        op(
            HttpMethod::Post,
            "domains_verify",
            TAG,
            "Verify a domain through DNS",
        )
        .describe(&format!(
            "{writers} Looks up the TXT record at `_crm-verify.{{domain}}` now; 400 with a \
             `detail` when it is missing, holds another value, or the lookup fails."
        ))
        .errors(&[404, 409])
        .response(200, json_response("The domain, verified.", r("Domain"))),
    );
}
