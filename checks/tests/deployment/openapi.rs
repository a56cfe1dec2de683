//! The committed OpenAPI document (`openapi.json`, built by `make openapi` from crm-openapi
//! and served by the leads function) describes every route of every HTTP function with
//! exactly the methods its router serves, and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use crm_testkit::TestApp;

/// The document spells paths as the original did, with a trailing slash.
fn documented(path: &str) -> String {
    if path == "/" {
        path.to_string()
    } else {
        format!("{path}/")
    }
}

fn document() -> Value {
    serde_json::from_str(&repo_file("openapi.json")).expect("openapi.json is JSON")
}

/// Each documented path with its methods, uppercase.
fn documented_methods(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_uppercase())
                .filter(|m| METHODS.contains(&m.as_str()))
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test]
async fn the_document_has_every_route_with_the_methods_its_router_serves() {
    let documented_paths = documented_methods(&document());
    let first = TestApp::start(leads::app).await;
    let mut listed = BTreeSet::new();
    for table in [
        leads::routes(),
        actions::routes(),
        bulk::routes(),
        sources::routes(),
        accounts::routes(),
    ] {
        let binary = table.service().trim_start_matches("crm-");
        let app = first.with_function(function(binary).http_app().expect("HTTP"));
        let mut paths = table.paths();
        if table.serves_health() {
            paths.extend(["/", "/health", "/health-check"].map(str::to_string));
        }
        for path in paths {
            let key = documented(&path);
            let Some(methods) = documented_paths.get(&key) else {
                panic!("{binary} serves {path}, which openapi.json lacks: run `make openapi`")
            };
            // Without credentials: a served method answers 401 (or, public, 2xx/503),
            // one the router does not serve 405.
            let mut served = BTreeSet::new();
            for method in METHODS {
                let url = instantiate(&key, EXAMPLE_LEAD_ID);
                let status = app.request(method, &url).send().await.status;
                assert_ne!(status, 404, "{binary}: {method} {url}");
                if status != 405 {
                    served.insert(method.to_string());
                }
            }
            assert_eq!(
                &served, methods,
                "{binary} {path}: the methods served and those openapi.json documents"
            );
            listed.insert(key);
        }
    }
    let extra: Vec<&String> = documented_paths
        .keys()
        .filter(|p| !listed.contains(*p))
        .collect();
    assert!(
        extra.is_empty(),
        "openapi.json documents paths no function serves: {extra:?}"
    );
}

#[test]
fn every_authenticated_operation_documents_the_errors_of_the_edge() {
    let document = document();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let public = operation["security"] == json!([]);
            let has = |status: &str| responses.contains_key(status);
            if !public {
                for status in ["400", "401", "403", "429", "503"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
            if path.contains("{id}") {
                assert!(has("404"), "{method} {path} lacks 404");
            }
            if !operation["requestBody"].is_null() {
                for status in ["413", "415"] {
                    assert!(has(status), "{method} {path} lacks {status}");
                }
            }
        }
    }
}
