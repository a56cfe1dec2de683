//! Change events: what the table's stream says was committed, and the follow-up work each
//! change asks for.
//!
//! The request path writes only to DynamoDB; the changes worker reads the table's stream
//! (`NEW_AND_OLD_IMAGES`), turns each record into a [`Change`] and asks [`follow_ups`] what
//! to do. Deciding here, from the committed images, means a write can never lose its
//! follow-up (the stream holds it until the worker has handled it), and a redelivered
//! record decides the same follow-ups again, which the workers treat as duplicates
//! (`scored_version`, the insights' `requested_at`).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::activities::Activity;
use crate::lead::Lead;
use crate::lead_insights::StoredInsights;
use crate::notes::Note;
use crate::scoring;
use crate::tenant::TenantId;

/// What happened to the item (the stream record's `eventName`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Inserted,
    Modified,
    Removed,
}

impl ChangeKind {
    /// From the stream record's `eventName` (`INSERT`, `MODIFY`, `REMOVE`).
    pub fn from_event_name(name: &str) -> Option<Self> {
        match name {
            "INSERT" => Some(Self::Inserted),
            "MODIFY" => Some(Self::Modified),
            "REMOVE" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// The item a change is about, with its images before and after the write (absent on an
/// insert and a removal respectively).
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Lead {
        old: Option<Box<Lead>>,
        new: Option<Box<Lead>>,
    },
    /// A lead's insights record (`requested_at` is what a client's request changes).
    Insights {
        lead_id: Uuid,
        old: Option<Box<StoredInsights>>,
        new: Option<Box<StoredInsights>>,
    },
    /// A new activity (webhooks' `activity.created`; its effect on the lead is the lead's
    /// own change).
    Activity { new: Box<Activity> },
    /// A new note (webhooks' `note.created`).
    Note { new: Box<Note> },
    /// A manual rescore request (`update-scores`): the time it was asked, before and after.
    Rescore {
        lead_id: Uuid,
        old: Option<DateTime<Utc>>,
        new: Option<DateTime<Utc>>,
    },
}

/// One committed change, as the follow-up handlers (scoring and insight requests, and
/// webhook deliveries) see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub tenant: TenantId,
    pub kind: ChangeKind,
    pub subject: Subject,
    /// The stream record's `eventID`: the same on every redelivery of the record, so a
    /// consumer can recognise an event it has already handled.
    pub event_id: String,
    /// When the change was committed (approximately, as the stream records it).
    pub occurred_at: DateTime<Utc>,
}

/// Why a lead is to be rescored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RescoreReason {
    Created,
    Updated,
    Activity,
    /// Asked for explicitly: rescored whatever the version it was scored at.
    Manual,
}

/// Work a change asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowUp {
    /// Score the lead; `version` is the lead version that asked (a worker that finds it
    /// scored at that version or later does nothing).
    Rescore {
        tenant: TenantId,
        lead_id: Uuid,
        version: u64,
        reason: RescoreReason,
    },
    /// Produce insights for the lead, as asked at `requested_at`.
    Insights {
        tenant: TenantId,
        lead_id: Uuid,
        requested_at: DateTime<Utc>,
    },
}

/// Whether the lead's engagement (what activities write) changed.
fn engagement_changed(old: &Lead, new: &Lead) -> bool {
    old.activity_count != new.activity_count || old.last_activity_at != new.last_activity_at
}

/// Why a lead write asks for a rescore, if it does: the lead was created, or a field the
/// score reads (or its engagement) changed, and its score is behind its version. The
/// scoring worker's own writes record the version they scored (`scored_version ==
/// version`), so they never ask again: no loop.
pub fn rescore_reason(old: Option<&Lead>, new: &Lead) -> Option<RescoreReason> {
    if new.scored_version >= new.version {
        return None;
    }
    match old {
        None => Some(RescoreReason::Created),
        Some(old) if scoring::is_scored_field_change(old, new) => Some(RescoreReason::Updated),
        Some(old) if engagement_changed(old, new) => Some(RescoreReason::Activity),
        Some(_) => None,
    }
}

