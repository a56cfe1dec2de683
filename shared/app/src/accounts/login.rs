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
use crm_domain::tenant::Tenant;
use crm_domain::Error;
use crm_store::Store;

/// The most memberships a sign-in considers (a user of more tenants picks among these).
pub const MAX_TENANTS: usize = 100;

pub async fn login(
    store: &Store,
    config: &AccountsConfig,
    input: LoginInput,
) -> Result<SignIn, Error> {
    let now = Utc::now();
    check_lockout(store, config, &input.email, now).await?;
    let user = match store.find_user_by_email(&input.email).await? {
        Some((user, hash)) => (hash.verify(&input.password) && user.is_active).then_some(user),
        None => {
            verify_dummy(&input.password);
            None
        }
    };
    let Some(user) = user else {
        return Err(failed(store, config, &input.email, now).await);
    };
    let tenants = active_tenants(store, user.id).await?;
    let named: Vec<(Membership, String)> = tenants
        .iter()
        .map(|(m, t)| (m.clone(), t.name.clone()))
        .collect();
    let Some(chosen) = choose_tenant(&named, input.tenant_id)? else {
        return Err(failed(store, config, &input.email, now).await);
    };
    store.clear_login_failures(&input.email).await?;
    let pair = tenants
        .iter()
        .find(|(m, _)| m.tenant_id == chosen.tenant_id)
        .cloned()
        .ok_or_else(|| Error::Internal("the chosen membership is not the user's".into()))?;
    sessions::start(store, config, user, pair, tenants).await
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
async fn failed(store: &Store, config: &AccountsConfig, email: &str, now: DateTime<Utc>) -> Error {
    if let Err(e) = store
        .record_login_failure(email, now, config.login_window_seconds)
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
) -> Result<SignIn, Error> {
    let tenants = active_tenants(store, user.id).await?;
    let pair = tenants
        .iter()
        .find(|(m, _)| m.tenant_id.as_uuid() == tenant)
        .cloned()
        .ok_or_else(|| Error::Unauthenticated(BAD_CREDENTIALS.into()))?;
    sessions::start(store, config, user, pair, tenants).await
}
