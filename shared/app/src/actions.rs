//! The lead actions (`mark-contacted`, `convert`, `mark-lost`, `update-score`) and the
//! tenant's scoring settings. Each action is one read-modify-write of the lead through
//! [`leads::modify_as_caller`], so it keeps the lead's edit rule, optimistic locking, audit
//! trail and dashboard counters; a status change is then rescored from the table's stream like any edit.

use chrono::Utc;
use uuid::Uuid;

use crate::leads::{self, Modified};
use crate::rescoring::{self, Rescored};
use crm_domain::actions::{ConvertInput, LostInput};
use crm_domain::audit::{self, AuditAction, AuditEntry, ResourceType};
use crm_domain::identity::{Caller, Role};
use crm_domain::lead::{Lead, LeadInput, LeadStatus};
use crm_domain::scoring::{ScoreCard, ScoringSettings, ScoringSettingsInput};
use crm_domain::validate::Patch;
use crm_domain::Error;
use crm_store::Store;

async fn act<F>(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
    change: F,
) -> Result<Lead, Error>
where
    F: FnMut(&Lead, &mut Lead, chrono::DateTime<chrono::Utc>) -> Result<(), Error>,
{
    let modified: Modified =
        leads::modify_as_caller(store, caller, id, if_match, None, change).await?;
    Ok(modified.after)
}

/// `new` → `contacted`, stamping the first contact (once) and the last contact (always).
/// A lead past `new` keeps its status: contacting a qualified lead does not demote it.
pub async fn mark_contacted(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    if_match: Option<u64>,
) -> Result<Lead, Error> {
    act(store, caller, id, if_match, |_, lead, now| {
        if lead.status == LeadStatus::New {
            lead.status = LeadStatus::Contacted;
        }
        lead.first_contact_date.get_or_insert(now);
        lead.last_contact_date = Some(now);
        Ok(())
    })
    .await
}

fn refuse_closed(lead: &Lead, action: &str) -> Result<(), Error> {
    match lead.status {
        LeadStatus::Converted | LeadStatus::Lost => Err(Error::Conflict(format!(
            "The lead is already {}; it cannot be {action}.",
            lead.status
        ))),
        _ => Ok(()),
    }
}

/// `{conversion_value?}`: status `converted`, `converted_at` now, the value if given.
/// Converted and lost leads are refused with 409 (reopen them with a status change first).
pub async fn convert(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    input: &ConvertInput,
    if_match: Option<u64>,
) -> Result<Lead, Error> {
    act(store, caller, id, if_match, |before, lead, now| {
        refuse_closed(before, "converted")?;
        // Through `apply`, so entering `converted` stamps `converted_at` as any edit does.
        let change = LeadInput {
            status: Some(LeadStatus::Converted),
            conversion_value: input.conversion_value.clone(),
            ..LeadInput::default()
        };
        lead.apply(change, now);
        Ok(())
    })
    .await
}

/// `{reason}` (required): status `lost` with the reason. A converted lead may be marked
/// lost (a deal that fell through); that clears the conversion, as any status change does.
pub async fn mark_lost(
    store: &Store,
    caller: &Caller,
    id: Uuid,
    input: &LostInput,
    if_match: Option<u64>,
) -> Result<Lead, Error> {
    act(store, caller, id, if_match, |before, lead, now| {
        if before.status == LeadStatus::Lost {
            return Err(Error::Conflict("The lead is already lost.".into()));
        }
        // Through `apply`, so leaving `converted` clears the conversion as any edit does.
        let change = LeadInput {
            status: Some(LeadStatus::Lost),
            lost_reason: Patch::Set(input.reason.clone()),
            ..LeadInput::default()
        };
        lead.apply(change, now);
        Ok(())
    })
    .await
}

/// `update-score`: rescore now (not through the queue) and return the card. Follows the
/// lead's edit rule, since it writes the lead.
pub async fn update_score(
    store: &Store,
    caller: &Caller,
    id: Uuid,
) -> Result<(Lead, ScoreCard), Error> {
    let lead = leads::get(store, caller, id).await?;
    leads::require_can_edit(caller, &lead)?;
    match rescoring::rescore(
        store,
        caller.tenant,
        id,
        None,
        &caller.user_id,
        &caller.origin,
    )
    .await?
    {
        Rescored::Written { lead, card } | Rescored::Unchanged { lead, card } => Ok((lead, card)),
        Rescored::AlreadyCurrent => unreachable!("an explicit rescore always computes"),
        Rescored::Gone => Err(Error::NotFound),
    }
}

/// The scoring settings are an admin's: checked before a settings body is parsed.
pub fn require_settings_admin(caller: &Caller) -> Result<(), Error> {
    caller.require(Role::Admin)
}

/// The tenant's scoring settings (admins and owners).
pub async fn scoring_settings(store: &Store, caller: &Caller) -> Result<ScoringSettings, Error> {
    require_settings_admin(caller)?;
    Ok(store.scoring_settings(caller.tenant).await?)
}

/// Replaces (`partial = false`: over the defaults) or changes (over the current settings)
/// the settings. They apply to each lead's next scoring; `update-score` (or a bulk
/// rescore) applies them at once.
pub async fn save_scoring_settings(
    store: &Store,
    caller: &Caller,
    input: &ScoringSettingsInput,
    partial: bool,
) -> Result<ScoringSettings, Error> {
    require_settings_admin(caller)?;
    let settings = if partial {
        input.apply(&store.scoring_settings(caller.tenant).await?)
    } else {
        input.apply(&ScoringSettings::default())
    };
    let before = store.scoring_settings(caller.tenant).await?;
    let audit = AuditEntry::new(
        caller.provenance(),
        ResourceType::ScoringSettings,
        caller.tenant.as_uuid(),
        AuditAction::Update,
        Utc::now(),
        audit::changes(Some(&before), Some(&settings), &[]),
    );
    store
        .put_scoring_settings(caller.tenant, &settings, &audit)
        .await?;
    Ok(settings)
}
