//! Word and prefix search over a lead's name, email, company, job title, phone, industry
//! and notes. A lead's search tokens are indexed as items (see `keys::search_token`), so a
//! search reads the leads whose tokens start with the query's words, not the whole tenant.

use std::collections::BTreeSet;

use crate::lead::Lead;

/// At most this many tokens are indexed per lead (long notes contribute their first words),
/// which bounds the items a lead write touches.
pub const MAX_TOKENS: usize = 40;
/// Shorter words are not indexed or searched on their own.
pub const MIN_TOKEN: usize = 2;
const MAX_TOKEN: usize = 40;

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= MIN_TOKEN)
        .map(token)
}

/// A word as a token: lowercased, at most [`MAX_TOKEN`] characters. Search tokenises every
/// hit it checks, so the usual short word is lowercased into its one allocation and kept.
fn token(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.len() <= MAX_TOKEN {
        lower // at most MAX_TOKEN bytes, so at most MAX_TOKEN characters
    } else {
        lower.chars().take(MAX_TOKEN).collect()
    }
}

/// The distinct search words of a query, lowercased.
pub fn terms(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(token)
    {
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The tokens a lead is found by. Fields count in order of importance, so when the cap
/// bites it is notes that lose words.
pub fn tokens(lead: &Lead) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |w: String| {
        if out.len() < MAX_TOKENS {
            out.insert(w);
        }
    };
    for field in [
        Some(lead.first_name.as_str()),
        Some(lead.last_name.as_str()),
        lead.company.as_deref(),
        Some(lead.email.as_str()),
        lead.job_title.as_deref(),
        lead.industry.as_deref(),
    ]
    .into_iter()
    .flatten()
    {
        words(field).for_each(&mut add);
    }
    // The whole address and the phone's digits are tokens too.
    add(token(&lead.email));
    if let Some(phone) = &lead.phone {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if digits.len() >= MIN_TOKEN {
            add(digits);
        }
    }
    if let Some(notes) = &lead.notes {
        words(notes).for_each(&mut add);
    }
    out
}

/// Every term is the start of one of the lead's tokens (prefix match, case-insensitive).
pub fn matches_all(lead: &Lead, terms: &[String]) -> bool {
    all_start_tokens(&tokens(lead), terms)
}

/// [`matches_all`] over tokens already computed: a search computes a hit's tokens once
/// and checks, filters and ranks it with them (tokenising is most of checking a lead).
pub fn all_start_tokens(tokens: &BTreeSet<String>, terms: &[String]) -> bool {
    terms.iter().all(|t| {
        tokens
            .range(t.clone()..)
            .next()
            .is_some_and(|tok| tok.starts_with(t.as_str()))
    })
}

/// The term that drives the index read: the longest, as the most selective.
pub fn driving_term(terms: &[String]) -> Option<&String> {
    terms.iter().max_by_key(|t| t.chars().count())
}

/// How well a lead, by its [`tokens`], answers the query: whole-word hits rank above
/// prefix hits.
pub fn rank(tokens: &BTreeSet<String>, terms: &[String]) -> usize {
    terms.iter().filter(|t| tokens.contains(*t)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens are lowercased and cut at 40 characters, not bytes, whatever the script.
    #[test]
    fn tokens_are_lowercase_and_at_most_forty_characters() {
        let mut lead = crate::fixtures::lead();
        lead.first_name = "ÉCOLE".into();
        lead.last_name = "A".repeat(50);
        lead.company = Some("é".repeat(39) + " " + &"ß".repeat(45));
        lead.email = format!("{}@x.example", "m".repeat(45));
        let tokens = tokens(&lead);
        assert!(tokens.contains("école"));
        assert!(tokens.contains(&"a".repeat(40)));
        assert!(tokens.contains(&"é".repeat(39)));
        assert!(tokens.contains(&"ß".repeat(40)));
        assert!(tokens.contains(&"m".repeat(40)), "the whole address, cut");
        assert!(tokens.iter().all(|t| t.chars().count() <= MAX_TOKEN));
        assert_eq!(terms("ÉCOLE école Zz"), ["école", "zz"]);
    }
}
