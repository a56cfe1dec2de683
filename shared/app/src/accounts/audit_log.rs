//! `GET /api/tenants/current/audit-log/`: the tenant's audit log for its admins and owners
//! (and API keys with the `settings` scope, which act as admins), newest first, a page at a
//! time, filtered by resource, actor, action and time.

use crm_domain::audit::{AuditEntry, LogFilter};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::query::QueryParams;
use crm_domain::{Caller, Error, Role};
use crm_store::{AuditRead, Store};

/// One page of the log. The role check comes before the query's problems; a cursor is
/// bound to the tenant and to the filters it was made for.
pub async fn page(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    query: &QueryParams,
) -> Result<Page<AuditEntry>, Error> {
    caller.require(Role::Admin)?;
    let filter = LogFilter::parse(query)?;
    let page_size = query.page_size()?;
    let scope = query.fingerprint("audit-log");
    let after = cursors.position(caller.tenant, &scope, query.cursor())?;
    let keep = |entry: &AuditEntry| filter.matches(entry);
    let read = AuditRead {
        resource_type: filter.resource_type,
        resource_id: filter.resource_id,
        actor: filter.actor.as_deref(),
        since: filter.since,
        until: filter.until,
        keep: &keep,
    };
    let (items, next) = store
        .audit_log_page(caller.tenant, &read, after.as_deref(), page_size)
        .await?;
    Ok(Page {
        items,
        next: next.map(|position| cursors.forward(caller.tenant, &scope, position)),
        previous: None,
    })
}
