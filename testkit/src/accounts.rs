//! Users, memberships and sign-ins for the accounts tests: users and memberships are
//! written through the store (as the admin command writes them), sign-ins go through the
//! accounts function's real routes.

use crm_domain::accounts::{Membership, PasswordHash, User};
use crm_domain::tenant::Tenant;
use crm_domain::Role;
use serde_json::{json, Value};

use crate::app::TestApp;

/// The password every test user gets unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery staple";

pub const LOGIN: &str = "/api/auth/login/";

impl TestApp {
    /// A new active user with [`PASSWORD`] and no memberships.
    pub async fn user(&self, email: &str) -> User {
        let user = User::new(
            email,
            "Test".into(),
            email.split('@').next().unwrap_or("").into(),
        );
        self.state
            .store
            .create_user(&user, &PasswordHash::new(PASSWORD), &[])
            .await
            .expect("create user");
        user
    }

    /// Makes `user` an active member of `tenant` with `role`.
    pub async fn join(&self, tenant: &Tenant, user: &User, role: Role) -> Membership {
        let membership = Membership::new(tenant.id, user.id, role, None);
        self.state
            .store
            .add_membership(&membership)
            .await
            .expect("add membership");
        membership
    }

    /// A new user who is a member of `tenant` with `role`.
    pub async fn member(&self, tenant: &Tenant, email: &str, role: Role) -> User {
        let user = self.user(email).await;
        self.join(tenant, &user, role).await;
        user
    }

    /// Signs in through `POST /api/auth/login/` (this app must be the accounts
    /// function); returns the answer's body, asserting a 200.
    pub async fn login(&self, email: &str, tenant: Option<&Tenant>) -> Value {
        let mut body = json!({"email": email, "password": PASSWORD});
        if let Some(t) = tenant {
            body["tenant_id"] = json!(t.id);
        }
        self.post(LOGIN).json(body).send().await.expect(200).body
    }

    /// The access token of a sign-in.
    pub async fn sign_in(&self, email: &str, tenant: Option<&Tenant>) -> String {
        let body = self.login(email, tenant).await;
        body["token"].as_str().expect("a token").to_string()
    }
}
