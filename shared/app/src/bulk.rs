//! Bulk operations on leads: one field change (`bulk-update`) or an assignment
//! (`bulk-assign`, to one user or spread over several) applied to up to [`MAX_IDS`] leads.
//!
//! Each lead goes through the same read-modify-write as a single PATCH
//! ([`crate::leads::modify`]): one transaction per lead with its audit entry, index entries
//! and dashboard counters, conditioned on the version read, re-read and re-applied on a
//! lost race. So a bulk operation is all-or-nothing per lead, not for the whole batch: the
//! response says what happened to each id, in request order.
//!
//! Cost: the leads are read with `BatchGetItem` (one round trip per 100 ids), then written
//! [`IN_FLIGHT`] at a time, one `TransactWriteItems` each, exactly what the same PATCHes
//! would write. Leads that would not change are not written.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::leads;
use crate::queue::{Queues, ScoreRequest};
use crate::sources::{self, Resolved, SourceRef};
use crm_domain::choice_enum;
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::{Lead, LeadInput, LeadStatus, WriteMode};
use crm_domain::tenant::TenantId;
use crm_domain::validate::{Choice, FieldErrors, Input, Patch, NOT_BLANK, NOT_NULL, REQUIRED};
use crm_domain::Error;
use crm_store::{Store, StoreError};

/// Ids per request: bounds a request's work (about 1,000 transactions) well inside a
/// Lambda's time limit and its response well inside the 6 MB payload limit.
pub const MAX_IDS: usize = 1000;
/// Users a balanced assignment spreads over.
pub const MAX_ASSIGNEES: usize = 100;
/// Lead writes (and assignee counts) in flight at once: enough to finish 1,000 leads in a
/// second or two, few enough not to throttle the tenant's partitions. Every lead
/// transaction also adds to the tenant's one counters item, where concurrent transactions
/// can cancel each other (`TransactionConflict`); those are retried per lead.
pub const IN_FLIGHT: usize = 16;
/// Items a least-loaded count reads per assignee at most (see [`Store::count_assigned`]).
pub const COUNT_CAP: usize = 10_000;
/// Tries per lead when its transaction is throttled or cancelled by a concurrent one. In
/// DynamoDB every lead transaction of a tenant also updates the tenant's counters item, and
/// transactions touching one item at the same time cancel each other
/// (`TransactionConflict`), so with 16 in flight some of them lose and must go again; the
/// backoff (doubling from 50 ms, at most 800 ms, with jitter) spreads them out.
const THROTTLE_ATTEMPTS: u32 = 8;

/// The fields `bulk-update` changes; `assigned_to_id` and `source_id` are the original's
/// names for `assigned_to` and `source`. `tag_ids` replaces each lead's tags, as the
/// original did (`bulk-tag` adds and removes instead).
const UPDATE_FIELDS: [&str; 7] = [
    "status",
    "priority",
    "assigned_to",
    "assigned_to_id",
    "source",
    "source_id",
    "tag_ids",
];

/// Bulk operations are a manager's job (the original's role rules).
pub fn require_bulk(caller: &Caller) -> Result<(), Error> {
    if caller.is_at_least(Role::Manager) {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "Only managers and above can run bulk operations.".into(),
        ))
    }
}

/// One requested id, in request order. `id` is `None` for a string that is not a UUID: it
/// cannot name a lead, so it is reported as `not_found`, as a single-lead path answers 404.
#[derive(Clone, Debug)]
pub struct Target {
    pub raw: String,
    pub id: Option<Uuid>,
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A JSON list field with DRF's `ListField` messages; `None` after recording an error.
fn list<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    max: usize,
    errors: &mut FieldErrors,
) -> Option<&'a [Value]> {
    match body.get(field) {
        None => errors.add(field, REQUIRED),
        Some(Value::Null) => errors.add(field, NOT_NULL),
        Some(Value::Array(items)) if items.is_empty() => {
            errors.add(field, "This list may not be empty.")
        }
        Some(Value::Array(items)) if items.len() > max => errors.add(
            field,
            format!("Ensure this field has no more than {max} elements."),
        ),
        Some(Value::Array(items)) => return Some(items),
        Some(other) => errors.add(
            field,
            format!(
                "Expected a list of items but got type \"{}\".",
                json_type(other)
            ),
        ),
    }
    None
}

