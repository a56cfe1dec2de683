//! Lead operations: the role rules, validation, optimistic locking and audit trail around
//! the store. Handlers call these and only map the result to a response.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::config::ListLimits;
use crate::queue::{self, Queues, ScoreRequest};
use crate::sources::{self, Resolved};
use crate::tags;
use crm_domain::cursor::{Cursor, CursorCodec, Page};
use crm_domain::filters::{LeadQuery, OrderField, Ordering, View};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::{Lead, LeadInput, WriteMode};
use crm_domain::scoring;
use crm_domain::search;
use crm_domain::tenant::TenantId;
use crm_domain::validate::{Choice, Patch};
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::{AuditAction, AuditEntry, Conflict, IndexScan, Store, StoreError};

pub const EMAIL_TAKEN: &str = "lead with this email already exists.";
/// Attempts at a read-modify-write when no `If-Match` pins the version. Each lost race
/// waits a little (with jitter, so racing writers spread out) before reading again.
const UPDATE_ATTEMPTS: u32 = 10;

async fn back_off(attempt: u32) {
    let jitter = (Uuid::new_v4().as_u128() % 10) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(
        5 * u64::from(attempt) + jitter,
    ))
    .await;
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Conflict(Conflict::Email) => Error::field("email", EMAIL_TAKEN),
        StoreError::Conflict(Conflict::Source) => {
            Error::field("source_id", "The source was deleted; choose another.")
        }
        StoreError::Conflict(Conflict::Tag) => {
            Error::field("tag_ids", "A tag was deleted meanwhile; choose again.")
        }
        StoreError::Conflict(Conflict::Version) => Error::PreconditionFailed(
            "The lead was changed by another request; fetch it again.".into(),
        ),
        other => other.into(),
    }
}

/// A `user` edits only leads assigned to them or to nobody; managers and above edit any.
pub fn require_can_edit(caller: &Caller, lead: &Lead) -> Result<(), Error> {
    caller.require(Role::User)?;
    let mine_or_free = lead
        .assigned_to
        .as_deref()
        .is_none_or(|user| user == caller.user_id);
    if caller.is_at_least(Role::Manager) || mine_or_free {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "You can only edit leads assigned to you or unassigned.".into(),
        ))
    }
}

/// Assigning a lead to someone else is a manager's job; a `user` may take a lead or
/// leave it unassigned.
fn require_can_assign(caller: &Caller, assigned: &Patch<String>) -> Result<(), Error> {
    match assigned {
        Patch::Set(user) if *user != caller.user_id && !caller.is_at_least(Role::Manager) => Err(
            Error::Forbidden("Only managers and above can assign leads to other users.".into()),
        ),
        _ => Ok(()),
    }
}

/// Resolves the source a write names (one read; `None` when the write names none).
async fn resolve_source(
    store: &Store,
    caller: &Caller,
    body: &Map<String, Value>,
    input: &LeadInput,
) -> Result<Option<Resolved>, Error> {
    match &input.source {
        Patch::Set(reference) => {
            let field = reference.field(body);
            Ok(Some(
                sources::resolve(store, caller, reference, field).await?,
            ))
        }
        _ => Ok(None),
    }
}

/// The lead's custom-field values after a write, checked against the tenant's definitions
/// (one Query; on create always, since required fields and defaults apply).
async fn custom_values(
    store: &Store,
    caller: &Caller,
    input: &LeadInput,
    current: &Lead,
    creating: bool,
) -> Result<Map<String, Value>, Error> {
    let defs = store.custom_fields(caller.tenant).await?;
    if defs.is_empty() && input.custom_fields.as_ref().is_none_or(Map::is_empty) {
        return Ok(current.custom_fields.clone());
    }
    Ok(crate::custom_fields::lead_values(
        &defs,
        input.custom_fields.as_ref(),
        &current.custom_fields,
        creating,
    )?)
}

/// Whether the write names its source by name (which may create it).
fn names_source(input: &LeadInput) -> bool {
    matches!(input.source, Patch::Set(sources::SourceRef::Name(_)))
}

/// Attempts at a write that creates a source on first use: losing that race to another
/// request means the source now exists, and the next attempt uses it.
const SOURCE_ATTEMPTS: u32 = 3;

