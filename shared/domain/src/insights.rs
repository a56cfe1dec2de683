//! Insights on a lead: recommendations, risks, opportunities and a next best action.
//!
//! They come from the AI agents service when one is configured (`AI_AGENTS_URL`) and
//! answers in time, and otherwise from [`rule_based`], so a lead always has insights and
//! `generated_by` says which produced them. The contract with the service is in
//! `docs/ai-agents-contract.md`; `crm_app::ai::AiAgentsClient` speaks it with a per-attempt timeout,
//! bounded retries with backoff, and validation of what comes back.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::lead::{CompanySize, Lead, LeadStatus};
use crate::scoring::{Factor, ScoreCard};

/// `generated_by` of insights from [`rule_based`]. Bump when the rules change.
pub const RULES_SOURCE: &str = "rules-v1";
/// `generated_by` of insights from the AI agents service.
pub const AI_SOURCE: &str = "ai-agents";

/// Below this score a lead needs qualifying before more effort (the original's rule).
pub const LOW_SCORE: u8 = 30;
/// At or above this score a lead is hot (the dashboard's "high" band).
pub const HIGH_SCORE: u8 = 70;
/// Days without contact after which an active lead is going cold.
pub const STALE_DAYS: i64 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    // Declared most urgent first, so sorting by level puts the urgent items on top.
    High,
    Medium,
    Low,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub priority: Level,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub severity: Level,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// The AI insights response: the original's shape
/// (`score_breakdown, recommendations, risk_factors, opportunities`) plus the next best
/// action and where the insights came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Insights {
    pub score_breakdown: Vec<Factor>,
    pub recommendations: Vec<Recommendation>,
    pub risk_factors: Vec<Risk>,
    pub opportunities: Vec<Opportunity>,
    pub next_best_action: String,
    /// [`RULES_SOURCE`] or [`AI_SOURCE`].
    pub generated_by: String,
    pub generated_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------

fn rec(kind: &str, priority: Level, message: String) -> Recommendation {
    Recommendation {
        kind: kind.into(),
        message,
        priority,
    }
}

fn risk(kind: &str, severity: Level, message: String) -> Risk {
    Risk {
        kind: kind.into(),
        message,
        severity,
    }
}

fn opportunity(kind: &str, message: String) -> Opportunity {
    Opportunity {
        kind: kind.into(),
        message,
    }
}

fn filled(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| !s.trim().is_empty())
}

fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// Words that mark a timeline as urgent, as the lead list's `timeline_urgent` filter has.
fn urgent_timeline(lead: &Lead) -> bool {
    lead.timeline.as_deref().is_some_and(|t| {
        let t = t.to_lowercase();
        ["immediate", "urgent", "asap"]
            .iter()
            .any(|w| t.contains(w))
    })
}

/// Insights from fixed rules: the original's four (qualification, discovery, overdue
/// follow-up, high value) and the ones a sales lead would add. Pure and deterministic.
///
/// The original applied its rules whatever the status; here the qualification and
/// discovery advice is given only to active leads, since a converted or lost lead needs
/// neither, and those get advice for their stage instead.
pub fn rule_based(lead: &Lead, card: &ScoreCard, now: DateTime<Utc>) -> Insights {
    let facts = Facts::of(lead, now);
    let mut found = Findings::default();
    if lead.status.is_active() {
        found.qualification(lead, card);
        found.contact(lead, &facts, now);
        found.deal(lead);
        found.momentum(lead, card);
        found.enrich(lead);
    }
    found.stage(lead);
    found.value(lead);
    let Findings {
        mut recs,
        mut risks,
        opps,
    } = found;
    // Most urgent first; the sort is stable, so rules keep their order within a level.
    recs.sort_by_key(|r| r.priority);
    risks.sort_by_key(|r| r.severity);

    let next_best_action = next_best_action(lead, &recs, facts.overdue_days, facts.never_contacted);
    Insights {
        score_breakdown: card.factors.clone(),
        recommendations: recs,
        risk_factors: risks,
        opportunities: opps,
        next_best_action,
        generated_by: RULES_SOURCE.into(),
        generated_at: now,
    }
}

