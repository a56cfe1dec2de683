//! Each function of template.yaml is built, configured and permitted as its code needs:
//! runtime and build settings, logs and tracing, exactly the environment variables it reads,
//! and exactly the IAM actions it calls, on exactly the resources it calls them on.

use std::collections::BTreeSet;

use crate::common::*;
use crm_app::queue::QueueSpec;

fn setting(template: &Value, function: &Value, name: &str) -> Value {
    function["Properties"]
        .get(name)
        .or_else(|| template["Globals"]["Function"].get(name))
        .cloned()
        .unwrap_or(Value::Null)
}

#[test]
fn every_function_is_built_and_run_alike() {
    let template = template();
    let mut log_groups = BTreeSet::new();
    for spec in functions() {
        let (name, function) = function_of(&template, spec.binary);
        let props = &function["Properties"];
        let get = |key: &str| setting(&template, &function, key);
        assert_eq!(get("Runtime"), "provided.al2023", "{name}");
        assert_eq!(get("Architectures"), json!(["arm64"]), "{name}");
        assert_eq!(get("Handler"), "bootstrap", "{name}");
        assert_eq!(props["CodeUri"], ".", "{name}: the workspace");
        assert_eq!(get("Tracing"), json!({"Ref": "Tracing"}), "{name}");
        let memory = props["MemorySize"].as_u64().expect("MemorySize");
        assert!(
            (128..=10240).contains(&memory),
            "{name}: MemorySize {memory}"
        );
        let timeout = props["Timeout"].as_u64().expect("Timeout");
        if spec.http_app().is_some() {
            // An HTTP API integration gives up after 30 s.
            assert!(timeout < 30, "{name}: Timeout {timeout}");
        }
        let logging = &props["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{name}");
        assert_eq!(
            logging["ApplicationLogLevel"],
            json!({"Fn::FindInMap": ["LambdaLogLevel", {"Ref": "LogLevel"}, "Level"]}),
            "{name}: Lambda's level filter follows LOG_LEVEL"
        );
        let group = referenced(&logging["LogGroup"]).expect("LogGroup: !Ref a log group");
        let group_resource = resource(&template, group);
        assert_eq!(group_resource["Type"], "AWS::Logs::LogGroup", "{name}");
        assert_eq!(
            group_resource["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"}),
            "{group}"
        );
        assert!(
            log_groups.insert(group.to_string()),
            "{group}: one per function"
        );
    }
}

/// The variable names the code reads: `var("X")`, `parse_var("X", ..)`, `env::var("X")` in
/// `Config::from_env`, `Worker::from_env` and the telemetry.
fn variables_read_by_the_code() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for file in [
        "shared/http/src/config.rs",
        "shared/app/src/config.rs",
        "shared/worker/src/lib.rs",
        "shared/app/src/telemetry.rs",
    ] {
        let source = repo_file(file);
        for (n, _) in source.match_indices("var(") {
            let Some(rest) = source[n + 4..].trim_start().strip_prefix('"') else {
                continue;
            };
            let name = &rest[..rest.find('"').expect("a closed literal")];
            out.insert(name.to_string());
        }
    }
    assert!(
        out.contains("JWT_SECRET_KEY") && out.contains("TABLE_NAME"),
        "{out:?}"
    );
    out
}

fn queue_variable(spec: &QueueSpec) -> String {
    format!("{}_QUEUE_URL", spec.name.to_uppercase())
}

