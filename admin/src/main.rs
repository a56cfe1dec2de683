//! `crm-admin`: creates the table and tenants and mints tokens, against the local stack or AWS.
//!
//! It reads the same environment variables as the functions. By default it first loads `.env`
//! and then `.env.example` from the current directory (variables already set win), so that it
//! talks to the local stack out of the box; `--aws` skips those files.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use crm_app::config::aws_sdk_config;
use crm_auth::JwtConfig;
use crm_auth::{issue_token, TokenRequest};
use crm_domain::tenant::{slugify, validate_slug, Tenant, TenantStatus};
use crm_domain::Role;
use crm_store::table::create_table_if_absent;
use crm_store::{Conflict, Store, StoreError};
use uuid::Uuid;

mod accounts;
mod plans;

#[derive(Parser)]
#[command(
    name = "crm-admin",
    version,
    about = "Administer the CRM: table, tenants, tokens"
)]
struct Cli {
    /// Use the environment as it is (real AWS): do not load `.env` / `.env.example`.
    #[arg(long, global = true)]
    aws: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The DynamoDB table (TABLE_NAME).
    #[command(subcommand)]
    Table(TableCommand),
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Print a signed JWT for a user of a tenant. With --user and --role it needs only
    /// JWT_SECRET_KEY (an outside issuer's kind of token, no DynamoDB); with --member it
    /// starts a session for that member, as a sign-in does, and its token is checked against
    /// the membership on every request (so a removed member's token stops working).
    Token(TokenArgs),
    /// Users who sign in with email and password.
    #[command(subcommand)]
    User(UserCommand),
    /// Memberships: a user in a tenant with a role.
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an active user and print it as JSON (without the password). Without
    /// --password, one is generated and printed on stderr.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, env = "CRM_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long, default_value = "")]
        first_name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        /// Succeed without changes when a user has this email already.
        #[arg(long)]
        if_absent: bool,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Make the user with this email an active member of the tenant with a role.
    Add {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        email: String,
        /// One of owner, admin, manager, user, readonly.
        #[arg(long)]
        role: Role,
        /// Succeed without changes when the user is a member already.
        #[arg(long)]
        if_absent: bool,
    },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create the table with its indexes unless it exists.
    Create,
    /// Rewrite the leads (and their tag copies) stored before the compact layout (one
    /// attribute per field) as one `body` attribute. Idempotent, resumable (run it again),
    /// safe beside live traffic: each rewrite is conditioned on the lead being unchanged.
    MigrateLeads,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create an active tenant and print it as JSON.
    Create {
        /// Display name, e.g. "Acme Corp".
        #[arg(long)]
        name: String,
        /// Subdomain-style slug; defaults to the name slugified ("acme-corp").
        #[arg(long)]
        slug: Option<String>,
        /// Tenant id; a new random UUID by default.
        #[arg(long)]
        id: Option<Uuid>,
    },
    /// Suspend a tenant: its users get 403 (after at most TENANT_CACHE_SECONDS).
    Suspend {
        #[arg(long)]
        id: Uuid,
    },
    /// Make a suspended tenant active again.
    Activate {
        #[arg(long)]
        id: Uuid,
    },
    /// Set a tenant's plan (tier) and, optionally, its own limits; takes effect on the
    /// next lead create or invitation.
    SetPlan(plans::SetPlan),
}