/// What several rules read about the lead's contact history.
struct Facts {
    last_contact: Option<DateTime<Utc>>,
    never_contacted: bool,
    overdue_days: Option<i64>,
}

impl Facts {
    fn of(lead: &Lead, now: DateTime<Utc>) -> Self {
        let last_contact = lead.last_contact_date.or(lead.first_contact_date);
        Self {
            last_contact,
            never_contacted: last_contact.is_none() && lead.status == LeadStatus::New,
            overdue_days: lead
                .next_follow_up
                .filter(|_| lead.is_overdue(now))
                .map(|t| (now - t).num_days()),
        }
    }
}

/// What the rules found, each list in the order its rules ran.
#[derive(Default)]
struct Findings {
    recs: Vec<Recommendation>,
    risks: Vec<Risk>,
    opps: Vec<Opportunity>,
}

impl Findings {
    /// An active lead that scores low or has no budget needs qualifying first.
    fn qualification(&mut self, lead: &Lead, card: &ScoreCard) {
        if card.score < LOW_SCORE {
            self.recs.push(rec(
                "qualification",
                Level::High,
                format!(
                    "Score {} is below {LOW_SCORE}: qualify fit, budget, authority and need \
                     before investing more time.",
                    card.score
                ),
            ));
        }
        if lead.budget.is_none() {
            self.recs.push(rec(
                "discovery",
                Level::Medium,
                "No budget recorded: run a discovery call to establish the budget.".into(),
            ));
        }
    }

    /// Overdue follow-ups, leads never contacted or going cold, and unplanned follow-ups.
    fn contact(&mut self, lead: &Lead, facts: &Facts, now: DateTime<Utc>) {
        if let Some(d) = facts.overdue_days {
            self.risks.push(risk(
                "follow_up",
                Level::High,
                format!("The planned follow-up is overdue by {}.", days(d)),
            ));
        }
        if facts.never_contacted {
            self.not_contacted(lead, now);
        } else if let Some(last) = facts.last_contact {
            self.quiet_since(last, now);
        }
        if lead.next_follow_up.is_none() {
            self.recs.push(rec(
                "schedule_follow_up",
                Level::Medium,
                "No follow-up is scheduled: set the next touchpoint.".into(),
            ));
        }
    }

    fn not_contacted(&mut self, lead: &Lead, now: DateTime<Utc>) {
        let name = lead.full_name();
        self.recs.push(rec(
            "first_contact",
            Level::High,
            format!("{name} has not been contacted yet: reach out while interest is fresh."),
        ));
        let age = (now - lead.created_at).num_days();
        if age >= 2 {
            let severity = if age >= 7 { Level::High } else { Level::Medium };
            self.risks.push(risk(
                "no_contact",
                severity,
                format!("No contact in the {} since the lead arrived.", days(age)),
            ));
        }
    }

    fn quiet_since(&mut self, last: DateTime<Utc>, now: DateTime<Utc>) {
        let quiet = (now - last).num_days();
        if quiet < STALE_DAYS {
            return;
        }
        let severity = if quiet >= 2 * STALE_DAYS {
            Level::High
        } else {
            Level::Medium
        };
        self.risks.push(risk(
            "going_cold",
            severity,
            format!("No contact for {}: the lead is going cold.", days(quiet)),
        ));
        self.recs.push(rec(
            "re_engage",
            Level::Medium,
            "Re-engage with something useful to them: a case study, an offer, a \
             check-in call."
                .into(),
        ));
    }

