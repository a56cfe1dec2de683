//! The accounts function: sign-in and sessions, the profile, members and invitations
//! (`crm_domain::accounts` parses the bodies and shapes the answers).

use utoipa::openapi::path::HttpMethod;
use utoipa::openapi::ResponseBuilder;

use crm_domain::accounts::secrets::MAX_SECRET_CHARS;
use crm_domain::accounts::users::{
    EMAIL_CHARS, LANGUAGE_CHARS, NAME_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, PHONE_CHARS,
    TIMEZONE_CHARS,
};
use crm_domain::api_keys::{Scope, MAX_RATE_LIMIT, NAME_CHARS as KEY_NAME_CHARS};
use crm_domain::validate::Choice;
use crm_domain::Role;

use crate::dsl::*;
use crate::leads::{page, paging};
use crate::ops::{json_response, op, public, Op};
use crate::Api;

const AUTH: &str = "/api/auth";
const MEMBERS: &str = "/api/tenants/current/members";
const INVITATIONS: &str = "/api/tenants/current/invitations";
const API_KEYS: &str = "/api/tenants/current/api-keys";

fn secret(min: usize) -> S {
    string()
        .min_length(Some(min))
        .max_length(Some(PASSWORD_MAX_CHARS))
        .into()
}

fn roles() -> S {
    string()
        .enum_values(Some(Role::ALL.map(Role::as_str)))
        .into()
}

fn names() -> Vec<(&'static str, S)> {
    vec![
        ("first_name", string().max_length(Some(NAME_CHARS)).into()),
        ("last_name", string().max_length(Some(NAME_CHARS)).into()),
    ]
}

fn user() -> S {
    Obj::new()
        .req("id", uuid())
        .req("email", formatted("email").into())
        .req("username", string().into())
        .props(names(), true)
        .req("full_name", string().into())
        .req("phone", nullable(string().into()))
        .req("timezone", string().into())
        .req("language", string().into())
        .req("is_active", boolean())
        .req("created_at", datetime())
        .req("updated_at", datetime())
        .closed()
}

fn tokens(o: Obj) -> Obj {
    o.req(
        "token",
        string().description(Some("The access JWT (HS256).")).into(),
    )
    .req(
        "refresh",
        string()
            .description(Some("The refresh token: shown once, single use."))
            .into(),
    )
    .req("token_type", string().enum_values(Some(["Bearer"])).into())
    .req("expires_in", integer(Some(1), None))
}

pub fn schemas() -> Vec<(&'static str, S)> {
    let mut out = sign_in_schemas();
    out.extend(profile_schemas());
    out.extend(team_schemas());
    out.extend(key_schemas());
    out
}

fn scopes() -> S {
    array(
        string()
            .enum_values(Some(Scope::CHOICES.iter().map(|(s, _)| *s)))
            .into(),
    )
    .min_items(Some(1))
    .into()
}

fn api_key(with_key: bool) -> S {
    let o = Obj::new()
        .req("id", uuid())
        .req("name", string().into())
        .req(
            "prefix",
            string()
                .description(Some("The key's public start, to recognise it."))
                .into(),
        )
        .req("scopes", scopes())
        .req(
            "rate_limit",
            integer(Some(1), Some(i64::from(MAX_RATE_LIMIT))),
        )
        .req("created_by", string().into())
        .req("created_at", datetime())
        .req("expires_at", nullable(datetime()))
        .req("is_active", boolean())
        .req("revoked_at", nullable(datetime()))
        .req("last_used_at", nullable(datetime()))
        .req("usage_count", integer(Some(0), None));
    if with_key {
        o.req(
            "key",
            string()
                .description(Some(
                    "The key (`crm_...`): shown only now, stored only as a digest.",
                ))
                .into(),
        )
    } else {
        o
    }
    .closed()
}

fn key_schemas() -> Vec<(&'static str, S)> {
    vec![
        ("ApiKey", api_key(false)),
        ("ApiKeyCreated", api_key(true)),
        (
            "ApiKeyCreate",
            Obj::new()
                .req("name", text(KEY_NAME_CHARS))
                .req("scopes", scopes())
                .opt(
                    "expires_at",
                    nullable(
                        formatted("date-time")
                            .description(Some("In the future."))
                            .into(),
                    ),
                )
                .opt(
                    "rate_limit",
                    nullable(integer(Some(1), Some(i64::from(MAX_RATE_LIMIT)))),
                )
                .describe("`rate_limit`: requests per hour (default 1000).")
                .open(),
        ),
    ]
}

