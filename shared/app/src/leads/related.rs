//! What lead responses show of other records (sources, tags, recent activities and
//! notes), and the dashboard.

use std::collections::HashMap;

use chrono::Utc;
use serde_json::{json, Value};
use uuid::Uuid;

use crm_domain::accounts::members::sees_emails;
use crm_domain::accounts::User;
use crm_domain::identity::Caller;
use crm_domain::lead::{Lead, LeadRow};
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::{IndexScan, Store};

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
/// (a source may have been renamed since the lead was written), their tags, and their
/// assignees (members of the tenant; emails only for callers who see members' emails).
#[derive(Default)]
pub struct Related {
    tags: HashMap<String, Value>,
    assignees: HashMap<String, User>,
    show_emails: bool,
}

impl Related {
    /// Loads the sources, tags and assignees the leads point at (one batch read of each,
    /// in parallel) and brings the leads' source names up to date.
    pub async fn load(store: &Store, caller: &Caller, leads: &mut [Lead]) -> Result<Self, Error> {
        let tenant = caller.tenant;
        let ids: Vec<Uuid> = leads
            .iter()
            .filter_map(|l| l.assigned_to.as_deref()?.parse().ok())
            .collect();
        let (mut related, assignees) = futures::future::try_join(
            Self::load_catalog(store, tenant, leads),
            assignees(store, tenant, &ids),
        )
        .await?;
        related.assignees = assignees;
        related.show_emails = sees_emails(caller);
        Ok(related)
    }

    async fn load_catalog(
        store: &Store,
        tenant: TenantId,
        leads: &mut [Lead],
    ) -> Result<Self, Error> {
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
            ..Self::default()
        })
    }

    fn assignee_of(&self, lead: &Lead) -> Option<&User> {
        lead.assigned_to
            .as_ref()
            .and_then(|id| self.assignees.get(id))
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
        if let Some(user) = self.assignee_of(lead) {
            body["assigned_to"] = user.assignee_json(self.show_emails);
        }
        body
    }

    /// The lead's list-row shape with its tags.
    pub fn row<'a>(&self, lead: &'a Lead, now: chrono::DateTime<Utc>) -> LeadRow<'a> {
        let mut row = lead.row(now);
        row.tags = self.tags_of(lead);
        row.assigned_to_name = self.assignee_of(lead).map(User::full_name);
        row
    }
}

/// The members among the leads' assignees, by user id (the ids that are not one of this
/// tenant's members' are left out: a user of another tenant is never shown).
async fn assignees(
    store: &Store,
    tenant: TenantId,
    ids: &[Uuid],
) -> Result<HashMap<String, User>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(store
        .get_members(tenant, ids)
        .await?
        .into_iter()
        .map(|(_, user)| (user.id.to_string(), user))
        .collect())
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
    let activities = newest(
        LeadIndex::OwnerTimeline,
        keys::lead_activities_partition(t, lead),
    );
    let notes = newest(
        LeadIndex::OwnerTimeline,
        keys::lead_notes_partition(t, lead),
    );
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
