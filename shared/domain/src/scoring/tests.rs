//! The scoring models' and settings' tests.

use super::*;
use crate::lead::{LeadInput, LeadStatus, WriteMode};
use crate::tenant::TenantId;
use chrono::{Duration, TimeZone};
use serde_json::Map;
use uuid::Uuid;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// A lead with nothing but the required fields, created ten days before [`now`].
fn bare() -> Lead {
    // Built through the public constructor, so fields added to `Lead` later need no
    // change here.
    let body = json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"});
    let input = LeadInput::parse(body.as_object().unwrap(), WriteMode::Create).unwrap();
    let mut lead = Lead::create(
        TenantId::from_uuid(Uuid::nil()),
        input,
        "u",
        now() - Duration::days(10),
    );
    lead.id = Uuid::nil();
    lead
}

fn rich() -> Lead {
    Lead {
        phone: Some("+44 20 7946 0000".into()),
        company: Some("Analytical Engines Ltd".into()),
        company_website: Some("https://engines.example".into()),
        job_title: Some("Co-Founder & CEO".into()),
        company_size: Some(CompanySize::Enterprise),
        industry: Some("Software".into()),
        source: Some("website".into()),
        budget: Some(Decimal::from(150_000)),
        timeline: Some("Immediate".into()),
        decision_maker: true,
        last_contact_date: Some(now()),
        ..bare()
    }
}

fn get<'a>(card: &'a ScoreCard, name: &str) -> &'a Factor {
    card.factors
        .iter()
        .find(|f| f.factor == name)
        .unwrap_or_else(|| panic!("factor {name} missing"))
}

fn legacy_points(lead: &Lead, name: &str) -> u32 {
    get(&legacy(lead), name).points
}

// --- explainable -------------------------------------------------------------------

#[test]
fn explainable_maxima_sum_to_100_and_every_factor_is_reported() {
    let card = explainable(
        &bare(),
        &Signals::default(),
        &ScoringSettings::default(),
        now(),
    );
    assert_eq!(card.model, EXPLAINABLE_MODEL);
    assert_eq!(card.factors.len(), 12);
    assert_eq!(card.factors.iter().map(|f| f.max).sum::<u32>(), 100);
    for f in &card.factors {
        assert!(!f.reason.is_empty(), "{} has no reason", f.factor);
    }
    assert_eq!(card.score, 0, "{:#?}", card.factors);
}

#[test]
fn a_perfect_lead_scores_100() {
    let settings = ScoringSettings {
        ideal_industries: vec!["software".into()],
        target_countries: vec!["GB".into()],
        ..ScoringSettings::default()
    };
    let signals = Signals {
        activity_count: 7,
        last_activity_at: Some(now()),
        source_conversion_rate: Some(0.4),
        country: Some("gb".into()),
        web_visits: 10,
        email_opens: 9,
    };
    let card = score(&rich(), &signals, &settings, now());
    for f in &card.factors {
        assert_eq!(f.points, f.max, "{f:?}");
    }
    assert_eq!(card.score, 100);
}