/// `lead_ids`: 1 to [`MAX_IDS`] strings (counted as sent), duplicates dropped (the same
/// UUID in any spelling counts once, at its first position).
fn parse_ids(body: &Map<String, Value>, errors: &mut FieldErrors) -> Vec<Target> {
    let Some(items) = list(body, "lead_ids", MAX_IDS, errors) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(raw) = item else {
            errors.add(
                "lead_ids",
                format!("Each lead id must be a string, not {}.", json_type(item)),
            );
            return Vec::new();
        };
        let raw = raw.trim();
        let id = Uuid::parse_str(raw).ok();
        let shown = id.map_or_else(|| raw.to_string(), |id| id.to_string());
        if seen.insert(shown.clone()) {
            targets.push(Target { raw: shown, id });
        }
    }
    targets
}

/// The change `fields` of `body` describe, validated as a single-lead PATCH validates
/// them (same rules, same messages).
fn parse_change(
    body: &Map<String, Value>,
    fields: &[&str],
    errors: &mut FieldErrors,
) -> Option<LeadInput> {
    let subset: Map<String, Value> = fields
        .iter()
        .filter_map(|f| body.get(*f).map(|v| (f.to_string(), v.clone())))
        .collect();
    // `source_id` is read by the lead's own parsing (an id, reported under its name).
    LeadInput::parse(&subset, WriteMode::Partial)
        .map_err(|e| errors.extend(e))
        .ok()
}

/// A validated `bulk-update` request.
#[derive(Clone, Debug)]
pub struct BulkUpdate {
    pub targets: Vec<Target>,
    pub change: LeadInput,
}

/// `{lead_ids, status?, priority?, assigned_to?, source?}`; every problem is reported at
/// once, each under its field's name.
pub fn parse_update(body: &Map<String, Value>) -> Result<BulkUpdate, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    if !UPDATE_FIELDS.iter().any(|f| body.contains_key(*f)) {
        errors.add(
            "non_field_errors",
            "Provide at least one field to change: status, priority, assigned_to, source or tag_ids.",
        );
    }
    let change = parse_change(body, &UPDATE_FIELDS, &mut errors);
    errors.into_result()?;
    Ok(BulkUpdate {
        targets,
        change: change.unwrap_or_default(),
    })
}

choice_enum!(
    /// How a balanced `bulk-assign` spreads leads over its assignees.
    Strategy {
        RoundRobin = "round_robin",
        LeastLoaded = "least_loaded",
    }
);

/// Who gets the leads of a `bulk-assign`.
#[derive(Clone, Debug, PartialEq)]
pub enum Assignment {
    /// Every lead to one user, or to nobody (`null`).
    To(Option<String>),
    /// Spread over several users.
    Balanced {
        assignees: Vec<String>,
        strategy: Strategy,
    },
}

/// A validated `bulk-assign` request.
#[derive(Clone, Debug)]
pub struct BulkAssign {
    pub targets: Vec<Target>,
    pub assignment: Assignment,
}

/// `assignees`: distinct user ids, each valid as an `assigned_to` value (and not empty).
fn parse_assignees(body: &Map<String, Value>, errors: &mut FieldErrors) -> Option<Vec<String>> {
    let items = list(body, "assignees", MAX_ASSIGNEES, errors)?;
    let mut users: Vec<String> = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        let one = Map::from_iter([("assigned_to".to_string(), item.clone())]);
        match LeadInput::parse(&one, WriteMode::Partial) {
            Ok(LeadInput {
                assigned_to: Patch::Set(user),
                ..
            }) => {
                if users.contains(&user) {
                    errors.add("assignees", format!("Duplicate user \"{user}\"."));
                    ok = false;
                } else {
                    users.push(user);
                }
            }
            Ok(_) => {
                let message = if item.is_null() { NOT_NULL } else { NOT_BLANK };
                errors.add("assignees", message);
                ok = false;
            }
            Err(mut e) => {
                e.rename("assigned_to", "assignees");
                errors.extend(e);
                ok = false;
            }
        }
    }
    ok.then_some(users)
}

