//! A tenant's plan as the use cases need it: its limits (one read of the tenant record)
//! and its usage (the counters the writes keep: leads beside the dashboard's, users
//! beside the owners').

use crm_domain::plan::{Limits, Usage};
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::Store;

/// The limits in force for `tenant` (404 when it is gone).
pub async fn limits(store: &Store, tenant: TenantId) -> Result<Limits, Error> {
    Ok(store
        .get_tenant(tenant)
        .await?
        .ok_or(Error::NotFound)?
        .limits())
}

/// What `tenant` uses now (two reads).
pub async fn usage(store: &Store, tenant: TenantId) -> Result<Usage, Error> {
    let leads = store.lead_count(tenant).await?.max(0);
    Ok(Usage {
        leads: u64::try_from(leads).unwrap_or(0),
        users: store.member_count(tenant).await?,
    })
}
