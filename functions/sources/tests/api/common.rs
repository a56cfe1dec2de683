//! What the test modules share: both functions on one emulator, the function's own
//! records, and the testkit's helpers, paths and fixtures.
pub use crm_domain::Role;
pub use crm_testkit::fixtures::*;
pub use crm_testkit::paths::{self, ACTIVITIES, LEADS, NOTES, SOURCES, TAGS};
pub use crm_testkit::{all_pages, TestApp};
pub use serde_json::{json, Value};

/// This function and the leads function, sharing one emulator and state.
pub struct Apps {
    pub sources: TestApp,
    pub leads: TestApp,
}

pub async fn start() -> Apps {
    let sources = TestApp::start(sources::app).await;
    let leads = sources.with_function(leads::app);
    Apps { sources, leads }
}

pub async fn create_source(app: &TestApp, token: &str, name: &str) -> Value {
    app.create(SOURCES, token, json!({"name": name})).await
}

pub async fn create_tag(app: &TestApp, token: &str, name: &str) -> Value {
    app.create(TAGS, token, json!({"name": name})).await
}

/// An activity of `kind` on `lead`.
pub fn activity(lead: &str, kind: &str) -> Value {
    json!({"lead": lead, "activity_type": kind, "title": format!("A {kind}"), "description": "Talked."})
}

/// `token` reads the collection `list` and the record `url` but changes neither: creating
/// (with `body`), editing (to `body`) and deleting are 403.
pub async fn assert_read_only(app: &TestApp, token: &str, list: &str, url: &str, body: Value) {
    app.get(list).bearer(token).send().await.expect(200);
    app.get(url).bearer(token).send().await.expect(200);
    app.post(list)
        .bearer(token)
        .json(body.clone())
        .send()
        .await
        .expect(403);
    app.patch(url)
        .bearer(token)
        .json(body)
        .send()
        .await
        .expect(403);
    app.delete(url).bearer(token).send().await.expect(403);
}

/// For `token` (another tenant's) the record at `url` does not exist: reading it, editing it
/// (with `change`) and deleting it are 404.
pub async fn assert_not_found(app: &TestApp, token: &str, url: &str, change: Value) {
    app.get(url).bearer(token).send().await.expect(404);
    app.patch(url)
        .bearer(token)
        .json(change)
        .send()
        .await
        .expect(404);
    app.delete(url).bearer(token).send().await.expect(404);
}
