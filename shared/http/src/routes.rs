//! A function's route table: every path it serves with its handlers. The function's axum
//! router is built from it, and the deployment checks read the same table, so the local
//! gateway (root Cargo.toml) and `template.yaml` are checked against the code, not against
//! a second list.

use axum::routing::{get, MethodRouter};
use axum::Router;
use crm_app::resource::Resource;

use crate::resource::{create, destroy, list, retrieve, update};
use crate::{app, health_routes, App, AppState};

/// Paths are written without their trailing slash; each is served with and without it.
pub struct RouteTable {
    service: &'static str,
    routes: Vec<(String, MethodRouter<AppState>)>,
    health: bool,
}

impl RouteTable {
    /// An empty table for the function `service` (the name its health routes report).
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            routes: Vec::new(),
            health: false,
        }
    }

    pub fn route(mut self, path: impl Into<String>, methods: MethodRouter<AppState>) -> Self {
        self.routes.push((path.into(), methods));
        self
    }

    /// A resource's collection (`GET` list, `POST` create) and detail path (`GET`, `PUT`,
    /// `PATCH`, `DELETE`), served by the generic handlers of [`crate::resource`].
    pub fn resource<R: Resource>(self, collection: &str, detail: &str) -> Self {
        self.route(collection, get(list::<R>).post(create::<R>))
            .route(
                detail,
                get(retrieve::<R>)
                    .put(update::<R, false>)
                    .patch(update::<R, true>)
                    .delete(destroy::<R>),
            )
    }

    /// The same handlers under several paths (the original's hyphen and underscore names).
    pub fn aliases<P: AsRef<str>>(mut self, paths: &[P], methods: MethodRouter<AppState>) -> Self {
        for path in paths {
            self.routes
                .push((path.as_ref().to_string(), methods.clone()));
        }
        self
    }

    /// Also serve `GET /health/`, `GET /` and `GET /health-check/`: only the function the
    /// gateway sends them to, so the others need no health-check permissions.
    pub fn with_health(mut self) -> Self {
        self.health = true;
        self
    }

    /// This table with `other`'s routes added (and its health routes, if it serves them):
    /// one router for every function, as `crm-local serve` runs them in one process. The
    /// functions' paths are disjoint (the gateway routes each path to one function).
    pub fn merge(mut self, other: RouteTable) -> Self {
        self.routes.extend(other.routes);
        if other.health {
            self.health = true;
            self.service = other.service;
        }
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    pub fn serves_health(&self) -> bool {
        self.health
    }

    /// The API paths of the table, in order (health routes aside).
    pub fn paths(&self) -> Vec<String> {
        self.routes.iter().map(|(path, _)| path.clone()).collect()
    }

    /// The router as served, with the shared error fallbacks, logging and headers.
    pub fn into_app(self, state: AppState) -> App {
        let mut router = Router::new();
        for (path, methods) in self.routes {
            router = router.route(&path, methods);
        }
        if self.health {
            router = router.merge(health_routes(self.service));
        }
        app(router, state)
    }
}