fn sign_in_schemas() -> Vec<(&'static str, S)> {
    let tenant = Obj::new()
        .req("id", uuid())
        .req("name", string().into())
        .req("slug", string().into())
        .req("role", roles())
        .closed();
    let bounded = || {
        string()
            .min_length(Some(1))
            .max_length(Some(MAX_SECRET_CHARS))
            .into()
    };
    vec![
        ("User", user()),
        ("TenantChoice", tenant),
        (
            "SignIn",
            tokens(Obj::new())
                .req("user", r("User"))
                .req("tenant", r("TenantChoice"))
                .req("tenants", array(r("TenantChoice")).into())
                .closed(),
        ),
        ("Tokens", tokens(Obj::new()).closed()),
        (
            "Login",
            Obj::new()
                .req("email", text(EMAIL_CHARS))
                .req("password", secret(1))
                .opt("tenant_id", nullable(uuid()))
                .open(),
        ),
        ("Refresh", Obj::new().req("refresh", bounded()).open()),
        (
            "AcceptInvitation",
            Obj::new()
                .req("token", bounded())
                .req("password", secret(1))
                .props(nullable_names(), false)
                .describe(
                    "A new email's first password (at least 10 characters, not the email), \
                     or an existing user's current one.",
                )
                .open(),
        ),
    ]
}

fn nullable_names() -> Vec<(&'static str, S)> {
    names().into_iter().map(|(n, s)| (n, nullable(s))).collect()
}

fn profile_schemas() -> Vec<(&'static str, S)> {
    let timezone = string()
        .min_length(Some(1))
        .max_length(Some(TIMEZONE_CHARS))
        .pattern(Some("^[A-Za-z][A-Za-z0-9/_+-]*$"));
    let language = string()
        .min_length(Some(2))
        .max_length(Some(LANGUAGE_CHARS))
        .pattern(Some("^[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8})*$"));
    vec![
        (
            "ProfileUpdate",
            Obj::new()
                .props(nullable_names(), false)
                .opt("phone", opt_text(PHONE_CHARS))
                .opt("timezone", timezone.into())
                .opt("language", language.into())
                .open(),
        ),
        (
            "PasswordChange",
            Obj::new()
                .req("current_password", secret(1))
                .req("new_password", secret(PASSWORD_MIN_CHARS))
                .open(),
        ),
    ]
}

fn invitation(with_token: bool) -> S {
    let o = Obj::new()
        .req("id", uuid())
        .req("email", formatted("email").into())
        .req("role", roles())
        .req("invited_by", string().into())
        .req("created_at", datetime())
        .req("expires_at", datetime());
    if with_token {
        o.req(
            "token",
            string().description(Some("Shown only now.")).into(),
        )
    } else {
        o
    }
    .closed()
}

fn team_schemas() -> Vec<(&'static str, S)> {
    let member = Obj::new()
        .req("user_id", uuid())
        .req("role", roles())
        .req("is_active", boolean())
        .req("invited_at", nullable(datetime()))
        .req("joined_at", nullable(datetime()))
        .props(
            names()
                .into_iter()
                .map(|(n, _)| (n, nullable(string().into())))
                .collect(),
            true,
        )
        .req("full_name", nullable(string().into()))
        .req("user_is_active", boolean())
        .opt("email", nullable(formatted("email").into()))
        .describe("`email` only for admins and owners.")
        .closed();
    vec![
        ("Member", member),
        (
            "MemberUpdate",
            Obj::new()
                .opt("role", roles())
                .opt("is_active", boolean())
                .open(),
        ),
        ("Invitation", invitation(false)),
        ("InvitationCreated", invitation(true)),
        (
            "InvitationCreate",
            Obj::new()
                .req(
                    "email",
                    formatted("email").max_length(Some(EMAIL_CHARS)).into(),
                )
                .req("role", roles())
                .open(),
        ),
    ]
}

fn no_content(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new().description(description).build()
}

/// A sign-in operation: no credentials, a JSON body, 400 for bad input.
fn sign_in(id: &str, summary: &str, body: &str) -> Op {
    public(HttpMethod::Post, id, "auth", summary)
        .body(r(body), true)
        .errors(&[400, 503])
}

fn auth(api: &mut Api) {
    api.add(
        &format!("{AUTH}/login"),
        sign_in("login", "Sign in with email and password", "Login")
            .describe(
                "Without `tenant_id`, a user with several tenants gets a 400 on `tenant_id` \
                 listing them. Every failed sign-in is the same 401; after too many for one \
                 email within the window, 429 with `Retry-After`.",
            )
            .errors(&[401, 429])
            .response(200, json_response("Signed in.", r("SignIn"))),
    );
    api.add(
        &format!("{AUTH}/refresh"),
        sign_in(
            "refresh",
            "Exchange a refresh token for new tokens",
            "Refresh",
        )
        .describe(
            "Single use: presenting a used refresh token revokes its whole session (401). \
                 The original's form (an access token sent as `token`) is a 400 on `token`.",
        )
        .errors(&[401])
        .response(200, json_response("New tokens.", r("Tokens"))),
    );
    api.add(
        &format!("{AUTH}/accept-invitation"),
        sign_in(
            "accept_invitation",
            "Accept an invitation",
            "AcceptInvitation",
        )
        .describe(
            "A used, revoked or expired invitation is a 400 on `token`; an existing \
                 account's wrong password a 400 on `password`; a tenant whose plan has no \
                 seat left a 403 with `code: plan_limit`.",
        )
        .errors(&[403])
        .response(200, json_response("Signed in.", r("SignIn"))),
    );
    for (path, id, summary) in [
        ("logout", "logout", "End this session"),
        ("logout-all", "logout_all", "End every session of the user"),
    ] {
        api.add(
            &format!("{AUTH}/{path}"),
            op(HttpMethod::Post, id, "auth", summary).response(204, no_content("Signed out.")),
        );
    }
}

