//! `crm-admin tenant set-plan`: a tenant's tier and its own limits.

use clap::Args;
use crm_domain::plan::{LimitOverrides, Tier};
use crm_domain::validate::Choice;
use crm_store::Store;
use uuid::Uuid;

fn tier(raw: &str) -> Result<Tier, String> {
    Tier::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = Tier::CHOICES.iter().map(|(n, _)| *n).collect();
        format!("one of {}", names.join(", "))
    })
}

#[derive(Args)]
pub struct SetPlan {
    #[arg(long)]
    id: Uuid,
    /// One of free, starter, professional, enterprise.
    #[arg(long, value_parser = tier)]
    tier: Tier,
    /// The tenant's own limits, instead of its tier's (kept until changed or cleared).
    #[arg(long)]
    max_users: Option<u64>,
    #[arg(long)]
    max_leads: Option<u64>,
    #[arg(long)]
    requests_per_minute: Option<u64>,
    #[arg(long)]
    audit_retention_days: Option<u64>,
    /// Drop the tenant's own limits first: the tier's apply, except those given here.
    #[arg(long)]
    clear_overrides: bool,
}

/// Sets the plan and prints the tenant's tier, overrides and limits in force as JSON.
pub async fn set_plan(store: Store, args: SetPlan) -> Result<String, String> {
    let id = args.id;
    let tenant = store
        .find_tenant(id)
        .await
        .map_err(|e| format!("cannot read tenant {id}: {e}"))?
        .ok_or_else(|| format!("no tenant with id {id}"))?;
    let given = LimitOverrides {
        max_users: args.max_users,
        max_leads: args.max_leads,
        requests_per_minute: args.requests_per_minute,
        audit_retention_days: args.audit_retention_days,
    };
    let overrides = if args.clear_overrides {
        given
    } else {
        given.or(tenant.limit_overrides)
    };
    let tenant = store
        .set_plan(tenant.id, args.tier, overrides)
        .await
        .map_err(|e| format!("cannot update tenant {id}: {e}"))?
        .ok_or_else(|| format!("no tenant with id {id}"))?;
    let answer = serde_json::json!({
        "id": tenant.id,
        "slug": tenant.slug,
        "subscription_tier": tenant.subscription_tier,
        "limit_overrides": tenant.limit_overrides,
        "limits": tenant.limits(),
    });
    Ok(serde_json::to_string_pretty(&answer).expect("JSON serialises"))
}