/// Creates a lead and asks for its first score (the lead starts at 0 until the scoring
/// worker has run, a second or so later).
pub async fn create(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    body: &Map<String, Value>,
) -> Result<Lead, Error> {
    caller.require(Role::User)?;
    let input = LeadInput::parse(body, WriteMode::Create)?;
    require_can_assign(caller, &input.assigned_to)?;
    if let Some(ids) = &input.tag_ids {
        tags::require_existing(store, caller.tenant, ids).await?;
    }
    for _ in 0..SOURCE_ATTEMPTS {
        let source = resolve_source(store, caller, body, &input).await?;
        let now = Utc::now();
        let mut lead = Lead::create(caller.tenant, input.clone(), &caller.user_id, now);
        if let Some(source) = &source {
            lead.set_source(Some(source.id_and_name()));
        }
        lead.custom_fields = custom_values(store, caller, &input, &lead, true).await?;
        let audit = AuditEntry::new(
            lead.id,
            AuditAction::Create,
            &caller.user_id,
            now,
            Lead::diff(None, Some(&lead)),
        );
        let new_source = source.as_ref().and_then(Resolved::new_source);
        match store.create_lead_with(&lead, &audit, new_source).await {
            Ok(()) => {
                queues
                    .request_score(&ScoreRequest::new(&lead, queue::reason::CREATED))
                    .await;
                return Ok(lead);
            }
            Err(StoreError::Conflict(Conflict::Name)) => continue,
            // A source named by name was deleted meanwhile: the next attempt creates it.
            Err(StoreError::Conflict(Conflict::Source)) if names_source(&input) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead's source is being created by other requests; try again.".into(),
    ))
}

pub async fn get(store: &Store, caller: &Caller, id: Uuid) -> Result<Lead, Error> {
    store
        .get_lead(caller.tenant, id)
        .await?
        .ok_or(Error::NotFound)
}

/// A lead before and after a change. When the change altered nothing, nothing was written
/// and both are the stored lead.
#[derive(Debug)]
pub struct Modified {
    pub before: Lead,
    pub after: Lead,
}

impl Modified {
    pub fn changed(&self) -> bool {
        self.before.version != self.after.version
    }
}

/// Who changes a lead and how the audit trail names the change.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub tenant: TenantId,
    pub user_id: &'a str,
    pub action: AuditAction,
}

