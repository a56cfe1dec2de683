//! A tenant's members: `GET /api/tenants/current/members/` (any member),
//! `PATCH`/`DELETE /api/tenants/current/members/{user_id}/` (admins and owners; the owner
//! role is the owners'). The last active owner stays: the owner count's condition refuses
//! the write that would remove them (409), also when two requests race.

use chrono::Utc;
use serde_json::{Map, Value};
use uuid::Uuid;

use crm_domain::accounts::members::{check_change, LAST_OWNER};
use crm_domain::accounts::{MemberEdit, Membership, User};
use crm_domain::audit::{self, AuditAction, AuditEntry, ResourceType};
use crm_domain::cursor::{CursorCodec, Page};
use crm_domain::{Caller, Error, Role};
use crm_store::{Conflict, Store, StoreError};

const SCOPE: &str = "members";

/// A page of the tenant's members, in user-id order, with their users.
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<(Membership, Option<User>)>, Error> {
    let after = cursors.position(caller.tenant, SCOPE, cursor)?;
    let (rows, more) = store
        .list_members(caller.tenant, after.as_deref(), page_size)
        .await?;
    let page = cursors.forward_page(caller.tenant, SCOPE, rows, more);
    let ids: Vec<Uuid> = page.items.iter().map(|m| m.user_id).collect();
    let users = store.get_users(&ids).await?;
    let items = page
        .items
        .into_iter()
        .map(|m| {
            let user = users.iter().find(|u| u.id == m.user_id).cloned();
            (m, user)
        })
        .collect();
    Ok(Page {
        items,
        next: page.next,
        previous: page.previous,
    })
}

async fn member(store: &Store, caller: &Caller, user: Uuid) -> Result<Membership, Error> {
    store
        .get_membership(caller.tenant, user)
        .await?
        .ok_or(Error::NotFound)
}

fn write_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::LastOwner) => Error::Conflict(LAST_OWNER.into()),
        StoreError::Conflict(Conflict::Version) => {
            Error::Conflict("The membership changed meanwhile: read it again and retry.".into())
        }
        other => other.into(),
    }
}

/// Changes a member's role or active flag. The role check comes before the body is read.
pub async fn update(
    store: &Store,
    caller: &Caller,
    user: Uuid,
    body: &Map<String, Value>,
) -> Result<(Membership, Option<User>), Error> {
    caller.require(Role::Admin)?;
    let edit = MemberEdit::parse(body)?;
    let before = member(store, caller, user).await?;
    let after = edit.applied(&before);
    check_change(caller, &before, Some(&after))?;
    if after != before {
        let audit = member_entry(caller, &before, Some(&after));
        store
            .change_membership(&before, Some(&after), &audit)
            .await
            .map_err(write_error)?;
    }
    let user = store.get_user(user).await?.map(|(u, _)| u);
    Ok((after, user))
}

/// Removes a member from the tenant (the user and their other memberships stay).
pub async fn remove(store: &Store, caller: &Caller, user: Uuid) -> Result<(), Error> {
    caller.require(Role::Admin)?;
    let before = member(store, caller, user).await?;
    check_change(caller, &before, None)?;
    let audit = member_entry(caller, &before, None);
    store
        .change_membership(&before, None, &audit)
        .await
        .map_err(write_error)
}

/// The audit entry of a membership's change (`after`) or removal.
fn member_entry(caller: &Caller, before: &Membership, after: Option<&Membership>) -> AuditEntry {
    let action = match after {
        Some(_) => AuditAction::Update,
        None => AuditAction::Delete,
    };
    AuditEntry::new(
        caller.provenance(),
        ResourceType::Member,
        before.user_id,
        action,
        Utc::now(),
        audit::changes(Some(before), after, &[]),
    )
}

/// Leads are assigned to members once the tenant has any: each of `users` must name an
/// active member (a 400 on `field` otherwise). A tenant without members (callers of an
/// outside identity provider only) assigns to any user id, as before. One read, plus one
/// per user named.
pub async fn require_assignable(
    store: &Store,
    tenant: crm_domain::TenantId,
    users: &[&str],
    field: &str,
) -> Result<(), Error> {
    if users.is_empty() || store.member_count(tenant).await? == 0 {
        return Ok(());
    }
    for user in users {
        let member = match Uuid::parse_str(user) {
            Ok(id) => store.get_membership(tenant, id).await?,
            Err(_) => None,
        };
        if !member.is_some_and(|m| m.is_active) {
            return Err(Error::field(
                field,
                format!("\"{user}\" is not an active member of the tenant."),
            ));
        }
    }
    Ok(())
}
