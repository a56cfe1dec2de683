//! The lifecycle every resource of this function shares: versions as entity tags, and a
//! stale `If-Match` answered alike on edits and deletes, naming the current version.

use crate::common::*;

#[tokio::test]
async fn every_resource_versions_its_edits_and_refuses_a_stale_if_match() {
    let apps = start().await;
    let app = &apps.sources;
    let (_, token) = app.owner("Acme").await;
    let lead = id(&apps.leads.create_lead(&token, person(1)).await);
    for (collection, create, edit, noun) in [
        (
            SOURCES,
            json!({"name": "Web"}),
            json!({"is_active": false}),
            "source",
        ),
        (
            TAGS,
            json!({"name": "Hot"}),
            json!({"color": "#ff0000"}),
            "tag",
        ),
        (
            ACTIVITIES,
            activity(&lead, "note"),
            json!({"title": "Renamed"}),
            "activity",
        ),
        (
            NOTES,
            json!({"lead": lead, "content": "Hello"}),
            json!({"content": "Edited"}),
            "note",
        ),
        (
            paths::CUSTOM_FIELDS,
            json!({"name": "tier", "field_type": "text"}),
            json!({"help_text": "Plan"}),
            "custom field",
        ),
    ] {
        let created = app
            .post(collection)
            .bearer(&token)
            .json(create)
            .send()
            .await
            .expect(201);
        assert_eq!(created.header("etag"), Some("\"1\""), "{collection}");
        let url = format!("{collection}{}/", id(&created.body));
        let edited = app
            .patch(&url)
            .bearer(&token)
            .header("if-match", "\"1\"")
            .json(edit.clone())
            .send()
            .await
            .expect(200);
        assert_eq!(edited.header("etag"), Some("\"2\""), "{collection}");
        let stale =
            format!("The {noun} has changed: If-Match does not match the current version \"2\".");
        let res = app
            .patch(&url)
            .bearer(&token)
            .header("if-match", "\"1\"")
            .json(edit)
            .send()
            .await
            .expect(412);
        assert_eq!(res.body["detail"], stale.as_str());
        let res = app
            .delete(&url)
            .bearer(&token)
            .header("if-match", "\"1\"")
            .send()
            .await
            .expect(412);
        assert_eq!(res.body["detail"], stale.as_str());
        app.delete(&url)
            .bearer(&token)
            .header("if-match", "\"2\"")
            .send()
            .await
            .expect(204);
        app.get(&url).bearer(&token).send().await.expect(404);
    }
}