#[test]
fn same_inputs_same_card() {
    let signals = Signals {
        activity_count: 2,
        last_activity_at: Some(now() - Duration::days(3)),
        source_conversion_rate: Some(0.1),
        ..Signals::default()
    };
    let s = ScoringSettings::default();
    let a = score(&rich(), &signals, &s, now());
    let b = score(&rich(), &signals, &s, now());
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[test]
fn engagement_halves_every_fourteen_days() {
    assert!((engagement_decay(0.0) - 1.0).abs() < 1e-12);
    assert!((engagement_decay(14.0) - 0.5).abs() < 1e-12);
    assert!((engagement_decay(28.0) - 0.25).abs() < 1e-12);
    assert_eq!(engagement_decay(-3.0), 1.0, "future dates do not boost");

    let lead = bare();
    let at = |days: i64| {
        let signals = Signals {
            activity_count: 5,
            last_activity_at: Some(now() - Duration::days(days)),
            ..Signals::default()
        };
        get(
            &explainable(&lead, &signals, &ScoringSettings::default(), now()),
            "engagement",
        )
        .points
    };
    assert_eq!(at(0), 12);
    assert_eq!(at(14), 6);
    assert_eq!(at(28), 3);
    assert_eq!(at(120), 0);
    assert!(at(7) < at(0) && at(7) > at(14));
}

#[test]
fn engagement_uses_the_lead_contact_date_when_no_activities_are_known() {
    let lead = Lead {
        last_contact_date: Some(now() - Duration::days(14)),
        ..bare()
    };
    let f = get(
        &explainable(
            &lead,
            &Signals::default(),
            &ScoringSettings::default(),
            now(),
        ),
        "engagement",
    )
    .clone();
    // One activity out of five, at half weight: 12 * 0.2 * 0.5 = 1.2 → 1.
    assert_eq!(f.points, 1);
    assert_eq!(f.value["days_since_last_activity"], 14);
    assert_eq!(f.value["decay"], 0.5);
}

#[test]
fn title_keywords_match_whole_words_only() {
    let s = ScoringSettings::default();
    let points = |title: &str| {
        let lead = Lead {
            job_title: Some(title.into()),
            ..bare()
        };
        get(
            &explainable(&lead, &Signals::default(), &s, now()),
            "title_relevance",
        )
        .points
    };
    assert_eq!(points("Director of Sales"), 12);
    assert_eq!(points("Vice-President, Operations"), 12);
    assert_eq!(points("VP Marketing"), 12);
    assert_eq!(points("Software Engineer"), 3);
    // "cto" is inside "director" and "hEADhunter" contains "head": neither is a word.
    let only_cto = ScoringSettings {
        title_keywords: vec!["cto".into()],
        ..ScoringSettings::default()
    };
    let lead = Lead {
        job_title: Some("Director".into()),
        ..bare()
    };
    assert_eq!(
        get(
            &explainable(&lead, &Signals::default(), &only_cto, now()),
            "title_relevance"
        )
        .points,
        3
    );
    assert_eq!(points("Headhunter"), 3);
}

#[test]
fn industry_and_geography_count_only_when_configured() {
    let lead = Lead {
        industry: Some("  Health  care ".into()),
        ..bare()
    };
    let signals = Signals {
        country: Some("Germany".into()),
        ..Signals::default()
    };
    let none = explainable(&lead, &signals, &ScoringSettings::default(), now());
    assert_eq!(get(&none, "industry_match").points, 0);
    assert_eq!(
        get(&none, "industry_match").reason,
        "no ideal industries configured"
    );
    assert_eq!(
        get(&none, "geography").reason,
        "no target countries configured"
    );

    let settings = ScoringSettings {
        ideal_industries: vec!["health care".into()],
        target_countries: vec!["germany".into(), "France".into()],
        ..ScoringSettings::default()
    };
    let card = explainable(&lead, &signals, &settings, now());
    assert_eq!(get(&card, "industry_match").points, 5);
    assert_eq!(get(&card, "geography").points, 5);

    let elsewhere = Signals {
        country: Some("Spain".into()),
        ..Signals::default()
    };
    let card = explainable(&bare(), &elsewhere, &settings, now());
    assert_eq!(get(&card, "industry_match").reason, "no industry given");
    assert_eq!(get(&card, "geography").points, 0);
    assert!(get(&card, "geography")
        .reason
        .contains("not a target market"));
}

#[test]
fn source_quality_scales_with_the_conversion_rate() {
    let lead = Lead {
        source: Some("referral".into()),
        ..bare()
    };
    let points = |rate: Option<f64>| {
        let signals = Signals {
            source_conversion_rate: rate,
            ..Signals::default()
        };
        get(
            &explainable(&lead, &signals, &ScoringSettings::default(), now()),
            "source_quality",
        )
        .points
    };
    assert_eq!(points(None), 0);
    assert_eq!(points(Some(0.0)), 0);
    assert_eq!(points(Some(0.05)), 2);
    assert_eq!(points(Some(0.125)), 5);
    assert_eq!(points(Some(0.25)), 10);
    assert_eq!(points(Some(0.9)), 10);
    assert_eq!(points(Some(f64::NAN)), 0);
    assert_eq!(points(Some(7.0)), 10, "out-of-range rates are clamped");
}

#[test]
fn explainable_point_values() {
    let s = ScoringSettings::default();
    let card = |lead: Lead| explainable(&lead, &Signals::default(), &s, now());
    let sizes = [
        (CompanySize::Startup, 2),
        (CompanySize::Small, 4),
        (CompanySize::Medium, 6),
        (CompanySize::Large, 8),
        (CompanySize::Enterprise, 10),
    ];
    for (size, p) in sizes {
        let l = Lead {
            company_size: Some(size),
            ..bare()
        };
        assert_eq!(get(&card(l), "company_size").points, p, "{size}");
    }
    for (b, p) in [(0, 0), (500, 3), (10_000, 6), (50_000, 9), (100_000, 12)] {
        let l = Lead {
            budget: Some(Decimal::from(b)),
            ..bare()
        };
        assert_eq!(get(&card(l), "budget").points, p, "{b}");
    }
    for (t, p) in [
        ("ASAP please", 8),
        ("next month", 6),
        ("in two weeks", 6),
        ("Q3, next quarter", 4),
        ("someday", 2),
    ] {
        let l = Lead {
            timeline: Some(t.into()),
            ..bare()
        };
        assert_eq!(get(&card(l), "timeline").points, p, "{t}");
    }
    let l = Lead {
        company: Some("Acme".into()),
        ..bare()
    };
    assert_eq!(get(&card(l.clone()), "company_presence").points, 5);
    assert_eq!(get(&card(l), "completeness").points, 1);
    let l = Lead {
        decision_maker: true,
        ..bare()
    };
    assert_eq!(get(&card(l), "decision_maker").points, 8);

    let b = |visits, opens| {
        let signals = Signals {
            web_visits: visits,
            email_opens: opens,
            ..Signals::default()
        };
        get(&explainable(&bare(), &signals, &s, now()), "behaviour").points
    };
    assert_eq!(b(1, 1), 0);
    assert_eq!(b(4, 2), 3);
    assert_eq!(b(100, 100), 5);
}

// --- legacy ------------------------------------------------------------------------

#[test]
fn legacy_company_size_points() {
    let cases = [
        (None, 10),
        (Some(CompanySize::Startup), 10),
        (Some(CompanySize::Small), 20),
        (Some(CompanySize::Medium), 40),
        (Some(CompanySize::Large), 60),
        (Some(CompanySize::Enterprise), 80),
    ];
    for (size, p) in cases {
        let l = Lead {
            company_size: size,
            ..bare()
        };
        assert_eq!(legacy_points(&l, "company_size"), p, "{size:?}");
    }
}

#[test]
fn legacy_budget_points() {
    for (cents, p) in [
        (None, 0),
        (Some(999_999), 0),
        (Some(1_000_000), 10),
        (Some(4_999_999), 10),
        (Some(5_000_000), 20),
        (Some(9_999_999), 20),
        (Some(10_000_000), 30),
        (Some(500_000_000), 30),
    ] {
        let l = Lead {
            budget: cents.map(|c| Decimal::new(c, 2)),
            ..bare()
        };
        assert_eq!(legacy_points(&l, "budget"), p, "{cents:?}");
    }
}

#[test]
fn legacy_decision_maker_and_completeness_points() {
    let l = Lead {
        decision_maker: true,
        ..bare()
    };
    assert_eq!(legacy_points(&l, "decision_maker"), 15);
    assert_eq!(legacy_points(&bare(), "decision_maker"), 0);

    assert_eq!(legacy_points(&bare(), "completeness"), 0);
    let phone = Lead {
        phone: Some("1".into()),
        ..bare()
    };
    assert_eq!(legacy_points(&phone, "completeness"), 5);
    let two = Lead {
        company: Some("Acme".into()),
        job_title: Some("CTO".into()),
        ..bare()
    };
    assert_eq!(legacy_points(&two, "completeness"), 10);
    let all = Lead {
        phone: Some("1".into()),
        ..two
    };
    assert_eq!(legacy_points(&all, "completeness"), 15);
}

#[test]
fn legacy_status_points() {
    for (status, p) in [
        (LeadStatus::New, 5),
        (LeadStatus::Contacted, 10),
        (LeadStatus::Qualified, 25),
        (LeadStatus::Proposal, 40),
        (LeadStatus::Negotiation, 60),
        (LeadStatus::Converted, 100),
        (LeadStatus::Lost, 0),
        (LeadStatus::Unresponsive, 0),
    ] {
        let l = Lead { status, ..bare() };
        assert_eq!(legacy_points(&l, "status"), p, "{status}");
    }
}

#[test]
fn legacy_timeline_points_first_match_wins() {
    for (t, p) in [
        (None, 0),
        (Some("IMMEDIATELY"), 20),
        (Some("this month"), 15),
        (Some("next quarter"), 10),
        (Some("a month or a quarter"), 15),
        (Some("immediate, within the month"), 20),
        (Some("next year"), 0),
    ] {
        let l = Lead {
            timeline: t.map(Into::into),
            ..bare()
        };
        assert_eq!(legacy_points(&l, "timeline"), p, "{t:?}");
    }
}

#[test]
fn legacy_totals_and_the_cap() {
    // A bare new lead: the size default (10) plus new (5).
    let card = legacy(&bare());
    assert_eq!(card.model, LEGACY_MODEL);
    assert_eq!(card.score, 15);
    assert_eq!(card.factors.len(), 6);

    // medium 40 + 50k budget 20 + decision maker 15 + phone 5 + contacted 10 = 90.
    let l = Lead {
        company_size: Some(CompanySize::Medium),
        budget: Some(Decimal::from(50_000)),
        decision_maker: true,
        phone: Some("1".into()),
        status: LeadStatus::Contacted,
        ..bare()
    };
    assert_eq!(legacy(&l).score, 90);

    // 80 + 30 + 15 + 15 + 60 + 20 = 220, capped at 100.
    let l = Lead {
        status: LeadStatus::Negotiation,
        ..rich()
    };
    let card = legacy(&l);
    assert_eq!(card.factors.iter().map(|f| f.points).sum::<u32>(), 220);
    assert_eq!(card.score, 100);
}

#[test]
fn the_tenant_setting_picks_the_model() {
    let legacy_settings = ScoringSettings {
        model: ScoringModel::Legacy,
        ..ScoringSettings::default()
    };
    let card = score(&bare(), &Signals::default(), &legacy_settings, now());
    assert_eq!(card, legacy(&bare()));
    let card = score(
        &bare(),
        &Signals::default(),
        &ScoringSettings::default(),
        now(),
    );
    assert_eq!(card.model, EXPLAINABLE_MODEL);
}

// --- changes and settings ----------------------------------------------------------

#[test]
fn scored_field_changes() {
    let before = bare();
    assert!(!is_scored_field_change(&before, &before.clone()));
    let unscored = Lead {
        notes: Some("hello".into()),
        first_name: "Augusta".into(),
        ..bare()
    };
    assert!(!is_scored_field_change(&before, &unscored));
    let changes: Vec<Lead> = vec![
        Lead {
            company_size: Some(CompanySize::Small),
            ..bare()
        },
        Lead {
            budget: Some(Decimal::ONE),
            ..bare()
        },
        Lead {
            decision_maker: true,
            ..bare()
        },
        Lead {
            status: LeadStatus::Lost,
            ..bare()
        },
        Lead {
            timeline: Some("soon".into()),
            ..bare()
        },
        Lead {
            company: Some("Acme".into()),
            ..bare()
        },
        Lead {
            company_website: Some("https://a.example".into()),
            ..bare()
        },
        Lead {
            job_title: Some("CEO".into()),
            ..bare()
        },
        Lead {
            phone: Some("1".into()),
            ..bare()
        },
        Lead {
            industry: Some("Retail".into()),
            ..bare()
        },
        Lead {
            source: Some("ads".into()),
            ..bare()
        },
    ];
    assert_eq!(changes.len(), SCORED_FIELDS.len());
    for after in &changes {
        assert!(is_scored_field_change(&before, after), "{after:?}");
    }
}

fn body(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn settings_parse_defaults_and_round_trip() {
    let s = ScoringSettings::parse(&body(json!({}))).unwrap();
    assert_eq!(s, ScoringSettings::default());
    assert!(s.title_keywords.contains(&"vice president".to_string()));

    let s = ScoringSettings::parse(&body(json!({
        "model": "legacy",
        "ideal_industries": [" Software ", "software", "Retail"],
        "target_countries": ["DE"],
        "title_keywords": [],
    })))
    .unwrap();
    assert_eq!(s.model, ScoringModel::Legacy);
    assert_eq!(s.ideal_industries, vec!["Software", "Retail"]);
    assert!(s.title_keywords.is_empty());

    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["model"], "legacy");
    let back: ScoringSettings = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
    // Stored items written before a field existed read back with its default.
    let old: ScoringSettings = serde_json::from_value(json!({"model": "legacy"})).unwrap();
    assert_eq!(
        old.title_keywords,
        ScoringSettings::default().title_keywords
    );
}

#[test]
fn settings_merge_keeps_fields_left_out() {
    let current = ScoringSettings {
        target_countries: vec!["FR".into()],
        ..ScoringSettings::default()
    };
    let next = current
        .merge(&body(json!({"ideal_industries": ["Banking"]})))
        .unwrap();
    assert_eq!(next.target_countries, vec!["FR"]);
    assert_eq!(next.ideal_industries, vec!["Banking"]);
}

#[test]
fn settings_errors_name_their_fields() {
    let long = "x".repeat(101);
    let many: Vec<String> = (0..51).map(|i| format!("k{i}")).collect();
    let errors = ScoringSettings::parse(&body(json!({
        "model": "magic",
        "ideal_industries": "Software",
        "target_countries": ["DE", 3, " ", long],
        "title_keywords": many,
    })))
    .unwrap_err();
    let v = serde_json::to_value(&errors).unwrap();
    assert_eq!(
        v["model"][0],
        "\"magic\" is not a valid choice. Valid choices: explainable, legacy."
    );
    assert_eq!(
        v["ideal_industries"][0],
        "Expected a list of items but got type \"str\"."
    );
    assert_eq!(
        v["target_countries"],
        json!([
            "Item 1: Not a valid string.",
            "Item 2: This field may not be blank.",
            "Item 3: Ensure this field has no more than 100 characters."
        ])
    );
    assert_eq!(
        v["title_keywords"][0],
        "Ensure this field has no more than 50 elements."
    );

    let errors =
        ScoringSettings::parse(&body(json!({"model": null, "title_keywords": null}))).unwrap_err();
    assert!(errors.has("model") && errors.has("title_keywords"));
}
