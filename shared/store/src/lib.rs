//! The DynamoDB store. Every operation takes a [`TenantId`] and builds its keys through
//! [`crate::keys`]; there is no Scan anywhere. Writes that must agree (a lead, its email
//! guard and its audit entry) go in one `TransactWriteItems`.
//!
//! One module per aggregate or concern, each adding its methods to [`Store`]: `tenants`,
//! `leads` (the lead repository and its transactions), `audit`, `settings` (scoring
//! settings and lead insights), `scan` (batch reads, index scans, search tokens), the
//! per-resource modules (sources, tags, notes, activities, custom fields), and `ops` (the
//! reads, puts and transactions the others build on). The rules of what a write changes
//! come from `crm_domain`; the store maps records to items and runs the writes.
//!
//! [`TenantId`]: crm_domain::tenant::TenantId

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use crate::usage::{record, Kind};

pub mod client;
pub mod idempotency;
pub mod keys;
pub mod lead_item;
pub mod stream;
pub mod table;
pub mod usage;
pub mod versioned;

mod accounts;
mod activities;
mod api_keys;
mod audit;
mod custom_fields;
mod domains;
mod error;
mod invitations;
mod leads;
mod notes;
mod ops;
mod scan;
mod search_sync;
mod sessions;
mod settings;
mod sources;
mod tags;
mod tenants;
mod webhooks;

pub use api_keys::RateWindow;
pub use audit::{AuditAction, AuditEntry, AuditRead, ResourceType, AUDIT_READ_BUDGET};
pub use client::ClientSettings;
pub use domains::DomainGuard;
pub(crate) use error::classify;
pub use error::{describe, Conflict, StoreError};
pub use invitations::NewUser;
pub use leads::MigrationPage;
pub use scan::{IndexScan, ScanPage};
pub use sessions::LoginFailures;
pub use versioned::{NameGuard, Partitioned, Versioned};

pub type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
    /// Which tenants' pending search partitions this instance found empty, and when
    /// (`Store::repair_search`).
    search_repairs: std::sync::Arc<search_sync::RepairClock>,
}

fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("our records serialise to DynamoDB items")
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Other(format!("corrupt item: {e}")))
}

/// A client of an emulator started in this process, for the store's own tests.
#[cfg(test)]
pub(crate) async fn emulator_client() -> Client {
    let db = dynoxide::Database::memory().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(dynoxide::server::serve_on(listener, db));
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .build();
    Client::from_conf(config)
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            search_repairs: Default::default(),
        }
    }

    /// The SDK client stays inside the store: callers go through its methods.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Checks that the table answers (for `/health-check/`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}
