//! `POST /api/auth/login/`: email and password to a session in one of the user's tenants.
//! Every failure (unknown email, wrong password, inactive user, no active membership in
//! the tenant) is the same 401 after the same work (an unknown email costs a hash too).
//! Failed attempts are counted per email; too many within the window lock it (429).

use chrono::{DateTime, Utc};
use futures::future::try_join_all;
use uuid::Uuid;

use crate::accounts::{sessions, SignIn};
use crate::config::AccountsConfig;
use crm_domain::accounts::members::choose_tenant;
use crm_domain::accounts::password::verify_dummy;
use crm_domain::accounts::sessions::BAD_CREDENTIALS;
use crm_domain::accounts::{LoginInput, Membership, User};
use crm_domain::audit::{AuditAction, AuditEntry, Origin, Provenance, ResourceType};
use crm_domain::tenant::{Tenant, TenantId};
use crm_domain::Error;
use crm_store::Store;

/// The most memberships a sign-in considers (a user of more tenants picks among these).
pub const MAX_TENANTS: usize = 100;

pub async fn login(
    store: &Store,
    config: &AccountsConfig,
    input: LoginInput,
    origin: &Origin,
) -> Result<SignIn, Error> {
    let now = Utc::now();
    check_lockout(store, config, &input.email, now).await?;
    let (user, known) = match store.find_user_by_email(&input.email).await? {
        Some((user, hash)) => {
            let verified = hash.verify(&input.password) && user.is_active;
            (verified.then(|| user.clone()), Some(user))
        }
        None => {
            verify_dummy(&input.password);
            (None, None)
        }
    };
    let Some(user) = user else {
        let audits = match &known {
            Some(user) => {
                let tenants = active_tenants(store, user.id).await?;
                failure_entries(user, tenants, input.tenant_id, origin, now)
            }
            None => Vec::new(),
        };
        return Err(failed(store, config, &input.email, now, &audits).await);
    };
    let tenants = active_tenants(store, user.id).await?;
    let named: Vec<(Membership, String)> = tenants
        .iter()
        .map(|(m, t)| (m.clone(), t.name.clone()))
        .collect();
    let Some(chosen) = choose_tenant(&named, input.tenant_id)? else {
        let audits = failure_entries(&user, tenants, input.tenant_id, origin, now);
        return Err(failed(store, config, &input.email, now, &audits).await);
    };
    store.clear_login_failures(&input.email).await?;
    let pair = tenants
        .iter()
        .find(|(m, _)| m.tenant_id == chosen.tenant_id)
        .cloned()
        .ok_or_else(|| Error::Internal("the chosen membership is not the user's".into()))?;
    sessions::start(store, config, user, pair, tenants, origin).await
}

/// The most tenants a failed sign-in is logged in (a user of more tenants: the first of
/// their memberships). Bounded, so a failed attempt costs a few writes at most.
pub const MAX_FAILURE_TENANTS: usize = 5;

/// The audit entries of an existing user's failed sign-in: in the tenant they asked for
/// when they are its member, else in each of their tenants (at most
/// [`MAX_FAILURE_TENANTS`]): whoever administers an account the attempt was against sees
/// it. An unknown email has no tenant to tell, and no entry.
fn failure_entries(
    user: &User,
    mut tenants: Vec<(Membership, Tenant)>,
    asked: Option<Uuid>,
    origin: &Origin,
    now: DateTime<Utc>,
) -> Vec<(TenantId, AuditEntry)> {
    if let Some(asked) = asked {
        if tenants.iter().any(|(m, _)| m.tenant_id.as_uuid() == asked) {
            tenants.retain(|(m, _)| m.tenant_id.as_uuid() == asked);
        }
    }
    let actor = user.id.to_string();
    tenants
        .iter()
        .take(MAX_FAILURE_TENANTS)
        .map(|(_, tenant)| {
            let by = Provenance {
                actor: &actor,
                origin,
                retention_days: tenant.limits().audit_retention_days,
            };
            let entry = AuditEntry::new(
                by,
                ResourceType::User,
                user.id,
                AuditAction::LoginFailed,
                now,
                serde_json::Map::new(),
            );
            (tenant.id, entry)
        })
        .collect()
}

/// 429 while the email has had too many failures within the window.
async fn check_lockout(
    store: &Store,
    config: &AccountsConfig,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let Some(failures) = store.login_failures(email).await? else {
        return Ok(());
    };
    let ends = failures.window_start + config.login_window_seconds;
    if failures.count >= config.login_max_failures && ends > now.timestamp() {
        let retry_after = u64::try_from(ends - now.timestamp()).unwrap_or(1).max(1);
        return Err(Error::TooManyAttempts {
            detail: format!(
                "Too many failed sign-ins for this email: try again in {retry_after} seconds."
            ),
            retry_after,
        });
    }
    Ok(())
}

/// Counts the failure and answers the one 401 of every failed sign-in.
async fn failed(
    store: &Store,
    config: &AccountsConfig,
    email: &str,
    now: DateTime<Utc>,
    audits: &[(TenantId, AuditEntry)],
) -> Error {
    if let Err(e) = store
        .record_login_failure(email, now, config.login_window_seconds, audits)
        .await
    {
        return e.into();
    }
    Error::Unauthenticated(BAD_CREDENTIALS.into())
}

/// The user's active memberships in active tenants, with the tenants.
pub async fn active_tenants(store: &Store, user: Uuid) -> Result<Vec<(Membership, Tenant)>, Error> {
    let memberships: Vec<Membership> = store
        .user_memberships(user, MAX_TENANTS)
        .await?
        .into_iter()
        .filter(|m| m.is_active)
        .collect();
    let tenants = try_join_all(memberships.iter().map(|m| store.get_tenant(m.tenant_id))).await?;
    Ok(memberships
        .into_iter()
        .zip(tenants)
        .filter_map(|(m, t)| t.filter(Tenant::is_active).map(|t| (m, t)))
        .collect())
}

/// A user signing in again (after accepting an invitation): their session in `tenant`.
pub async fn sign_in_to(
    store: &Store,
    config: &AccountsConfig,
    user: User,
    tenant: Uuid,
    origin: &Origin,
) -> Result<SignIn, Error> {
    let tenants = active_tenants(store, user.id).await?;
    let pair = tenants
        .iter()
        .find(|(m, _)| m.tenant_id.as_uuid() == tenant)
        .cloned()
        .ok_or_else(|| Error::Unauthenticated(BAD_CREDENTIALS.into()))?;
    sessions::start(store, config, user, pair, tenants, origin).await
}
