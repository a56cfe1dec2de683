//! Lead lists: which index (or search) answers a query, and one page of it.

use std::borrow::Cow;

use crm_domain::cursor::{Cursor, CursorCodec, Page};
use crm_domain::filters::{LeadQuery, OrderField, Ordering, View};
use crm_domain::identity::Caller;
use crm_domain::lead::Lead;
use crm_domain::search;
use crm_domain::tenant::TenantId;
use crm_domain::validate::Choice;
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::{IndexScan, Store};

use super::search::{search_page, SearchRequest};
use crate::config::ListLimits;
use crate::{sources, tags};

/// How a list request is answered.
#[derive(Debug)]
enum Access {
    /// One index, in its order, post-filtering what the index does not decide.
    Index(IndexScan),
    /// Search tokens starting with the driving term.
    Search(String),
    /// The candidates of an index scan, sorted in memory (bounded).
    Sorted(IndexScan),
}

fn scan(index: LeadIndex, partitions: Vec<String>, descending: bool) -> IndexScan {
    IndexScan {
        index,
        partitions,
        lo: None,
        hi: None,
        descending,
    }
}

/// The most selective score-ordered index the filters allow.
fn score_scan(q: &LeadQuery, t: TenantId, descending: bool) -> IndexScan {
    let mut s = if q.view == Some(View::HighPriority) {
        scan(LeadIndex::Hot, vec![keys::hot_partition(t)], descending)
    } else if q.view == Some(View::Unassigned) || q.is_assigned == Some(false) {
        scan(
            LeadIndex::Assignee,
            vec![keys::assignee_partition(t, None)],
            descending,
        )
    } else if !q.assigned_to.is_empty() {
        let parts = q
            .assigned_to
            .iter()
            .map(|u| keys::assignee_partition(t, Some(u)))
            .collect();
        scan(LeadIndex::Assignee, parts, descending)
    } else if !q.source.is_empty() {
        let parts = q
            .source
            .iter()
            .map(|s| keys::source_partition(t, s))
            .collect();
        scan(LeadIndex::Source, parts, descending)
    } else if !q.tags.is_empty() {
        // The tags' membership copies, in GSI6 by the same score key; a lead with several
        // of the tags is met once per tag and served once (the scan skips equal keys).
        let parts = q
            .tags
            .iter()
            .map(|tag| keys::tagged_partition(t, tag))
            .collect();
        scan(LeadIndex::Source, parts, descending)
    } else if !q.status.is_empty() {
        let parts = q
            .status
            .iter()
            .map(|s| keys::status_partition(t, s.as_str()))
            .collect();
        scan(LeadIndex::Status, parts, descending)
    } else if !q.priority.is_empty() {
        let parts = q
            .priority
            .iter()
            .map(|p| keys::priority_partition(t, p.as_str()))
            .collect();
        scan(LeadIndex::Priority, parts, descending)
    } else {
        scan(LeadIndex::Score, vec![keys::all_leads(t)], descending)
    };
    (s.lo, s.hi) = keys::score_bounds(q.score_min, q.score_max);
    s
}

/// Active leads with a follow-up, optionally only the overdue ones.
fn follow_up_scan(q: &LeadQuery, t: TenantId, descending: bool) -> IndexScan {
    let mut s = scan(
        LeadIndex::FollowUp,
        vec![keys::follow_up_partition(t)],
        descending,
    );
    if q.view == Some(View::Overdue) || q.is_overdue == Some(true) {
        s.hi = Some(keys::sortable_time(q.now));
    }
    s
}

