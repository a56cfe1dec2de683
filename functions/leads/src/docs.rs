//! `GET /api/schema/`: the API's OpenAPI 3.1 document (the committed `openapi.json`, which
//! `make openapi` builds from the code and a test keeps current), and `GET /api/docs/`: a
//! page listing its operations and schemas, rendered here from the same document.
//!
//! The page is plain HTML: no script, style sheet or font from elsewhere (deployments may
//! have no internet), and nothing inline that the service's `Content-Security-Policy`
//! (`default-src 'none'`) would block.

use std::fmt::Write;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Map, Value};

/// The document, as committed at the repository root.
pub const DOCUMENT: &str = include_str!("../../../openapi.json");

pub async fn schema() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT).into_response()
}

pub async fn docs() -> Html<&'static str> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(|| {
        let document: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
        render(&document)
    }))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page: the document's description, then its operations by path, then its schemas.
pub fn render(document: &Value) -> String {
    let info = &document["info"];
    let title = escape(info["title"].as_str().unwrap_or("API"));
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title></head><body>\n<h1>{title} {}</h1>\n<p>{}</p>\n\
         <p>The machine-readable document: <a href=\"../schema/\">/api/schema/</a> \
         (OpenAPI {}).</p>\n<h2>Operations</h2>\n",
        escape(info["version"].as_str().unwrap_or("")),
        escape(info["description"].as_str().unwrap_or("")),
        escape(document["openapi"].as_str().unwrap_or("")),
    );
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            operation_html(&mut page, method, path, operation);
        }
    }
    page.push_str("<h2>Schemas</h2>\n");
    let schemas = &document["components"]["schemas"];
    for (name, schema) in schemas.as_object().into_iter().flatten() {
        let _ = writeln!(
            page,
            "<details id=\"schema-{0}\"><summary><code>{0}</code></summary>",
            escape(name)
        );
        schema_html(&mut page, schema);
        page.push_str("</details>\n");
    }
    page.push_str("</body></html>\n");
    page
}

fn operation_html(page: &mut String, method: &str, path: &str, operation: &Value) {
    let public = operation["security"]
        .as_array()
        .is_some_and(|s| s.is_empty());
    let _ = writeln!(
        page,
        "<details><summary><b>{}</b> <code>{}</code> {}{}</summary>",
        method.to_uppercase(),
        escape(path),
        escape(operation["summary"].as_str().unwrap_or("")),
        if public { " (no credentials)" } else { "" },
    );
    if let Some(description) = operation["description"].as_str() {
        let _ = writeln!(page, "<p>{}</p>", escape(description));
    }
    if let Some(parameters) = operation["parameters"].as_array() {
        page.push_str("<table><tr><th>parameter</th><th>in</th><th>schema</th><th></th></tr>\n");
        for p in parameters {
            let _ = writeln!(
                page,
                "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(p["name"].as_str().unwrap_or("")),
                if p["required"] == true { " *" } else { "" },
                escape(p["in"].as_str().unwrap_or("")),
                type_of(&p["schema"]),
                escape(p["description"].as_str().unwrap_or("")),
            );
        }
        page.push_str("</table>\n");
    }
    if let Some(content) = operation["requestBody"]["content"].as_object() {
        for (media, body) in content {
            let _ = writeln!(
                page,
                "<p>Body ({}): {}</p>",
                escape(media),
                type_of(&body["schema"])
            );
        }
    }
    page.push_str("<ul>\n");
    for (status, response) in operation["responses"].as_object().into_iter().flatten() {
        let schema = response["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| type_of(&c["schema"]))
            .unwrap_or_default();
        let description = response["description"]
            .as_str()
            .map(escape)
            .unwrap_or_else(|| type_of(response));
        let _ = writeln!(page, "<li>{status}: {description} {schema}</li>");
    }
    page.push_str("</ul></details>\n");
}

fn schema_html(page: &mut String, schema: &Value) {
    if let Some(description) = schema["description"].as_str() {
        let _ = writeln!(page, "<p>{}</p>", escape(description));
    }
    let Some(properties) = schema["properties"].as_object() else {
        let _ = writeln!(page, "<p>{}</p>", type_of(schema));
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    page.push_str("<table><tr><th>field</th><th>schema</th></tr>\n");
    for (name, property) in properties {
        let _ = writeln!(
            page,
            "<tr><td><code>{}</code>{}</td><td>{}</td></tr>",
            escape(name),
            if required.contains(&name.as_str()) {
                " *"
            } else {
                ""
            },
            type_of(property),
        );
    }
    page.push_str("</table>\n");
}

/// A schema in a few words: its type (or reference), format, choices and bounds.
fn type_of(schema: &Value) -> String {
    if let Some(target) = schema["$ref"].as_str() {
        let name = escape(target.rsplit('/').next().unwrap_or(target));
        return if target.contains("/schemas/") {
            format!("<a href=\"#schema-{name}\">{name}</a>")
        } else {
            name
        };
    }
    for combinator in ["anyOf", "oneOf"] {
        if let Some(items) = schema[combinator].as_array() {
            return items.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    let Some(object) = schema.as_object() else {
        return String::new();
    };
    let mut text = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".to_string(),
    };
    if text.starts_with("array") {
        text = format!("array of {}", type_of(&schema["items"]));
    }
    text = escape(&text);
    constraints(&mut text, object);
    text
}

fn constraints(text: &mut String, object: &Map<String, Value>) {
    for (key, label) in [
        ("format", "format"),
        ("enum", "one of"),
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("pattern", "pattern"),
    ] {
        if let Some(value) = object.get(key) {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            let _ = write!(text, ", {label} <code>{}</code>", escape(&value));
        }
    }
}