    /// Who decides, when, and the next step of the lead's stage.
    fn deal(&mut self, lead: &Lead) {
        if !lead.decision_maker {
            let late = matches!(lead.status, LeadStatus::Proposal | LeadStatus::Negotiation);
            if late {
                self.risks.push(risk(
                    "no_decision_maker",
                    Level::High,
                    format!(
                        "The deal is at {} without a known decision maker.",
                        lead.status
                    ),
                ));
            }
            self.recs.push(rec(
                "decision_maker",
                if late { Level::High } else { Level::Medium },
                "Find out who signs off and bring them into the conversation.".into(),
            ));
        }
        if !filled(&lead.timeline) {
            self.recs.push(rec(
                "timeline",
                Level::Low,
                "Ask when they need a solution in place.".into(),
            ));
        }
        match lead.status {
            LeadStatus::Qualified => self.recs.push(rec(
                "proposal",
                Level::Medium,
                "Qualified: prepare a proposal around their pain points.".into(),
            )),
            LeadStatus::Proposal => self.recs.push(rec(
                "proposal_follow_up",
                Level::Medium,
                "Follow up on the proposal and agree a decision date.".into(),
            )),
            LeadStatus::Negotiation => self.recs.push(rec(
                "close",
                Level::High,
                "In negotiation: resolve the last objections and push to close.".into(),
            )),
            _ => {}
        }
    }

    /// A hot score or an urgent timeline.
    fn momentum(&mut self, lead: &Lead, card: &ScoreCard) {
        if card.score >= HIGH_SCORE {
            self.opps.push(opportunity(
                "hot_lead",
                format!(
                    "Score {} puts this lead in the top band: prioritise it.",
                    card.score
                ),
            ));
        }
        if urgent_timeline(lead) {
            self.opps.push(opportunity(
                "urgent_timeline",
                "They want a solution now: a fast, focused offer can win this.".into(),
            ));
        }
    }

    /// The contact details an active lead's record lacks.
    fn enrich(&mut self, lead: &Lead) {
        let missing: Vec<&str> = [
            ("phone", filled(&lead.phone)),
            ("job title", filled(&lead.job_title)),
            ("company", filled(&lead.company)),
        ]
        .into_iter()
        .filter(|(_, have)| !have)
        .map(|(f, _)| f)
        .collect();
        if !missing.is_empty() {
            self.recs.push(rec(
                "enrich",
                Level::Low,
                format!("Complete the record: {} missing.", missing.join(", ")),
            ));
        }
    }

    /// Advice for the stages past the active ones.
    fn stage(&mut self, lead: &Lead) {
        match lead.status {
            LeadStatus::Converted => {
                self.recs.push(rec(
                    "onboarding",
                    Level::Medium,
                    "Converted: hand over to onboarding and check in after the first month.".into(),
                ));
                self.opps.push(opportunity(
                    "expansion",
                    "A converted customer: look for upsell, expansion and referrals.".into(),
                ));
            }
            LeadStatus::Unresponsive => {
                self.risks.push(risk(
                    "unresponsive",
                    Level::High,
                    "The lead has stopped responding.".into(),
                ));
                self.recs.push(rec(
                    "re_engage",
                    Level::Medium,
                    "Try another channel or contact, or pause outreach and revisit later.".into(),
                ));
            }
            LeadStatus::Lost => self.recs.push(rec(
                "win_back",
                Level::Low,
                "Lost: record why, and revisit in a quarter if circumstances change.".into(),
            )),
            _ => {}
        }
    }

    /// A decision maker with budget, or a large organisation.
    fn value(&mut self, lead: &Lead) {
        let high_budget = lead.budget.is_some_and(|b| b > Decimal::from(10_000));
        // The original's rule; for a converted customer the expansion opportunity says it.
        if lead.decision_maker && high_budget && lead.status != LeadStatus::Converted {
            self.opps.push(opportunity(
                "high_value",
                "A decision maker with a budget over 10,000: a high-value opportunity.".into(),
            ));
        }
        if matches!(
            lead.company_size,
            Some(CompanySize::Large | CompanySize::Enterprise)
        ) && lead.status != LeadStatus::Lost
        {
            self.opps.push(opportunity(
                "large_account",
                "A large organisation: room for a bigger deal and more seats later.".into(),
            ));
        }
    }
}

