//! Custom fields: per-tenant definitions, and the validation of the values leads carry
//! under `custom_fields` (`{name: value}`).
//!
//! A definition's `name` is the key of its values on leads and in the `cf_<name>=` filter,
//! so it is a lowercase identifier that never changes, and neither does `field_type`; the
//! name stays taken after a delete (leads may still hold values under it). Admins write
//! definitions; every role reads them.

pub use crm_domain::custom_fields::*;

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::WriteMode;
use crm_domain::Error;
use crm_store::{Conflict, Store, StoreError};

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Name) => Error::field("name", NAME_TAKEN),
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The custom field was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<CustomField, Error> {
    store
        .get_custom_field(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn create(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<CustomField, Error> {
    caller.require(Role::Admin)?;
    let input = FieldInput::parse(body, WriteMode::Create)?;
    if store.custom_fields(caller.tenant).await?.len() >= MAX_FIELDS {
        return Err(Error::Conflict(format!(
            "A tenant has at most {MAX_FIELDS} custom fields."
        )));
    }
    let now = Utc::now();
    let mut field = CustomField {
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
    };
    apply(input, &mut field, now)?;
    field.version = 1;
    store
        .create_custom_field(&field)
        .await
        .map_err(store_error)?;
    Ok(field)
}

pub async fn update(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<CustomField, Error> {
    let before = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    if if_match.is_some_and(|v| v != before.version) {
        return Err(Error::PreconditionFailed(format!(
            "The custom field has changed: If-Match does not match the current version \"{}\".",
            before.version
        )));
    }
    let input = FieldInput::parse(body, mode)?;
    let mut after = before.clone();
    apply(input, &mut after, Utc::now())?;
    after.version = before.version + 1;
    store
        .update_custom_field(&before, &after)
        .await
        .map_err(store_error)?;
    Ok(after)
}

pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    let field = get(store, caller, id).await?;
    caller.require(Role::Admin)?;
    if if_match.is_some_and(|v| v != field.version) {
        return Err(Error::PreconditionFailed(
            "The custom field has changed: If-Match does not match.".into(),
        ));
    }
    store.delete_custom_field(&field).await.map_err(store_error)
}

/// The definitions in display order (`order`, then name), a page at a time (they are
/// few, read in one Query; the cursor is an offset).
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<CustomField>, Error> {
    const SCOPE: &str = "custom-fields";
    let t = caller.tenant;
    let offset: usize = match cursors.position(t, SCOPE, cursor)? {
        Some(position) => position
            .parse()
            .map_err(|_| Error::field("cursor", "Invalid cursor."))?,
        None => 0,
    };
    let mut fields = store.custom_fields(t).await?;
    fields.sort_by(|a, b| a.order.cmp(&b.order).then(a.name.cmp(&b.name)));
    let end = (offset + page_size).min(fields.len());
    let items = fields
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .to_vec();
    let link = |position: usize| cursors.forward(t, SCOPE, position.to_string());
    Ok(Page {
        next: (end < fields.len()).then(|| link(end)),
        previous: (offset > 0).then(|| link(offset.saturating_sub(page_size))),
        items,
    })
}
