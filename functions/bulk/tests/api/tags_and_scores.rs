//! bulk-tag adds and removes tags relative to each lead's own; update-scores rescores now
//! (inline here: these apps have no scoring queue) or queues (with one).

use crate::common::*;

use crm_testkit::paths::{BULK_TAG, UPDATE_SCORES};

async fn new_tag(apps: &Apps, token: &str, name: &str) -> String {
    let sources = apps.bulk.with_function(sources::app);
    id(&sources
        .create(paths::TAGS, token, json!({"name": name}))
        .await)
}

fn tag_ids(lead: &Value) -> Vec<String> {
    let mut ids: Vec<String> = lead["tag_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn bulk_tag_adds_and_removes_without_touching_other_tags() {
    let apps = start().await;
    let (_, admin) = apps.bulk.tenant_with("Acme", "admin", Role::Admin).await;
    let hot = new_tag(&apps, &admin, "hot").await;
    let cold = new_tag(&apps, &admin, "cold").await;
    let vip = new_tag(&apps, &admin, "vip").await;
    let ids = apps
        .leads
        .create_leads(&admin, 3, json!({"tag_ids": [vip.clone(), cold.clone()]}))
        .await;

    let res = apps
        .bulk
        .post(BULK_TAG)
        .bearer(&admin)
        .json(json!({"lead_ids": ids, "add": [hot], "remove": [cold]}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 3, "{}", res.text);
    let mut expected = vec![hot.clone(), vip.clone()];
    expected.sort();
    for id in &ids {
        let lead = apps.leads.lead(&admin, id).await;
        assert_eq!(tag_ids(&lead), expected);
    }
    // The tags= filter sees the new memberships (kept in the same transactions).
    let listed = apps
        .leads
        .read(&format!("{LEADS}?tags={hot}"), &admin)
        .await;
    assert_eq!(listed["results"].as_array().unwrap().len(), 3);

    // Again: nothing to change.
    let again = apps
        .bulk
        .post(BULK_TAG)
        .bearer(&admin)
        .json(json!({"lead_ids": ids, "add": [hot]}))
        .send()
        .await
        .expect(200);
    assert_eq!(again.body["updated_count"], 0);
    assert_eq!(again.body["results"][0]["status"], "unchanged");
}

#[tokio::test]
async fn bulk_tag_validates_its_tags_and_roles() {
    let apps = start().await;
    let (tenant, admin) = apps.bulk.tenant_with("Acme", "admin", Role::Admin).await;
    let user = apps.bulk.token(&tenant, "user", Role::User);
    let ids = apps.leads.create_leads(&admin, 1, json!({})).await;
    let (_, other_admin) = apps.bulk.tenant_with("Other", "admin", Role::Admin).await;
    let foreign = new_tag(&apps, &other_admin, "theirs").await;

    for (body, field) in [
        (json!({"lead_ids": ids}), "non_field_errors"),
        (json!({"lead_ids": ids, "add": "x"}), "add"),
        (json!({"lead_ids": ids, "add": ["not-a-uuid"]}), "add"),
        (json!({"lead_ids": ids, "add": [foreign]}), "add"),
    ] {
        let res = apps
            .bulk
            .post(BULK_TAG)
            .bearer(&admin)
            .json(body.clone())
            .send()
            .await
            .expect(400);
        assert!(res.body[field].is_array(), "{body}: {}", res.text);
    }
    apps.bulk
        .post(BULK_TAG)
        .bearer(&user)
        .json(json!({"lead_ids": ids, "add": [foreign]}))
        .send()
        .await
        .expect(403);
    assert_eq!(apps.leads.lead(&admin, &ids[0]).await["version"], 1);
}

#[tokio::test]
async fn update_scores_rescores_the_found_leads_now() {
    let apps = start().await;
    let (_, manager) = apps
        .bulk
        .tenant_with("Acme", "manager", Role::Manager)
        .await;
    let ids = apps
        .leads
        .create_leads(&manager, 3, json!({"company": "Acme", "job_title": "CEO"}))
        .await;
    let mut asked = ids.clone();
    asked.push(Uuid::new_v4().to_string());
    let res = apps
        .bulk
        .post(UPDATE_SCORES)
        .bearer(&manager)
        .json(json!({"lead_ids": asked}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["updated_count"], 3, "{}", res.text);
    assert_eq!(res.body["queued_count"], 0);
    assert_eq!(res.body["results"][3]["status"], "not_found");
    for id in &ids {
        let lead = apps.leads.lead(&manager, id).await;
        assert!(lead["score"].as_u64().unwrap() > 0);
        assert_eq!(lead["score_model"], "explainable-v1");
    }
    // Nothing changed since: nothing written.
    let again = apps
        .bulk
        .post(paths::bare(&paths::underscored(UPDATE_SCORES)))
        .bearer(&manager)
        .json(json!({"lead_ids": ids}))
        .send()
        .await
        .expect(200);
    assert_eq!(again.body["updated_count"], 0);
}

#[tokio::test]
async fn update_scores_queues_when_there_is_a_scoring_queue() {
    let queues = crm_testkit::TestQueues::create().await;
    let bulk = TestApp::start_with_queues(bulk::app, &queues).await;
    let apps = Apps {
        leads: bulk.with_function(leads::app),
        bulk,
    };
    let (_, manager) = apps
        .bulk
        .tenant_with("Acme", "manager", Role::Manager)
        .await;
    let ids = apps.leads.create_leads(&manager, 12, json!({})).await;
    // The creates asked for their own scores (through the table's stream); the worker
    // handles them first.
    let stream = crm_testkit::TestStream::open(&apps.bulk).await;
    stream.deliver_changes(&queues).await;
    let worker = apps.bulk.worker(None);
    queues
        .deliver(&queues.scoring, |event| scoring::handle(&worker, event))
        .await;
    stream.deliver_changes(&queues).await;
    let res = apps
        .bulk
        .post(UPDATE_SCORES)
        .bearer(&manager)
        .json(json!({"lead_ids": ids}))
        .send()
        .await
        .expect(200);
    assert_eq!(res.body["queued_count"], 12, "{}", res.text);
    // The rescore requests reach the queue through the stream.
    assert_eq!(stream.deliver_changes(&queues).await, 12);
    // Manual requests rescore even though each lead's score is current; unchanged cards
    // write nothing.
    let rounds = queues
        .deliver(&queues.scoring, |event| scoring::handle(&worker, event))
        .await;
    let received: usize = rounds.iter().map(|r| r.received).sum();
    let deleted: usize = rounds.iter().map(|r| r.deleted).sum();
    assert_eq!((received, deleted), (12, 12));
}
