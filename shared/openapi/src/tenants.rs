//! The tenant's settings, plan and usage (`/api/tenants/current/`) and tenants created by
//! their users (`/api/tenants/`), served by the accounts function.

use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};

use crm_domain::accounts::users::{EMAIL_CHARS, PHONE_CHARS};
use crm_domain::audit::{AuditAction, ResourceType, MAX_ACTOR};
use crm_domain::plan::Tier;
use crm_domain::tenant_settings::{NAME_CHARS, SLUG_CHARS};

use crate::dsl::*;
use crate::leads::{page, paging};
use crate::ops::{json_response, op, query};
use crate::Api;

const TENANTS: &str = "/api/tenants";
const CURRENT: &str = "/api/tenants/current";
const AUDIT_LOG: &str = "/api/tenants/current/audit-log";

fn count() -> S {
    integer(Some(0), None)
}

/// The writable fields, each `schema(field)` (optional in a PATCH).
fn fields(with_name: bool) -> Obj {
    let slug = string()
        .min_length(Some(1))
        .max_length(Some(SLUG_CHARS))
        .pattern(Some("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"));
    let o = Obj::new().opt("slug", slug.into());
    let o = if with_name {
        o.req("name", text(NAME_CHARS))
    } else {
        o.opt("name", text(NAME_CHARS))
    };
    o.opt("description", opt_text(2_000))
        .opt(
            "website",
            nullable(formatted("uri").max_length(Some(200)).into()),
        )
        .opt(
            "email",
            nullable(formatted("email").max_length(Some(EMAIL_CHARS)).into()),
        )
        .opt(
            "billing_email",
            nullable(formatted("email").max_length(Some(EMAIL_CHARS)).into()),
        )
        .opt("phone", opt_text(PHONE_CHARS))
        .opt("address", opt_text(255))
        .opt("city", opt_text(100))
        .opt("state", opt_text(100))
        .opt("postal_code", opt_text(20))
        .opt("country", opt_text(100))
        .opt(
            "timezone",
            string()
                .min_length(Some(1))
                .max_length(Some(64))
                .pattern(Some("^[A-Za-z][A-Za-z0-9/_+-]*$"))
                .into(),
        )
        .opt("currency", string().pattern(Some("^[A-Za-z]{3}$")).into())
        .opt(
            "language",
            string()
                .min_length(Some(2))
                .max_length(Some(10))
                .pattern(Some("^[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*$"))
                .into(),
        )
}

fn tenant(with_role: bool) -> S {
    let limits = Obj::new()
        .req("max_users", count())
        .req("max_leads", count())
        .req("requests_per_minute", count())
        .req("audit_retention_days", count())
        .closed();
    let usage = Obj::new()
        .req("leads", count())
        .req("users", count())
        .closed();
    let mut o = Obj::new()
        .req("id", uuid())
        .req("name", string().into())
        .req("slug", string().into());
    for field in [
        "description",
        "website",
        "email",
        "phone",
        "address",
        "city",
        "state",
        "postal_code",
        "country",
        "timezone",
        "currency",
        "language",
        "billing_email",
    ] {
        o = o.req(field, string().into());
    }
    o = o
        .req("is_active", boolean())
        .req("subscription_tier", choice::<Tier>())
        .req("limits", limits)
        .req("usage", usage)
        .req("created_at", datetime())
        .req("updated_at", datetime());
    if with_role {
        o = o.req("role", string().enum_values(Some(["owner"])).into());
    }
    o.closed()
}

pub fn schemas() -> Vec<(&'static str, S)> {
    vec![
        ("Tenant", tenant(false)),
        ("TenantCreated", tenant(true)),
        ("TenantUpdate", fields(false).open()),
        ("TenantCreate", fields(true).open()),
        ("AuditEntry", audit_entry()),
    ]
}

/// A row of the audit log.
fn audit_entry() -> S {
    let change = Obj::new().req("old", any()).req("new", any()).closed();
    let changes = ObjectBuilder::new()
        .additional_properties(Some(AdditionalProperties::RefOr(change)))
        .description(Some(
            "`{field: {old, new}}` of the fields the write changed; never a secret or its digest.",
        ))
        .into();
    Obj::new()
        .req("id", uuid())
        .req("at", datetime())
        .req(
            "actor",
            string()
                .description(Some("A user id, `api-key:<id>`, or `system:<worker>`."))
                .into(),
        )
        .req("action", choice::<AuditAction>())
        .req("resource_type", choice::<ResourceType>())
        .req("resource_id", uuid())
        .req("changes", changes)
        .req("ip", nullable(string().into()))
        .req("user_agent", nullable(string().into()))
        .req(
            "via",
            nullable(
                string()
                    .description(Some("`bulk` for one lead's write of a bulk operation."))
                    .into(),
            ),
        )
        .closed()
}

pub fn describe(api: &mut Api) {
    let mut filters = paging();
    filters.extend([
        query(
            "resource_type",
            choice::<ResourceType>(),
            "Only entries about this kind of resource.",
        ),
        query(
            "resource_id",
            uuid(),
            "Only entries about this resource (a key query).",
        ),
        query(
            "actor",
            string()
                .min_length(Some(1))
                .max_length(Some(MAX_ACTOR))
                .into(),
            "Only entries by this actor: a user id or `api-key:<id>` (a key query).",
        ),
        query(
            "action",
            choice::<AuditAction>(),
            "Only entries of this action.",
        ),
        query(
            "since",
            date_or_datetime(),
            "Entries at or after this time (RFC 3339, or a date for its midnight UTC).",
        ),
        query(
            "until",
            date_or_datetime(),
            "Entries at or before this time; not before `since`.",
        ),
    ]);
    api.add(
        AUDIT_LOG,
        op(
            HttpMethod::Get,
            "audit_log_list",
            "tenants",
            "The tenant's audit log",
        )
        .describe(
            "Admins and owners (and API keys with the `settings` scope): every write of the \
                 service, newest first, with who made it, from where, and the fields it \
                 changed. Entries expire after the plan's `audit_retention_days`. A page \
                 filtered by `action` or `resource_type` alone reads at most 1,000 entries \
                 and may come back short with a `next` link to go on.",
        )
        .params(filters)
        .response(
            200,
            json_response("A page of entries, newest first.", page(r("AuditEntry"))),
        ),
    );
    api.add(
        CURRENT,
        op(
            HttpMethod::Get,
            "tenant_current",
            "tenants",
            "The current tenant",
        )
        .describe("Any member: the settings, the plan's `limits` and the current `usage`.")
        .response(200, json_response("The tenant.", r("Tenant"))),
    );
    api.add(
        CURRENT,
        op(
            HttpMethod::Patch,
            "tenant_update",
            "tenants",
            "Change the tenant's settings",
        )
        .describe(
            "Admins and owners. `subscription_tier`, `limits` and `usage` are read-only \
                 (the admin command sets the plan). A slug another tenant holds is a 409.",
        )
        .body(r("TenantUpdate"), true)
        .errors(&[409])
        .response(200, json_response("The tenant.", r("Tenant"))),
    );
    api.add(
        TENANTS,
        op(
            HttpMethod::Post,
            "tenant_create",
            "tenants",
            "Create a tenant you own",
        )
        .describe(
            "A signed-in user of this service, when `ALLOW_TENANT_SIGNUP=true` (403 \
                 otherwise). The caller becomes its owner; sign in with its `tenant_id` to \
                 use it. A taken slug is a 409.",
        )
        .body(r("TenantCreate"), true)
        .errors(&[409])
        .response(201, json_response("Created.", r("TenantCreated"))),
    );
}
