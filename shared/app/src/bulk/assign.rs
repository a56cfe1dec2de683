//! `bulk-assign`: every lead to one user (or nobody), or spread over several by round
//! robin or by their current loads.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::jobs::{read_targets, run, Job};
use super::{require_bulk, Report, COUNT_CAP, IN_FLIGHT};
use crm_domain::bulk::{Assignment, BulkAssign, Strategy, MAX_ASSIGNEES};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::{Lead, LeadInput, LeadStatus};
use crm_domain::tenant::TenantId;
use crm_domain::validate::{Choice, Patch};
use crm_domain::Error;
use crm_store::Store;

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
pub async fn assign(store: &Store, caller: &Caller, req: &BulkAssign) -> Result<Report, Error> {
    require_bulk(caller)?;
    let team;
    let (assignment, checked) = match &req.assignment {
        Assignment::Team { strategy } => {
            team = Assignment::Balanced {
                assignees: team_members(store, caller.tenant).await?,
                strategy: *strategy,
            };
            (&team, true)
        }
        other => (other, false),
    };
    let (named, field): (Vec<&str>, &str) = match assignment {
        Assignment::To(user) => (user.iter().map(String::as_str).collect(), "assigned_to"),
        Assignment::Balanced { assignees, .. } => {
            (assignees.iter().map(String::as_str).collect(), "assignees")
        }
        Assignment::Team { .. } => (Vec::new(), "assignees"),
    };
    if !checked {
        crate::accounts::members::require_assignable(store, caller.tenant, &named, field).await?;
    }
    let found = read_targets(store, caller.tenant, &req.targets).await?;
    let change = |user: Option<String>| LeadInput {
        assigned_to: user.map_or(Patch::Clear, Patch::Set),
        ..LeadInput::default()
    };
    let mut plan: Vec<(Option<String>, Option<String>)> = Vec::new();
    match assignment {
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
        Assignment::Team { .. } => {
            return Err(Error::Internal(
                "bulk-assign: the team was not resolved to its members".into(),
            ))
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
    Ok(run(store, caller, jobs, "bulk assign").await)
}

/// The tenant's team for a `bulk-assign` that names only a strategy: its active members
/// who work leads (every role but `readonly`), at most [`MAX_ASSIGNEES`], in the order the
/// members list shows them. A tenant without such members is a 400 on `assignees`.
async fn team_members(store: &Store, tenant: TenantId) -> Result<Vec<String>, Error> {
    let (members, _) = store.list_members(tenant, None, MAX_ASSIGNEES).await?;
    let team: Vec<String> = members
        .into_iter()
        .map(|(_, m)| m)
        .filter(|m| m.is_active && m.role.at_least(Role::User))
        .map(|m| m.user_id.to_string())
        .collect();
    if team.is_empty() {
        return Err(Error::field(
            "assignees",
            "The tenant has no active members to assign to: name the assignees.",
        ));
    }
    Ok(team)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::lead::WriteMode;
    use serde_json::{json, Map, Value};
    use uuid::Uuid;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
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