fn plan(q: &LeadQuery, t: TenantId) -> Access {
    if let Some(term) = search::driving_term(&q.search) {
        return Access::Search(term.clone());
    }
    let primary = q.ordering[0];
    let tie_break_ok = |field: OrderField| {
        q.ordering.len() == 1
            || (q.ordering.len() == 2
                && q.ordering[1].field == field
                && q.ordering[1].descending == primary.descending)
    };
    let overdue_only = q.view == Some(View::Overdue) || q.is_overdue == Some(true);
    match primary.field {
        OrderField::Score if tie_break_ok(OrderField::CreatedAt) => {
            Access::Index(score_scan(q, t, primary.descending))
        }
        OrderField::CreatedAt if q.ordering.len() == 1 => {
            let mut s = scan(
                LeadIndex::Created,
                vec![keys::all_leads(t)],
                primary.descending,
            );
            s.lo = q.created_after.map(keys::sortable_time);
            s.hi = q
                .created_before
                .map(|b| format!("{}$", keys::sortable_time(b)));
            Access::Index(s)
        }
        OrderField::NextFollowUp if overdue_only && q.ordering.len() == 1 => {
            Access::Index(follow_up_scan(q, t, primary.descending))
        }
        _ if overdue_only => Access::Sorted(follow_up_scan(q, t, false)),
        _ => Access::Sorted(score_scan(q, t, true)),
    }
}

fn compare(a: &Lead, b: &Lead, ordering: &[Ordering]) -> std::cmp::Ordering {
    use std::cmp::Ordering as O;
    fn opt<T: Ord>(a: &Option<T>, b: &Option<T>) -> O {
        // Nulls last, as PostgreSQL sorts them ascending.
        match (a, b) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => O::Less,
            (None, Some(_)) => O::Greater,
            (None, None) => O::Equal,
        }
    }
    let lower = |v: &Option<String>| v.as_ref().map(|s| s.to_lowercase());
    for o in ordering {
        let c = match o.field {
            OrderField::Score => a.score.cmp(&b.score),
            OrderField::CreatedAt => a.created_at.cmp(&b.created_at),
            OrderField::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            OrderField::LastContactDate => opt(&a.last_contact_date, &b.last_contact_date),
            OrderField::NextFollowUp => opt(&a.next_follow_up, &b.next_follow_up),
            OrderField::Company => opt(&lower(&a.company), &lower(&b.company)),
            OrderField::LastName => a.last_name.to_lowercase().cmp(&b.last_name.to_lowercase()),
        };
        let c = if o.descending { c.reverse() } else { c };
        if c != O::Equal {
            return c;
        }
    }
    a.id.cmp(&b.id)
}

fn invalid_cursor() -> Error {
    Error::field("cursor", "Invalid cursor.")
}

/// The query with its source and tag filters as ids: the indexes and the match work on
/// ids, so names are looked up (one read each).
async fn with_filter_ids<'q>(
    store: &Store,
    tenant: TenantId,
    query: &'q LeadQuery,
) -> Result<Cow<'q, LeadQuery>, Error> {
    if query.source.is_empty() && query.tags.is_empty() {
        return Ok(Cow::Borrowed(query));
    }
    let mut q = query.clone();
    q.source = futures::future::try_join_all(
        query
            .source
            .iter()
            .map(|raw| sources::filter_id(store, tenant, raw)),
    )
    .await?;
    q.tags = futures::future::try_join_all(
        query
            .tags
            .iter()
            .map(|raw| tags::filter_id(store, tenant, raw)),
    )
    .await?;
    Ok(Cow::Owned(q))
}

