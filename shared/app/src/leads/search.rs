//! Text search over the leads' search tokens: walks the tokens that start with the driving
//! term in token order (so whole-word hits come before longer words), fetches those leads,
//! and keeps the ones that pass every term and filter. A lead is served at its first
//! matching token only.

use uuid::Uuid;

use crm_domain::cursor::Page;
use crm_domain::filters::LeadQuery;
use crm_domain::lead::Lead;
use crm_domain::search;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::Store;

/// Leads whose pending token moves (a write whose follow-up failed) a search settles
/// before its first page.
const REPAIRS_PER_SEARCH: usize = 10;

/// One page of a search, from `after` (the token position a cursor recorded).
pub(super) struct SearchRequest<'a> {
    pub(super) tenant: TenantId,
    pub(super) query: &'a LeadQuery,
    pub(super) term: &'a str,
    pub(super) page_size: usize,
    pub(super) read_budget: usize,
    pub(super) after: Option<String>,
}

pub(super) async fn search_page(
    store: &Store,
    request: SearchRequest<'_>,
    link: impl Fn(String, bool) -> String,
) -> Result<Page<Lead>, Error> {
    let SearchRequest {
        tenant,
        query,
        term,
        page_size,
        read_budget,
        after,
    } = request;
    if after.is_none() {
        // Usually one empty read; see `crm_store::Store::repair_search`.
        if let Err(e) = store.repair_search(tenant, REPAIRS_PER_SEARCH).await {
            tracing::warn!(error = %e, "pending search tokens not settled");
        }
    }
    let mut after = after;
    // Each kept hit with its rank, from the tokens computed once for its checks.
    let mut kept: Vec<(String, Lead, usize)> = Vec::new();
    let mut read = 0;
    loop {
        let (hits, more) = store
            .search_tokens(
                tenant,
                term,
                after.as_deref(),
                (page_size + 1).clamp(10, 100),
            )
            .await?;
        read += hits.len();
        let ids: Vec<Uuid> = hits.iter().map(|(_, id)| *id).collect();
        let leads: std::collections::HashMap<Uuid, Lead> = store
            .get_listed_leads(tenant, &ids)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
        for (sk, id) in hits {
            after = Some(sk.clone());
            let Some(lead) = leads.get(&id) else { continue };
            let token = sk.rsplit_once('#').map_or("", |(t, _)| t);
            let tokens = search::tokens(lead);
            let first = tokens.iter().find(|t| t.starts_with(term));
            if first.map(String::as_str) != Some(token) || !query.matches_tokens(lead, &tokens) {
                continue;
            }
            kept.push((sk, lead.clone(), search::rank(&tokens, &query.search)));
            if kept.len() > page_size {
                kept.truncate(page_size);
                let next = kept.last().map(|(k, _, _)| link(k.clone(), false));
                return Ok(ranked(kept, next));
            }
        }
        if !more {
            return Ok(ranked(kept, None));
        }
        if read >= read_budget {
            let next = after.map(|k| link(k, false));
            return Ok(ranked(kept, next));
        }
    }
}

/// Within a page: more whole-word hits first, then higher score.
fn ranked(mut rows: Vec<(String, Lead, usize)>, next: Option<String>) -> Page<Lead> {
    rows.sort_by_key(|(_, lead, rank)| (std::cmp::Reverse(*rank), std::cmp::Reverse(lead.score)));
    Page {
        items: rows.into_iter().map(|(_, lead, _)| lead).collect(),
        next,
        previous: None,
    }
}
