//! A lead's field-level history (`leads/{id}/history/`): its audit trail, newest first, a
//! page at a time, with every change's old and new values as the write recorded them.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::resource::Ctx;
use crm_domain::cursor::Page;
use crm_domain::identity::Caller;
use crm_domain::query::QueryParams;
use crm_domain::Error;
use crm_store::AuditEntry;

/// One page of the lead's history: 404 for a lead the caller's tenant does not have (a
/// deleted lead's trail is not shown, as the lead is not).
pub async fn history(
    ctx: Ctx<'_>,
    caller: &Caller,
    lead: Uuid,
    query: &QueryParams,
) -> Result<Page<AuditEntry>, Error> {
    crate::lead_records::require_timeline(ctx.store, caller, lead, query).await?;
    let page_size = query.page_size()?;
    let scope = format!("history:{lead}");
    let after = ctx
        .cursors
        .position(caller.tenant, &scope, query.cursor())?;
    let (items, next) = ctx
        .store
        .lead_audit_page(caller.tenant, lead, after.as_deref(), page_size)
        .await?;
    Ok(Page {
        items,
        next: next.map(|position| ctx.cursors.forward(caller.tenant, &scope, position)),
        previous: None,
    })
}

/// An entry as the API shows it: who did what when, and each changed field's old and new
/// value (`{"field", "old", "new"}`, in field order).
pub fn history_json(entry: &AuditEntry) -> Value {
    let changes: Vec<Value> = entry
        .changes
        .iter()
        .map(|(field, change)| json!({"field": field, "old": change["old"], "new": change["new"]}))
        .collect();
    json!({
        "id": entry.id,
        "action": entry.action,
        "actor": entry.actor,
        "at": entry.at,
        "changes": changes,
    })
}
