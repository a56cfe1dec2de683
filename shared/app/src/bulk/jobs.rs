//! The work of a bulk request: each found lead's change through the single-lead
//! read-modify-write, [`IN_FLIGHT`] at a time, each outcome reported in request order.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use uuid::Uuid;

use super::{public_message, ItemResult, Outcome, Report, IN_FLIGHT, THROTTLE_ATTEMPTS};
use crate::leads;
use crm_domain::bulk::{TagChange, Target};
use crm_domain::identity::Caller;
use crm_domain::lead::{Lead, LeadInput};
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::Store;

async fn pause(attempt: u32) {
    let jitter = (Uuid::new_v4().as_u128() % 50) as u64;
    let base = (25u64 << attempt.min(5)).min(800);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}

/// One lead's change through the single-lead read-modify-write, starting from the copy
/// the batch read returned.
async fn write_one(
    store: &Store,
    caller: &Caller,
    lead: Lead,
    edit: Edit<'_>,
) -> (Outcome, Option<String>) {
    for attempt in 0..THROTTLE_ATTEMPTS {
        if attempt > 0 {
            pause(attempt).await;
        }
        let result =
            leads::modify_in_bulk(store, caller, lead.id, Some(lead.clone()), |_, l, now| {
                edit.apply(l, now)
            })
            .await;
        return match result {
            Ok(modified) => {
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
pub(super) enum Job {
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
pub(super) async fn read_targets(
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

async fn do_job(store: &Store, caller: &Caller, job: Job) -> ItemResult {
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
            let (status, error) = write_one(store, caller, *lead, edit).await;
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

/// Runs the jobs of one bulk operation (`bulk update`, ...) and logs what it came to.
pub(super) async fn run(store: &Store, caller: &Caller, jobs: Vec<Job>, operation: &str) -> Report {
    let requested = jobs.len();
    let work: Vec<_> = jobs
        .into_iter()
        .map(|job| do_job(store, caller, job))
        .collect();
    // `buffered` keeps request order while up to IN_FLIGHT writes run.
    let results: Vec<ItemResult> = stream::iter(work).buffered(IN_FLIGHT).collect().await;
    let updated_count = results
        .iter()
        .filter(|r| r.status == Outcome::Updated)
        .count();
    tracing::info!(requested, updated = updated_count, "{operation}");
    Report {
        updated_count,
        results,
    }
}