fn next_best_action(
    lead: &Lead,
    recs: &[Recommendation],
    overdue_days: Option<i64>,
    never_contacted: bool,
) -> String {
    let name = lead.full_name();
    match lead.status {
        LeadStatus::Converted => {
            return "Hand the customer over to onboarding and plan an expansion check-in.".into()
        }
        LeadStatus::Lost => return "No action now: revisit in a quarter.".into(),
        LeadStatus::Unresponsive => return format!("Try reaching {name} on a different channel."),
        _ => {}
    }
    if let Some(d) = overdue_days {
        return format!(
            "Follow up with {name} today: the follow-up is {} overdue.",
            days(d)
        );
    }
    if never_contacted {
        return format!("Make first contact with {name} today.");
    }
    if lead.status == LeadStatus::Negotiation {
        return format!("Push to close with {name}: resolve the remaining objections.");
    }
    recs.first()
        .map(|r| r.message.clone())
        .unwrap_or_else(|| format!("Keep {name} warm: schedule the next touchpoint."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{card, lead, now};
    use chrono::Duration as Days;

    fn kinds<T>(items: &[T], kind: impl Fn(&T) -> &str) -> Vec<String> {
        items.iter().map(|i| kind(i).to_string()).collect()
    }

    // --- rules -------------------------------------------------------------------------

    #[test]
    fn the_original_rules() {
        // Low score, no budget, overdue follow-up.
        let l = Lead {
            status: LeadStatus::Contacted,
            last_contact_date: Some(now() - Days::days(2)),
            next_follow_up: Some(now() - Days::days(3)),
            ..lead()
        };
        let i = rule_based(&l, &card(&l), now());
        assert_eq!(i.generated_by, RULES_SOURCE);
        let recs = kinds(&i.recommendations, |r| &r.kind);
        assert!(recs.contains(&"qualification".into()), "{recs:?}");
        assert!(recs.contains(&"discovery".into()));
        let q = i.recommendations.iter().find(|r| r.kind == "qualification");
        assert_eq!(q.unwrap().priority, Level::High);
        let d = i.recommendations.iter().find(|r| r.kind == "discovery");
        assert_eq!(d.unwrap().priority, Level::Medium);
        let f = i
            .risk_factors
            .iter()
            .find(|r| r.kind == "follow_up")
            .unwrap();
        assert_eq!(f.severity, Level::High);
        assert!(f.message.contains("3 days"));
        assert!(
            i.next_best_action.contains("overdue"),
            "{}",
            i.next_best_action
        );
        assert_eq!(i.score_breakdown, card(&l).factors);

        // A decision maker with more than 10k.
        let l = Lead {
            decision_maker: true,
            budget: Some(Decimal::from(10_001)),
            ..lead()
        };
        let i = rule_based(&l, &card(&l), now());
        assert!(kinds(&i.opportunities, |o| &o.kind).contains(&"high_value".into()));
        let l = Lead {
            budget: Some(Decimal::from(10_000)),
            ..l
        };
        let i = rule_based(&l, &card(&l), now());
        assert!(!kinds(&i.opportunities, |o| &o.kind).contains(&"high_value".into()));
    }

    #[test]
    fn more_rules() {
        // A new lead, a week old, never contacted.
        let l = Lead {
            created_at: now() - Days::days(8),
            ..lead()
        };
        let i = rule_based(&l, &card(&l), now());
        let no_contact = i
            .risk_factors
            .iter()
            .find(|r| r.kind == "no_contact")
            .unwrap();
        assert_eq!(no_contact.severity, Level::High);
        assert_eq!(
            i.next_best_action,
            "Make first contact with Grace Hopper today."
        );
        let recs = kinds(&i.recommendations, |r| &r.kind);
        for k in [
            "first_contact",
            "schedule_follow_up",
            "decision_maker",
            "enrich",
        ] {
            assert!(recs.contains(&k.to_string()), "{k} in {recs:?}");
        }
        // High first, low last.
        assert!(i
            .recommendations
            .windows(2)
            .all(|w| w[0].priority <= w[1].priority));

        // Quiet for three weeks, in negotiation, no decision maker.
        let l = Lead {
            status: LeadStatus::Negotiation,
            last_contact_date: Some(now() - Days::days(21)),
            next_follow_up: Some(now() + Days::days(1)),
            timeline: Some("ASAP".into()),
            company_size: Some(CompanySize::Enterprise),
            ..lead()
        };
        let i = rule_based(&l, &card(&l), now());
        let risks = kinds(&i.risk_factors, |r| &r.kind);
        assert_eq!(risks, vec!["no_decision_maker", "going_cold"]);
        let recs = kinds(&i.recommendations, |r| &r.kind);
        assert!(recs.contains(&"close".into()) && recs.contains(&"re_engage".into()));
        assert!(!recs.contains(&"schedule_follow_up".into()));
        let opps = kinds(&i.opportunities, |o| &o.kind);
        assert!(opps.contains(&"urgent_timeline".into()) && opps.contains(&"large_account".into()));
        assert!(i.next_best_action.starts_with("Push to close"));
    }

    #[test]
    fn closed_leads_get_stage_advice_not_qualification() {
        let l = Lead {
            status: LeadStatus::Converted,
            next_follow_up: Some(now() - Days::days(30)),
            ..lead()
        };
        let i = rule_based(&l, &card(&l), now());
        let recs = kinds(&i.recommendations, |r| &r.kind);
        assert_eq!(recs, vec!["onboarding"]);
        assert!(
            i.risk_factors.is_empty(),
            "a converted lead is never overdue"
        );
        assert_eq!(kinds(&i.opportunities, |o| &o.kind), vec!["expansion"]);

        let l = Lead {
            status: LeadStatus::Unresponsive,
            ..lead()
        };
        let i = rule_based(&l, &card(&l), now());
        assert_eq!(kinds(&i.risk_factors, |r| &r.kind), vec!["unresponsive"]);
        assert!(i.next_best_action.contains("different channel"));
    }

    #[test]
    fn a_hot_lead() {
        let l = Lead {
            status: LeadStatus::Qualified,
            phone: Some("1".into()),
            company: Some("Navy".into()),
            job_title: Some("Director".into()),
            company_size: Some(CompanySize::Large),
            budget: Some(Decimal::from(200_000)),
            decision_maker: true,
            timeline: Some("this month".into()),
            last_contact_date: Some(now()),
            next_follow_up: Some(now() + Days::days(2)),
            ..lead()
        };
        let c = ScoreCard {
            score: 85,
            ..card(&l)
        };
        let i = rule_based(&l, &c, now());
        assert!(i.risk_factors.is_empty(), "{:?}", i.risk_factors);
        assert_eq!(kinds(&i.recommendations, |r| &r.kind), vec!["proposal"]);
        assert_eq!(
            kinds(&i.opportunities, |o| &o.kind),
            vec!["hot_lead", "high_value", "large_account"]
        );
        assert_eq!(i.next_best_action, i.recommendations[0].message);
    }

    #[test]
    fn insights_serialise_with_type_keys() {
        let l = lead();
        let v = serde_json::to_value(rule_based(&l, &card(&l), now())).unwrap();
        let r = &v["recommendations"][0];
        assert!(r["type"].is_string() && r["priority"].is_string() && r.get("kind").is_none());
        assert_eq!(v["generated_by"], "rules-v1");
        assert_eq!(v["generated_at"], "2026-03-01T12:00:00Z");
        assert_eq!(v["score_breakdown"][0]["factor"], "company_presence");
    }
}