/// `{lead_ids, assigned_to}` or `{lead_ids, assignees, strategy?}` (round robin unless
/// `strategy` says otherwise); exactly one of `assigned_to` and `assignees`.
pub fn parse_assign(body: &Map<String, Value>) -> Result<BulkAssign, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    let single = body.contains_key("assigned_to") || body.contains_key("assigned_to_id");
    let balanced = body.contains_key("assignees");
    let mut input = Input::new(body);
    let strategy: Patch<Strategy> = input.choice("strategy", false);
    if let Err(e) = input.finish() {
        errors.extend(e);
    }
    let assignment = match (single, balanced) {
        (true, false) => {
            if !strategy.is_absent() {
                errors.add("strategy", "Only used with assignees.");
            }
            parse_change(body, &["assigned_to", "assigned_to_id"], &mut errors).map(|input| {
                match input.assigned_to {
                    Patch::Set(user) => Assignment::To(Some(user)),
                    _ => Assignment::To(None),
                }
            })
        }
        (false, true) => parse_assignees(body, &mut errors).map(|assignees| Assignment::Balanced {
            assignees,
            strategy: match strategy {
                Patch::Set(s) => s,
                _ => Strategy::RoundRobin,
            },
        }),
        _ => {
            errors.add(
                "non_field_errors",
                "Provide either assigned_to (one user) or assignees (several users), not both.",
            );
            None
        }
    };
    errors.into_result()?;
    Ok(BulkAssign {
        targets,
        assignment: assignment.unwrap_or(Assignment::To(None)),
    })
}

/// What happened to one requested id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Updated,
    /// The lead already had the values: nothing was written.
    Unchanged,
    /// No such lead in the caller's tenant (or not a UUID). Another tenant's lead is
    /// reported the same way, so a response never tells whether an id exists elsewhere.
    NotFound,
    Forbidden,
    /// The lead could not be written (throttled, a persistent race, DynamoDB trouble); it
    /// is unchanged and the request may be retried for it.
    Error,
    /// A rescore was queued (`update-scores`).
    Queued,
}

#[derive(Clone, Debug, Serialize)]
pub struct ItemResult {
    pub id: String,
    pub status: Outcome,
    /// For a balanced assignment: whom the lead was given to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `{"updated_count": n, "results": [...]}`, results in request order.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub updated_count: usize,
    pub results: Vec<ItemResult>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a report serialises")
    }
}

