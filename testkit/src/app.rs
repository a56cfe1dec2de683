//! [`TestApp`]: a function's real router on its own emulator and table, its tenants and
//! tokens, and the calls the tests make over and over.

use aws_sdk_dynamodb::types::AttributeValue;
use crm_auth::{issue_token, TokenRequest};
use crm_domain::tenant::{Tenant, TenantStatus};
use crm_domain::Role;
use crm_http::config::Config;
use crm_http::{App, AppState};
use crm_store::{table, AuditEntry, ClientSettings};
use crm_worker::Worker;
use serde_json::Value;
use uuid::Uuid;

use crate::faults::Faults;
use crate::fixtures::{self, person, with};
use crate::queues::TestQueues;
use crate::requests::TestRequest;
use crate::{dynamodb_client, paths, sqs_client, start_dynamodb, test_config};

/// A function under test with its own emulator and table.
#[derive(Clone)]
pub struct TestApp {
    pub app: App,
    pub state: AppState,
    pub endpoint: String,
}

impl TestApp {
    pub async fn start(build: fn(AppState) -> App) -> Self {
        Self::start_with(build, test_config()).await
    }

    pub async fn start_with(build: fn(AppState) -> App, config: Config) -> Self {
        let endpoint = start_dynamodb().await;
        let client = dynamodb_client(&endpoint);
        table::create_table_if_absent(&client, &config.table_name)
            .await
            .expect("create table");
        let state = AppState::new(config, client, sqs_client());
        Self {
            app: build(state.clone()),
            state,
            endpoint,
        }
    }

    /// `build`'s router with its DynamoDB calls through a fault-injecting proxy (see
    /// [`crate::faults`]), its client retrying and timing out as the functions' does but
    /// with [`crate::faults::test_settings`]' shorter backoff. [`TestApp::endpoint`] (and
    /// [`TestApp::dynamodb`]) stay the emulator's own, so what a test reads to check the
    /// table is never faulted.
    pub async fn start_with_faults(build: fn(AppState) -> App) -> (Self, Faults) {
        Self::start_with_faults_and(build, crate::faults::test_settings()).await
    }

    /// [`TestApp::start_with_faults`] with the client's retries and timeouts of `settings`.
    pub async fn start_with_faults_and(
        build: fn(AppState) -> App,
        settings: ClientSettings,
    ) -> (Self, Faults) {
        let config = test_config();
        let endpoint = start_dynamodb().await;
        table::create_table_if_absent(&dynamodb_client(&endpoint), &config.table_name)
            .await
            .expect("create table");
        let (proxy, faults) = crate::faults::start_proxy(&endpoint).await;
        let client = settings.client(crate::dynamodb_config(&proxy));
        let state = AppState::new(config, client, sqs_client());
        let app = Self {
            app: build(state.clone()),
            state,
            endpoint,
        };
        (app, faults)
    }

    /// `build`'s router, its writes queued in `queues` (scoring and insights requests).
    pub async fn start_with_queues(build: fn(AppState) -> App, queues: &TestQueues) -> Self {
        Self::start_with(build, queues.configure(test_config())).await
    }

    /// Another function's router on this app's emulator, table and state, for tests that
    /// need two functions (leads created through one, changed through the other).
    pub fn with_function(&self, build: fn(AppState) -> App) -> TestApp {
        TestApp {
            app: build(self.state.clone()),
            state: self.state.clone(),
            endpoint: self.endpoint.clone(),
        }
    }

    /// Sends `method path` with an empty JSON body and asserts the JSON 404 every unknown
    /// (or undecodable) id gets; returns the response for further checks.
    pub async fn expect_json_404(
        &self,
        method: &str,
        path: &str,
        token: &str,
    ) -> crate::TestResponse {
        let res = self
            .request(method, path)
            .bearer(token)
            .json(serde_json::json!({}))
            .send()
            .await;
        assert_eq!(res.status, 404, "{method} {path}: {}", res.text);
        assert_eq!(
            res.body,
            serde_json::json!({"detail": "Not found."}),
            "{method} {path}"
        );
        res
    }

