//! `update-scores`: a rescore of every found lead, queued or inline.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use serde_json::Value;
use uuid::Uuid;

use super::jobs::read_targets;
use super::{public_message, require_bulk, ItemResult, Outcome, IN_FLIGHT};
use crate::queue::Queues;
use crm_domain::bulk::Target;
use crm_domain::identity::Caller;
use crm_domain::lead::Lead;
use crm_domain::Error;
use crm_store::{Conflict, Store, StoreError};

async fn rescore_now(
    store: &Store,
    caller: &Caller,
    id: Uuid,
) -> (Uuid, (Outcome, Option<String>)) {
    use crate::rescoring::{rescore, Rescored};
    let outcome = match rescore(
        store,
        caller.tenant,
        id,
        None,
        &caller.user_id,
        &caller.origin,
    )
    .await
    {
        Ok(Rescored::Written { .. }) => (Outcome::Updated, None),
        Ok(Rescored::Gone) => (Outcome::NotFound, None),
        Ok(_) => (Outcome::Unchanged, None),
        Err(e) => (Outcome::Error, Some(public_message(&e))),
    };
    (id, outcome)
}

/// Writes a lead's rescore request, which the table's stream turns into a scoring request.
async fn request_rescore(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> (Uuid, (Outcome, Option<String>)) {
    let outcome = match store.request_rescore(caller.tenant, id, now).await {
        Ok(()) => (Outcome::Queued, None),
        // Deleted since it was read.
        Err(StoreError::Conflict(Conflict::Version)) => (Outcome::NotFound, None),
        Err(e) => (Outcome::Error, Some(public_message(&Error::from(e)))),
    };
    (id, outcome)
}

/// `update-scores`: asks for every found lead to be rescored now (whatever its stored
/// score): with a scoring worker deployed, by writing each lead's rescore request, which
/// the table's stream turns into a scoring request (`queued`); otherwise inline (`updated`
/// or `unchanged`). Answers `{queued_count, updated_count, results}`.
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
        let now = chrono::Utc::now();
        let ids: Vec<Uuid> = leads.iter().map(|l| l.id).collect();
        let requested: Vec<(Uuid, (Outcome, Option<String>))> = stream::iter(ids)
            .map(|id| request_rescore(store, caller, id, now))
            .buffered(IN_FLIGHT)
            .collect()
            .await;
        outcomes.extend(requested);
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
