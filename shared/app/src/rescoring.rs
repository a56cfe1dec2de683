//! Scoring a stored lead: the step the scoring worker and `update-score` share.
//!
//! The score is computed from the lead as it is now (not as it was when the request was
//! sent), with the tenant's settings, and written through the lead's normal transaction
//! (version check, index keys, dashboard counters, audit entry). The write records the
//! version it scored (`scored_version`), which makes requests idempotent: a request
//! triggered at version `v` finds `scored_version >= v` once any later scoring has run,
//! and does nothing. Duplicates and out-of-order deliveries therefore never overwrite a
//! newer score with an older one.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::leads::{self, Actor};
use crm_domain::audit::Origin;
use crm_domain::lead::Lead;
use crm_domain::scoring::{self, ScoreCard, ScoringSettings, Signals};
use crm_domain::sources::Source;
use crm_domain::tenant::TenantId;
use crm_domain::Error;
use crm_store::{AuditAction, Store};

/// The audit trail's name for scores written in the background.
pub const SCORING_WORKER: &str = "system:scoring";

/// What a rescoring did.
#[derive(Debug)]
pub enum Rescored {
    /// A new score was written; the lead as stored now.
    Written { lead: Lead, card: ScoreCard },
    /// The score was already what the model gives; nothing written.
    Unchanged { lead: Lead, card: ScoreCard },
    /// A scoring at or after the triggering version has already run; nothing done.
    AlreadyCurrent,
    /// The lead no longer exists; nothing to do.
    Gone,
}

/// Fewer leads than this from a source say nothing about its quality yet.
pub const MIN_SOURCE_LEADS: i64 = 5;

/// What the score knows besides the lead's own fields: its engagement (kept on the lead by
/// the activity writes) and its source's real conversion rate (one read).
pub async fn signals_for(store: &Store, lead: &Lead) -> Result<Signals, Error> {
    let source = match lead.source_id {
        Some(id) => store.get_record::<Source>(lead.tenant_id, id).await?,
        None => None,
    };
    Ok(Signals {
        activity_count: lead.activity_count,
        last_activity_at: lead.last_activity_at,
        source_conversion_rate: source
            .filter(|s| s.total_leads >= MIN_SOURCE_LEADS)
            .map(|s| s.converted_leads.max(0) as f64 / s.total_leads as f64),
        ..Signals::default()
    })
}

/// Scores `lead` with `signals` and `settings` now.
pub fn card_for(
    lead: &Lead,
    signals: &Signals,
    settings: &ScoringSettings,
    now: DateTime<Utc>,
) -> ScoreCard {
    scoring::score(lead, signals, settings, now)
}

fn same_card(lead: &Lead, card: &ScoreCard) -> bool {
    lead.score == card.score
        && lead.score_model.as_deref() == Some(card.model.as_str())
        && lead.score_factors == card.factors_json()
}

/// Rescores a lead. `trigger` is the version a queued request was sent for (None for an
/// explicit rescore, which always computes). `actor` names who asked, for the audit trail.
pub async fn rescore(
    store: &Store,
    tenant: TenantId,
    lead_id: Uuid,
    trigger: Option<u64>,
    actor: &str,
    origin: &Origin,
) -> Result<Rescored, Error> {
    let (settings, record) =
        futures::try_join!(store.scoring_settings(tenant), store.get_tenant(tenant))?;
    // The entry's expiry follows the tenant's plan (a tenant gone meanwhile: its tier's
    // default; its leads are not written anyway).
    let retention_days = record.map_or_else(
        || {
            crm_domain::plan::default_tier()
                .limits()
                .audit_retention_days
        },
        |t| t.limits().audit_retention_days,
    );
    let Some(current) = store.get_lead(tenant, lead_id).await? else {
        return Ok(Rescored::Gone);
    };
    if trigger.is_some_and(|v| current.scored_version >= v) {
        return Ok(Rescored::AlreadyCurrent);
    }
    let signals = signals_for(store, &current).await?;
    let mut outcome = None;
    let actor = Actor {
        tenant,
        user_id: actor,
        action: AuditAction::Score,
        origin,
        retention_days,
        via: None,
    };
    let first = Some(current);
    let modified = leads::modify(store, actor, lead_id, None, first, |before, after, now| {
        if trigger.is_some_and(|v| before.scored_version >= v) {
            outcome = Some(None);
            return Ok(());
        }
        let card = card_for(before, &signals, &settings, now);
        if !same_card(before, &card) {
            after.score = card.score;
            after.score_factors = card.factors_json();
            after.score_model = Some(card.model.clone());
            after.last_scored_at = Some(now);
            // The write below makes the lead `before.version + 1`; that version's content
            // is exactly what was scored.
            after.scored_version = before.version + 1;
        }
        outcome = Some(Some(card));
        Ok(())
    })
    .await;
    let modified = match modified {
        Ok(m) => m,
        Err(Error::NotFound) => return Ok(Rescored::Gone),
        Err(e) => return Err(e),
    };
    Ok(match outcome.flatten() {
        None => Rescored::AlreadyCurrent,
        Some(card) if modified.changed() => Rescored::Written {
            lead: modified.after,
            card,
        },
        Some(card) => Rescored::Unchanged {
            lead: modified.after,
            card,
        },
    })
}