fn profile(api: &mut Api) {
    let forbidden = "403 for an outside issuer's token: no account here.";
    api.add(
        "/api/profile",
        op(HttpMethod::Get, "profile", "auth", "The caller's profile")
            .describe(forbidden)
            .response(200, json_response("The profile.", r("User"))),
    );
    api.add(
        "/api/profile",
        op(
            HttpMethod::Patch,
            "profile_update",
            "auth",
            "Change the profile",
        )
        .describe(forbidden)
        .body(r("ProfileUpdate"), true)
        .response(200, json_response("The profile.", r("User"))),
    );
    api.add(
        "/api/profile/password",
        op(
            HttpMethod::Post,
            "password_change",
            "auth",
            "Change the password",
        )
        .describe("Ends every other session of the user.")
        .body(r("PasswordChange"), true)
        .response(204, no_content("Changed.")),
    );
}

fn members(api: &mut Api) {
    api.add(
        MEMBERS,
        op(
            HttpMethod::Get,
            "members_list",
            "members",
            "The tenant's members",
        )
        .params(paging())
        .response(200, json_response("A page of members.", page(r("Member")))),
    );
    let one = format!("{MEMBERS}/{{id}}");
    api.add(
        &one,
        op(
            HttpMethod::Patch,
            "members_update",
            "members",
            "Change a member's role or status",
        )
        .describe(
            "Admins and owners; only an owner grants, changes or removes the owner role. \
                 The last active owner cannot be demoted or deactivated (409).",
        )
        .body(r("MemberUpdate"), true)
        .errors(&[404])
        .response(200, json_response("The member.", r("Member"))),
    );
    api.add(
        &one,
        op(
            HttpMethod::Delete,
            "members_destroy",
            "members",
            "Remove a member",
        )
        .describe("Admins and owners; the last active owner stays (409).")
        .errors(&[404, 409])
        .response(204, no_content("Removed.")),
    );
    api.add(
        INVITATIONS,
        op(
            HttpMethod::Get,
            "invitations_list",
            "members",
            "Pending invitations",
        )
        .describe("Admins and owners.")
        .params(paging())
        .response(
            200,
            json_response("A page of invitations.", page(r("Invitation"))),
        ),
    );
    api.add(
        INVITATIONS,
        op(
            HttpMethod::Post,
            "invitations_create",
            "members",
            "Invite someone",
        )
        .describe("Admins and owners; only an owner invites an owner. Expires in 7 days.")
        .body(r("InvitationCreate"), true)
        .response(201, json_response("Invited.", r("InvitationCreated"))),
    );
    api.add(
        &format!("{INVITATIONS}/{{id}}"),
        op(
            HttpMethod::Delete,
            "invitations_destroy",
            "members",
            "Revoke an invitation",
        )
        .errors(&[404])
        .response(204, no_content("Revoked.")),
    );
}

fn keys(api: &mut Api) {
    let managers = "Owners and admins; an API key never manages keys (403).";
    api.add(
        API_KEYS,
        op(
            HttpMethod::Get,
            "api_keys_list",
            "api-keys",
            "The tenant's API keys",
        )
        .describe(managers)
        .params(paging())
        .response(
            200,
            json_response("A page of keys, never their secret.", page(r("ApiKey"))),
        ),
    );
    api.add(
        API_KEYS,
        op(
            HttpMethod::Post,
            "api_keys_create",
            "api-keys",
            "Create an API key",
        )
        .describe(
            "Owners and admins (checked before the body). The key is in this answer only. \
                 Scopes: `leads:read`, `leads:write`, `bulk`, `settings`.",
        )
        .body(r("ApiKeyCreate"), true)
        .response(201, json_response("Created.", r("ApiKeyCreated"))),
    );
    api.add(
        &format!("{API_KEYS}/{{id}}"),
        op(
            HttpMethod::Delete,
            "api_keys_destroy",
            "api-keys",
            "Revoke an API key",
        )
        .describe("Takes effect within `TENANT_CACHE_SECONDS` on warm instances.")
        .errors(&[404])
        .response(204, no_content("Revoked.")),
    );
}

pub fn describe(api: &mut Api) {
    auth(api);
    profile(api);
    members(api);
    keys(api);
}