    /// A DynamoDB client of its own on this app's emulator, for tests and benchmarks that
    /// read or write raw items (the store keeps its client to itself).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        crate::dynamodb_client(&self.endpoint)
    }

    /// Every item of the table, read straight from the emulator (a Scan: tests only), in
    /// key order: compared before and after a failed request, it shows nothing was written.
    pub async fn table_items(&self) -> Vec<String> {
        let client = self.dynamodb();
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(&self.state.config.table_name)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan the table");
            for item in page.items() {
                items.push(canonical(&AttributeValue::M(item.clone())));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        items.sort();
        items
    }

    /// A queue worker's context on this app's table (no AI service unless `ai` is given).
    pub fn worker(&self, ai: Option<crm_app::ai::AiAgentsClient>) -> Worker {
        Worker::new(self.state.store.clone(), ai)
    }

    /// Creates an active tenant and returns it.
    pub async fn tenant(&self, name: &str) -> Tenant {
        let slug = format!(
            "{}-{}",
            crm_domain::tenant::slugify(name),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let tenant = Tenant::new(name.into(), slug, None);
        self.state
            .store
            .create_tenant(&tenant)
            .await
            .expect("create tenant");
        tenant
    }

    pub async fn suspend(&self, tenant: &Tenant) {
        self.state
            .store
            .set_tenant_status(tenant.id, TenantStatus::Suspended)
            .await
            .expect("suspend tenant");
    }

    /// A new tenant and a token for `user` in it with `role`.
    pub async fn tenant_with(&self, name: &str, user: &str, role: Role) -> (Tenant, String) {
        let tenant = self.tenant(name).await;
        let token = self.token(&tenant, user, role);
        (tenant, token)
    }

    /// A new tenant and its owner's token (user `owner-1`).
    pub async fn owner(&self, name: &str) -> (Tenant, String) {
        self.tenant_with(name, "owner-1", Role::Owner).await
    }

    /// A new tenant and a manager's token (user `manager-1`: the least role that may run
    /// bulk operations).
    pub async fn manager(&self, name: &str) -> (Tenant, String) {
        self.tenant_with(name, "manager-1", Role::Manager).await
    }

    /// A real HS256 token for `user` in `tenant` with `role`.
    pub fn token(&self, tenant: &Tenant, user: &str, role: Role) -> String {
        issue_token(
            &self.state.config.jwt,
            &TokenRequest {
                tenant_id: tenant.id.as_uuid(),
                user_id: user,
                role,
                email: Some(&format!("{user}@example.com")),
                ttl_seconds: 3600,
            },
        )
    }

    pub fn request(&self, method: &str, path: &str) -> TestRequest {
        TestRequest {
            app: self.app.clone(),
            method: method.to_string(),
            path: path.to_string(),
            headers: serde_json::Map::new(),
            body: None,
            request_id: Uuid::new_v4().to_string(),
            source_ip: "127.0.0.1".into(),
            user_agent: "crm-testkit".into(),
            domain_name: None,
        }
    }

    pub fn get(&self, path: &str) -> TestRequest {
        self.request("GET", path)
    }
    pub fn post(&self, path: &str) -> TestRequest {
        self.request("POST", path)
    }
    pub fn put(&self, path: &str) -> TestRequest {
        self.request("PUT", path)
    }
    pub fn patch(&self, path: &str) -> TestRequest {
        self.request("PATCH", path)
    }
    pub fn delete(&self, path: &str) -> TestRequest {
        self.request("DELETE", path)
    }

    /// POSTs `body` to `path` as `token`, expects 201 and returns the created record.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> Value {
        self.post(path)
            .bearer(token)
            .json(body)
            .send()
            .await
            .expect(201)
            .body
    }

    /// GETs `path` as `token`, expects 200 and returns the body.
    pub async fn read(&self, path: &str, token: &str) -> Value {
        self.get(path).bearer(token).send().await.expect(200).body
    }

    /// POSTs each body of `cases` to `path` as `token`: each must be a 400 naming its field
    /// (`{field: [messages]}`, as DRF shapes validation errors).
    pub async fn assert_rejected(&self, path: &str, token: &str, cases: Vec<(Value, &str)>) {
        for (body, field) in cases {
            let res = self
                .post(path)
                .bearer(token)
                .json(body.clone())
                .send()
                .await;
            assert_eq!(res.status, 400, "{body}: {}", res.text);
            assert!(res.body[field].is_array(), "{body}: {}", res.text);
        }
    }

    /// Creates a lead (through the leads function's routes) and returns it.
    pub async fn create_lead(&self, token: &str, body: Value) -> Value {
        self.create(paths::LEADS, token, body).await
    }

    /// Creates `count` leads, `person(n)` with `extra`'s fields; returns their ids in
    /// creation order.
    pub async fn create_leads(&self, token: &str, count: usize, extra: Value) -> Vec<String> {
        let mut ids = Vec::new();
        for n in 0..count {
            let lead = self.create_lead(token, with(person(n), &extra)).await;
            ids.push(fixtures::id(&lead));
        }
        ids
    }

    /// A lead's detail (through the leads function's routes).
    pub async fn lead(&self, token: &str, id: &str) -> Value {
        self.read(&paths::lead(id), token).await
    }

    /// PATCHes lead `id` with `change` as `token`, expects 200 and returns the lead.
    pub async fn update_lead(&self, token: &str, id: &str, change: Value) -> Value {
        self.patch(&paths::lead(id))
            .bearer(token)
            .json(change)
            .send()
            .await
            .expect(200)
            .body
    }

    /// DELETEs lead `id` as `token` and expects 204.
    pub async fn delete_lead(&self, token: &str, id: &str) {
        self.delete(&paths::lead(id))
            .bearer(token)
            .send()
            .await
            .expect(204);
    }

    /// The tenant's dashboard (through the leads function's routes).
    pub async fn dashboard(&self, token: &str) -> Value {
        self.read(paths::DASHBOARD, token).await
    }

    /// A lead's audit trail (the store's own read: the API exposes no audit).
    pub async fn audit(&self, tenant: &Tenant, id: &str) -> Vec<AuditEntry> {
        self.state
            .store
            .lead_audit(tenant.id, id.parse().expect("a lead id"))
            .await
            .expect("read the audit trail")
    }
}

/// An item as text, maps with their keys in order (a HashMap's order varies).
fn canonical(value: &AttributeValue) -> String {
    match value {
        AttributeValue::M(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", canonical(v)))
                .collect();
            entries.sort();
            format!("{{{}}}", entries.join(", "))
        }
        AttributeValue::L(list) => {
            let items: Vec<String> = list.iter().map(canonical).collect();
            format!("[{}]", items.join(", "))
        }
        AttributeValue::Ss(set) | AttributeValue::Ns(set) => {
            let mut set = set.clone();
            set.sort();
            format!("{set:?}")
        }
        other => format!("{other:?}"),
    }
}

/// Every row of a list, following `next` links from `first` to the end; checks each page
/// answers 200 and no row appears twice.
pub async fn all_pages(app: &TestApp, token: &str, first: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = first.to_string();
    for _ in 0..500 {
        let res = app.get(&url).bearer(token).send().await;
        assert_eq!(res.status, 200, "{url}: {}", res.text);
        rows.extend(res.body["results"].as_array().unwrap().iter().cloned());
        match res.link("next") {
            Some(next) => url = next,
            None => break,
        }
    }
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(
        before,
        ids.len(),
        "a row was repeated across pages of {first}"
    );
    rows
}
