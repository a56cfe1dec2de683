//! `crm-admin user create` and `crm-admin member add`: the counterpart of the original's
//! `createsuperuser`, writing through the same store calls as the accounts function.

use crm_domain::accounts::secrets::new_secret;
use crm_domain::accounts::users::{check_password, email_key};
use crm_domain::accounts::{Membership, PasswordHash, User};
use crm_domain::validate::is_valid_email;
use crm_store::{Conflict, Store, StoreError};
use serde_json::json;

use crate::{MemberCommand, UserCommand};

pub async fn user(store: Store, command: UserCommand) -> Result<String, String> {
    let UserCommand::Create {
        email,
        password,
        first_name,
        last_name,
        if_absent,
    } = command;
    let email = email_key(&email);
    if !is_valid_email(&email) {
        return Err(format!("\"{email}\" is not a valid email address"));
    }
    if let Some((existing, _)) = store
        .find_user_by_email(&email)
        .await
        .map_err(|e| format!("cannot read users: {e}"))?
    {
        if if_absent {
            return Ok(pretty(&existing));
        }
        return Err(format!("a user with the email {email} exists already"));
    }
    let password = match password {
        Some(p) => p,
        None => {
            let generated = new_secret();
            eprintln!("crm-admin: generated password for {email}: {generated}");
            generated
        }
    };
    check_password(&password, &email).map_err(|e| format!("--password: {e}"))?;
    let user = User::new(&email, first_name, last_name);
    match store
        .create_user(&user, &PasswordHash::new(&password), &[])
        .await
    {
        Ok(()) => Ok(pretty(&user)),
        Err(StoreError::Conflict(Conflict::Email)) => {
            Err(format!("a user with the email {email} exists already"))
        }
        Err(e) => Err(format!("cannot create the user: {e}")),
    }
}

pub async fn member(store: Store, command: MemberCommand) -> Result<String, String> {
    let MemberCommand::Add {
        tenant,
        email,
        role,
        if_absent,
    } = command;
    let tenant = store
        .find_tenant(tenant)
        .await
        .map_err(|e| format!("cannot read tenant {tenant}: {e}"))?
        .ok_or_else(|| format!("no tenant with id {tenant}"))?;
    let (user, _) = store
        .find_user_by_email(&email)
        .await
        .map_err(|e| format!("cannot read users: {e}"))?
        .ok_or_else(|| format!("no user with the email {email} (crm-admin user create)"))?;
    let membership = Membership::new(tenant.id, user.id, role, None);
    match store.add_membership(&membership).await {
        Ok(()) => {}
        Err(StoreError::Conflict(Conflict::Exists)) if if_absent => {}
        Err(StoreError::Conflict(Conflict::Exists)) => {
            return Err(format!("{email} is a member of {} already", tenant.id))
        }
        Err(e) => return Err(format!("cannot add the membership: {e}")),
    }
    Ok(serde_json::to_string_pretty(&json!({
        "tenant_id": tenant.id,
        "user_id": user.id,
        "email": user.email,
        "role": role,
    }))
    .expect("a membership serialises"))
}

fn pretty(user: &User) -> String {
    serde_json::to_string_pretty(&user.json()).expect("a user serialises")
}

/// `crm-admin token --member EMAIL`: a session for an active member of `tenant`, started as
/// a sign-in starts one, and its access token (checked against the membership on every
/// request, like the tokens `/api/auth/login/` answers).
pub async fn member_token(
    store: &Store,
    jwt: &crm_auth::JwtConfig,
    tenant: uuid::Uuid,
    email: &str,
    ttl_seconds: i64,
) -> Result<String, String> {
    let email = email_key(email);
    let (user, _) = store
        .find_user_by_email(&email)
        .await
        .map_err(|e| format!("cannot read users: {e}"))?
        .ok_or_else(|| format!("no user has the email {email}"))?;
    let tenants = crm_app::accounts::login::active_tenants(store, user.id)
        .await
        .map_err(|e| format!("cannot read the memberships: {e}"))?;
    let pair = tenants
        .iter()
        .find(|(m, _)| m.tenant_id.as_uuid() == tenant)
        .cloned()
        .ok_or_else(|| format!("{email} is not an active member of the active tenant {tenant}"))?;
    let config = crm_app::config::AccountsConfig::default();
    let sign_in = crm_app::accounts::sessions::start(
        store,
        &config,
        user,
        pair,
        tenants,
        &crm_domain::audit::NO_ORIGIN,
    )
    .await
    .map_err(|e| format!("cannot start a session: {e}"))?;
    Ok(crm_auth::issue_access_token(
        jwt,
        &crm_auth::AccessToken {
            session: crm_domain::accounts::SessionRef {
                user_id: sign_in.user.id,
                family_id: sign_in.family,
            },
            tenant_id: tenant,
            role: sign_in.membership.role,
            email: &sign_in.user.email,
            ttl_seconds,
        },
    ))
}