/// One page of the tenant's leads for a parsed query: filters, ordering, a view, search.
pub async fn list(
    store: &Store,
    cursors: &CursorCodec,
    caller: &Caller,
    query: &LeadQuery,
    limits: &ListLimits,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Lead>, Error> {
    if query.matches_nothing() {
        return Ok(Page {
            items: Vec::new(),
            next: None,
            previous: None,
        });
    }
    let tenant = caller.tenant;
    let query = with_filter_ids(store, tenant, query).await?;
    let query = query.as_ref();
    let scope = &query.fingerprint;
    let cursor = cursor
        .map(|c| cursors.decode(tenant, scope, c))
        .transpose()
        .map_err(|_| invalid_cursor())?;
    let link = |k: String, backwards: bool| {
        cursors.encode(
            tenant,
            scope,
            &Cursor {
                position: k,
                backwards,
            },
        )
    };
    let paging = Paging {
        store,
        limits,
        page_size,
        keep: &|lead: &Lead| query.matches(lead),
        link: &link,
    };
    match plan(query, tenant) {
        Access::Index(s) => paging.index(s, cursor).await,
        Access::Sorted(s) => paging.sorted(s, &query.ordering, cursor).await,
        Access::Search(term) => {
            let request = SearchRequest {
                tenant,
                query,
                term: &term,
                page_size,
                read_budget: limits.read_budget,
                after: cursor.map(|c| c.position),
            };
            search_page(store, request, link).await
        }
    }
}

/// What the ways of reading a page share: the store, the limits, which leads to keep and
/// how to link to a position.
struct Paging<'a> {
    store: &'a Store,
    limits: &'a ListLimits,
    page_size: usize,
    keep: &'a (dyn Fn(&Lead) -> bool + Sync),
    link: &'a (dyn Fn(String, bool) -> String + Sync),
}

impl Paging<'_> {
    /// One index in its order from the cursor's position, read backwards for a
    /// `previous` link.
    async fn index(&self, mut s: IndexScan, cursor: Option<Cursor>) -> Result<Page<Lead>, Error> {
        let link = self.link;
        let resumed = cursor.is_some();
        let (after, backwards) = match cursor {
            Some(c) => (Some(c.position), c.backwards),
            None => (None, false),
        };
        if backwards {
            s.descending = !s.descending;
        }
        let page = self
            .store
            .scan_leads(
                &s,
                after.as_deref(),
                self.page_size,
                self.limits.read_budget,
                self.keep,
            )
            .await?;
        let mut rows = page.leads;
        if backwards {
            rows.reverse();
            let previous = page.next.map(|k| link(k, true));
            let next = rows
                .last()
                .map(|(k, _)| link(k.clone(), false))
                .or(after.map(|k| link(k, false)));
            return Ok(Page {
                items: rows.into_iter().map(|(_, l)| l).collect(),
                next,
                previous,
            });
        }
        let previous = if resumed {
            rows.first()
                .map(|(k, _)| link(k.clone(), true))
                .or(after.map(|k| link(k, true)))
        } else {
            None
        };
        Ok(Page {
            next: page.next.map(|k| link(k, false)),
            previous,
            items: rows.into_iter().map(|(_, l)| l).collect(),
        })
    }

    /// The candidates of an index scan sorted in memory (a 400 when there are too many);
    /// the cursor's position is an offset.
    async fn sorted(
        &self,
        s: IndexScan,
        ordering: &[Ordering],
        cursor: Option<Cursor>,
    ) -> Result<Page<Lead>, Error> {
        let limits = self.limits;
        let page = self
            .store
            .scan_leads(&s, None, limits.sort_cap, limits.sort_reads, self.keep)
            .await?;
        if page.next.is_some() {
            return Err(Error::field(
                "ordering",
                format!(
                    "This ordering is sorted in memory: it needs filters that narrow the list to at most {} leads (status, priority, assigned_to, source or a view do so cheaply); or order by score or created_at.",
                    limits.sort_cap
                ),
            ));
        }
        let mut leads: Vec<Lead> = page.leads.into_iter().map(|(_, l)| l).collect();
        leads.sort_by(|a, b| compare(a, b, ordering));
        let offset: usize = match &cursor {
            Some(c) => c.position.parse().map_err(|_| invalid_cursor())?,
            None => 0,
        };
        let (link, page_size) = (self.link, self.page_size);
        let end = offset.saturating_add(page_size).min(leads.len());
        let items = leads.get(offset.min(end)..end).unwrap_or_default().to_vec();
        Ok(Page {
            next: (end < leads.len()).then(|| link(end.to_string(), false)),
            previous: (offset > 0)
                .then(|| link(offset.saturating_sub(page_size).to_string(), false)),
            items,
        })
    }
}
