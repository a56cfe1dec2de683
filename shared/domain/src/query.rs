//! A list request's query parameters, as the typed list queries read them.

use crate::error::Error;
use crate::validate::FieldErrors;

pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Clone, Debug, Default)]
pub struct QueryParams {
    pub params: Vec<(String, String)>,
}

impl QueryParams {
    /// The parameters of a raw (percent-encoded) query string.
    pub fn parse(query: &str) -> Self {
        QueryParams {
            params: url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        }
    }

    /// Every value of a parameter, `a=1&a=2` and `a=1,2` alike.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn single(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// 400 for parameters this list does not know, naming them.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), Error> {
        let mut errors = FieldErrors::default();
        for (k, _) in &self.params {
            if !known.contains(&k.as_str()) && !errors.has(k) {
                errors.add(k, "Unknown query parameter.");
            }
        }
        errors.into_result().map_err(Error::Validation)
    }

    /// `page_size`: 1 to 100, default 20.
    pub fn page_size(&self) -> Result<usize, Error> {
        match self.single("page_size") {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
                _ => Err(Error::field(
                    "page_size",
                    format!("Must be a whole number from 1 to {MAX_PAGE_SIZE}."),
                )),
            },
        }
    }

    /// What a cursor is bound to: `scope`, then the parameters but the page position and
    /// size, sorted (`scope?a=1&b=2`), so a cursor cannot be replayed on another query.
    pub fn fingerprint(&self, scope: &str) -> String {
        let mut params: Vec<String> = self
            .params
            .iter()
            .filter(|(k, _)| k != "cursor" && k != "page_size")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        params.sort();
        format!("{scope}?{}", params.join("&"))
    }

    pub fn cursor(&self) -> Option<&str> {
        self.single("cursor").filter(|c| !c.is_empty())
    }
}
