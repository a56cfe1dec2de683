//! Lead activities: calls, emails, meetings, tasks (a task is an activity with a
//! `scheduled_at` that is not completed).
//!
//! Side effects, as in the original: an `email`, `call`, `meeting` or `contact` activity
//! sets its lead's `last_contact_date`; an `email`, `call` or `contact` activity moves a
//! `new` lead to `contacted`. The lead's change (with its audit entry and dashboard
//! counters) commits in the activity's own transaction. Writing an activity follows the
//! lead's edit rule (a `user` writes on leads assigned to them or to nobody).

pub use crm_domain::activities::*;

use chrono::{DateTime, Utc};
use serde_json::Map;
use uuid::Uuid;

use crate::lead_records::{
    editable_lead, lead_deleted, newest_first, require_timeline, scan_page, OnTimeline,
};
use crate::resource::{store_error, Ctx, Resource};
use crate::retry::Attempts;
use crm_domain::cursor::Page;
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::Lead;
use crm_domain::query::QueryParams;
use crm_domain::record::Edit;
use crm_domain::Error;
use crm_store::keys::{self, LeadIndex};
use crm_store::{AuditAction, AuditEntry, Conflict, IndexScan, StoreError};

/// An activity is written by who may edit its lead (checked with the lead as read, after
/// the body: see `check_update`), and stays on it.
impl Resource for Activity {
    type Input = ActivityInput;

    /// A deleted lead's activities stay as history; deleting one then is an admin's job.
    async fn may_delete(ctx: Ctx<'_>, caller: &Caller, activity: &Self) -> Result<(), Error> {
        match ctx.store.get_lead(caller.tenant, activity.lead).await? {
            Some(lead) => crate::leads::require_can_edit(caller, &lead),
            None if caller.is_at_least(Role::Admin) => Ok(()),
            None => Err(Error::forbidden()),
        }
    }

    fn conflict(conflict: Conflict) -> Option<Error> {
        lead_deleted(conflict)
    }

    fn blank(caller: &Caller, input: &ActivityInput, now: DateTime<Utc>) -> Self {
        Activity {
            id: Uuid::new_v4(),
            tenant_id: caller.tenant,
            version: 1,
            lead: input.lead.expect("required on create"),
            activity_type: ActivityType::Note,
            title: String::new(),
            description: String::new(),
            metadata: Map::new(),
            scheduled_at: None,
            is_completed: true,
            user: caller.user_id.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    async fn insert(ctx: Ctx<'_>, caller: &Caller, input: ActivityInput) -> Result<Self, Error> {
        create(ctx, caller, input).await
    }

    async fn check_update(
        ctx: Ctx<'_>,
        caller: &Caller,
        before: &Self,
        input: &ActivityInput,
    ) -> Result<(), Error> {
        if input.lead.is_some_and(|l| l != before.lead) {
            return Err(Error::field(
                "lead",
                "An activity cannot be moved to another lead.",
            ));
        }
        editable_lead(ctx.store, caller, before.lead).await?;
        Ok(())
    }

    async fn list(ctx: Ctx<'_>, caller: &Caller, query: &QueryParams) -> Result<Page<Self>, Error> {
        let filters = ActivityQuery::parse(query, "activities")?;
        let page_size = query.page_size()?;
        list(ctx, caller, &filters, View::All, page_size, query.cursor()).await
    }
}

/// Creates an activity and applies its side effects to the lead in the same transaction;
/// the lead is then rescored from the table's stream (its engagement changed). A lead changed between
/// the read and the write is read again, and the side effects applied to its new version.
async fn create(ctx: Ctx<'_>, caller: &Caller, input: ActivityInput) -> Result<Activity, Error> {
    let lead_id = input.lead.expect("required on create");
    let mut attempts = Attempts::default();
    while attempts.next().await {
        let lead = editable_lead(ctx.store, caller, lead_id).await?;
        let now = Utc::now();
        let mut activity = Activity::blank(caller, &input, now);
        input.clone().apply(&mut activity, now)?;
        let after = side_effects(&lead, activity.activity_type, now);
        let audit = after.as_ref().map(|after| {
            AuditEntry::lead(
                caller.provenance(),
                lead_id,
                AuditAction::Update,
                now,
                Lead::diff(Some(&lead), Some(after)),
            )
        });
        let change = after
            .as_ref()
            .zip(audit.as_ref())
            .map(|(a, au)| (&lead, a, au));
        let activity_audit =
            crate::resource::audit_entry(caller, AuditAction::Create, None, Some(&activity), now);
        match ctx
            .store
            .create_activity(&activity, &activity_audit, change)
            .await
        {
            Ok(()) => return Ok(activity),
            Err(StoreError::Conflict(Conflict::Version)) => continue,
            Err(e) => return Err(store_error::<Activity>(e)),
        }
    }
    Err(Error::Conflict(
        "The lead is being changed by other requests; try again.".into(),
    ))
}

/// One page of activities: the tenant's (or, with `lead`, one lead's timeline, newest
/// first), or the open tasks of a view, each read from its index and bounded per request.
pub async fn list(
    ctx: Ctx<'_>,
    caller: &Caller,
    query: &ActivityQuery,
    view: View,
    page_size: usize,
    cursor: Option<&str>,
) -> Result<Page<Activity>, Error> {
    let t = caller.tenant;
    let now = Utc::now();
    let scan = match (view, query.lead) {
        (View::All, Some(lead)) => newest_first(
            LeadIndex::OwnerTimeline,
            keys::lead_activities_partition(t, lead),
        ),
        (View::All, None) => newest_first(LeadIndex::Timeline, keys::activities_partition(t)),
        (View::Upcoming, _) => IndexScan {
            index: LeadIndex::FollowUp,
            partitions: vec![keys::tasks_partition(t)],
            lo: Some(keys::sortable_time(now)),
            hi: None,
            descending: false,
        },
        (View::Overdue, _) => IndexScan {
            index: LeadIndex::FollowUp,
            partitions: vec![keys::tasks_partition(t)],
            lo: None,
            // `$` sorts above `#`: every key at or before now.
            hi: Some(format!("{}$", keys::sortable_time(now))),
            descending: false,
        },
    };
    let scope = &query.fingerprint;
    let after = ctx.cursors.position(t, scope, cursor)?;
    let keep = |a: &Activity| query.matches(a);
    scan_page(ctx, caller, scope, &scan, after, page_size, &keep).await
}

/// A lead's timeline (`leads/{id}/activities/`).
impl OnTimeline for Activity {
    async fn timeline(
        ctx: Ctx<'_>,
        caller: &Caller,
        lead: Uuid,
        query: &QueryParams,
    ) -> Result<Page<Activity>, Error> {
        require_timeline(ctx.store, caller, lead, query).await?;
        let filters = ActivityQuery {
            lead: Some(lead),
            fingerprint: format!("timeline:{lead}"),
            ..ActivityQuery::default()
        };
        let page_size = query.page_size()?;
        list(ctx, caller, &filters, View::All, page_size, query.cursor()).await
    }
}
