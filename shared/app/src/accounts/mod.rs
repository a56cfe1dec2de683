//! Accounts: sign-in and sessions ([`login`], [`sessions`]), the caller's [`profile`], a
//! tenant's [`members`] and [`invitations`]. Access tokens are signed at the HTTP edge
//! (this crate links no JWT library): a sign-in answers a [`SignIn`] to sign for.

pub mod audit_log;
pub mod invitations;
pub mod login;
pub mod members;
pub mod outside;
pub mod profile;
pub mod sessions;
pub mod tenants;

pub use crm_domain::accounts::*;

use crm_domain::tenant::Tenant;
use uuid::Uuid;

/// A successful sign-in (login, refresh, accepted invitation): who, in which tenant with
/// which role, the session (`sid`) and its new refresh secret, shown once.
#[derive(Debug)]
pub struct SignIn {
    pub user: User,
    pub membership: Membership,
    pub tenant: Tenant,
    /// The tenants the user may sign in to (active memberships of active tenants).
    pub tenants: Vec<(Membership, Tenant)>,
    pub family: Uuid,
    pub refresh: String,
}
