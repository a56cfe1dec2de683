//! A token for tenant A never reads, changes or learns of tenant B's leads.

use crate::common::*;

#[tokio::test]
async fn another_tenants_lead_is_404_for_every_method_and_stays_unchanged() {
    let app = start().await;
    let (_, owner_a) = app.owner("A").await;
    let (_, owner_b) = app.owner("B").await;
    let lead = app.create_lead(&owner_a, john()).await;
    let url = paths::lead(id(&lead));

    for res in [
        app.get(&url).bearer(&owner_b).send().await,
        app.patch(&url)
            .bearer(&owner_b)
            .json(json!({"phone": "666"}))
            .send()
            .await,
        app.put(&url).bearer(&owner_b).json(john()).send().await,
        app.delete(&url).bearer(&owner_b).send().await,
        app.patch(&url)
            .bearer(&owner_b)
            .header("If-Match", "\"1\"")
            .json(json!({"phone": "6"}))
            .send()
            .await,
    ] {
        assert_eq!(res.status, 404, "{}", res.text);
        assert_eq!(res.body, json!({"detail": "Not found."}));
    }
    let list_b = app.read(LEADS, &owner_b).await;
    assert_eq!(list_b["results"], json!([]));

    let after = app.read(&url, &owner_a).await;
    assert_eq!(after, lead, "A's lead is untouched");
}

#[tokio::test]
async fn emails_are_unique_per_tenant_not_globally() {
    let app = start().await;
    let (_, owner_a) = app.owner("A").await;
    let (_, owner_b) = app.owner("B").await;
    app.create_lead(&owner_a, john()).await;
    // B can hold the same address, and learns nothing about A from it.
    app.create_lead(&owner_b, john()).await;
    let res = app
        .post(LEADS)
        .bearer(&owner_a)
        .json(john())
        .send()
        .await
        .expect(400);
    assert_eq!(res.body, email_taken());
}

#[tokio::test]
async fn a_cursor_from_one_tenant_is_refused_for_another() {
    let app = start().await;
    let (_, owner_a) = app.owner("A").await;
    let (_, owner_b) = app.owner("B").await;
    for n in 0..3 {
        app.create_lead(&owner_a, person(n)).await;
        app.create_lead(&owner_b, person(n)).await;
    }
    let page = app.read(&format!("{LEADS}?page_size=1"), &owner_a).await;
    let next = link(&page, "next").unwrap();
    app.get(&next).bearer(&owner_a).send().await.expect(200);
    let res = app.get(&next).bearer(&owner_b).send().await.expect(400);
    assert_eq!(res.body, json!({"cursor": ["Invalid cursor."]}));
    // The same listing with another page size may continue from the cursor.
    let other_size = next.replace("page_size=1", "page_size=2");
    app.get(&other_size)
        .bearer(&owner_a)
        .send()
        .await
        .expect(200);
}
