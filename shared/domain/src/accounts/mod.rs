//! Users, memberships, invitations and sign-in sessions: the original's Core and Tenants
//! apps. Passwords are Argon2id hashes ([`password`]); refresh and invitation tokens are
//! random secrets stored as digests ([`secrets`]).

pub mod invitations;
pub mod members;
pub mod password;
pub mod secrets;
pub mod sessions;
pub mod users;

pub use invitations::{AcceptInput, Invitation, InvitationInput};
pub use members::{MemberEdit, Membership};
pub use password::PasswordHash;
pub use sessions::{Family, RefreshToken, SessionRef};
pub use users::{LoginInput, PasswordChange, ProfileEdit, User};
