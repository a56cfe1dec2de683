//! A lead's history (`leads/{id}/history/`): every change, newest first, with who, when
//! and each field's old and new value; paginated; another tenant's lead is a 404.

use crate::common::*;
use uuid::Uuid;

#[tokio::test]
async fn every_change_newest_first_with_old_and_new_values_a_page_at_a_time() {
    let app = start().await;
    let (tenant, token) = app.owner("Acme").await;
    let lead = app.create_lead(&token, person(1)).await;
    let id = id(&lead);
    for (n, status) in ["contacted", "qualified", "proposal"].iter().enumerate() {
        app.update_lead(
            &token,
            &id,
            json!({"status": status, "company": format!("Co {n}")}),
        )
        .await;
    }
    let url = paths::lead_path(&id, "history");
    // Every role that reads the lead reads its history.
    let readonly = app.token(&tenant, "reader", Role::Readonly);
    let rows = all_pages(&app, &readonly, &format!("{url}?page_size=2")).await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["update", "update", "update", "create"]);
    let newest = &rows[0];
    assert!(
        newest["actor"].as_str().unwrap().starts_with("owner"),
        "{newest}"
    );
    let status = newest["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "status")
        .expect("the status change");
    assert_eq!(status["old"], "qualified");
    assert_eq!(status["new"], "proposal");
    let times: Vec<&str> = rows.iter().map(|r| r["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // A first page of 2 links to the next and says there is no previous.
    let res = app
        .get(&format!("{url}?page_size=2"))
        .bearer(&token)
        .send()
        .await
        .expect(200);
    assert!(res.body["next"].is_string());
    assert!(res.body["previous"].is_null());

    // Another tenant's lead, a missing one, and unknown parameters.
    let (_, other) = app.owner("Other").await;
    app.get(&url).bearer(&other).send().await.expect(404);
    app.get(&paths::lead_path(Uuid::new_v4(), "history"))
        .bearer(&token)
        .send()
        .await
        .expect(404);
    let res = app
        .get(&format!("{url}?status=new"))
        .bearer(&token)
        .send()
        .await
        .expect(400);
    assert!(res.body["status"].is_array(), "{}", res.text);
    // A cursor of one lead's history does not page another's.
    let next = res_next(&app, &token, &format!("{url}?page_size=1")).await;
    let lead2 = crm_testkit::fixtures::id(&app.create_lead(&token, person(2)).await);
    let cursor = next
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let res = app
        .get(&format!(
            "{}?cursor={cursor}",
            paths::lead_path(&lead2, "history")
        ))
        .bearer(&token)
        .send()
        .await
        .expect(400);
    assert!(res.body["cursor"].is_array(), "{}", res.text);
}

async fn res_next(app: &TestApp, token: &str, url: &str) -> String {
    let res = app.get(url).bearer(token).send().await.expect(200);
    res.body["next"].as_str().expect("a next link").to_string()
}
