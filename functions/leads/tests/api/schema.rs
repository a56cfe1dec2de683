//! `GET /api/schema/` serves the committed OpenAPI document and `GET /api/docs/` a page of
//! its operations, both without credentials.

use crate::common::*;

#[tokio::test]
async fn the_schema_is_the_committed_document_and_needs_no_credentials() {
    let app = start().await;
    for path in ["/api/schema/", "/api/schema"] {
        let res = app.get(path).send().await.expect(200);
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(res.text, leads::docs::DOCUMENT);
        assert_eq!(res.body["openapi"], "3.1.0");
        assert!(res.body["paths"]["/api/leads/api/v1/leads/{id}/"]["patch"].is_object());
    }
    let res = app.post("/api/schema/").send().await;
    assert_eq!(res.status, 405);
}

#[tokio::test]
async fn the_docs_page_lists_every_operation() {
    let app = start().await;
    let res = app.get("/api/docs/").send().await.expect(200);
    assert!(res
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let document: Value = serde_json::from_str(leads::docs::DOCUMENT).unwrap();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let line = format!("<b>{}</b> <code>{path}</code>", method.to_uppercase());
            assert!(res.text.contains(&line), "{line}");
        }
    }
    // Nothing for the browser to fetch from elsewhere, nothing the CSP would block.
    for needle in ["<script", "<link", "<style", "http://", "https://"] {
        assert!(!res.text.contains(needle), "{needle}");
    }
}