/// The read-modify-write every lead change goes through: read the lead (strongly
/// consistent; or start from `first`, a copy just read, e.g. by a batch read), let
/// `change` edit a copy or refuse, and write it back in one transaction (with its audit
/// entry, index keys and counters) if nobody changed it in between.
///
/// With `if_match` the write applies only to that version (else 412). Without it, a lost
/// race reads again and re-applies `change` to the newer version, so concurrent changes to
/// different fields are all kept. `change` sees the stored lead and the copy to edit, and
/// may be called several times; role checks belong in it, since they depend on the lead.
pub async fn modify<F>(
    store: &Store,
    actor: Actor<'_>,
    id: Uuid,
    if_match: Option<u64>,
    first: Option<Lead>,
    mut change: F,
) -> Result<Modified, Error>
where
    F: FnMut(&Lead, &mut Lead, DateTime<Utc>) -> Result<(), Error>,
{
    let mut first = first.filter(|lead| lead.id == id && lead.tenant_id == actor.tenant);
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let before = match first.take() {
            Some(lead) => lead,
            None => store
                .get_lead(actor.tenant, id)
                .await?
                .ok_or(Error::NotFound)?,
        };
        let now = Utc::now();
        let mut after = before.clone();
        change(&before, &mut after, now)?;
        if if_match.is_some_and(|v| v != before.version) {
            return Err(stale(before.version));
        }
        let changes = Lead::diff(Some(&before), Some(&after));
        if changes.is_empty() {
            return Ok(Modified {
                after: before.clone(),
                before,
            });
        }
        after.version = before.version + 1;
        after.updated_at = now;
        let audit = AuditEntry::new(id, actor.action, actor.user_id, now, changes);
        let logged = crate::activities::for_lead_change(&before, &after, actor.user_id, now);
        match store
            .update_lead_logged(&before, &after, &audit, None, &logged)
            .await
        {
            Ok(()) => return Ok(Modified { before, after }),
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

/// A change by a signed-in user: the lead's edit rule applies before `change` runs.
pub async fn modify_as_caller<F>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
    first: Option<Lead>,
    mut change: F,
) -> Result<Modified, Error>
where
    F: FnMut(&Lead, &mut Lead, DateTime<Utc>) -> Result<(), Error>,
{
    caller.require(Role::User)?;
    let actor = Actor {
        tenant: caller.tenant,
        user_id: &caller.user_id,
        action: AuditAction::Update,
    };
    modify(store, actor, id, if_match, first, |before, after, now| {
        require_can_edit(caller, before)?;
        change(before, after, now)
    })
    .await
}

/// Updates a lead from a PUT or PATCH body, and asks for a rescore when a field the score
/// reads changed. The same read-modify-write as [`modify`], with two more steps per
/// attempt that need the store: resolving a source named by name (created in the lead's
/// transaction on first use; a lost race to create it retries with the winner's) and
/// checking custom-field values against the tenant's definitions.
pub async fn update(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    id: Uuid,
    body: &Map<String, Value>,
    mode: WriteMode,
    if_match: Option<u64>,
) -> Result<Modified, Error> {
    caller.require(Role::User)?;
    let mut input = None;
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let before = get(store, caller, id).await?;
        require_can_edit(caller, &before)?;
        // Parsed after the first read, so a missing or forbidden lead answers 404/403
        // before the body's problems do; kept across attempts.
        let input = match &input {
            Some(input) => input,
            None => {
                let parsed = LeadInput::parse(body, mode)?;
                if let Some(ids) = &parsed.tag_ids {
                    tags::require_existing(store, caller.tenant, ids).await?;
                }
                input.insert(parsed)
            }
        };
        require_can_assign(caller, &input.assigned_to)?;
        if if_match.is_some_and(|v| v != before.version) {
            return Err(stale(before.version));
        }
        let now = Utc::now();
        let source = resolve_source(store, caller, body, input).await?;
        let mut after = before.clone();
        after.apply(input.clone(), now);
        if let Some(source) = &source {
            after.set_source(Some(source.id_and_name()));
        }
        if input.custom_fields.is_some() {
            after.custom_fields = custom_values(store, caller, input, &before, false).await?;
        }
        let changes = Lead::diff(Some(&before), Some(&after));
        if changes.is_empty() {
            return Ok(Modified {
                after: before.clone(),
                before,
            });
        }
        after.version = before.version + 1;
        let audit = AuditEntry::new(id, AuditAction::Update, &caller.user_id, now, changes);
        let new_source = source.as_ref().and_then(Resolved::new_source);
        let logged = crate::activities::for_lead_change(&before, &after, &caller.user_id, now);
        match store
            .update_lead_logged(&before, &after, &audit, new_source, &logged)
            .await
        {
            Ok(()) => {
                let modified = Modified { before, after };
                rescore_if_needed(queues, &modified).await;
                return Ok(modified);
            }
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            // Another request created the named source first: use it on the next attempt.
            Err(StoreError::Conflict(Conflict::Name)) => continue,
            Err(StoreError::Conflict(Conflict::Source)) if names_source(input) => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

/// Sends a scoring request when a change touched what the score depends on. Every path
/// that changes a lead for a user calls this after its write.
pub async fn rescore_if_needed(queues: &Queues, modified: &Modified) {
    if modified.changed() && scoring::is_scored_field_change(&modified.before, &modified.after) {
        queues
            .request_score(&ScoreRequest::new(&modified.after, queue::reason::UPDATED))
            .await;
    }
}

fn stale(current: u64) -> Error {
    Error::PreconditionFailed(format!(
        "The lead has changed: If-Match does not match the current version \"{current}\"."
    ))
}

/// Deletes a lead (admins and owners). `if_match` pins the version as for updates.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<(), Error> {
    if !caller.is_at_least(Role::Admin) {
        return Err(Error::forbidden());
    }
    for attempt in 0..UPDATE_ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let lead = get(store, caller, id).await?;
        if if_match.is_some_and(|v| v != lead.version) {
            return Err(stale(lead.version));
        }
        let now = Utc::now();
        let audit = AuditEntry::new(
            id,
            AuditAction::Delete,
            &caller.user_id,
            now,
            Lead::diff(Some(&lead), None),
        );
        match store.delete_lead(&lead, &audit).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(Conflict::Version)) if if_match.is_none() => continue,
            Err(e) => return Err(store_error(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

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
    let resolved;
    let query = if query.source.is_empty() && query.tags.is_empty() {
        query
    } else {
        // The indexes and the match work on ids; names are looked up (one read each).
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
        resolved = q;
        &resolved
    };
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
    let keep = |lead: &Lead| query.matches(lead);
    match plan(query, tenant) {
        Access::Index(mut s) => {
            let (after, backwards) = match &cursor {
                Some(c) => (Some(c.position.clone()), c.backwards),
                None => (None, false),
            };
            if backwards {
                s.descending = !s.descending;
            }
            let page = store
                .scan_leads(&s, after.as_deref(), page_size, limits.read_budget, &keep)
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
            let previous = if cursor.is_some() {
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
        Access::Sorted(s) => {
            let page = store
                .scan_leads(&s, None, limits.sort_cap, limits.sort_reads, &keep)
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
            leads.sort_by(|a, b| compare(a, b, &query.ordering));
            let offset: usize = match &cursor {
                Some(c) => c.position.parse().map_err(|_| invalid_cursor())?,
                None => 0,
            };
            let end = offset.saturating_add(page_size).min(leads.len());
            let items = leads.get(offset.min(end)..end).unwrap_or_default().to_vec();
            Ok(Page {
                next: (end < leads.len()).then(|| link(end.to_string(), false)),
                previous: (offset > 0)
                    .then(|| link(offset.saturating_sub(page_size).to_string(), false)),
                items,
            })
        }
        Access::Search(term) => {
            search_page(
                store,
                SearchRequest {
                    tenant,
                    query,
                    term: &term,
                    page_size,
                    read_budget: limits.read_budget,
                    after: cursor.map(|c| c.position),
                },
                link,
            )
            .await
        }
    }
}

/// Search: walks the tokens that start with the driving term in token order (so whole-word
/// hits come before longer words), fetches those leads, and keeps the ones that pass every
/// term and filter. A lead is served at its first matching token only.
/// One page of a search, from `after` (the token position a cursor recorded).
struct SearchRequest<'a> {
    tenant: TenantId,
    query: &'a LeadQuery,
    term: &'a str,
    page_size: usize,
    read_budget: usize,
    after: Option<String>,
}

async fn search_page(
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
    let mut after = after;
    let mut kept: Vec<(String, Lead)> = Vec::new();
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
            .get_leads(tenant, &ids)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect();
        for (sk, id) in hits {
            after = Some(sk.clone());
            let Some(lead) = leads.get(&id) else { continue };
            let token = sk.rsplit_once('#').map_or("", |(t, _)| t);
            let first = search::tokens(lead)
                .into_iter()
                .find(|t| t.starts_with(term));
            if first.as_deref() != Some(token) || !query.matches(lead) {
                continue;
            }
            kept.push((sk, lead.clone()));
            if kept.len() > page_size {
                kept.truncate(page_size);
                let next = kept.last().map(|(k, _)| link(k.clone(), false));
                return Ok(ranked(kept, query, next));
            }
        }
        if !more {
            return Ok(ranked(kept, query, None));
        }
        if read >= read_budget {
            let next = after.map(|k| link(k, false));
            return Ok(ranked(kept, query, next));
        }
    }
}

/// Within a page: more whole-word hits first, then higher score.
fn ranked(rows: Vec<(String, Lead)>, query: &LeadQuery, next: Option<String>) -> Page<Lead> {
    let mut items: Vec<Lead> = rows.into_iter().map(|(_, l)| l).collect();
    items.sort_by_key(|l| {
        (
            std::cmp::Reverse(search::rank(l, &query.search)),
            std::cmp::Reverse(l.score),
        )
    });
    Page {
        items,
        next,
        previous: None,
    }
}

/// The dashboard: one read of the tenant's counters, and one of the top sources' names.
pub async fn dashboard(store: &Store, caller: &Caller) -> Result<Value, Error> {
    let counters = store.stats(caller.tenant).await?;
    let mut body = crm_domain::stats::dashboard(&counters, Utc::now());
    let ids: Vec<Uuid> = body["top_sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str()?.parse().ok())
        .collect();
    if !ids.is_empty() {
        let names: HashMap<String, String> = store
            .get_sources(caller.tenant, &ids)
            .await?
            .into_iter()
            .map(|s| (s.id.to_string(), s.name))
            .collect();
        for top in body["top_sources"].as_array_mut().into_iter().flatten() {
            let name = top["id"].as_str().and_then(|id| names.get(id)).cloned();
            top["name"] = json!(name);
        }
    }
    Ok(body)
}

/// What lead responses show of other records: their sources under their current names
/// (a source may have been renamed since the lead was written) and their tags.
#[derive(Default)]
pub struct Related {
    tags: HashMap<String, Value>,
}

impl Related {
    /// Loads the sources and tags the leads point at (one batch read of each) and brings
    /// the leads' source names up to date.
    pub async fn load(store: &Store, tenant: TenantId, leads: &mut [Lead]) -> Result<Self, Error> {
        let source_ids: Vec<Uuid> = leads.iter().filter_map(|l| l.source_id).collect();
        let tag_ids: Vec<Uuid> = leads
            .iter()
            .flat_map(|l| l.tag_ids.iter().filter_map(|t| t.parse().ok()))
            .collect();
        let (found_sources, found_tags) = futures::future::try_join(
            async {
                if source_ids.is_empty() {
                    Ok(Vec::new())
                } else {
                    store.get_sources(tenant, &source_ids).await
                }
            },
            async {
                if tag_ids.is_empty() {
                    Ok(Vec::new())
                } else {
                    store.get_tags(tenant, &tag_ids).await
                }
            },
        )
        .await?;
        let names: HashMap<Uuid, String> =
            found_sources.into_iter().map(|s| (s.id, s.name)).collect();
        for lead in leads.iter_mut() {
            if let Some(name) = lead.source_id.and_then(|id| names.get(&id)) {
                lead.source = Some(name.clone());
            }
        }
        Ok(Self {
            tags: found_tags
                .into_iter()
                .map(|t| (t.id.to_string(), t.summary()))
                .collect(),
        })
    }

    fn tags_of(&self, lead: &Lead) -> Value {
        Value::Array(
            lead.tag_ids
                .iter()
                .filter_map(|id| self.tags.get(id).cloned())
                .collect(),
        )
    }

    /// The lead's detail shape with its tags.
    pub fn detail(&self, lead: &Lead, now: chrono::DateTime<Utc>) -> Value {
        let mut body = lead.detail(now);
        body["tags"] = self.tags_of(lead);
        body
    }

    /// The lead's list-row shape with its tags.
    pub fn row(&self, lead: &Lead, now: chrono::DateTime<Utc>) -> Value {
        let mut body = lead.row(now);
        body["tags"] = self.tags_of(lead);
        body
    }
}

/// Activities a lead's detail shows (the original's `recent_activities`).
pub const RECENT_ACTIVITIES: usize = 10;
/// Notes a lead's detail shows under `lead_notes`, newest first; `leads/{id}/notes/` pages
/// through all of them.
pub const DETAIL_NOTES: usize = 20;

/// A lead's recent activities and the latest notes the caller may see, for its detail
/// (two Queries of the lead's own index partitions, bounded).
pub async fn detail_extras(
    store: &Store,
    caller: &Caller,
    lead: Uuid,
) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let t = caller.tenant;
    let newest = |index: LeadIndex, partition: String| IndexScan {
        index,
        partitions: vec![partition],
        lo: None,
        hi: None,
        descending: true,
    };
    let activities = newest(LeadIndex::Score, keys::lead_activities_partition(t, lead));
    let notes = newest(LeadIndex::Score, keys::lead_notes_partition(t, lead));
    let all = |_: &crate::activities::Activity| true;
    let visible = |n: &crate::notes::Note| n.visible_to(caller);
    let ((activities, _), (notes, _)) = futures::future::try_join(
        store.scan_records(
            &activities,
            None,
            RECENT_ACTIVITIES,
            RECENT_ACTIVITIES,
            &all,
        ),
        store.scan_records(&notes, None, DETAIL_NOTES, DETAIL_NOTES * 5, &visible),
    )
    .await?;
    Ok((
        activities.iter().map(|(_, a)| a.json()).collect(),
        notes.iter().map(|(_, n)| n.json()).collect(),
    ))
}
