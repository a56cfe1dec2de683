//! The current tenant's settings (`GET`/`PATCH /api/tenants/current/`) and tenants that
//! signed-in users create for themselves (`POST /api/tenants/`).

use chrono::Utc;
use serde_json::{Map, Value};

use crate::config::AccountsConfig;
use crm_domain::accounts::{Membership, SessionRef};
use crm_domain::audit::{self, AuditAction, AuditEntry, Origin, Provenance, ResourceType};
use crm_domain::plan::Usage;
use crm_domain::tenant::Tenant;
use crm_domain::tenant_settings::TenantEdit;
use crm_domain::{Caller, Error, Role};
use crm_store::{Conflict, Store, StoreError};

/// Attempts at a settings change that lost a race with another change.
const ATTEMPTS: u32 = 3;

pub const SLUG_TAKEN: &str = "A tenant with this slug already exists.";

fn slug_taken() -> Error {
    Error::Conflict(SLUG_TAKEN.into())
}

/// The caller's tenant and what it uses.
pub async fn current(store: &Store, caller: &Caller) -> Result<(Tenant, Usage), Error> {
    let tenant = store
        .get_tenant(caller.tenant)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((tenant, crate::plan::usage(store, caller.tenant).await?))
}

/// Changes the caller's tenant's settings (admins and owners); a slug another tenant
/// holds is a 409.
pub async fn update(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<(Tenant, Usage), Error> {
    caller.require(Role::Admin)?;
    let edit = TenantEdit::parse(body, false)?;
    for _ in 0..ATTEMPTS {
        let (before, usage) = current(store, caller).await?;
        if edit.is_empty() {
            return Ok((before, usage));
        }
        let now = Utc::now();
        let after = edit.apply(&before, now);
        let audit = AuditEntry::new(
            caller.provenance(),
            ResourceType::Tenant,
            caller.tenant.as_uuid(),
            AuditAction::Update,
            now,
            audit::changes(Some(&before), Some(&after), &[]),
        );
        match store.update_tenant(&before, &after, &audit).await {
            Ok(()) => return Ok((after, usage)),
            Err(StoreError::Conflict(Conflict::Exists)) => return Err(slug_taken()),
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict(
        "The tenant is being changed by other requests; try again.".into(),
    ))
}

/// Creates a tenant owned by the signed-in user, when `ALLOW_TENANT_SIGNUP` is on (403
/// otherwise, and for callers who are not users of this service).
pub async fn create(
    store: &Store,
    config: &AccountsConfig,
    session: Option<SessionRef>,
    body: &Map<String, Value>,
    origin: &Origin,
) -> Result<(Tenant, Membership), Error> {
    if !config.allow_tenant_signup {
        return Err(Error::Forbidden(
            "Creating tenants is not enabled on this service.".into(),
        ));
    }
    let session = session.ok_or_else(|| {
        Error::Forbidden("Only users who signed in to this service may create tenants.".into())
    })?;
    let tenant = TenantEdit::parse(body, true)?.create()?;
    let owner = Membership::new(tenant.id, session.user_id, Role::Owner, None);
    let actor = session.user_id.to_string();
    let by = Provenance {
        actor: &actor,
        origin,
        retention_days: tenant.limits().audit_retention_days,
    };
    let audit = AuditEntry::new(
        by,
        ResourceType::Tenant,
        tenant.id.as_uuid(),
        AuditAction::Create,
        tenant.created_at,
        audit::changes(None, Some(&tenant), &[]),
    );
    match store
        .create_tenant_with_owner(&tenant, &owner, &audit)
        .await
    {
        Ok(()) => Ok((tenant, owner)),
        Err(StoreError::Conflict(Conflict::Exists)) => Err(slug_taken()),
        Err(e) => Err(e.into()),
    }
}