/// The template value each variable must have, whichever function it is given to.
fn variable_source(template: &Value, variable: &str) -> Value {
    for spec in crm_app::queue::QUEUES {
        if variable == queue_variable(&spec) {
            let (queue, _) = queue_resource(template, &spec);
            return json!({ "Ref": queue });
        }
    }
    let parameter = match variable {
        "TABLE_NAME" => return json!({"Ref": "Table"}),
        "LOG_LEVEL" => "LogLevel",
        "JWT_SECRET_KEY" => "JwtSecretKey",
        "JWT_ISSUER" => "JwtIssuer",
        "JWT_AUDIENCE" => "JwtAudience",
        "JWKS_URL" => "JwksUrl",
        "JWT_TENANT_CLAIM" => "JwtTenantClaim",
        "JWT_ROLE_CLAIM" => "JwtRoleClaim",
        "AI_AGENTS_URL" => "AiAgentsUrl",
        "TENANT_CACHE_SECONDS" => "TenantCacheSeconds",
        "MAX_BODY_BYTES" => "MaxBodyBytes",
        "TENANT_BASE_DOMAIN" => "TenantBaseDomain",
        "API_DOMAIN_NAME" => "ApiDomainName",
        "DNS_NAMESERVER" => "DnsNameserver",
        "ACCESS_TOKEN_SECONDS" => "AccessTokenSeconds",
        "REFRESH_TOKEN_SECONDS" => "RefreshTokenSeconds",
        "LOGIN_MAX_FAILURES" => "LoginMaxFailures",
        "LOGIN_WINDOW_SECONDS" => "LoginWindowSeconds",
        "ALLOW_TENANT_SIGNUP" => "AllowTenantSignup",
        "WEBHOOKS_DLQ_URL" => return json!({"Ref": "WebhooksDeadLetterQueue"}),
        other => panic!("{other}: say in checks which parameter or resource it comes from"),
    };
    assert!(
        template["Parameters"][parameter].is_object(),
        "no parameter {parameter}"
    );
    json!({ "Ref": parameter })
}

#[test]
fn every_function_gets_exactly_the_variables_it_reads() {
    let template = template();
    let read = variables_read_by_the_code();
    for spec in functions() {
        let (name, function) = function_of(&template, spec.binary);
        let mut env = serde_json::Map::new();
        for vars in [
            &template["Globals"]["Function"]["Environment"]["Variables"],
            &function["Properties"]["Environment"]["Variables"],
        ] {
            if let Some(vars) = vars.as_object() {
                env.extend(vars.clone());
            }
        }
        let mut expected: BTreeSet<String> = COMMON_ENV.iter().map(|v| v.to_string()).collect();
        expected.extend(spec.env.iter().map(|v| v.to_string()));
        if spec.http_app().is_some() {
            expected.extend(HTTP_ENV.iter().map(|v| v.to_string()));
        }
        expected.extend(spec.sends_to.iter().chain(spec.knows).map(queue_variable));
        let given: BTreeSet<String> = env
            .keys()
            .filter(|k| !PASSED_ON.contains(&k.as_str()))
            .cloned()
            .collect();
        assert_eq!(
            given, expected,
            "{name}: the variables its code needs (a queue URL without permission to send \
             to the queue, or a secret a worker does not use, is a finding too)"
        );
        for (variable, value) in &env {
            if !PASSED_ON.contains(&variable.as_str()) {
                assert!(
                    read.contains(variable),
                    "{name}: the code does not read {variable}"
                );
            }
            assert_eq!(
                *value,
                variable_source(&template, variable),
                "{name}: {variable}"
            );
        }
    }
    assert_eq!(
        template["Parameters"]["JwtSecretKey"]["NoEcho"], true,
        "the secret parameter must be NoEcho"
    );
}

/// A policy resource in canonical form: `table`, `table/index/<name>`, `queue/<spec name>`,
/// `logs/own` (the function's own log group).
fn canonical_resource(template: &Value, own_log_group: &str, value: &Value) -> String {
    if let Some(sub) = value["Fn::Sub"].as_str() {
        let rest = sub
            .strip_prefix("${Table.Arn}")
            .unwrap_or_else(|| panic!("resource {sub}"));
        assert!(rest.starts_with("/index/"), "resource {sub}");
        return format!("table{rest}");
    }
    assert!(
        value["Fn::GetAtt"][1] == "Arn" || value["Fn::GetAtt"] == json!(["Table", "StreamArn"]),
        "resources are !GetAtt X.Arn, !GetAtt Table.StreamArn or !Sub ${{Table.Arn}}/index/...: {value}"
    );
    let name = value["Fn::GetAtt"][0].as_str().unwrap();
    let target = resource(template, name);
    let attribute = value["Fn::GetAtt"][1].as_str().unwrap_or_default();
    match target["Type"].as_str().unwrap() {
        "AWS::DynamoDB::Table" if attribute == "StreamArn" => "table/stream".into(),
        "AWS::DynamoDB::Table" => "table".into(),
        "AWS::SQS::Queue" => {
            let queue_name = target["Properties"]["QueueName"]["Fn::Sub"]
                .as_str()
                .expect("QueueName: !Sub ${AWS::StackName}-...");
            format!(
                "queue/{}",
                queue_name.trim_start_matches("${AWS::StackName}-")
            )
        }
        "AWS::Logs::LogGroup" if name == own_log_group => "logs/own".into(),
        other => panic!("resource {name} of type {other}"),
    }
}

