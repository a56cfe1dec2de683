//! The current tenant's custom domains: registered (with the TXT record that proves them),
//! verified through DNS, made primary, listed, deleted. Any member reads them; owners and
//! admins (and API keys with the `settings` scope, which act as admins) change them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::DomainConfig;
use crm_domain::audit::{self, AuditAction, AuditEntry, ResourceType};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::domains::{CustomDomain, DomainEdit, DomainName, MAX_DOMAINS_PER_TENANT};
use crm_domain::{Caller, Error, Role};
use crm_store::{Conflict, Store, StoreError};

pub mod dns;

const SCOPE: &str = "domains";

pub const DOMAIN_TAKEN: &str = "This domain is already registered.";

fn changed_meanwhile() -> Error {
    Error::Conflict("The domain was changed by another request; try again.".into())
}

/// The audit entry of a domain write by `caller`, committed with it.
fn audit_entry(
    caller: &Caller,
    action: AuditAction,
    before: Option<&CustomDomain>,
    after: Option<&CustomDomain>,
    at: DateTime<Utc>,
) -> AuditEntry {
    let id = after.or(before).map_or_else(Uuid::nil, |d| d.id);
    let changes = audit::diff(
        before.map(CustomDomain::json).as_ref(),
        after.map(CustomDomain::json).as_ref(),
        audit::BOOKKEEPING,
    );
    AuditEntry::new(
        caller.provenance(),
        ResourceType::Domain,
        id,
        action,
        at,
        changes,
    )
}

/// Registers a domain for the caller's tenant; it resolves nothing until verified.
pub async fn create(
    store: &Store,
    config: &DomainConfig,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<CustomDomain, Error> {
    caller.require(Role::Admin)?;
    let name = DomainName::parse(body, &config.reserved())?;
    let domain = CustomDomain::new(caller.tenant, name, Utc::now());
    let entry = audit_entry(
        caller,
        AuditAction::Create,
        None,
        Some(&domain),
        domain.created_at,
    );
    match store
        .create_custom_domain(&domain, MAX_DOMAINS_PER_TENANT, &entry)
        .await
    {
        Ok(()) => {
            tracing::info!(domain = %domain.domain, id = %domain.id, "custom domain registered");
            Ok(domain)
        }
        Err(StoreError::Conflict(Conflict::Name)) => Err(Error::Conflict(DOMAIN_TAKEN.into())),
        Err(StoreError::Conflict(Conflict::PlanLimit)) => Err(Error::field(
            crm_domain::domains::FIELD,
            format!(
                "A tenant can register at most {MAX_DOMAINS_PER_TENANT} domains; \
                 delete one first."
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<CustomDomain>, Error> {
    let after = cursors.position(caller.tenant, SCOPE, cursor)?;
    let (rows, more) = store
        .list_custom_domains(caller.tenant, after.as_deref(), page_size)
        .await?;
    Ok(cursors.forward_page(caller.tenant, SCOPE, rows, more))
}

/// A domain of the caller's tenant (404 for another tenant's).
pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<CustomDomain, Error> {
    store
        .get_custom_domain(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

/// Looks the domain's TXT record up and marks it verified when one holds its value; a
/// missing or different record, or a lookup that fails, is a 400 saying what was found.
pub async fn verify(
    store: &Store,
    config: &DomainConfig,
    caller: &Caller,
    id: Uuid,
) -> Result<CustomDomain, Error> {
    caller.require(Role::Admin)?;
    let domain = get(store, caller, id).await?;
    if domain.is_verified() {
        return Ok(domain);
    }
    let name = domain.verification_name();
    let records = match dns::txt_records(config.nameserver, &name).await {
        dns::TxtAnswer::Found(records) => records,
        dns::TxtAnswer::NotFound => {
            return Err(Error::BadRequest(format!(
                "No TXT record found at {name}. Publish a TXT record there with the value \
                 {}, wait for it to propagate, and try again.",
                domain.verification_value
            )))
        }
        dns::TxtAnswer::Failed(reason) => {
            tracing::warn!(%name, %reason, "TXT lookup failed");
            return Err(Error::BadRequest(format!(
                "The DNS lookup of {name} failed ({reason}); try again later."
            )));
        }
    };
    if !domain.proved_by(&records) {
        return Err(Error::BadRequest(format!(
            "The TXT record at {name} does not hold the verification value {}.",
            domain.verification_value
        )));
    }
    let at = Utc::now();
    let verified = CustomDomain {
        verified_at: Some(at),
        updated_at: at,
        version: domain.version + 1,
        ..domain.clone()
    };
    let entry = audit_entry(
        caller,
        AuditAction::Update,
        Some(&domain),
        Some(&verified),
        at,
    );
    match store.verify_custom_domain(&domain, at, &entry).await {
        Ok(()) => {
            tracing::info!(domain = %domain.domain, id = %domain.id, "custom domain verified");
            Ok(verified)
        }
        Err(StoreError::Conflict(_)) => Err(changed_meanwhile()),
        Err(e) => Err(e.into()),
    }
}

/// `{is_primary}`: makes a verified domain the tenant's primary one (the previous one stops
/// being it in the same transaction), or stops it being the primary one.
pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
) -> Result<CustomDomain, Error> {
    caller.require(Role::Admin)?;
    let edit = DomainEdit::parse(body)?;
    let domain = get(store, caller, id).await?;
    edit.check(&domain)?;
    let primary = match edit.is_primary {
        Some(p) if p != domain.is_primary => p,
        _ => return Ok(domain),
    };
    let previous = match store.primary_domain_id(caller.tenant).await? {
        Some(current) if primary && current != domain.id => {
            store.get_custom_domain(caller.tenant, current).await?
        }
        _ => None,
    };
    let at = Utc::now();
    let changed = CustomDomain {
        is_primary: primary,
        updated_at: at,
        version: domain.version + 1,
        ..domain.clone()
    };
    let entry = audit_entry(
        caller,
        AuditAction::Update,
        Some(&domain),
        Some(&changed),
        at,
    );
    match store
        .set_primary_domain(&domain, previous.as_ref(), primary, at, &entry)
        .await
    {
        Ok(()) => Ok(changed),
        Err(StoreError::Conflict(_)) => Err(changed_meanwhile()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a domain of the caller's tenant, which frees its name.
pub async fn delete(store: &Store, caller: &Caller, id: Uuid) -> Result<(), Error> {
    caller.require(Role::Admin)?;
    let domain = get(store, caller, id).await?;
    let entry = audit_entry(caller, AuditAction::Delete, Some(&domain), None, Utc::now());
    match store.delete_custom_domain(&domain, &entry).await {
        Ok(()) => {
            tracing::info!(domain = %domain.domain, id = %domain.id, "custom domain deleted");
            Ok(())
        }
        Err(StoreError::Conflict(_)) => Err(changed_meanwhile()),
        Err(e) => Err(e.into()),
    }
}