/// The follow-up work a change asks for (none for most changes).
pub fn follow_ups(change: &Change) -> Vec<FollowUp> {
    let tenant = change.tenant;
    match &change.subject {
        Subject::Lead {
            old,
            new: Some(new),
        } => rescore_reason(old.as_deref(), new)
            .map(|reason| FollowUp::Rescore {
                tenant,
                lead_id: new.id,
                version: new.version,
                reason,
            })
            .into_iter()
            .collect(),
        Subject::Lead { new: None, .. } => Vec::new(),
        Subject::Insights { lead_id, old, new } => {
            let before = old.as_ref().and_then(|o| o.requested_at);
            match new.as_ref().and_then(|n| n.requested_at) {
                Some(requested_at) if Some(requested_at) != before => vec![FollowUp::Insights {
                    tenant,
                    lead_id: *lead_id,
                    requested_at,
                }],
                _ => Vec::new(),
            }
        }
        Subject::Rescore { lead_id, old, new } => match new {
            Some(at) if Some(*at) != *old => vec![FollowUp::Rescore {
                tenant,
                lead_id: *lead_id,
                version: 0,
                reason: RescoreReason::Manual,
            }],
            _ => Vec::new(),
        },
        // Only webhooks hear of these.
        Subject::Activity { .. } | Subject::Note { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::lead;

    fn change(subject: Subject) -> Change {
        Change {
            tenant: TenantId::from_uuid(Uuid::nil()),
            kind: ChangeKind::Modified,
            subject,
            event_id: "e1".into(),
            occurred_at: Utc::now(),
        }
    }

    fn lead_change(old: Option<Lead>, new: Option<Lead>) -> Vec<FollowUp> {
        follow_ups(&change(Subject::Lead {
            old: old.map(Box::new),
            new: new.map(Box::new),
        }))
    }

    fn unscored() -> Lead {
        let mut l = lead();
        l.version = 1;
        l.scored_version = 0;
        l
    }

    fn reasons(f: Vec<FollowUp>) -> Vec<RescoreReason> {
        f.into_iter()
            .filter_map(|f| match f {
                FollowUp::Rescore { reason, .. } => Some(reason),
                FollowUp::Insights { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_created_lead_is_scored() {
        assert_eq!(
            reasons(lead_change(None, Some(unscored()))),
            [RescoreReason::Created]
        );
    }

    #[test]
    fn the_scoring_workers_own_write_asks_for_nothing() {
        let old = unscored();
        let mut new = old.clone();
        new.version = 2;
        new.scored_version = 2;
        new.score = 40;
        assert!(lead_change(Some(old), Some(new)).is_empty());
    }

    #[test]
    fn a_scored_field_or_engagement_change_is_rescored_other_edits_are_not() {
        let mut old = unscored();
        old.scored_version = 1;
        let mut scored = old.clone();
        scored.version = 2;
        scored.company = Some("Other Corp".into());
        assert_eq!(
            reasons(lead_change(Some(old.clone()), Some(scored))),
            [RescoreReason::Updated]
        );
        let mut engaged = old.clone();
        engaged.version = 2;
        engaged.activity_count += 1;
        assert_eq!(
            reasons(lead_change(Some(old.clone()), Some(engaged))),
            [RescoreReason::Activity]
        );
        let mut noted = old.clone();
        noted.version = 2;
        noted.notes = Some("met at the fair".into());
        assert!(lead_change(Some(old.clone()), Some(noted)).is_empty());
        assert!(lead_change(Some(old), None).is_empty());
    }

    #[test]
    fn insights_are_asked_for_when_requested_at_moves() {
        let at = Utc::now();
        let asked = StoredInsights {
            requested_at: Some(at),
            ..StoredInsights::default()
        };
        let id = Uuid::new_v4();
        let insights = |old: Option<Box<StoredInsights>>, new: Option<Box<StoredInsights>>| {
            follow_ups(&change(Subject::Insights {
                lead_id: id,
                old,
                new,
            }))
        };
        let asked = Box::new(asked);
        assert_eq!(insights(None, Some(asked.clone())).len(), 1);
        assert!(insights(Some(asked.clone()), Some(asked.clone())).is_empty());
        // The worker's answer clears requested_at: nothing more to do.
        assert!(insights(Some(asked), Some(Box::default())).is_empty());
    }

    #[test]
    fn a_manual_rescore_request_is_a_manual_rescore() {
        let f = follow_ups(&change(Subject::Rescore {
            lead_id: Uuid::new_v4(),
            old: None,
            new: Some(Utc::now()),
        }));
        assert_eq!(reasons(f), [RescoreReason::Manual]);
    }
}