fn strings(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// The function's permissions, as `(action, canonical resource)` pairs, and whether its
/// role is its own (not SAM's generated one).
pub fn permissions(
    template: &Value,
    name: &str,
    function: &Value,
) -> (BTreeSet<(String, String)>, bool) {
    let props = &function["Properties"];
    let own_log_group = referenced(&props["LoggingConfig"]["LogGroup"]).unwrap();
    let (statements, own_role): (Vec<Value>, bool) = match props.get("Role") {
        Some(role) => {
            assert!(
                props.get("Policies").is_none(),
                "{name}: Policies are ignored beside Role"
            );
            let role_name = referenced(role).expect("Role: !GetAtt X.Arn");
            let role = resource(template, role_name);
            assert_eq!(role["Type"], "AWS::IAM::Role", "{role_name}");
            let rp = &role["Properties"];
            assert_eq!(
                rp["AssumeRolePolicyDocument"]["Statement"],
                json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole"}]),
                "{role_name}: assumed by Lambda only"
            );
            // Only X-Ray's, and only when tracing is on.
            assert_eq!(
                rp["ManagedPolicyArns"],
                json!([{"Fn::If": ["TracingActive",
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"},
                    {"Ref": "AWS::NoValue"}]}]),
                "{role_name}: managed policies"
            );
            assert!(
                rp.get("RoleName").is_none(),
                "{role_name}: CAPABILITY_IAM suffices"
            );
            let statements = rp["Policies"]
                .as_array()
                .expect("inline policies")
                .iter()
                .flat_map(|p| {
                    p["PolicyDocument"]["Statement"]
                        .as_array()
                        .cloned()
                        .unwrap()
                })
                .collect();
            (statements, true)
        }
        None => {
            let statements = props["Policies"]
                .as_array()
                .expect("inline policies")
                .iter()
                .flat_map(|p| {
                    p["Statement"].as_array().cloned().unwrap_or_else(|| {
                        panic!("{name}: inline policy documents only (no managed policies or SAM templates): {p}")
                    })
                })
                .collect();
            (statements, false)
        }
    };
    let mut out = BTreeSet::new();
    for statement in statements {
        assert_eq!(statement["Effect"], "Allow", "{name}: {statement}");
        assert!(statement.get("Condition").is_none() && statement.get("NotAction").is_none());
        let actions = strings(&statement["Action"]);
        let resources = strings(&statement["Resource"]);
        for action in &actions {
            let action = action.as_str().expect("actions are strings");
            assert!(
                !action.contains('*'),
                "{name}: no wildcard actions: {action}"
            );
            for resource in &resources {
                assert_ne!(resource, "*", "{name}: {action} on every resource");
                let resource = canonical_resource(template, own_log_group, resource);
                out.insert((action.to_string(), resource));
            }
        }
    }
    (out, own_role)
}

#[test]
fn every_function_may_call_exactly_what_it_calls() {
    let template = template();
    for spec in functions() {
        let (name, function) = function_of(&template, spec.binary);
        let (granted, own_role) = permissions(&template, &name, &function);
        let pair = |a: &str, r: &str| (a.to_string(), r.to_string());
        let mut expected: BTreeSet<(String, String)> = spec
            .dynamodb
            .iter()
            .map(|(action, resource)| pair(&format!("dynamodb:{action}"), resource))
            .collect();
        for queue in spec.sends_to {
            let q = format!("queue/{}", queue.name);
            expected.insert(pair("sqs:SendMessage", &q));
        }
        if spec.serves_health() {
            for queue in spec.sends_to.iter().chain(spec.knows) {
                // Queues::ping, for GET /health-check/.
                let q = format!("queue/{}", queue.name);
                expected.insert(pair("sqs:GetQueueAttributes", &q));
            }
        }
        if let Kind::Stream { .. } = &spec.kind {
            // SAM's generated role for a DynamoDB event would allow every stream of the
            // account (AWSLambdaDynamoDBExecutionRole).
            assert!(
                own_role,
                "{name}: a stream worker needs its own role (SAM's reads every stream)"
            );
            for action in [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ] {
                expected.insert(pair(action, "table/stream"));
            }
            // Lambda sends a failed batch's description to the on-failure destination
            // with the function's role.
            expected.insert(pair("sqs:SendMessage", "queue/changes-dlq"));
        }
        if let Kind::Worker { queue, .. } = &spec.kind {
            // For an SQS event SAM would attach AWSLambdaSQSQueueExecutionRole to the role it
            // generates: the poller's actions on every queue ("*"). A worker has its own role.
            assert!(
                own_role,
                "{name}: a worker needs its own role (SAM's allows polling every queue)"
            );
            let q = format!("queue/{}", queue.name);
            for action in [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            ] {
                expected.insert(pair(action, &q));
            }
        }
        if spec.env.contains(&"WEBHOOKS_DLQ_URL") {
            // Deliveries that failed for 24 hours are put on the dead-letter queue.
            expected.insert(pair("sqs:SendMessage", "queue/webhooks-dlq"));
        }
        if own_role {
            // What SAM's AWSLambdaBasicExecutionRole gives, on this function's log group.
            expected.insert(pair("logs:CreateLogStream", "logs/own"));
            expected.insert(pair("logs:PutLogEvents", "logs/own"));
        }
        assert!(
            !granted.iter().any(|(a, _)| a == "dynamodb:Scan"),
            "{name}: no Scan"
        );
        let missing: Vec<_> = expected.difference(&granted).collect();
        let extra: Vec<_> = granted.difference(&expected).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{name}: missing {missing:?}, not needed {extra:?}"
        );
    }
}