/// The message a client may see for a lead's failure (no internals).
fn public_message(e: &Error) -> String {
    match e {
        Error::Internal(reason) => {
            tracing::error!(error = %reason, "bulk: a lead write failed");
            "A server error occurred.".into()
        }
        Error::Unavailable(_) => "Service temporarily unavailable, try again later.".into(),
        Error::Validation(errors) => errors.messages().cloned().collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

async fn pause(attempt: u32) {
    let jitter = (Uuid::new_v4().as_u128() % 50) as u64;
    let base = (25u64 << attempt.min(5)).min(800);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// One lead's change through the single-lead read-modify-write, starting from the copy
/// the batch read returned.
async fn write_one(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    lead: Lead,
    edit: Edit<'_>,
) -> (Outcome, Option<String>) {
    for attempt in 0..THROTTLE_ATTEMPTS {
        if attempt > 0 {
            pause(attempt).await;
        }
        let result = leads::modify_as_caller(
            store,
            caller,
            lead.id,
            None,
            Some(lead.clone()),
            |_, l, now| edit.apply(l, now),
        )
        .await;
        return match result {
            Ok(modified) => {
                leads::rescore_if_needed(queues, &modified).await;
                if modified.changed() {
                    (Outcome::Updated, None)
                } else {
                    (Outcome::Unchanged, None)
                }
            }
            Err(Error::Throttled) if attempt + 1 < THROTTLE_ATTEMPTS => continue,
            Err(Error::NotFound) => (Outcome::NotFound, None),
            Err(Error::Forbidden(message)) => (Outcome::Forbidden, Some(message)),
            Err(e) => (Outcome::Error, Some(public_message(&e))),
        };
    }
    unreachable!("the last attempt returns")
}

/// `bulk-tag`'s change: tags to add and to remove, each checked to exist.
#[derive(Clone, Debug, Default)]
pub struct TagChange {
    pub add: Vec<Uuid>,
    pub remove: Vec<Uuid>,
}

/// What one lead's write changes.
#[derive(Clone, Copy)]
struct Edit<'a> {
    change: &'a LeadInput,
    source: Option<&'a (Uuid, String)>,
    tags: Option<&'a TagChange>,
}

impl Edit<'_> {
    fn apply(&self, lead: &mut Lead, now: chrono::DateTime<chrono::Utc>) -> Result<(), Error> {
        lead.apply(self.change.clone(), now);
        if let Some(source) = self.source {
            lead.set_source(Some(source.clone()));
        }
        if let Some(tags) = self.tags {
            let mut ids = lead.tag_ids.clone();
            for add in &tags.add {
                let add = add.to_string();
                if !ids.contains(&add) {
                    ids.push(add);
                }
            }
            ids.retain(|id| !tags.remove.iter().any(|r| r.to_string() == *id));
            if ids.len() > crate::tags::MAX_PER_LEAD {
                return Err(Error::field(
                    "tag_ids",
                    format!(
                        "A lead has at most {} tags; this one would have {}.",
                        crate::tags::MAX_PER_LEAD,
                        ids.len()
                    ),
                ));
            }
            lead.tag_ids = ids;
        }
        Ok(())
    }
}

/// One unit of work: a lead found in the tenant with its change, or an id that names none.
enum Job {
    // Boxed: a lead and a change are large next to a missing id.
    Write {
        lead: Box<Lead>,
        change: Box<LeadInput>,
        /// The source to set, resolved once for the whole request: `(id, name)`.
        source: Option<(Uuid, String)>,
        /// Tags to add and remove (`bulk-tag`), relative to each lead's own.
        tags: Option<std::sync::Arc<TagChange>>,
        shown: Option<String>,
    },
    Missing(String),
}

/// The found leads of `targets`, in request order, and the ids that name none.
async fn read_targets(
    store: &Store,
    tenant: TenantId,
    targets: &[Target],
) -> Result<Vec<Result<Lead, String>>, Error> {
    let ids: Vec<Uuid> = targets.iter().filter_map(|t| t.id).collect();
    let mut found: HashMap<Uuid, Lead> = store
        .get_leads(tenant, &ids)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    Ok(targets
        .iter()
        .map(|t| t.id.and_then(|id| found.remove(&id)).ok_or(t.raw.clone()))
        .collect())
}

async fn do_job(store: &Store, queues: &Queues, caller: &Caller, job: Job) -> ItemResult {
    match job {
        Job::Missing(id) => ItemResult {
            id,
            status: Outcome::NotFound,
            assigned_to: None,
            error: None,
        },
        Job::Write {
            lead,
            change,
            source,
            tags,
            shown,
        } => {
            let id = lead.id.to_string();
            let edit = Edit {
                change: &change,
                source: source.as_ref(),
                tags: tags.as_deref(),
            };
            let (status, error) = write_one(store, queues, caller, *lead, edit).await;
            ItemResult {
                id,
                assigned_to: shown
                    .filter(|_| matches!(status, Outcome::Updated | Outcome::Unchanged)),
                status,
                error,
            }
        }
    }
}

async fn run(store: &Store, queues: &Queues, caller: &Caller, jobs: Vec<Job>) -> Report {
    let work: Vec<_> = jobs
        .into_iter()
        .map(|job| do_job(store, queues, caller, job))
        .collect();
    // `buffered` keeps request order while up to IN_FLIGHT writes run.
    let results: Vec<ItemResult> = stream::iter(work).buffered(IN_FLIGHT).collect().await;
    let updated_count = results
        .iter()
        .filter(|r| r.status == Outcome::Updated)
        .count();
    Report {
        updated_count,
        results,
    }
}

/// The source a bulk update sets, resolved once: by id (400 naming the field when the
/// tenant has none such), or by name, creating the source first when it is new (as a
/// single lead write would, but once rather than in every lead's transaction).
async fn source_for_all(
    store: &Store,
    caller: &Caller,
    reference: &SourceRef,
) -> Result<(Uuid, String), Error> {
    let field = match reference {
        SourceRef::Id(_) => "source_id",
        SourceRef::Name(_) => "source",
    };
    for _ in 0..3 {
        match sources::resolve(store, caller, reference, field).await? {
            Resolved::Existing(id, name) => return Ok((id, name)),
            Resolved::New(source) => match store.create_source(&source).await {
                Ok(()) => return Ok((source.id, source.name)),
                // Created by another request meanwhile: resolve again to use it.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            },
        }
    }
    Err(Error::Conflict(
        "The source is being created by other requests; try again.".into(),
    ))
}

/// `bulk-update`: the same change to every lead.
pub async fn update(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    req: &BulkUpdate,
) -> Result<Report, Error> {
    require_bulk(caller)?;
    if let Some(ids) = &req.change.tag_ids {
        crate::tags::require_existing(store, caller.tenant, ids).await?;
    }
    let source = match &req.change.source {
        Patch::Set(reference) => Some(source_for_all(store, caller, reference).await?),
        _ => None,
    };
    let jobs = read_targets(store, caller.tenant, &req.targets)
        .await?
        .into_iter()
        .map(|found| match found {
            Ok(lead) => Job::Write {
                lead: Box::new(lead),
                change: Box::new(req.change.clone()),
                source: source.clone(),
                tags: None,
                shown: None,
            },
            Err(id) => Job::Missing(id),
        })
        .collect();
    let report = run(store, queues, caller, jobs).await;
    tracing::info!(
        requested = req.targets.len(),
        updated = report.updated_count,
        "bulk update"
    );
    Ok(report)
}

/// The statuses of the leads still being worked, which make up a user's load.
fn active_statuses() -> Vec<&'static str> {
    LeadStatus::CHOICES
        .iter()
        .filter(|(_, s)| s.is_active())
        .map(|(name, _)| *name)
        .collect()
}

/// Each assignee's active leads, from the assignee index (one count read per assignee,
/// [`IN_FLIGHT`] at a time; index reads are eventually consistent, so a write of the last
/// second may not be counted yet).
async fn active_loads(
    store: &Store,
    tenant: TenantId,
    assignees: &[String],
) -> Result<Vec<usize>, Error> {
    let statuses = active_statuses();
    let statuses = &statuses;
    let reads = assignees
        .iter()
        .map(|user| store.count_assigned(tenant, user, statuses, COUNT_CAP))
        // Collected first: a lazy map over borrowed names makes the future's type
        // higher-ranked, which axum's handler bound (Send) cannot prove.
        .collect::<Vec<_>>();
    let counts: Vec<(usize, bool)> = stream::iter(reads)
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(counts.into_iter().map(|(n, _)| n).collect())
}

/// Whom each found lead goes to. Round robin: the n-th found lead (in request order) to
/// assignee n mod k. Least loaded: each next lead to the assignee with the fewest active
/// leads, counting the leads given so far (ties go to the earlier assignee); a lead being
/// reassigned no longer counts for its current assignee.
fn distribute(
    leads: &[&Lead],
    assignees: &[String],
    strategy: Strategy,
    loads: Vec<usize>,
) -> Vec<String> {
    match strategy {
        Strategy::RoundRobin => (0..leads.len())
            .map(|n| assignees[n % assignees.len()].clone())
            .collect(),
        Strategy::LeastLoaded => {
            let mut loads = loads;
            for lead in leads {
                let current = lead
                    .assigned_to
                    .as_ref()
                    .and_then(|u| assignees.iter().position(|a| a == u));
                if let (Some(k), true) = (current, lead.status.is_active()) {
                    loads[k] = loads[k].saturating_sub(1);
                }
            }
            leads
                .iter()
                .map(|_| {
                    let (k, _) = loads
                        .iter()
                        .enumerate()
                        .min_by_key(|(k, load)| (**load, *k))
                        .expect("at least one assignee");
                    loads[k] += 1;
                    assignees[k].clone()
                })
                .collect()
        }
    }
}

/// `bulk-assign`: every lead to one user (or to nobody), or spread over several.
pub async fn assign(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    req: &BulkAssign,
) -> Result<Report, Error> {
    require_bulk(caller)?;
    let found = read_targets(store, caller.tenant, &req.targets).await?;
    let change = |user: Option<String>| LeadInput {
        assigned_to: user.map_or(Patch::Clear, Patch::Set),
        ..LeadInput::default()
    };
    let mut plan: Vec<(Option<String>, Option<String>)> = Vec::new();
    match &req.assignment {
        Assignment::To(user) => plan.resize(found.len(), (user.clone(), None)),
        Assignment::Balanced {
            assignees,
            strategy,
        } => {
            let leads: Vec<&Lead> = found.iter().filter_map(|f| f.as_ref().ok()).collect();
            let loads = match strategy {
                // Nothing to give: spare the count reads.
                Strategy::LeastLoaded if !leads.is_empty() => {
                    active_loads(store, caller.tenant, assignees).await?
                }
                _ => vec![0; assignees.len()],
            };
            let mut given = distribute(&leads, assignees, *strategy, loads).into_iter();
            for f in &found {
                let user = f.as_ref().ok().and_then(|_| given.next());
                plan.push((user.clone(), user));
            }
        }
    }
    let jobs = found
        .into_iter()
        .zip(plan)
        .map(|(found, (user, shown))| match found {
            Ok(lead) => Job::Write {
                lead: Box::new(lead),
                change: Box::new(change(user)),
                source: None,
                tags: None,
                shown,
            },
            Err(id) => Job::Missing(id),
        })
        .collect();
    let report = run(store, queues, caller, jobs).await;
    tracing::info!(
        requested = req.targets.len(),
        updated = report.updated_count,
        "bulk assign"
    );
    Ok(report)
}

/// A validated `bulk-tag` request.
#[derive(Clone, Debug)]
pub struct BulkTag {
    pub targets: Vec<Target>,
    pub change: TagChange,
}

/// Tag ids under `field`: a list of UUID strings, at most [`crate::tags::MAX_PER_LEAD`].
fn tag_list(body: &Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Vec<Uuid> {
    let Some(value) = body.get(field) else {
        return Vec::new();
    };
    let Value::Array(items) = value else {
        errors.add(
            field,
            format!(
                "Expected a list of items but got type \"{}\".",
                json_type(value)
            ),
        );
        return Vec::new();
    };
    if items.len() > crate::tags::MAX_PER_LEAD {
        errors.add(
            field,
            format!(
                "Ensure this field has no more than {} elements.",
                crate::tags::MAX_PER_LEAD
            ),
        );
        return Vec::new();
    }
    let mut ids = Vec::new();
    for item in items {
        match item.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => {
                errors.add(
                    field,
                    format!(
                        "\"{}\" is not a valid UUID.",
                        item.as_str().unwrap_or(&item.to_string())
                    ),
                );
                return Vec::new();
            }
        }
    }
    ids
}

/// `{lead_ids, add?: [tag ids], remove?: [tag ids]}`: at least one tag to add or remove,
/// none in both lists.
pub fn parse_tag(body: &Map<String, Value>) -> Result<BulkTag, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    let add = tag_list(body, "add", &mut errors);
    let remove = tag_list(body, "remove", &mut errors);
    if add.is_empty() && remove.is_empty() && !errors.has("add") && !errors.has("remove") {
        errors.add("non_field_errors", "Provide tag ids to add or to remove.");
    }
    if add.iter().any(|a| remove.contains(a)) {
        errors.add("remove", "A tag cannot be both added and removed.");
    }
    errors.into_result()?;
    Ok(BulkTag {
        targets,
        change: TagChange { add, remove },
    })
}

