//! Custom fields: per-tenant definitions, and the validation of the values leads carry
//! under `custom_fields` (`{name: value}`).
//!
//! A definition's `name` is the key of its values on leads and in the `cf_<name>=` filter,
//! so it is a lowercase identifier that never changes, and neither does `field_type`; the
//! name stays taken after a delete (leads may still hold values under it). Admins write
//! definitions; every role reads them.

pub use crm_domain::custom_fields::*;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::resource::{Ctx, Resource};
use crm_domain::cursor::Page;
use crm_domain::identity::{Caller, Role};
use crm_domain::query::QueryParams;
use crm_domain::Error;
use crm_store::Conflict;

/// Admins write definitions, up to [`MAX_FIELDS`] per tenant.
impl Resource for CustomField {
    type Input = FieldInput;

    const WRITER: Option<Role> = Some(Role::Admin);

    fn conflict(conflict: Conflict) -> Option<Error> {
        (conflict == Conflict::Name).then(|| Error::field("name", NAME_TAKEN))
    }

    /// Version 0 until created: the input then sets the name and type, which never change.
    fn blank(caller: &Caller, _: &FieldInput, now: DateTime<Utc>) -> Self {
        CustomField {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            version: 0,
            name: String::new(),
            field_type: FieldType::Text,
            is_required: false,
            default_value: None,
            options: Vec::new(),
            help_text: None,
            order: 0,
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    async fn check_create(ctx: Ctx<'_>, caller: &Caller, _: &FieldInput) -> Result<(), Error> {
        if ctx.store.custom_fields(caller.tenant).await?.len() >= MAX_FIELDS {
            return Err(Error::Conflict(format!(
                "A tenant has at most {MAX_FIELDS} custom fields."
            )));
        }
        Ok(())
    }

    async fn list(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Self>, Error> {
        in_display_order(ctx, caller, query).await
    }
}

/// The definitions in display order (`order`, then name), a page at a time (they are
/// few, read in one Query; the cursor is an offset).
async fn in_display_order(
    ctx: Ctx<'_>,
    caller: &Caller,
    query: &QueryParams,
) -> Result<Page<CustomField>, Error> {
    const SCOPE: &str = "custom-fields";
    query.reject_unknown(&["page_size", "cursor"])?;
    let page_size = query.page_size()?;
    let t = caller.tenant;
    let offset: usize = match ctx.cursors.position(t, SCOPE, query.cursor())? {
        Some(position) => position
            .parse()
            .map_err(|_| Error::field("cursor", "Invalid cursor."))?,
        None => 0,
    };
    let mut fields = ctx.store.custom_fields(t).await?;
    fields.sort_by(|a, b| a.order.cmp(&b.order).then(a.name.cmp(&b.name)));
    let end = (offset + page_size).min(fields.len());
    let items = fields
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .to_vec();
    let link = |position: usize| ctx.cursors.forward(t, SCOPE, position.to_string());
    Ok(Page {
        next: (end < fields.len()).then(|| link(end)),
        previous: (offset > 0).then(|| link(offset.saturating_sub(page_size))),
        items,
    })
}
