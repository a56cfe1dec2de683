//! The table definition: one place, used by the admin command, the local stack and the tests
//! (and mirrored by `template.yaml`).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;

use crate::keys::{LeadIndex, PK, SK};

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema element")
}

fn string_attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("attribute definition")
}

/// Creates the table with its indexes unless it exists. Returns true when it created it.
pub async fn create_table_if_absent(client: &Client, table: &str) -> Result<bool, String> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => return Ok(false),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => {
            return Err(format!(
                "describe table {table}: {}",
                crate::store::describe(&e)
            ))
        }
    }
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .attribute_definitions(string_attr(PK))
        .attribute_definitions(string_attr(SK));
    for index in LeadIndex::ALL {
        let (pk, sk) = (index.pk_attr(), index.sk_attr());
        request = request
            .attribute_definitions(string_attr(&pk))
            .attribute_definitions(string_attr(&sk))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name())
                    .key_schema(key(&pk, KeyType::Hash))
                    .key_schema(key(&sk, KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("gsi"),
            );
    }
    request
        .send()
        .await
        .map_err(|e| format!("create table {table}: {}", crate::store::describe(&e)))?;
    Ok(true)
}
