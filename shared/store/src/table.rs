//! The table definition: one place, as data. [`definition`] is the CloudFormation /
//! `CreateTable` shape; [`create_table_if_absent`] (the admin command, the local stack, the
//! tests) builds its request from it, and a test checks that `template.yaml` declares the
//! same keys and indexes.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_json::{json, Value};

use crate::keys::{LeadIndex, PK, SK};

fn key_schema(pk: &str, sk: &str) -> Value {
    json!([
        {"AttributeName": pk, "KeyType": "HASH"},
        {"AttributeName": sk, "KeyType": "RANGE"},
    ])
}

fn string_attr(name: &str) -> Value {
    json!({"AttributeName": name, "AttributeType": "S"})
}

/// The table as CloudFormation's `AWS::DynamoDB::Table` properties (which are also the
/// `CreateTable` request's field names): `TableName`, `BillingMode`, `KeySchema`,
/// `AttributeDefinitions` and `GlobalSecondaryIndexes` (projecting the whole item, or for
/// the indexes of leads only what a lead read needs: `LeadIndex::holds_only_leads`).
pub fn definition(table_name: &str) -> Value {
    let mut attributes = vec![string_attr(PK), string_attr(SK)];
    let mut indexes = Vec::new();
    for index in LeadIndex::ALL {
        let (pk, sk) = (index.pk_attr(), index.sk_attr());
        attributes.push(string_attr(&pk));
        attributes.push(string_attr(&sk));
        let projection = if index.holds_only_leads() {
            json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": crate::lead_item::INDEXED})
        } else {
            json!({"ProjectionType": "ALL"})
        };
        indexes.push(json!({
            "IndexName": index.name(),
            "KeySchema": key_schema(&pk, &sk),
            "Projection": projection,
        }));
    }
    json!({
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": key_schema(PK, SK),
        "AttributeDefinitions": attributes,
        "GlobalSecondaryIndexes": indexes,
        // Idempotency records expire (crate::idempotency).
        "TimeToLiveSpecification": {
            "AttributeName": crate::idempotency::EXPIRES_AT,
            "Enabled": true,
        },
        // The one source of change events (crate::stream): the changes worker turns
        // committed writes into their follow-up work.
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
    })
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("table definition: {field} must be a string in {value}"))
}

fn list<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value[field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("table definition: {field} must be a list in {value}"))
}

fn key_elements(value: &Value) -> Vec<KeySchemaElement> {
    list(value, "KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName"))
                .key_type(KeyType::from(text(k, "KeyType")))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// The lead indexes an existing table lacks.
fn missing_indexes(table: Option<&TableDescription>) -> Vec<String> {
    let present: Vec<&str> = table
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    LeadIndex::ALL
        .iter()
        .map(|i| i.name())
        .filter(|name| !present.contains(&name.as_str()))
        .collect()
}

fn global_index(index: &Value) -> GlobalSecondaryIndex {
    let projection = &index["Projection"];
    let included = projection["NonKeyAttributes"].as_array().map(|names| {
        names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    });
    GlobalSecondaryIndex::builder()
        .index_name(text(index, "IndexName"))
        .set_key_schema(Some(key_elements(index)))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::from(text(projection, "ProjectionType")))
                .set_non_key_attributes(included)
                .build(),
        )
        .build()
        .expect("gsi")
}

/// Creates the table with its indexes unless it exists. Returns true when it created it.
/// An existing table that lacks one of the indexes is an error that says so, rather than
/// queries failing later (a local data file from an older version, say).
pub async fn create_table_if_absent(client: &Client, table: &str) -> Result<bool, String> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => {
            let missing = missing_indexes(out.table());
            let streamed = out.table().and_then(|t| t.latest_stream_arn()).is_some();
            if missing.is_empty() && !streamed {
                return Err(format!(
                    "table {table} exists without its stream: it was created by an older \
                     version (locally: `make clean-data` starts afresh; in AWS: update the stack)"
                ));
            }
            if missing.is_empty() {
                return Ok(false);
            }
            return Err(format!(
                "table {table} exists but lacks the indexes {}: it was created by an older \
                 version (locally: `make clean-data` starts afresh; in AWS: update the stack)",
                missing.join(", ")
            ));
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(format!("describe table {table}: {}", crate::describe(&e))),
    }
    let def = definition(table);
    let mut request = client
        .create_table()
        .table_name(text(&def, "TableName"))
        .billing_mode(BillingMode::from(text(&def, "BillingMode")))
        .set_key_schema(Some(key_elements(&def)));
    for attr in list(&def, "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(attr, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(text(attr, "AttributeType")))
                .build()
                .expect("attribute definition"),
        );
    }
    for index in list(&def, "GlobalSecondaryIndexes") {
        request = request.global_secondary_indexes(global_index(index));
    }
    let stream = &def["StreamSpecification"];
    request = request.stream_specification(
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(text(stream, "StreamViewType")))
            .build()
            .expect("stream specification"),
    );
    request
        .send()
        .await
        .map_err(|e| format!("create table {table}: {}", crate::describe(&e)))?;
    let ttl = &def["TimeToLiveSpecification"];
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(text(ttl, "AttributeName"))
                .enabled(ttl["Enabled"].as_bool().unwrap_or(false))
                .build()
                .expect("ttl specification"),
        )
        .send()
        .await
        .map_err(|e| format!("enable TTL on {table}: {}", crate::describe(&e)))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_table_without_the_indexes_is_reported() {
        let client = crate::emulator_client().await;
        // A table as the first version created it: keys only, no indexes.
        client
            .create_table()
            .table_name("old")
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("PK")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("SK")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("PK")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("SK")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let err = create_table_if_absent(&client, "old").await.unwrap_err();
        assert!(err.contains("lacks the indexes GSI1"), "{err}");
        assert_eq!(create_table_if_absent(&client, "new").await, Ok(true));
        assert_eq!(create_table_if_absent(&client, "new").await, Ok(false));
    }

    use super::*;

    #[test]
    fn every_key_attribute_is_defined_once() {
        let def = definition("t");
        let defined: Vec<&str> = list(&def, "AttributeDefinitions")
            .iter()
            .map(|a| text(a, "AttributeName"))
            .collect();
        let mut unique = defined.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), defined.len(), "{defined:?}");
        let mut used: Vec<&str> = key_elements(&def)
            .iter()
            .map(|k| k.attribute_name())
            .map(|n| defined.iter().copied().find(|d| *d == n).expect(n))
            .collect();
        for index in list(&def, "GlobalSecondaryIndexes") {
            for k in list(index, "KeySchema") {
                let n = text(k, "AttributeName");
                used.push(defined.iter().copied().find(|d| *d == n).expect(n));
            }
        }
        assert_eq!(used.len(), defined.len());
    }
}
