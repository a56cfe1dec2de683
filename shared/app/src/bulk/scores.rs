//! `update-scores`: a rescore of every found lead, queued or inline.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use serde_json::Value;
use uuid::Uuid;

use super::jobs::read_targets;
use super::{public_message, require_bulk, ItemResult, Outcome, IN_FLIGHT};
use crate::queue::{Queues, ScoreRequest};
use crm_domain::bulk::Target;
use crm_domain::identity::Caller;
use crm_domain::lead::Lead;
use crm_domain::Error;
use crm_store::Store;

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