#[derive(Args)]
struct TokenArgs {
    /// Tenant id (UUID) the token is for.
    #[arg(long)]
    tenant: Uuid,
    /// User id (the `sub` claim).
    #[arg(long, required_unless_present = "member", conflicts_with = "member")]
    user: Option<String>,
    /// One of owner, admin, manager, user, readonly.
    #[arg(long, required_unless_present = "member", conflicts_with = "member")]
    role: Option<Role>,
    /// The email of an active member of the tenant: the token is theirs, with the role
    /// their membership has.
    #[arg(long)]
    member: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(i64).range(1..))]
    ttl: i64,
    /// Optional `email` claim.
    #[arg(long)]
    email: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.aws {
        if let Err(e) = load_env_files() {
            eprintln!("crm-admin: {e}");
            return ExitCode::FAILURE;
        }
    }
    // Only the commands that talk to DynamoDB need a runtime; `token` stays offline.
    let result = match cli.command {
        Command::Token(args) if args.member.is_none() => token(args),
        other => tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
            .and_then(|rt| rt.block_on(run_store_command(other))),
    };
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crm-admin: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `.env` first, so its values win over the defaults in `.env.example`; neither overrides a
/// variable that is already set. A missing file is fine, a malformed one is an error.
fn load_env_files() -> Result<(), String> {
    for file in [".env", ".env.example"] {
        match dotenvy::from_filename(file) {
            Ok(_) => {}
            Err(dotenvy::Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot read {file}: {e}")),
        }
    }
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The JWT settings, with the same rules as `Config::from_env` but without requiring the
/// table, so minting a token needs nothing but the secret.
fn jwt_config() -> Result<JwtConfig, String> {
    let secret = env("JWT_SECRET_KEY").ok_or("JWT_SECRET_KEY must be set")?;
    if secret.len() < 16 {
        return Err("JWT_SECRET_KEY is not valid: use at least 16 characters".into());
    }
    Ok(JwtConfig {
        issuer: env("JWT_ISSUER"),
        audience: env("JWT_AUDIENCE"),
        ..JwtConfig::hs256(secret)
    })
}

fn token(args: TokenArgs) -> Result<String, String> {
    let config = jwt_config()?;
    let (Some(user), Some(role)) = (args.user, args.role) else {
        return Err("--user and --role, or --member, are required".into());
    };
    Ok(issue_token(
        &config,
        &TokenRequest {
            tenant_id: args.tenant,
            user_id: &user,
            role,
            email: args.email.as_deref(),
            ttl_seconds: args.ttl,
        },
    ))
}

async fn run_store_command(command: Command) -> Result<String, String> {
    let table = env("TABLE_NAME").ok_or("TABLE_NAME must be set")?;
    let client = aws_sdk_dynamodb::Client::new(&aws_sdk_config().await);
    match command {
        Command::Table(TableCommand::Create) => {
            let created = create_table_if_absent(&client, &table).await?;
            Ok(if created {
                format!("created table {table}")
            } else {
                format!("table {table} exists already")
            })
        }
        Command::Table(TableCommand::MigrateLeads) => {
            migrate_leads(Store::new(client, table)).await
        }
        Command::Tenant(TenantCommand::Create { name, slug, id }) => {
            create_tenant(Store::new(client, table), name, slug, id).await
        }
        Command::Tenant(TenantCommand::Suspend { id }) => {
            set_status(Store::new(client, table), id, TenantStatus::Suspended).await
        }
        Command::Tenant(TenantCommand::Activate { id }) => {
            set_status(Store::new(client, table), id, TenantStatus::Active).await
        }
        Command::Tenant(TenantCommand::SetPlan(args)) => {
            plans::set_plan(Store::new(client, table), args).await
        }
        Command::User(command) => accounts::user(Store::new(client, table), command).await,
        Command::Member(command) => accounts::member(Store::new(client, table), command).await,
        Command::Token(args) => {
            let member = args.member.unwrap_or_default();
            let jwt = jwt_config()?;
            accounts::member_token(
                &Store::new(client, table),
                &jwt,
                args.tenant,
                &member,
                args.ttl,
            )
            .await
        }
    }
}

/// Runs `Store::migrate_leads` page by page to the end of the table, reporting each page.
async fn migrate_leads(store: Store) -> Result<String, String> {
    let (mut scanned, mut rewritten, mut start) = (0, 0, None);
    loop {
        let page = store
            .migrate_leads(start)
            .await
            .map_err(|e| format!("migration stopped after {rewritten} rewrites: {e}"))?;
        scanned += page.scanned;
        rewritten += page.rewritten;
        eprintln!("crm-admin: scanned {scanned} items, rewrote {rewritten} leads and copies");
        start = page.next;
        if start.is_none() {
            return Ok(format!(
                "scanned {scanned} items; rewrote {rewritten} lead items and tag copies"
            ));
        }
    }
}

async fn set_status(store: Store, id: Uuid, status: TenantStatus) -> Result<String, String> {
    let mut tenant = store
        .find_tenant(id)
        .await
        .map_err(|e| format!("cannot read tenant {id}: {e}"))?
        .ok_or_else(|| format!("no tenant with id {id}"))?;
    store
        .set_tenant_status(tenant.id, status)
        .await
        .map_err(|e| format!("cannot update tenant {id}: {e}"))?;
    tenant.status = status;
    Ok(serde_json::to_string_pretty(&tenant).expect("a tenant serialises"))
}

async fn create_tenant(
    store: Store,
    name: String,
    slug: Option<String>,
    id: Option<Uuid>,
) -> Result<String, String> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err("--name must not be empty".into());
    }
    let slug = slug.unwrap_or_else(|| slugify(&name));
    validate_slug(&slug).map_err(|e| format!("invalid slug \"{slug}\": {e}"))?;
    let tenant = Tenant::new(name, slug, id);
    match store.create_tenant(&tenant).await {
        Ok(()) => Ok(serde_json::to_string_pretty(&tenant).expect("a tenant serialises")),
        // One guard covers both the id and the slug; look which one it was.
        Err(StoreError::Conflict(Conflict::Exists)) => match store.get_tenant(tenant.id).await {
            Ok(Some(_)) => Err(format!("a tenant with id {} exists already", tenant.id)),
            _ => Err(format!(
                "the slug \"{}\" is taken by another tenant",
                tenant.slug
            )),
        },
        Err(e) => Err(format!(
            "cannot create the tenant in {}: {e}",
            store.table()
        )),
    }
}
