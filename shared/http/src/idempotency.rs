//! The `Idempotency-Key` header; the mechanism behind it is `crm_store::idempotency`.

use axum::http::HeaderMap;

use crate::ApiError;

pub const HEADER: &str = "idempotency-key";
/// As Stripe's and the IETF draft's keys: enough for a UUID or any structured key.
pub const MAX_KEY_CHARS: usize = 255;

/// The `Idempotency-Key` header: absent, or 1 to [`MAX_KEY_CHARS`] visible ASCII
/// characters (else 400 naming the header, as other header problems are named).
pub fn key_from_headers(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get(HEADER) else {
        return Ok(None);
    };
    let field = "Idempotency-Key";
    let key = raw
        .to_str()
        .map_err(|_| ApiError::field(field, "Must be visible ASCII characters."))?
        .trim();
    if key.is_empty() {
        return Err(ApiError::field(field, crm_domain::validate::NOT_BLANK));
    }
    if key.len() > MAX_KEY_CHARS {
        return Err(ApiError::field(
            field,
            format!("Ensure this value has at most {MAX_KEY_CHARS} characters."),
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(ApiError::field(field, "Must be visible ASCII characters."));
    }
    Ok(Some(key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_text() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(HEADER, v.parse().unwrap());
            h
        };
        assert_eq!(key_from_headers(&HeaderMap::new()).unwrap(), None);
        assert_eq!(
            key_from_headers(&headers("abc-123")).unwrap().as_deref(),
            Some("abc-123")
        );
        assert!(key_from_headers(&headers(&"k".repeat(MAX_KEY_CHARS))).is_ok());
        assert!(key_from_headers(&headers(&"k".repeat(MAX_KEY_CHARS + 1))).is_err());
        assert!(key_from_headers(&headers("  ")).is_err());
    }
}
