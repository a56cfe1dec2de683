//! Webhook subscriptions (the sources function): the lifecycle of a resource, for admins
//! and owners only (reads too), the create that shows the signing secret once, and the
//! delivery log with redeliver and test.

use utoipa::openapi::path::{HttpMethod, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{Required, ResponseBuilder};

use crm_domain::events::EVENT_TYPES;
use crm_domain::webhooks::{FILTER_FIELDS, URL_MAX};

use crate::dsl::*;
use crate::leads::{page, paging};
use crate::ops::{json_response, op, versioned};
use crate::Api;

const BASE: &str = "/api/leads/api/v1/webhooks";
const TAG: &str = "webhooks";
const ADMINS: &str = "Admins and owners only (reads too); API keys need the `settings` scope.";

fn names(values: &[&str]) -> S {
    let mut items = string();
    items = items.enum_values(Some(values.iter().copied()));
    array(items.into()).into()
}

fn input(required: bool) -> S {
    Obj::new()
        .describe(
            "`url`: absolute https (http and private addresses only where the deployment \
             allows private targets); its host must resolve to public addresses. `events`: \
             at least one. `fields`: deliver `lead.updated` only when one of these changed \
             (empty: always).",
        )
        .props(
            vec![
                (
                    "url",
                    string()
                        .min_length(Some(1))
                        .max_length(Some(URL_MAX))
                        .format(Some(utoipa::openapi::SchemaFormat::Custom("uri".into())))
                        .into(),
                ),
                ("events", names(&EVENT_TYPES)),
            ],
            required,
        )
        .opt("fields", names(&FILTER_FIELDS))
        .opt("is_active", boolean())
        .opt("description", opt_text(1_000))
        .open()
}

fn webhook(secret: bool) -> S {
    let mut o = Obj::new()
        .req("id", uuid())
        .req("url", string().into())
        .req("events", array(string().into()).into())
        .req("fields", array(string().into()).into())
        .req("is_active", boolean())
        .req("description", nullable(string().into()))
        .req("failing_since", nullable(datetime()))
        .req("deactivated_reason", nullable(string().into()))
        .req("created_by", string().into())
        .req("created_at", datetime())
        .req("updated_at", datetime());
    if secret {
        o = o.req(
            "secret",
            string()
                .pattern(Some("^whsec_"))
                .description(Some(
                    "The signing secret (`whsec_` and 256 random bits): shown only here; keep it.",
                ))
                .into(),
        );
    }
    o.closed()
}

pub fn schemas() -> Vec<(&'static str, S)> {
    vec![
        ("Webhook", webhook(false)),
        ("WebhookCreated", webhook(true)),
        ("WebhookCreate", input(true)),
        ("WebhookUpdate", input(false)),
        (
            "WebhookDelivery",
            Obj::new()
                .req("id", uuid())
                .req("webhook", uuid())
                .req("event_id", string().into())
                .req("event_type", string().into())
                .req("attempt", integer(Some(1), None))
                .req("success", boolean())
                .req("status_code", nullable(integer(Some(100), Some(599))))
                .req("latency_ms", integer(Some(0), None))
                .req("error", nullable(string().into()))
                .req("response", nullable(string().into()))
                .req(
                    "trigger",
                    string()
                        .enum_values(Some(["event", "retry", "redeliver", "test"]))
                        .into(),
                )
                .req("delivered_at", datetime())
                .closed(),
        ),
    ]
}

fn delivery_id() -> Parameter {
    ParameterBuilder::new()
        .name("delivery_id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(uuid()))
        .build()
}

pub fn describe(api: &mut Api) {
    let one = format!("{BASE}/{{id}}");
    let record = r("Webhook");
    api.add(
        BASE,
        op(
            HttpMethod::Get,
            "webhooks_list",
            TAG,
            "List webhook subscriptions",
        )
        .describe(ADMINS)
        .params(paging())
        .response(200, json_response("A page.", page(record.clone()))),
    );
    api.add(
        BASE,
        op(HttpMethod::Post, "webhooks_create", TAG, "Subscribe")
            .describe(
                "Admins and owners. At most 25 per tenant. The answer carries the signing \
                 secret, once.",
            )
            .body(r("WebhookCreate"), true)
            .response(
                201,
                versioned("Created, with its secret.", r("WebhookCreated")),
            ),
    );
    api.add(
        &one,
        op(
            HttpMethod::Get,
            "webhooks_retrieve",
            TAG,
            "One subscription",
        )
        .describe(ADMINS)
        .errors(&[404])
        .response(200, versioned("The subscription.", record.clone())),
    );
    for (method, action, summary, body) in [
        (
            HttpMethod::Put,
            "webhooks_update",
            "Replace",
            "WebhookCreate",
        ),
        (
            HttpMethod::Patch,
            "webhooks_partial_update",
            "Change",
            "WebhookUpdate",
        ),
    ] {
        api.add(
            &one,
            op(method, action, TAG, summary)
                .describe(ADMINS)
                .body(r(body), true)
                .errors(&[404])
                .if_match()
                .response(200, versioned("The subscription.", record.clone())),
        );
    }
    api.add(
        &one,
        op(HttpMethod::Delete, "webhooks_destroy", TAG, "Unsubscribe")
            .describe(ADMINS)
            .errors(&[404, 409])
            .if_match()
            .response(204, ResponseBuilder::new().description("Deleted.").build()),
    );
    api.add(
        &format!("{one}/deliveries"),
        op(
            HttpMethod::Get,
            "webhooks_deliveries",
            TAG,
            "The delivery log, newest first (kept 30 days)",
        )
        .describe(ADMINS)
        .params(paging())
        .errors(&[404])
        .response(200, json_response("A page.", page(r("WebhookDelivery")))),
    );
    api.add(
        &format!("{one}/deliveries/{{delivery_id}}/redeliver"),
        op(
            HttpMethod::Post,
            "webhooks_redeliver",
            TAG,
            "Send a logged delivery's event again, now",
        )
        .describe(
            "One attempt, signed afresh, logged with trigger `redeliver`; the answer is the \
             logged attempt, whatever the receiver said.",
        )
        .param(delivery_id())
        .errors(&[404])
        .response(200, json_response("The attempt.", r("WebhookDelivery"))),
    );
    api.add(
        &format!("{one}/test"),
        op(
            HttpMethod::Post,
            "webhooks_test",
            TAG,
            "Send a `webhook.test` event, now",
        )
        .describe("One attempt, logged with trigger `test`; active or not.")
        .errors(&[404])
        .response(200, json_response("The attempt.", r("WebhookDelivery"))),
    );
}