/// `bulk-tag`: adds and removes tags on every lead, keeping each lead's other tags. The
/// tags to add must exist in the tenant (400 naming `add`); a lead that would end with more
/// than [`crate::tags::MAX_PER_LEAD`] tags is reported as an error and left unchanged.
pub async fn tag(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    req: &BulkTag,
) -> Result<Report, Error> {
    require_bulk(caller)?;
    crate::tags::require_existing(store, caller.tenant, &req.change.add)
        .await
        .map_err(|e| match e {
            Error::Validation(mut errors) => {
                errors.rename("tag_ids", "add");
                Error::Validation(errors)
            }
            other => other,
        })?;
    let change = std::sync::Arc::new(req.change.clone());
    let jobs = read_targets(store, caller.tenant, &req.targets)
        .await?
        .into_iter()
        .map(|found| match found {
            Ok(lead) => Job::Write {
                lead: Box::new(lead),
                change: Box::new(LeadInput::default()),
                source: None,
                tags: Some(change.clone()),
                shown: None,
            },
            Err(id) => Job::Missing(id),
        })
        .collect();
    let report = run(store, queues, caller, jobs).await;
    tracing::info!(
        requested = req.targets.len(),
        updated = report.updated_count,
        "bulk tag"
    );
    Ok(report)
}

