//! Where pagination links point: built from what the platform says, never from what the
//! client says. `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded` are client headers
//! (API Gateway passes them through), so they are never read.
//!
//! - Behind API Gateway: `https://` + the request context's `domainName`, with the stage
//!   when it is not `$default` (lambda_http already puts it in the path; it is added only
//!   when missing).
//! - On the local gateway (`cargo lambda watch`), whose request context names `localhost`
//!   or no domain at all: plain `http://` on the address the client reached it at, the
//!   `Host` header, and only when that is a loopback address; else the context's loopback
//!   name, else the bare path.

use axum::http::header;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

/// `scheme://authority` + `path` for this request's links (or `path` alone when the
/// platform names no host).
pub(crate) fn base_url(parts: &Parts, path: &str) -> String {
    let (domain, stage) = match parts.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            (ctx.domain_name.as_deref(), ctx.stage.as_deref())
        }
        _ => (None, None),
    };
    let domain = domain.map(str::trim).filter(|d| !d.is_empty());
    if let Some(domain) = domain.filter(|d| !is_loopback(d)) {
        return format!("https://{domain}{}", with_stage(stage, path));
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|h| is_loopback(h));
    match host.or(domain) {
        Some(host) => format!("http://{host}{path}"),
        None => path.to_string(),
    }
}

/// `path` under the API stage, unless the stage is `$default` or already there.
fn with_stage(stage: Option<&str>, path: &str) -> String {
    match stage.map(str::trim) {
        Some(stage) if !stage.is_empty() && stage != "$default" => {
            let prefix = format!("/{stage}");
            let has = path
                .strip_prefix(&prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
            if has {
                path.to_string()
            } else {
                format!("{prefix}{path}")
            }
        }
        _ => path.to_string(),
    }
}

/// A loopback authority (`localhost`, `*.localhost`, `127.x.x.x`, `[::1]`), with an
/// optional numeric port and nothing else.
fn is_loopback(authority: &str) -> bool {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, after)) => (
                ip,
                after
                    .strip_prefix(':')
                    .or(Some(after).filter(|a| a.is_empty())),
            ),
            None => return false,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, Some("")),
        }
    };
    let port_ok = port.is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()) && p.len() <= 5);
    let host = host.to_ascii_lowercase();
    let host_ok = host == "localhost"
        || host.strip_suffix(".localhost").is_some_and(|sub| {
            !sub.is_empty()
                && sub.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        })
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    port_ok && host_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(domain: Option<&str>, stage: &str, host: Option<&str>, path: &str) -> Parts {
        let mut headers = json!({"x-forwarded-host": "evil.example", "x-forwarded-proto": "http"});
        if let Some(host) = host {
            headers["host"] = json!(host);
        }
        let mut context = json!({
            "accountId": "123456789012",
            "apiId": "api",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r1",
            "routeKey": "$default",
            "stage": stage,
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 0,
        });
        if let Some(domain) = domain {
            context["domainName"] = json!(domain);
        }
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": false,
        });
        lambda_http::request::from_str(&event.to_string())
            .unwrap()
            .into_parts()
            .0
    }

    fn base(domain: Option<&str>, stage: &str, host: Option<&str>, path: &str) -> String {
        base_url(&parts(domain, stage, host, path), path)
    }

    #[test]
    fn api_gateway_links_use_its_domain_and_https() {
        let d = Some("abc.execute-api.eu-west-1.amazonaws.com");
        assert_eq!(
            base(d, "$default", Some("evil.example"), "/x/"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/x/"
        );
        assert_eq!(
            base(d, "prod", Some("evil.example"), "/x/"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/x/"
        );
        assert_eq!(
            base(d, "prod", None, "/prod/x"),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/x"
        );
        assert_eq!(
            with_stage(Some("prod"), "/production/x"),
            "/prod/production/x"
        );
        assert_eq!(with_stage(Some("prod"), "/prod"), "/prod");
    }

    #[test]
    fn local_gateway_links_are_http_on_the_loopback_address() {
        for (host, want) in [
            ("127.0.0.1:8007", "http://127.0.0.1:8007/x"),
            ("localhost:9000", "http://localhost:9000/x"),
            ("[::1]:8007", "http://[::1]:8007/x"),
            ("crm.localhost", "http://crm.localhost/x"),
            ("evil.example", "http://localhost/x"),
            ("127.0.0.1@evil.example", "http://localhost/x"),
            ("localhost:80/evil", "http://localhost/x"),
        ] {
            assert_eq!(
                base(Some("localhost"), "$default", Some(host), "/x"),
                want,
                "{host}"
            );
        }
        for odd in [
            "[::1]evil",
            "[::1",
            "127.0.0.1:80:80",
            "localhost:http",
            ".localhost",
            "a..localhost",
            "evil.example:8007",
            "127.0.0.1.evil.example",
            "",
        ] {
            assert!(!is_loopback(odd), "{odd}");
        }
        assert!(is_loopback("[::1]") && is_loopback("127.1.2.3:1") && is_loopback("LOCALHOST"));
        assert_eq!(
            base(None, "$default", Some("127.0.0.1:8007"), "/x"),
            "http://127.0.0.1:8007/x"
        );
        assert_eq!(base(None, "$default", Some("evil.example"), "/x"), "/x");
    }

    #[test]
    fn without_a_request_context_only_a_loopback_host_is_used() {
        let request = |host: &str| {
            axum::http::Request::builder()
                .uri("/x")
                .header("host", host)
                .header("x-forwarded-host", "evil.example")
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(
            base_url(&request("127.0.0.1:8007"), "/x"),
            "http://127.0.0.1:8007/x"
        );
        assert_eq!(base_url(&request("evil.example"), "/x"), "/x");
    }
}
