//! bulk-assign: to one user, to nobody, and spread over several.

use crm_store::ResourceType;
use crm_testkit::fixtures::setup_entry;
use std::collections::BTreeMap;

use crate::common::*;

fn given(res: &TestResponse) -> Vec<String> {
    res.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["assigned_to"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[tokio::test]
async fn assigns_every_lead_to_one_user_or_to_nobody() {
    let (apps, _, token, ids) = acme_with_leads(3, json!({"assigned_to": "ann"})).await;
    let missing = Uuid::new_v4().to_string();
    let mut request = ids.clone();
    request.insert(1, missing.clone());
    let res = apps
        .assign(&token, json!({"lead_ids": request, "assigned_to": "bob"}))
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 3);
    assert_eq!(
        outcomes(&res),
        vec![
            (ids[0].clone(), "updated".into()),
            (missing, "not_found".into()),
            (ids[1].clone(), "updated".into()),
            (ids[2].clone(), "updated".into()),
        ]
    );
    for id in &ids {
        assert_eq!(
            apps.leads.lead(&token, id).await["assigned_to"]["id"],
            "bob"
        );
    }
    // `assigned_to_id` (the original's name) and null: unassigned.
    let res = apps
        .assign(&token, json!({"lead_ids": ids, "assigned_to_id": null}))
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 3);
    let unassigned = apps
        .leads
        .read(&paths::leads_view("unassigned"), &token)
        .await;
    assert_eq!(unassigned["results"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn exactly_one_of_assigned_to_and_assignees() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    let ids = vec![Uuid::new_v4().to_string()];
    let either = json!({"non_field_errors": ["Provide either assigned_to (one user) or assignees (several users), not both; or only a strategy to spread the leads over the tenant's team."]});
    for body in [
        json!({"lead_ids": ids}),
        json!({"lead_ids": ids, "assigned_to": "a", "assignees": ["b"]}),
    ] {
        let res = apps.assign(&token, body).await.expect(400);
        assert_eq!(res.body, either);
    }
    let cases = [
        (
            json!({"lead_ids": ids, "assignees": []}),
            json!({"assignees": ["This list may not be empty."]}),
        ),
        (
            json!({"lead_ids": ids, "assignees": ["a", null]}),
            json!({"assignees": ["This field may not be null."]}),
        ),
        (
            json!({"lead_ids": ids, "assignees": ["a"], "strategy": "random"}),
            json!({"strategy": ["\"random\" is not a valid choice. Valid choices: round_robin, least_loaded."]}),
        ),
        (
            json!({"lead_ids": ids, "assigned_to": "a", "strategy": "round_robin"}),
            json!({"strategy": ["Only used with assignees."]}),
        ),
        (
            json!({"lead_ids": ids, "assigned_to": "x".repeat(129)}),
            json!({"assigned_to": ["Ensure this field has no more than 128 characters."]}),
        ),
        (
            json!({"lead_ids": ids, "assignees": (0..101).map(|n| format!("u{n}")).collect::<Vec<_>>()}),
            json!({"assignees": ["Ensure this field has no more than 100 elements."]}),
        ),
    ];
    for (body, expected) in cases {
        let res = apps.assign(&token, body.clone()).await;
        assert_eq!((res.status, &res.body), (400, &expected), "{body}");
    }
}

#[tokio::test]
async fn round_robin_follows_the_order_of_lead_ids() {
    let (apps, _, token, ids) = acme_with_leads(7, json!({})).await;
    let missing = Uuid::new_v4().to_string();
    let mut request: Vec<String> = ids.iter().rev().cloned().collect();
    request.insert(2, missing);
    let body =
        json!({"lead_ids": request, "assignees": ["ann", "bob", "cid"], "strategy": "round_robin"});
    let res = apps.assign(&token, body).await.expect(200);
    assert_eq!(res.body["updated_count"], 7);
    // Only leads found take a turn; the missing id gets nobody.
    assert_eq!(
        given(&res),
        ["ann", "bob", "-", "cid", "ann", "bob", "cid", "ann"]
    );
    for (r, expected) in res.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(given(&res))
    {
        if expected != "-" {
            let lead = apps.leads.lead(&token, r["id"].as_str().unwrap()).await;
            assert_eq!(lead["assigned_to"]["id"], expected.as_str());
        }
    }
    // `strategy` defaults to round robin.
    let res = apps
        .assign(
            &token,
            json!({"lead_ids": ids[..2], "assignees": ["dan", "eve"]}),
        )
        .await
        .expect(200);
    assert_eq!(given(&res), ["dan", "eve"]);
}

#[tokio::test]
async fn least_loaded_gives_each_lead_to_whoever_has_fewest_active_leads() {
    let apps = start().await;
    let (_, token) = apps.bulk.manager("Acme").await;
    // ann has 4 active leads, bob 1 active (and 3 closed ones, which do not count), cid 0.
    let mut n = 1000;
    for (user, status, count) in [
        ("ann", "new", 4),
        ("bob", "qualified", 1),
        ("bob", "lost", 2),
        ("bob", "converted", 1),
    ] {
        for _ in 0..count {
            let mut body = person(n);
            n += 1;
            body["assigned_to"] = json!(user);
            body["status"] = json!(status);
            apps.leads.create_lead(&token, body).await;
        }
    }
    let ids = apps.leads.create_leads(&token, 6, json!({})).await;
    let body =
        json!({"lead_ids": ids, "assignees": ["ann", "bob", "cid"], "strategy": "least_loaded"});
    let res = apps.assign(&token, body).await.expect(200);
    assert_eq!(res.body["updated_count"], 6);
    // Loads (4, 1, 0): cid, then bob and cid in turn (ties to the earlier), ... until
    // everyone has 4: ann gets none of six.
    assert_eq!(given(&res), ["cid", "bob", "cid", "bob", "cid", "bob"]);
    let mut load: BTreeMap<String, usize> = BTreeMap::new();
    for lead in all_pages(&apps.leads, &token, &format!("{LEADS}?page_size=100")).await {
        if lead["status"] != "lost" && lead["status"] != "converted" {
            *load
                .entry(lead["assigned_to"].as_str().unwrap_or("-").to_string())
                .or_default() += 1;
        }
    }
    assert_eq!(
        load,
        BTreeMap::from([("ann".into(), 4), ("bob".into(), 4), ("cid".into(), 3)])
    );
}

/// `{lead_ids, strategy}` without assignees spreads the leads over the tenant's team: its
/// active members who work leads (not readonly ones, not inactive ones).
#[tokio::test]
async fn a_strategy_alone_spreads_the_leads_over_the_team() {
    let apps = start().await;
    let (tenant, token) = apps.bulk.manager("Acme").await;
    // Before the tenant has members there is no team to spread over.
    let ids = apps.leads.create_leads(&token, 4, json!({})).await;
    let body = json!({"lead_ids": ids, "strategy": "least_loaded"});
    let res = apps.assign(&token, body.clone()).await.expect(400);
    assert!(res.body["assignees"].is_array(), "{}", res.text);

    let seller = apps
        .bulk
        .member(&tenant, "seller@acme.example", Role::User)
        .await;
    let lead_manager = apps
        .bulk
        .member(&tenant, "lm@acme.example", Role::Manager)
        .await;
    apps.bulk
        .member(&tenant, "viewer@acme.example", Role::Readonly)
        .await;
    let gone = apps.bulk.user("gone@acme.example").await;
    let before = apps.bulk.join(&tenant, &gone, Role::User).await;
    let after = crm_domain::accounts::Membership {
        is_active: false,
        ..before.clone()
    };
    apps.bulk
        .state
        .store
        .change_membership(
            &before,
            Some(&after),
            &setup_entry(ResourceType::Member, before.user_id),
        )
        .await
        .expect("deactivate a member");

    let res = apps.assign(&token, body).await.expect(200);
    let mut given: Vec<String> = res.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["assigned_to"].as_str().unwrap().to_string())
        .collect();
    given.sort();
    let mut expected = vec![seller.id.to_string(), lead_manager.id.to_string()];
    expected.extend(expected.clone());
    expected.sort();
    assert_eq!(given, expected);
}
