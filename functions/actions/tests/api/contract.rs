//! The HTTP contract's robustness rules on this function's `{id}` routes.

use crate::common::*;

#[tokio::test]
async fn an_undecodable_lead_id_is_a_json_404() {
    let apps = start().await;
    let tenant = apps.actions.tenant("Acme").await;
    let token = apps.actions.token(&tenant, "owner-1", Role::Owner);
    for action in [
        "update-score",
        "mark-contacted",
        "convert",
        "mark-lost",
        "ai-insights",
    ] {
        let path = paths::lead_path("%ff", action);
        let method = if action == "ai-insights" {
            "GET"
        } else {
            "POST"
        };
        apps.actions.expect_json_404(method, &path, &token).await;
    }
}
