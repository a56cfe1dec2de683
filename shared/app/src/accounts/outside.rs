//! Outside issuers' tokens (a JWKS provider, or another HS256 issuer) that carry no tenant
//! or no role: this service's membership of the user they name supplies what is missing.
//! The user is the one with the token's email, else the one whose id is the token's
//! subject; they must be active and an active member of the tenant.

use uuid::Uuid;

use crm_domain::accounts::{Membership, User};
use crm_domain::{Error, Role, TenantId};
use crm_store::Store;

/// Why an outside token's user is refused: the same answer whatever did not hold.
pub const NO_MEMBERSHIP: &str =
    "Given token not valid: its user is not an active member of this service.";

/// The member an outside token stands for: our user id, and the tenant and role that the
/// token left out filled in from the membership.
#[derive(Clone, Debug, PartialEq)]
pub struct OutsideMember {
    pub user_id: Uuid,
    pub email: String,
    pub tenant: TenantId,
    pub role: Role,
}

/// Who an outside token names and what it carries.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct OutsideIdentity {
    pub email: Option<String>,
    pub subject: String,
    /// The token's tenant, or the one the request names (`X-Tenant-Id`).
    pub tenant: Option<TenantId>,
    pub role: Option<Role>,
}

fn refused() -> Error {
    Error::Unauthenticated(NO_MEMBERSHIP.into())
}

/// The member `identity` stands for. A user with several active memberships and no tenant
/// named gets a 400 naming `X-Tenant-Id`.
pub async fn member(store: &Store, identity: &OutsideIdentity) -> Result<OutsideMember, Error> {
    let user = user(store, identity).await?.ok_or_else(refused)?;
    let membership = match identity.tenant {
        Some(tenant) => store.get_membership(tenant, user.id).await?,
        None => only_membership(store, user.id).await?,
    };
    let membership = membership.filter(|m| m.is_active).ok_or_else(refused)?;
    Ok(OutsideMember {
        user_id: user.id,
        email: user.email,
        tenant: membership.tenant_id,
        role: identity.role.unwrap_or(membership.role),
    })
}

async fn user(store: &Store, identity: &OutsideIdentity) -> Result<Option<User>, Error> {
    if let Some(email) = identity.email.as_deref() {
        if let Some((user, _)) = store.find_user_by_email(email).await? {
            return Ok(Some(user).filter(|u| u.is_active));
        }
    }
    let found = match Uuid::parse_str(&identity.subject) {
        Ok(id) => store.get_user(id).await?.map(|(user, _)| user),
        Err(_) => None,
    };
    Ok(found.filter(|u| u.is_active))
}

/// The user's one active membership; several: the request must name its tenant.
async fn only_membership(store: &Store, user: Uuid) -> Result<Option<Membership>, Error> {
    let mut active: Vec<Membership> = store
        .user_memberships(user, 100)
        .await?
        .into_iter()
        .filter(|m| m.is_active)
        .collect();
    match active.len() {
        0 | 1 => Ok(active.pop()),
        _ => Err(Error::field(
            "X-Tenant-Id",
            "You are a member of several tenants: name one with the X-Tenant-Id header.",
        )),
    }
}