/// `{lead_ids}` for `update-scores`.
pub fn parse_ids_only(body: &Map<String, Value>) -> Result<Vec<Target>, Error> {
    let mut errors = FieldErrors::default();
    let targets = parse_ids(body, &mut errors);
    errors.into_result()?;
    Ok(targets)
}

async fn rescore_now(
    store: &Store,
    caller: &Caller,
    id: Uuid,
) -> (Uuid, (Outcome, Option<String>)) {
    use crate::rescoring::{rescore, Rescored};
    let outcome = match rescore(store, caller.tenant, id, None, &caller.user_id).await {
        Ok(Rescored::Written { .. }) => (Outcome::Updated, None),
        Ok(Rescored::Gone) => (Outcome::NotFound, None),
        Ok(_) => (Outcome::Unchanged, None),
        Err(e) => (Outcome::Error, Some(public_message(&e))),
    };
    (id, outcome)
}

/// `update-scores`: asks for every found lead to be rescored now (whatever its stored
/// score), through the scoring queue (`queued`), or inline when there is none (`updated` or
/// `unchanged`). Answers `{queued_count, updated_count, results}`.
pub async fn update_scores(
    store: &Store,
    queues: &Queues,
    caller: &Caller,
    targets: &[Target],
) -> Result<Value, Error> {
    require_bulk(caller)?;
    let found = read_targets(store, caller.tenant, targets).await?;
    let leads: Vec<&Lead> = found.iter().filter_map(|f| f.as_ref().ok()).collect();
    let mut outcomes: HashMap<Uuid, (Outcome, Option<String>)> = HashMap::new();
    if queues.scoring_enabled() {
        let requests: Vec<ScoreRequest> = leads
            .iter()
            .map(|l| ScoreRequest::new(l, crate::queue::reason::MANUAL))
            .collect();
        let failed = queues.request_scores(&requests).await;
        for lead in &leads {
            let outcome = if failed.contains(&lead.id) {
                (
                    Outcome::Error,
                    Some("Could not queue; try again.".to_string()),
                )
            } else {
                (Outcome::Queued, None)
            };
            outcomes.insert(lead.id, outcome);
        }
    } else {
        let ids: Vec<Uuid> = leads.iter().map(|l| l.id).collect();
        let scored: Vec<(Uuid, (Outcome, Option<String>))> = stream::iter(ids)
            .map(|id| rescore_now(store, caller, id))
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        outcomes.extend(scored);
    }
    let results: Vec<ItemResult> = found
        .into_iter()
        .map(|f| match f {
            Ok(lead) => {
                let (status, error) = outcomes.remove(&lead.id).unwrap_or((Outcome::Error, None));
                ItemResult {
                    id: lead.id.to_string(),
                    status,
                    assigned_to: None,
                    error,
                }
            }
            Err(id) => ItemResult {
                id,
                status: Outcome::NotFound,
                assigned_to: None,
                error: None,
            },
        })
        .collect();
    let count = |o: Outcome| results.iter().filter(|r| r.status == o).count();
    Ok(serde_json::json!({
        "queued_count": count(Outcome::Queued),
        "updated_count": count(Outcome::Updated),
        "results": results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn errors(r: Result<impl std::fmt::Debug, Error>) -> Value {
        match r {
            Err(Error::Validation(e)) => serde_json::to_value(e).unwrap(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_counted_as_sent_and_deduplicated() {
        let id = Uuid::new_v4();
        let upper = id.to_string().to_uppercase();
        let req = parse_update(&body(
            json!({"lead_ids": [id.to_string(), upper, "nope", "nope"], "status": "lost"}),
        ))
        .unwrap();
        let shown: Vec<&str> = req.targets.iter().map(|t| t.raw.as_str()).collect();
        assert_eq!(shown, vec![id.to_string().as_str(), "nope"]);
        let many: Vec<String> = (0..=MAX_IDS).map(|_| id.to_string()).collect();
        assert_eq!(
            errors(parse_update(&body(
                json!({"lead_ids": many, "status": "lost"})
            ))),
            json!({"lead_ids": ["Ensure this field has no more than 1000 elements."]})
        );
        assert_eq!(
            errors(parse_update(&body(
                json!({"lead_ids": "x", "status": "lost"})
            ))),
            json!({"lead_ids": ["Expected a list of items but got type \"str\"."]})
        );
    }

    #[test]
    fn fields_are_validated_as_a_patch() {
        let ids = json!([Uuid::new_v4().to_string()]);
        let single = LeadInput::parse(
            &body(json!({"status": "won", "priority": null})),
            WriteMode::Partial,
        )
        .unwrap_err();
        let bulk = errors(parse_update(&body(
            json!({"lead_ids": ids, "status": "won", "priority": null}),
        )));
        assert_eq!(bulk, serde_json::to_value(single).unwrap());
        assert!(errors(parse_update(&body(
            json!({"lead_ids": ids, "source_id": "not-an-id"})
        )))
        .get("source_id")
        .is_some());
        assert!(errors(parse_update(&body(json!({"lead_ids": ids}))))
            .get("non_field_errors")
            .is_some());
    }

    #[test]
    fn assignment_needs_exactly_one_target() {
        let ids = json!([Uuid::new_v4().to_string()]);
        for b in [
            json!({"lead_ids": ids}),
            json!({"lead_ids": ids, "assigned_to": "a", "assignees": ["b"]}),
        ] {
            assert!(errors(parse_assign(&body(b)))
                .get("non_field_errors")
                .is_some());
        }
        let req = parse_assign(&body(json!({"lead_ids": ids, "assigned_to_id": "u1"}))).unwrap();
        assert_eq!(req.assignment, Assignment::To(Some("u1".into())));
        let req = parse_assign(&body(json!({"lead_ids": ids, "assigned_to": null}))).unwrap();
        assert_eq!(req.assignment, Assignment::To(None));
        assert_eq!(
            errors(parse_assign(&body(
                json!({"lead_ids": ids, "assignees": ["a", "a", ""], "strategy": "random"})
            ))),
            json!({
                "assignees": ["Duplicate user \"a\".", "This field may not be blank."],
                "strategy": ["\"random\" is not a valid choice. Valid choices: round_robin, least_loaded."],
            })
        );
    }

    fn lead(assigned: Option<&str>) -> Lead {
        let input = LeadInput::parse(
            &body(
                json!({"first_name": "A", "last_name": "B", "email": "a@b.example",
                         "assigned_to": assigned}),
            ),
            WriteMode::Create,
        )
        .unwrap();
        Lead::create(
            TenantId::from_uuid(Uuid::new_v4()),
            input,
            "u",
            chrono::Utc::now(),
        )
    }

    #[test]
    fn least_loaded_fills_the_emptiest_first() {
        let users: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let leads: Vec<Lead> = (0..6).map(|_| lead(None)).collect();
        let refs: Vec<&Lead> = leads.iter().collect();
        let given = distribute(&refs, &users, Strategy::LeastLoaded, vec![3, 0, 1]);
        assert_eq!(given, ["b", "b", "c", "b", "c", "a"]);
        // A lead already with "a" no longer weighs on "a" while it is being redistributed.
        let leads = [lead(Some("a"))];
        let given = distribute(&[&leads[0]], &users, Strategy::LeastLoaded, vec![1, 1, 1]);
        assert_eq!(given, ["a"]);
        let given = distribute(&refs, &users, Strategy::RoundRobin, vec![0, 0, 0]);
        assert_eq!(given, ["a", "b", "c", "a", "b", "c"]);
    }
}