#[test]
fn the_outputs_name_the_api_the_table_and_the_queues() {
    let template = template();
    let outputs = &template["Outputs"];
    assert!(outputs["ApiUrl"]["Value"]["Fn::Sub"]
        .as_str()
        .is_some_and(|s| s.contains("${Api}")));
    assert_eq!(outputs["TableName"]["Value"], json!({"Ref": "Table"}));
    let values: Vec<&Value> = outputs
        .as_object()
        .unwrap()
        .values()
        .map(|o| &o["Value"])
        .collect();
    for spec in crm_app::queue::QUEUES {
        for suffix in [spec.name.to_string(), format!("{}-dlq", spec.name)] {
            let (queue, _) = queue_named(&template, &suffix);
            assert!(
                values.contains(&&json!({ "Ref": queue })),
                "an output with the URL of {queue}"
            );
        }
    }
}

/// `Key="value" Other="x"` (samconfig's parameter_overrides) as pairs.
fn overrides(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("Key=\"value\"");
        let end = after.find('"').expect("closing quote");
        out.push((key.trim().to_string(), after[..end].to_string()));
        rest = after[end + 1..].trim();
    }
    out
}

#[test]
fn samconfig_deploys_every_environment_with_the_template_parameters() {
    let template = template();
    let config: toml::Table = repo_file("samconfig.toml").parse().expect("samconfig.toml");
    for env in ["default", "dev", "prod"] {
        let section = |command: &str| -> &toml::Table {
            config[env][command]["parameters"]
                .as_table()
                .unwrap_or_else(|| panic!("[{env}.{command}.parameters]"))
        };
        assert!(section("global")["stack_name"].is_str(), "{env}");
        assert_eq!(section("build")["parallel"].as_bool(), Some(true), "{env}");
        let deploy = section("deploy");
        assert_eq!(deploy["resolve_s3"].as_bool(), Some(true), "{env}");
        assert!(
            deploy["capabilities"]
                .as_str()
                .is_some_and(|c| c.contains("CAPABILITY_IAM")),
            "{env}: the template creates roles"
        );
        if env == "prod" {
            assert_eq!(deploy["confirm_changeset"].as_bool(), Some(true), "prod");
        }
        let pairs = overrides(deploy["parameter_overrides"].as_str().unwrap_or(""));
        assert!(!pairs.is_empty(), "{env}: parameter_overrides");
        for (key, value) in pairs {
            let parameter = &template["Parameters"][&key];
            assert!(parameter.is_object(), "{env}: no parameter {key}");
            assert_ne!(key, "JwtSecretKey", "{env}: no secret in samconfig.toml");
            if let Some(allowed) = parameter["AllowedValues"].as_array() {
                assert!(
                    allowed.iter().any(|a| a
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a.to_string())
                        == value),
                    "{env}: {key}={value} is not one of {allowed:?}"
                );
            }
            if let Some(min) = parameter["MinValue"].as_u64() {
                assert!(value.parse::<u64>().unwrap() >= min, "{env}: {key}={value}");
            }
        }
    }
}
