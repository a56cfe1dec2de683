//! The queues of template.yaml follow `crm_app::queue::QUEUES` (the definitions the
//! local stack and the tests create), each with its dead-letter queue, and each is polled
//! by its worker as the worker's code expects (partial batch failures).

use std::collections::BTreeSet;

use crate::common::*;
use crm_app::queue::QUEUES;

/// 14 days, the most SQS keeps a message: time for a human to look at a poison message.
const DLQ_RETENTION_SECONDS: u64 = 14 * 24 * 3600;

#[test]
fn every_queue_spec_has_its_queue_and_dead_letter_queue() {
    let template = template();
    let mut expected = BTreeSet::new();
    for spec in QUEUES {
        let (name, queue) = queue_resource(&template, &spec);
        let props = &queue["Properties"];
        assert_eq!(
            props["VisibilityTimeout"].as_u64(),
            Some(u64::from(spec.visibility_timeout_seconds)),
            "{name}: VisibilityTimeout"
        );
        assert_eq!(props["SqsManagedSseEnabled"], true, "{name}: encrypted");
        let redrive = &props["RedrivePolicy"];
        assert_eq!(
            redrive["maxReceiveCount"].as_u64(),
            Some(u64::from(spec.max_receive_count)),
            "{name}: maxReceiveCount"
        );
        let dlq = referenced(&redrive["deadLetterTargetArn"]).expect("deadLetterTargetArn");
        assert_eq!(
            redrive["deadLetterTargetArn"],
            json!({"Fn::GetAtt": [dlq, "Arn"]})
        );
        let (dlq_name, dlq_resource) = queue_named(&template, &format!("{}-dlq", spec.name));
        assert_eq!(dlq, dlq_name, "{name}: its dead-letter queue");
        let dlq_props = &dlq_resource["Properties"];
        assert_eq!(
            dlq_props["MessageRetentionPeriod"].as_u64(),
            Some(DLQ_RETENTION_SECONDS),
            "{dlq}"
        );
        assert_eq!(dlq_props["SqsManagedSseEnabled"], true, "{dlq}: encrypted");
        assert!(
            dlq_props.get("RedrivePolicy").is_none(),
            "{dlq}: the end of the line"
        );
        expected.insert(name.to_string());
        expected.insert(dlq.to_string());
    }
    // And the changes worker's on-failure destination (checked in `stream`).
    let (changes_dlq, _) = queue_named(&template, crate::stream::ON_FAILURE_QUEUE);
    expected.insert(changes_dlq.to_string());
    let all: BTreeSet<String> = resources_of_type(&template, "AWS::SQS::Queue")
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(
        all, expected,
        "no queue beyond QUEUES and their dead-letter queues"
    );
}

#[test]
fn every_queue_is_polled_by_its_worker_with_partial_batch_failures() {
    let template = template();
    for spec in functions() {
        let Kind::Worker { queue, .. } = &spec.kind else {
            continue;
        };
        let (name, function) = function_of(&template, spec.binary);
        let (queue_name, queue_resource) = queue_resource(&template, queue);
        let events: Vec<Value> = function["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values().cloned())
            .collect();
        assert_eq!(events.len(), 1, "{name}: one event source");
        let event = &events[0];
        assert_eq!(event["Type"], "SQS", "{name}");
        let props = &event["Properties"];
        assert_eq!(
            props["Queue"],
            json!({"Fn::GetAtt": [queue_name, "Arn"]}),
            "{name}: polls its own queue"
        );
        assert_eq!(props["BatchSize"], 10, "{name}");
        assert_eq!(props["MaximumBatchingWindowInSeconds"], 1, "{name}");
        assert_eq!(
            props["FunctionResponseTypes"],
            json!(["ReportBatchItemFailures"]),
            "{name}: the worker answers with the failed messages (process_batch)"
        );
        assert_ne!(props["Enabled"], false, "{name}");
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap();
        assert_eq!(
            timeout,
            u64::from(queue.worker_timeout_seconds),
            "{name}: Timeout is the QueueSpec's worker_timeout_seconds"
        );
        let visibility = queue_resource["Properties"]["VisibilityTimeout"]
            .as_u64()
            .unwrap();
        assert!(
            visibility >= 6 * timeout,
            "{queue_name}: VisibilityTimeout {visibility} < 6 x the worker's Timeout {timeout}"
        );
        if spec.binary == "insights" {
            // Capped, to spare the AI agents service; Lambda's minimum is 2.
            let cap = &props["ScalingConfig"]["MaximumConcurrency"];
            let parameter = &template["Parameters"][cap["Ref"].as_str().expect("a parameter")];
            assert!(parameter["MinValue"].as_u64() >= Some(2), "{cap}");
            assert!(parameter["Default"].as_u64().is_some(), "{cap}");
        }
    }
    // Every queue has exactly one worker.
    let workers: Vec<&str> = functions()
        .iter()
        .filter_map(|f| match &f.kind {
            Kind::Worker { queue, .. } => Some(queue.name),
            Kind::Http { .. } | Kind::Stream { .. } => None,
        })
        .collect();
    let mut names: Vec<&str> = QUEUES.iter().map(|q| q.name).collect();
    names.sort_unstable();
    let mut sorted = workers.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, names, "one worker per queue");
}

#[test]
fn the_template_table_is_the_one_the_local_stack_creates() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table");
    let props = &tables[0].1["Properties"];
    let ours = crm_store::table::definition("unused");

    assert_eq!(props["BillingMode"], ours["BillingMode"]);
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap_or_else(|| panic!("a list: {v}"))
            .iter()
            .map(|x| x.to_string())
            .collect()
    };
    assert_eq!(
        set(&props["KeySchema"]),
        set(&ours["KeySchema"]),
        "KeySchema"
    );
    assert_eq!(
        set(&props["AttributeDefinitions"]),
        set(&ours["AttributeDefinitions"]),
        "AttributeDefinitions"
    );
    let indexes = |v: &Value| -> std::collections::BTreeMap<String, (BTreeSet<String>, Value)> {
        v.as_array()
            .unwrap_or_else(|| panic!("a list: {v}"))
            .iter()
            .map(|i| {
                let known = ["IndexName", "KeySchema", "Projection"];
                for field in i.as_object().unwrap().keys() {
                    assert!(known.contains(&field.as_str()), "{field} in {i}");
                }
                (
                    i["IndexName"].as_str().unwrap().to_string(),
                    (set(&i["KeySchema"]), i["Projection"].clone()),
                )
            })
            .collect()
    };
    assert_eq!(
        indexes(&props["GlobalSecondaryIndexes"]),
        indexes(&ours["GlobalSecondaryIndexes"]),
        "GlobalSecondaryIndexes"
    );
    assert_eq!(
        props["TimeToLiveSpecification"], ours["TimeToLiveSpecification"],
        "TimeToLiveSpecification"
    );
    assert!(props.get("LocalSecondaryIndexes").is_none());
    assert_eq!(
        props["StreamSpecification"], ours["StreamSpecification"],
        "StreamSpecification"
    );
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(
        tables[0].1["DeletionPolicy"], "Retain",
        "the data outlives the stack"
    );
}
