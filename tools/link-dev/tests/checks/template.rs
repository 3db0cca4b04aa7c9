//! template.yaml and the code must not drift: table keys, index and TTL, environment
//! variable names, routes and their auth, build metadata, and least-privilege IAM.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use link_shared::config::vars;
use link_shared::routes;
use link_shared::store::schema;

use crate::{root, rust_files};
use serde_norway::Value;

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// A value with CloudFormation's short-form tag (`!Ref X`) removed.
fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn s(v: &Value) -> String {
    untag(v)
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{v:?}"))
}

fn resources(t: &Value) -> BTreeMap<String, Value> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (s(k), v.clone()))
        .collect()
}

fn functions(t: &Value) -> BTreeMap<String, Value> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .collect()
}

/// The function's binary name (its BuildProperties.Binary).
fn binary(f: &Value) -> String {
    s(&f["Metadata"]["BuildProperties"]["Binary"])
}

/// A `KeySchema`'s (attribute, key type) pairs, in order.
fn key_schema(v: &Value) -> Vec<(String, String)> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|k| (s(&k["AttributeName"]), s(&k["KeyType"])))
        .collect()
}

fn env_names(v: &Value) -> BTreeSet<String> {
    v["Environment"]["Variables"]
        .as_mapping()
        .map(|m| m.keys().map(s).collect())
        .unwrap_or_default()
}

#[test]
fn table_matches_the_store() {
    let t = template();
    let tables: Vec<Value> = resources(&t)
        .into_values()
        .filter(|r| r["Type"] == "AWS::DynamoDB::Table")
        .collect();
    assert_eq!(tables.len(), 1);
    let p = &tables[0]["Properties"];
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    assert_eq!(
        s(&p["TimeToLiveSpecification"]["AttributeName"]),
        schema::TTL_ATTRIBUTE
    );
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], true);
    let keys = key_schema(&p["KeySchema"]);
    assert_eq!(
        keys,
        vec![(schema::PARTITION_KEY.to_string(), "HASH".to_string())]
    );
    let gsis = p["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(gsis.len(), 1);
    assert_eq!(s(&gsis[0]["IndexName"]), schema::USER_INDEX);
    let gsi_keys = key_schema(&gsis[0]["KeySchema"]);
    assert_eq!(
        gsi_keys,
        vec![
            (
                schema::USER_INDEX_PARTITION_KEY.to_string(),
                "HASH".to_string()
            ),
            (schema::USER_INDEX_SORT_KEY.to_string(), "RANGE".to_string()),
        ]
    );
    assert_eq!(s(&gsis[0]["Projection"]["ProjectionType"]), "INCLUDE");
    let projected: BTreeSet<String> = gsis[0]["Projection"]["NonKeyAttributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    let read: BTreeSet<String> = schema::USER_INDEX_ATTRIBUTES
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(projected, read, "the index projects what the list reads");
    let attrs: BTreeSet<(String, String)> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| (s(&a["AttributeName"]), s(&a["AttributeType"])))
        .collect();
    let expected: BTreeSet<(String, String)> = [
        schema::PARTITION_KEY,
        schema::USER_INDEX_PARTITION_KEY,
        schema::USER_INDEX_SORT_KEY,
    ]
    .iter()
    .map(|a| (a.to_string(), "S".to_string()))
    .collect();
    assert_eq!(attrs, expected);
}

#[tokio::test]
async fn local_table_is_created_as_the_template_defines_it() {
    let endpoint = local_dynamodb::endpoint();
    let table = format!("template-{}", std::process::id());
    let client = local_dynamodb::client(&endpoint, Duration::from_secs(3));
    local_dynamodb::create_table(&client, &table).await.unwrap();
    let desc = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let t = template();
    let table = resources(&t)
        .into_values()
        .find(|r| r["Type"] == "AWS::DynamoDB::Table")
        .unwrap();
    let p = &table["Properties"];
    let described = |ks: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        ks.iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(described(desc.key_schema()), key_schema(&p["KeySchema"]));
    let gsi = &desc.global_secondary_indexes()[0];
    assert_eq!(
        gsi.index_name(),
        Some(s(&p["GlobalSecondaryIndexes"][0]["IndexName"]).as_str())
    );
    assert_eq!(
        described(gsi.key_schema()),
        key_schema(&p["GlobalSecondaryIndexes"][0]["KeySchema"])
    );
    let local: BTreeSet<String> = gsi
        .projection()
        .map(|p| p.non_key_attributes().iter().cloned().collect())
        .unwrap_or_default();
    let template: BTreeSet<String> = p["GlobalSecondaryIndexes"][0]["Projection"]
        ["NonKeyAttributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    assert_eq!(
        local, template,
        "the local index projects what the template's does"
    );
    let attrs: BTreeSet<String> = desc
        .attribute_definitions()
        .iter()
        .map(|a| format!("{}:{}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let tattrs: BTreeSet<String> = p["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| format!("{}:{}", s(&a["AttributeName"]), s(&a["AttributeType"])))
        .collect();
    assert_eq!(attrs, tattrs);
}

#[test]
fn environment_variables_are_the_ones_the_code_reads() {
    let t = template();
    let known: BTreeSet<String> = vars::ALL.iter().map(|v| v.to_string()).collect();
    let globals = env_names(&t["Globals"]["Function"]);
    for (name, f) in functions(&t) {
        let mut names = globals.clone();
        names.extend(env_names(&f["Properties"]));
        for n in &names {
            assert!(
                known.contains(n),
                "{name} sets {n}, which the code does not read"
            );
        }
        // Each function is given only the secrets it reads: the webhook its
        // signing secret and never the API key (it is internet-facing; an
        // account swap's invalidation is the publisher's, from the stream);
        // every other the API key (the publisher reads it on first need).
        let secrets: &[&str] = match binary(&f).as_str() {
            "webhook" => &[vars::OFAUTH_WEBHOOK_SECRET_ID],
            "publisher" => &[
                vars::EVENT_BUS_NAME,
                vars::EVENT_SOURCE,
                vars::OFAUTH_API_KEY_SECRET_ID,
            ],
            _ => &[vars::OFAUTH_API_KEY_SECRET_ID],
        };
        if binary(&f) == "webhook" {
            assert!(
                !names.contains(vars::OFAUTH_API_KEY_SECRET_ID),
                "the webhook is given the API key"
            );
        }
        for required in [vars::TABLE_NAME, vars::APP_URL].iter().chain(secrets) {
            assert!(names.contains(*required), "{name} lacks {required}");
        }
        if binary(&f) != "webhook" {
            assert!(
                !names.contains(vars::OFAUTH_WEBHOOK_SECRET_ID),
                "{name} is given the webhook's signing secret"
            );
        }
        // The key itself never travels in an environment variable, and the
        // development identity switch never reaches a deployment.
        assert!(!names.contains(vars::OFAUTH_API_KEY), "{name}");
        assert!(!names.contains(vars::OFAUTH_WEBHOOK_SECRET), "{name}");
        assert!(!names.contains(vars::DEV_TRUST_USER_HEADER), "{name}");
        assert!(!names.contains(vars::DYNAMODB_ENDPOINT), "{name}");
        assert!(!names.contains(vars::EVENTBRIDGE_ENDPOINT), "{name}");
    }
    let params: Vec<String> = t["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(s)
        .collect();
    for p in &params {
        assert!(
            !p.to_ascii_lowercase().contains("apikey") || p.ends_with("SecretName"),
            "parameter {p} looks like it takes the key itself"
        );
    }
}

/// (binary, method, path, authorizer) for every HttpApi event in the template.
fn template_routes(t: &Value) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for f in functions(t).values() {
        let Some(events) = f["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for ev in events.values() {
            if ev["Type"] != "HttpApi" {
                continue;
            }
            let p = &ev["Properties"];
            out.insert((
                binary(f),
                s(&p["Method"]),
                s(&p["Path"]),
                s(&p["Auth"]["Authorizer"]),
            ));
        }
    }
    out
}

#[test]
fn routes_match_the_code_and_the_local_router() {
    let t = template();
    let expected: BTreeSet<(String, String, String, String)> = [
        ("init-session", routes::SESSION, "JwtAuthorizer"),
        ("callback", routes::CALLBACK, "NONE"),
        ("complete", routes::COMPLETE, "JwtAuthorizer"),
        ("connections", routes::CONNECTIONS, "JwtAuthorizer"),
        ("connections", routes::DISCONNECT, "JwtAuthorizer"),
        ("connections", routes::ERASE, "JwtAuthorizer"),
        ("connections", routes::PLATFORM_USER_CONNECTIONS, "AWS_IAM"),
        ("connections", routes::PLATFORM_CONNECTION, "AWS_IAM"),
    ]
    .iter()
    .map(|(b, (m, p), a)| (b.to_string(), m.to_string(), p.to_string(), a.to_string()))
    .collect();
    assert_eq!(template_routes(&t), expected);

    // `cargo lambda watch` serves the same routes to the same binaries.
    let cargo: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    let router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .unwrap();
    let mut local = BTreeSet::new();
    for (path, list) in router {
        for r in list.as_array().unwrap() {
            let method = r["method"].as_str().unwrap().to_string();
            if method != "OPTIONS" {
                local.insert((
                    r["function"].as_str().unwrap().to_string(),
                    method,
                    path.clone(),
                ));
            }
        }
    }
    let mut from_template: BTreeSet<(String, String, String)> =
        expected.into_iter().map(|(b, m, p, _)| (b, m, p)).collect();
    // The webhook: on its own API deployed (webhook_has_an_api_of_its_own);
    // locally, at its path without the secret segment.
    from_template.insert((
        "webhook".into(),
        routes::WEBHOOK.0.into(),
        routes::WEBHOOK.1.into(),
    ));
    assert_eq!(local, from_template);
}

#[test]
fn functions_build_with_cargo_lambda_for_arm64() {
    let t = template();
    let g = &t["Globals"]["Function"];
    assert_eq!(g["Runtime"], "provided.al2023");
    assert_eq!(g["Handler"], "bootstrap");
    assert_eq!(g["CodeUri"], ".");
    assert_eq!(g["Architectures"][0], "arm64");
    let timeout = g["Timeout"].as_u64().unwrap();
    // Room for the code's own outbound timeouts (defaults: OFAuth 4 s, DynamoDB 2.5 s).
    assert!(
        timeout >= 8,
        "function timeout {timeout}s leaves no room for outbound timeouts"
    );
    let bins: BTreeSet<String> = functions(&t).values().map(binary).collect();
    assert_eq!(
        bins,
        [
            "callback",
            "complete",
            "connections",
            "init-session",
            "publisher",
            "reconcile",
            "webhook"
        ]
        .iter()
        .map(|b| b.to_string())
        .collect()
    );
    // Every binary the template builds exists in the workspace, and the
    // scripts that build and check them (the arm64 build, the bootstrap check,
    // the test, dev and bench builds) name every one.
    let script = |name: &str| std::fs::read_to_string(root().join("scripts").join(name)).unwrap();
    let names = |text: &str, flag: &str, b: &str| {
        let words: Vec<&str> = text.split_whitespace().collect();
        words.windows(2).any(|w| w == [flag, b])
    };
    let (arm64, deploy) = (script("build-arm64.sh"), script("check-deploy.sh"));
    let builds = [script("test.sh"), script("dev.sh"), script("bench.sh")];
    for (logical, f) in functions(&t) {
        let b = binary(&f);
        assert!(names(&arm64, "--bin", &b), "build-arm64.sh lacks {b}");
        let stem = logical.trim_end_matches("Function");
        assert!(
            deploy.contains(&format!(",{stem},"))
                || deploy.contains(&format!("{{{stem},"))
                || deploy.contains(&format!(",{stem}}}")),
            "check-deploy.sh does not check {logical}'s bootstrap"
        );
        for s in &builds {
            assert!(names(s, "-p", &b), "a script's build lacks {b}");
        }
    }
    for b in &bins {
        assert!(
            root()
                .join("functions")
                .join(b)
                .join("src/main.rs")
                .exists(),
            "{b}"
        );
    }
    for f in functions(&t).values() {
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda");
        assert_eq!(f["Properties"]["LoggingConfig"]["LogFormat"], "JSON");
    }
}

/// Every IAM statement in the template's roles.
fn statements(t: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, r) in resources(t) {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for policy in r["Properties"]["Policies"].as_sequence().unwrap() {
            for st in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                // `!If [Cond, statement, AWS::NoValue]`
                let st = match untag(st) {
                    Value::Sequence(parts) if parts.len() == 3 => parts[1].clone(),
                    other => other.clone(),
                };
                out.push((name.clone(), st));
            }
        }
    }
    out
}

fn actions(st: &Value) -> Vec<String> {
    match &st["Action"] {
        Value::Sequence(a) => a.iter().map(s).collect(),
        other => vec![s(other)],
    }
}

#[test]
fn roles_are_least_privilege() {
    let t = template();
    let sts = statements(&t);
    assert!(!sts.is_empty());
    let allowed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::from([
        (
            "InitSessionRole",
            // ConditionCheckItem: the attempt is stored only if no erasure of
            // the user came since it started.
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ]),
        ),
        (
            "CallbackRole",
            // BatchGetItem: the callback reads the attempt and the record together.
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ]),
        ),
        (
            "CompleteRole",
            // As the callback's: the completion reads the attempt and the
            // record together, binds in a transaction, counts its rate.
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ]),
        ),
        (
            "WebhookRole",
            // BatchGetItem: an event naming its attempt reads it with the record.
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ]),
        ),
        (
            "ConnectionsRole",
            // BatchGetItem: an erasure reads what the index holds for the user
            // again, 100 at a time; it ends and strips attempts, deletes nothing.
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:UpdateItem",
                "dynamodb:Query",
            ]),
        ),
        (
            "PublisherRole",
            // The table's change stream; reads only (the users' erasure
            // barriers before each PutEvents, the replay's scan); no write.
            BTreeSet::from([
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                "dynamodb:BatchGetItem",
                "dynamodb:Scan",
                "dynamodb:GetItem",
                "dynamodb:UpdateItem",
            ]),
        ),
        (
            "ReconcileRole",
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:BatchGetItem",
                "dynamodb:Scan",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            ]),
        ),
    ]);
    // The secrets each role reads, exactly.
    let secret_params: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("InitSessionRole", &["OFAuthApiKeySecretName"][..]),
        ("CallbackRole", &["OFAuthApiKeySecretName"][..]),
        ("CompleteRole", &["OFAuthApiKeySecretName"][..]),
        // The internet-facing webhook: its signing secret only, never the
        // API key (the stream's remedy, in the publisher, invalidates).
        ("WebhookRole", &["OFAuthWebhookSecretName"][..]),
        ("ConnectionsRole", &["OFAuthApiKeySecretName"][..]),
        ("ReconcileRole", &["OFAuthApiKeySecretName"][..]),
        ("PublisherRole", &["OFAuthApiKeySecretName"][..]),
    ]);
    for (role, st) in &sts {
        assert_eq!(st["Effect"], "Allow");
        for a in actions(st) {
            assert!(!a.contains('*'), "{role}: wildcard action {a}");
            if a.starts_with("dynamodb:") {
                assert!(
                    allowed[role.as_str()].contains(a.as_str()),
                    "{role} may not {a}"
                );
            }
        }
        let resource = &st["Resource"];
        let resources: Vec<String> = match resource {
            Value::Sequence(list) => list.iter().map(|r| format!("{r:?}")).collect(),
            other => vec![format!("{other:?}")],
        };
        if actions(st).iter().any(|a| a.starts_with("dynamodb:")) {
            for r in &resources {
                assert!(r.contains("LinksTable"), "{role}: DynamoDB on {r}");
            }
        }
        if actions(st) == ["secretsmanager:GetSecretValue"] {
            let want = secret_params[role.as_str()];
            assert_eq!(resources.len(), want.len(), "{role} reads {resources:?}");
            for (r, param) in resources.iter().zip(want) {
                assert!(r.contains(param), "{role} reads {resources:?}");
            }
        }
        if s(resource) == "*" {
            // Only X-Ray, which has no resource-level permissions.
            assert!(
                actions(st).iter().all(|a| a.starts_with("xray:")),
                "{role}: * resource"
            );
        }
    }
    for role in allowed.keys() {
        let granted: BTreeSet<String> = sts
            .iter()
            .filter(|(r, _)| r == role)
            .flat_map(|(_, st)| actions(st))
            .filter(|a| a.starts_with("dynamodb:"))
            .collect();
        let want: BTreeSet<String> = allowed[role].iter().map(|a| a.to_string()).collect();
        assert_eq!(granted, want, "{role}");
        let secret = sts
            .iter()
            .filter(|(r, _)| r == role)
            .filter(|(_, st)| actions(st) == ["secretsmanager:GetSecretValue"])
            .count();
        let want = usize::from(!secret_params[role].is_empty());
        assert_eq!(secret, want, "{role} reads its secrets in one statement");
    }
}

/// AWS's published guidance for Lambda, CloudWatch Logs and DynamoDB, as this
/// template meets it (docs/deploy.md lists the exceptions and why).
#[test]
fn production_settings_follow_aws_security_guidance() {
    let t = template();
    let params = &t["Parameters"];
    let res = resources(&t);
    // Active X-Ray tracing by default.
    assert_eq!(params["EnableTracing"]["Default"], "true");
    assert!(format!("{:?}", t["Globals"]["Function"]["Tracing"]).contains("Active"));
    // A customer-managed key, when given, on the functions' environment, the
    // table and every log group.
    assert!(format!("{:?}", t["Globals"]["Function"]["KmsKeyArn"]).contains("KmsKeyArn"));
    let table = res
        .values()
        .find(|r| r["Type"] == "AWS::DynamoDB::Table")
        .unwrap();
    assert!(format!(
        "{:?}",
        table["Properties"]["SSESpecification"]["KMSMasterKeyId"]
    )
    .contains("KmsKeyArn"));
    let groups: Vec<(&String, &Value)> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Logs::LogGroup")
        .collect();
    assert_eq!(groups.len(), functions(&t).len() + 1);
    for (name, g) in &groups {
        assert!(
            format!("{:?}", g["Properties"]["KmsKeyId"]).contains("KmsKeyArn"),
            "{name}"
        );
        assert!(g["Properties"]["RetentionInDays"] != Value::Null, "{name}");
    }
    for (name, f) in functions(&t) {
        let b = binary(&f);
        let p = &f["Properties"];
        // Named, with its log group under Lambda's standard name for it.
        let fname = format!("{:?}", p["FunctionName"]);
        assert!(
            fname.contains(&format!("${{AWS::StackName}}-{b}")),
            "{name}: {fname}"
        );
        let group_ref = s(&p["LoggingConfig"]["LogGroup"]);
        let group = &res[&group_ref]["Properties"]["LogGroupName"];
        assert!(
            format!("{group:?}").contains(&format!("/aws/lambda/${{AWS::StackName}}-{b}")),
            "{name}: {group:?}"
        );
        // Reserved concurrency from a parameter (0: none).
        let reserved = format!("{:?}", p["ReservedConcurrentExecutions"]);
        assert!(reserved.contains("Concurrency"), "{name}: {reserved}");
        let param = reserved
            .split('"')
            .find(|w| w.ends_with("Concurrency"))
            .unwrap()
            .to_string();
        assert!(
            params[param.as_str()]["Default"].as_u64().unwrap() > 0,
            "{name}"
        );
    }
}

/// OFAuth's deliveries have capacity no one else can spend: the webhook has an
/// HTTP API of its own whose only route is `POST /link/webhook/<secret
/// segment>` (a required, NoEcho parameter of 32+ characters; another while
/// rotating); nothing on the frontend's API reaches the webhook function; the
/// function may be invoked through that API's webhook path only; access logs
/// leave the segment out.
#[test]
fn webhook_has_an_api_of_its_own() {
    let t = template();
    let params = &t["Parameters"];
    let res = resources(&t);
    let seg = &params["WebhookPathSegment"];
    assert_eq!(seg["NoEcho"], true);
    assert!(seg.get("Default").is_none(), "required");
    assert!(s(&seg["AllowedPattern"]).contains("{32,128}"));
    assert_eq!(res["WebhookApi"]["Type"], "AWS::ApiGatewayV2::Api");
    let routes: Vec<(&String, &Value)> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::ApiGatewayV2::Route")
        .collect();
    assert_eq!(
        routes.len(),
        2,
        "the segment, and the previous one while rotating"
    );
    for (name, r) in &routes {
        let p = &r["Properties"];
        assert_eq!(s(&p["ApiId"]), "WebhookApi", "{name}");
        let key = s(&p["RouteKey"]);
        assert!(
            key.starts_with("POST /link/webhook/${WebhookPathSegment"),
            "{key}"
        );
        assert_eq!(p["AuthorizationType"], "NONE");
    }
    assert_eq!(
        res["WebhookRoutePrevious"]["Condition"],
        "HasPreviousWebhookPath"
    );
    let integration = &res["WebhookIntegration"]["Properties"];
    assert!(format!("{:?}", integration["IntegrationUri"]).contains("WebhookFunction.Arn"));
    let permission = format!(
        "{:?}",
        res["WebhookInvokePermission"]["Properties"]["SourceArn"]
    );
    assert!(
        permission.contains("${WebhookApi}/*/POST/link/webhook/*"),
        "{permission}"
    );
    let log = s(&res["WebhookApiStage"]["Properties"]["AccessLogSettings"]["Format"]);
    assert!(!log.contains("routeKey") && !log.contains("path"), "{log}");
    // Nothing on the frontend's API reaches it.
    let fns = functions(&t);
    let (_, webhook) = fns.iter().find(|(_, f)| binary(f) == "webhook").unwrap();
    assert!(webhook["Properties"]["Events"].is_null());
    let api = res
        .values()
        .find(|r| r["Type"] == "AWS::Serverless::HttpApi")
        .unwrap();
    let settings = format!("{:?}", api["Properties"]["RouteSettings"]);
    assert!(!settings.contains("webhook"), "{settings}");
}

/// The webhook route has throttle limits of its own, and the reconciler runs on a
/// schedule (a parameter, every 15 minutes by default), once at a time, with no
/// retries that would overlap the next tick.
#[test]
fn webhook_throttle_and_reconciler_schedule() {
    let t = template();
    let params = &t["Parameters"];
    let res = resources(&t);
    let api = res
        .values()
        .find(|r| r["Type"] == "AWS::Serverless::HttpApi")
        .unwrap();
    // OFAuth's deliveries: their own API, its stage's limits theirs alone.
    let stage = &res["WebhookApiStage"]["Properties"];
    assert_eq!(
        s(&stage["DefaultRouteSettings"]["ThrottlingBurstLimit"]),
        "WebhookThrottlingBurstLimit"
    );
    assert_eq!(
        s(&stage["DefaultRouteSettings"]["ThrottlingRateLimit"]),
        "WebhookThrottlingRateLimit"
    );
    assert!(
        params["WebhookThrottlingRateLimit"]["Default"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The unauthenticated return leg has limits of its own, apart from (and far
    // above) the default routes': a flood of junk there fails neither the
    // frontend's routes nor, within its own limit, other users' returns.
    let route = format!("{} {}", routes::CALLBACK.0, routes::CALLBACK.1);
    let own = &api["Properties"]["RouteSettings"][route.as_str()];
    assert_eq!(
        s(&own["ThrottlingBurstLimit"]),
        "CallbackThrottlingBurstLimit"
    );
    assert_eq!(
        s(&own["ThrottlingRateLimit"]),
        "CallbackThrottlingRateLimit"
    );
    let default = |p: &str| params[p]["Default"].as_u64().unwrap();
    assert!(default("CallbackThrottlingRateLimit") >= 10 * default("ThrottlingRateLimit"));
    assert!(default("CallbackThrottlingBurstLimit") >= 10 * default("ThrottlingBurstLimit"));

    let fns = functions(&t);
    let (_, reconcile) = fns
        .iter()
        .find(|(_, f)| binary(f) == "reconcile")
        .expect("a reconcile function");
    let p = &reconcile["Properties"];
    let events: Vec<&Value> = p["Events"].as_mapping().unwrap().values().collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Type"], "ScheduleV2");
    assert_eq!(
        s(&events[0]["Properties"]["ScheduleExpression"]),
        "ReconcileSchedule"
    );
    assert_eq!(params["ReconcileSchedule"]["Default"], "rate(15 minutes)");
    assert_eq!(
        events[0]["Properties"]["RetryPolicy"]["MaximumRetryAttempts"],
        0
    );
    assert_eq!(p["EventInvokeConfig"]["MaximumRetryAttempts"], 0);
    assert_eq!(params["ReconcileConcurrency"]["Default"], 1);
    // Its timeout leaves the run's deadline margin and more.
    let timeout = p["Timeout"].as_u64().unwrap();
    assert!(
        Duration::from_secs(timeout) >= link_shared::reconcile::DEADLINE_MARGIN * 4,
        "{timeout}"
    );
    // The unbound-connection setting's default is the code's, and its grace
    // fits the attempts' retention.
    assert_eq!(params["ReconcileUnbound"]["Default"], "disconnect");
    let grace = params["ReconcileUnboundGraceSeconds"]["Default"]
        .as_u64()
        .unwrap();
    let cfg = link_shared::config::Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some("t".into()),
        "APP_URL" => Some("https://app.example.com".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(cfg.reconcile.unbound_grace.as_secs(), grace);
    assert!(
        params["ReconcileUnboundGraceSeconds"]["MaxValue"]
            .as_u64()
            .unwrap()
            <= cfg.session.attempt_retention.as_secs()
    );
}

/// A `!Ref`'s target, if `v` is one.
fn reference(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().map(str::to_string),
        _ => None,
    }
}

/// The custom metrics (the stack's `OFAuthLink/…` namespace) a piece of the
/// template reads: (metric, dimension values).
fn custom_metrics(v: &Value, out: &mut Vec<(String, Vec<String>)>) {
    match v {
        Value::Mapping(m) => {
            let ns = m.get("Namespace").map(s).unwrap_or_default();
            if ns.starts_with("OFAuthLink/") {
                let dims = m
                    .get("Dimensions")
                    .and_then(Value::as_sequence)
                    .map(|d| d.iter().map(|d| s(&d["Value"])).collect())
                    .unwrap_or_default();
                out.push((s(&m["MetricName"]), dims));
            }
            m.values().for_each(|v| custom_metrics(v, out));
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| custom_metrics(v, out)),
        Value::Tagged(t) => custom_metrics(&t.value, out),
        _ => {}
    }
}

#[test]
fn alarms_and_the_dashboard_read_what_the_code_emits() {
    let t = template();
    let params = &t["Parameters"];
    let res = resources(&t);
    let sources: String = rust_files(&root().join("shared/src"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();

    // Every function has its error and throttle alarm, and the other alarms
    // the operations section documents are there.
    let alarms: BTreeMap<String, &Value> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(_, r)| {
            let name = s(&r["Properties"]["AlarmName"]);
            (name.trim_start_matches("${AWS::StackName}-").to_string(), r)
        })
        .collect();
    let mut expected: BTreeSet<String> = [
        "api-5xx-rate",
        "ofauth-failure-rate",
        "ofauth-latency",
        "webhook-invalid-signatures",
        "reconciler-not-running",
        "reconciler-failing",
        "reconciler-halted",
        "security-events",
        "dynamodb-throttles",
        "publisher-dead-letters",
        "publisher-iterator-age",
        "completion-rate",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    for f in functions(&t).values() {
        for kind in ["errors", "throttles"] {
            expected.insert(format!("{}-{kind}", binary(f)));
        }
    }
    assert_eq!(alarms.keys().cloned().collect::<BTreeSet<_>>(), expected);
    let operations = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();

    for (name, alarm) in &alarms {
        let p = &alarm["Properties"];
        // To the topic, and back to OK.
        assert_eq!(
            reference(&p["AlarmActions"][0]).as_deref(),
            Some("AlarmTopic"),
            "{name}"
        );
        assert_eq!(
            reference(&p["OKActions"][0]).as_deref(),
            Some("AlarmTopic"),
            "{name}"
        );
        // Its threshold (or, for a fixed "at least one", its window) is a parameter.
        let tuned = reference(&p["Threshold"]).or_else(|| reference(&p["EvaluationPeriods"]));
        let tuned = tuned.unwrap_or_else(|| panic!("{name}: no parameter"));
        assert!(
            params[tuned.as_str()]["Default"].is_number(),
            "{name}: {tuned}"
        );
        // docs/operations.md says what it means and what to check first (the
        // per-function ones once, as `<function>-errors`).
        let documented = match name.rsplit_once('-') {
            Some((f, kind @ ("errors" | "throttles"))) if f != "webhook-invalid" => {
                format!("`<function>-{kind}`")
            }
            _ => format!("`{name}`"),
        };
        assert!(
            operations.contains(&documented),
            "docs/operations.md lacks {documented}"
        );
    }

    // The custom metrics they and the dashboard read are ones the code emits,
    // with outcome values the code writes.
    let mut used = Vec::new();
    for r in alarms.values() {
        custom_metrics(r, &mut used);
    }
    let dashboard = res
        .values()
        .find(|r| r["Type"] == "AWS::CloudWatch::Dashboard")
        .expect("a dashboard");
    let body = s(&dashboard["Properties"]["DashboardBody"][0]);
    for line in body.lines().filter(|l| l.contains("[\"${Ns}\"")) {
        let row: Vec<String> = line
            .trim()
            .trim_end_matches(',')
            .trim_end_matches(']')
            .trim_start_matches('[')
            .split(", ")
            .filter_map(|x| x.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
            .map(str::to_string)
            .collect();
        used.push((
            row[1].clone(),
            row[2..].iter().skip(1).step_by(2).cloned().collect(),
        ));
    }
    for name in body.split("MetricName=\\\"").skip(1) {
        used.push((name.split('\\').next().unwrap().to_string(), vec![]));
    }
    assert!(used.len() > 20, "{used:?}");
    for (metric, values) in &used {
        if metric == "Errors" || metric == "Throttles" {
            continue; // AWS/Lambda's, in the dashboard's search
        }
        assert!(
            link_shared::telemetry::METRICS.contains(&metric.as_str()),
            "{metric} is not emitted"
        );
        for v in values {
            assert!(
                sources.contains(&format!("\"{v}\"")),
                "{metric}: {v} is never written"
            );
        }
    }
    // The functions get the namespace the alarms read.
    assert_eq!(
        s(&t["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"]),
        "OFAuthLink/${AWS::StackName}"
    );
}

/// The functions' memory size is the one BENCHMARKS.md chose from the measured
/// curve ("Choosing MemorySize": `FunctionMemorySize = N MB`), for every function
/// (none overrides the global), and the sizes measured there can be chosen.
#[test]
fn memory_size_is_the_one_the_benchmarks_chose() {
    let benchmarks = std::fs::read_to_string(root().join("BENCHMARKS.md")).unwrap();
    let chosen: u64 = benchmarks
        .split("FunctionMemorySize = ")
        .nth(1)
        .and_then(|rest| rest.split(" MB").next())
        .and_then(|n| n.trim().parse().ok())
        .expect("BENCHMARKS.md says `FunctionMemorySize = N MB`");
    let t = template();
    let param = &t["Parameters"]["FunctionMemorySize"];
    assert_eq!(param["Default"].as_u64(), Some(chosen));
    let allowed: BTreeSet<u64> = param["AllowedValues"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!([128, 256, 512].iter().all(|mb| allowed.contains(mb)));
    let global = &t["Globals"]["Function"]["MemorySize"];
    assert_eq!(s(global), "FunctionMemorySize", "{global:?}");
    for (name, f) in functions(&t) {
        assert!(
            f["Properties"].get("MemorySize").is_none(),
            "{name} overrides the chosen memory size"
        );
    }
}

/// The platform's events: the table's stream (old and new images) is the
/// publisher's only input; the publisher sends to the one bus the parameters
/// name, in order per shard, reports failed records one by one, and sends what
/// keeps failing to a queue an alarm watches. Only the items that can be events
/// reach it.
#[test]
fn the_publisher_reads_the_stream_and_sends_to_one_bus() {
    let t = template();
    let params = &t["Parameters"];
    let res = resources(&t);
    let table = &res["LinksTable"]["Properties"];
    assert_eq!(
        table["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(params["EventBusName"]["Default"], "");
    assert_eq!(params["EventSource"]["Default"], "ofauth.link");

    let fns = functions(&t);
    let (_, publisher) = fns
        .iter()
        .find(|(_, f)| binary(f) == "publisher")
        .expect("a publisher function");
    let p = &publisher["Properties"];
    let env = &p["Environment"]["Variables"];
    let bus_env = format!("{:?}", env[vars::EVENT_BUS_NAME]);
    assert!(
        bus_env.contains("CreateBus")
            && bus_env.contains("LinkEventBus")
            && bus_env.contains("EventBusName"),
        "{bus_env}"
    );
    assert_eq!(s(&env[vars::EVENT_SOURCE]), "EventSource");
    let events: Vec<&Value> = p["Events"].as_mapping().unwrap().values().collect();
    assert_eq!(events.len(), 1, "the stream is its only trigger");
    let ev = events[0];
    assert_eq!(ev["Type"], "DynamoDB");
    let e = &ev["Properties"];
    assert!(format!("{:?}", e["Stream"]).contains("LinksTable.StreamArn"));
    assert_eq!(
        e["ParallelizationFactor"], 1,
        "one batch per shard at a time"
    );
    assert_eq!(e["FunctionResponseTypes"][0], "ReportBatchItemFailures");
    assert_eq!(e["BisectBatchOnFunctionError"], true);
    assert_eq!(e["StartingPosition"], "TRIM_HORIZON");
    let retries = e["MaximumRetryAttempts"].as_i64().unwrap();
    assert!((1..=10_000).contains(&retries), "{retries}");
    // A batch that still fails goes to the queue, which an alarm watches.
    let on_failure = &e["DestinationConfig"]["OnFailure"];
    assert_eq!(on_failure["Type"], "SQS");
    assert!(format!("{:?}", on_failure["Destination"]).contains("PublisherDeadLetters.Arn"));
    assert_eq!(res["PublisherDeadLetters"]["Type"], "AWS::SQS::Queue");
    let dlq_alarm = res
        .values()
        .find(|r| {
            r["Type"] == "AWS::CloudWatch::Alarm"
                && format!("{:?}", r["Properties"]["Dimensions"]).contains("PublisherDeadLetters")
        })
        .expect("an alarm on the on-failure queue");
    assert_eq!(
        dlq_alarm["Properties"]["MetricName"],
        "ApproximateNumberOfMessagesVisible"
    );
    // A batch is a few PutEvents calls (10 entries each) with their retries;
    // a timeout would only retry the batch.
    let batch = e["BatchSize"].as_u64().unwrap();
    assert!((1..=100).contains(&batch), "{batch}");
    assert!(p["Timeout"].as_u64().unwrap() >= 20);

    // The filter lets through exactly the items the events are decided from:
    // connection records and erasure markers, written or changed.
    let pattern: serde_json::Value =
        serde_json::from_str(&s(&e["FilterCriteria"]["Filters"][0]["Pattern"])).unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"NewImage": {"entity": {"S": ["connection", "erasure"]}}}
        })
    );

    // Least privilege beyond DynamoDB: PutEvents on the parameter's bus only,
    // SendMessage on its own queue only.
    let sts = statements(&t);
    let mine: Vec<&Value> = sts
        .iter()
        .filter(|(r, _)| r == "PublisherRole")
        .map(|(_, st)| st)
        .collect();
    let put = mine
        .iter()
        .find(|st| actions(st).contains(&"events:PutEvents".to_string()))
        .expect("PutEvents");
    assert_eq!(actions(put), ["events:PutEvents"]);
    let bus = format!("{:?}", put["Resource"]);
    assert!(
        bus.contains("event-bus/${Bus}")
            && bus.contains("${AWS::StackName}-events")
            && bus.contains("EventBusName"),
        "{bus}"
    );
    assert!(!bus.contains('*'), "{bus}");
    let send = mine
        .iter()
        .find(|st| actions(st).contains(&"sqs:SendMessage".to_string()))
        .expect("SendMessage");
    assert!(format!("{:?}", send["Resource"]).contains("PublisherDeadLetters.Arn"));
    let stream = mine
        .iter()
        .find(|st| actions(st).contains(&"dynamodb:GetRecords".to_string()))
        .unwrap();
    assert!(format!("{:?}", stream["Resource"]).contains("/stream/*"));
    // No other role may publish the platform's events (the forwarding rule's
    // role puts them on the other bus only).
    for (role, st) in &sts {
        if role == "ForwardEventsRole" {
            assert_eq!(actions(st), ["events:PutEvents"]);
            assert_eq!(s(&st["Resource"]), "ForwardEventsToBusArn");
        } else if role != "PublisherRole" {
            assert!(
                actions(st).iter().all(|a| !a.starts_with("events:")),
                "{role}"
            );
        }
    }
}

/// Only this service publishes its events: by default the stack makes a bus
/// of its own whose policy denies `events:PutEvents` to every principal but
/// the publisher's role, and to it too for any other `source` (an explicit
/// deny, which no identity policy in the account overrides); the outputs name
/// it for consumers' rules, and forwarding to another account's bus is a rule
/// on it.
#[test]
fn the_events_bus_is_the_stacks_own_and_only_the_publisher_puts() {
    let t = template();
    let res = resources(&t);
    let bus = &res["LinkEventBus"];
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    assert_eq!(bus["Condition"], "CreateBus");
    let cond = format!("{:?}", t["Conditions"]["CreateBus"]);
    assert!(
        cond.contains("EventBusName") && cond.contains("\"\""),
        "{cond}"
    );
    let statements = bus["Properties"]["Policy"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 2);
    for st in statements {
        assert_eq!(st["Effect"], "Deny");
        assert_eq!(st["Principal"], "*");
        assert_eq!(st["Action"], "events:PutEvents");
        assert!(format!("{:?}", st["Resource"]).contains("${AWS::StackName}-events"));
    }
    let only_publisher = format!(
        "{:?}",
        statements[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    );
    assert!(
        only_publisher.contains("PublisherRole.Arn"),
        "{only_publisher}"
    );
    assert_eq!(
        s(&statements[1]["Condition"]["StringNotEquals"]["events:source"]),
        "EventSource"
    );
    // Consumers find it in the outputs.
    let outputs = &t["Outputs"];
    assert!(format!("{:?}", outputs["PlatformEventBus"]["Value"]).contains("LinkEventBus.Arn"));
    assert!(format!("{:?}", outputs["PlatformEventBusName"]["Value"]).contains("LinkEventBus"));
    // Forwarding: a rule on this stack's bus, only when asked for.
    let rule = &res["ForwardEventsRule"];
    assert_eq!(rule["Condition"], "ForwardEvents");
    assert!(format!("{:?}", rule["Properties"]["EventBusName"]).contains("LinkEventBus"));
    assert_eq!(
        s(&rule["Properties"]["Targets"][0]["Arn"]),
        "ForwardEventsToBusArn"
    );
    assert_eq!(res["ForwardEventsRole"]["Condition"], "ForwardEvents");
}

/// The read API's routes take AWS IAM (SigV4), apart from the JWT routes, and
/// the template outputs the ARN a platform grants its services: GET on
/// `/platform/*` of this API, nothing more.
#[test]
fn the_platform_api_takes_iam_and_outputs_its_invoke_arn() {
    let t = template();
    let res = resources(&t);
    let api = res
        .values()
        .find(|r| r["Type"] == "AWS::Serverless::HttpApi")
        .unwrap();
    assert_eq!(api["Properties"]["Auth"]["EnableIamAuthorizer"], true);
    for (_, method, path, auth) in template_routes(&t) {
        let platform = path.starts_with(link_shared::platform::read_api::PREFIX);
        assert_eq!(auth == "AWS_IAM", platform, "{method} {path}: {auth}");
        if platform {
            assert_eq!(method, "GET", "{path}");
        }
    }
    let arn = s(&t["Outputs"]["PlatformApiInvokeArn"]["Value"]);
    assert!(
        arn.ends_with(":execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*/GET/platform/*"),
        "{arn}"
    );
    // The example rule pattern names every detail-type the publisher sends.
    let pattern: serde_json::Value = serde_json::from_str(
        &s(&t["Outputs"]["PlatformEventPattern"]["Value"]).replace("${EventSource}", "ofauth.link"),
    )
    .unwrap();
    let types: BTreeSet<String> = pattern["detail-type"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let sent: BTreeSet<String> = link_shared::platform::events::Transition::ALL
        .iter()
        .map(|t| t.detail_type().to_string())
        .collect();
    assert_eq!(types, sent);
    assert_eq!(pattern["source"][0], "ofauth.link");
}

/// The alarm topic's email subscription keeps what SNS could not deliver (a
/// redrive policy to a queue SNS may write to): the finding AWS's serverless
/// rules for cfn-lint report otherwise.
#[test]
fn the_alarm_email_subscription_has_a_redrive_policy() {
    let t = template();
    let res = resources(&t);
    let sub = &res["AlarmEmailSubscription"]["Properties"];
    assert!(format!("{:?}", sub["RedrivePolicy"]["deadLetterTargetArn"])
        .contains("AlarmEmailDeadLetters.Arn"));
    let policy =
        &res["AlarmEmailDeadLettersPolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(policy["Principal"]["Service"], "sns.amazonaws.com");
    assert_eq!(policy["Action"], "sqs:SendMessage");
    assert!(format!("{:?}", policy["Condition"]).contains("AlarmTopic"));
}

/// The defaults docs/scale.md chose from its capacity model ("The defaults,
/// from this model": `Name = value` lines) are the template's.
#[test]
fn the_scale_defaults_are_the_models() {
    let doc = std::fs::read_to_string(root().join("docs/scale.md")).unwrap();
    let section = doc
        .split("## The defaults, from this model")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/scale.md has the defaults section");
    let chosen: Vec<(&str, &str)> = section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .filter_map(|l| l.split_once(" = "))
        .collect();
    assert!(chosen.len() >= 6, "{chosen:?}");
    let t = template();
    for (name, value) in chosen {
        let default = &t["Parameters"][name]["Default"];
        let default = match default {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            other => panic!("{name}: no default in template.yaml ({other:?})"),
        };
        assert_eq!(
            default, value,
            "{name}: template.yaml's default is not docs/scale.md's"
        );
    }
}

/// The condition's `dynamodb:LeadingKeys` of a statement, if it has one.
fn leading_keys(st: &Value) -> Option<BTreeSet<String>> {
    let keys = &st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    keys.as_sequence()
        .map(|ks| ks.iter().map(s).collect::<BTreeSet<String>>())
}

/// Each role's DynamoDB item actions name only the key prefixes its function
/// touches (`dynamodb:LeadingKeys`); a Scan (which names no key) is a statement
/// of its own, and only the roles whose code scans have one; the user index is
/// queried only under `USER#`.
#[test]
fn table_permissions_are_narrowed_to_key_prefixes() {
    let t = template();
    let sts = statements(&t);
    let want: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "InitSessionRole",
            &[
                "ATTEMPT#*",
                "CONNECTION#*",
                "RATE#*",
                "RECONNECTS#*",
                "ERASED#*",
            ][..],
        ),
        (
            "CallbackRole",
            &["ATTEMPT#*", "CONNECTION#*", "RECONNECTS#*", "ERASED#*"][..],
        ),
        (
            "CompleteRole",
            &[
                "ATTEMPT#*",
                "CONNECTION#*",
                "RECONNECTS#*",
                "ERASED#*",
                "RATE#*",
            ][..],
        ),
        (
            "WebhookRole",
            &["EVENT#*", "CONNECTION#*", "ATTEMPT#*", "ERASED#*"][..],
        ),
        (
            "ConnectionsRole",
            &[
                "CONNECTION#*",
                "ATTEMPT#*",
                "ERASED#*",
                "ERASURE#*",
                "RECONCILE#*",
            ][..],
        ),
        (
            "ReconcileRole",
            &[
                "CONNECTION#*",
                "ATTEMPT#*",
                "EVENT#*",
                "RECONNECTS#*",
                "ERASED#*",
                "RECONCILE#*",
            ][..],
        ),
        ("PublisherRole", &["ERASED#*", "CONNECTION#*"][..]),
    ]);
    // Every prefix named is one the store writes (keys.rs, the cursor's).
    let made = [
        link_shared::store::keys::attempt(&link_shared::ids::AttemptId::generate().unwrap()),
        link_shared::store::keys::connection(
            &link_shared::ids::ConnectionId::parse("conn_x").unwrap(),
        ),
        link_shared::store::keys::event("x"),
        link_shared::store::keys::erasure("x"),
        link_shared::store::keys::erasure_barrier("x"),
        link_shared::store::keys::reconnects(0),
        link_shared::store::keys::user("x"),
        "RATE#session#x#0".to_string(),
        "RECONCILE#cursor".to_string(),
    ];
    let scanners = BTreeSet::from(["ReconcileRole", "PublisherRole"]);
    for (role, prefixes) in &want {
        let mine: Vec<&Value> = sts
            .iter()
            .filter(|(r, _)| r == role)
            .map(|(_, st)| st)
            .collect();
        let mut narrowed = 0;
        for st in &mine {
            let acts = actions(st);
            let items: Vec<&String> = acts
                .iter()
                .filter(|a| {
                    a.starts_with("dynamodb:")
                        && ![
                            "dynamodb:Scan",
                            "dynamodb:Query",
                            "dynamodb:DescribeStream",
                            "dynamodb:GetRecords",
                            "dynamodb:GetShardIterator",
                            "dynamodb:ListStreams",
                        ]
                        .contains(&a.as_str())
                })
                .collect();
            if acts.iter().any(|a| a == "dynamodb:Scan") {
                assert!(scanners.contains(role), "{role} may Scan");
                assert_eq!(
                    acts,
                    ["dynamodb:Scan"],
                    "{role}: a Scan has a statement of its own"
                );
            }
            if acts.iter().any(|a| a == "dynamodb:Query") {
                assert_eq!(acts, ["dynamodb:Query"], "{role}");
                assert!(format!("{:?}", st["Resource"]).contains("/index/byUser"));
                assert_eq!(
                    leading_keys(st),
                    Some(BTreeSet::from(["USER#*".to_string()])),
                    "{role}: the index only under USER#"
                );
            }
            if items.is_empty() {
                continue;
            }
            narrowed += 1;
            let got = leading_keys(st).unwrap_or_else(|| panic!("{role}: {items:?} on every key"));
            let expected: BTreeSet<String> = prefixes.iter().map(|p| p.to_string()).collect();
            assert_eq!(got, expected, "{role}");
            for p in &got {
                let stem = p.trim_end_matches('*');
                assert!(
                    made.iter().any(|k| k.starts_with(stem)),
                    "{role}: {p} is no key the store makes"
                );
            }
        }
        assert_eq!(narrowed, 1, "{role}: one narrowed statement for its items");
    }
}

/// The API's own domain and the optional edge: each part exists only under its
/// parameters, the edge guards the Link routes with a secret only CloudFront and
/// the functions that serve those routes share, and the web ACL holds the
/// per-client limits and the webhook's signature rule.
#[test]
fn the_custom_domain_and_the_edge() {
    let t = template();
    let params = &t["Parameters"];
    let res = resources(&t);
    for p in [
        "DomainName",
        "DomainCertificateArn",
        "HostedZoneId",
        "EdgeWebAclArn",
        "EdgeCertificateArn",
    ] {
        assert_eq!(params[p]["Default"], "", "{p} is optional");
    }
    assert_eq!(
        params["EnableEdge"]["Default"], "false",
        "the edge is opt-in"
    );
    // Without the edge: API Gateway's regional custom domain on the HTTP API.
    assert_eq!(res["ApiDomain"]["Condition"], "RegionalDomain");
    let cfg = &res["ApiDomain"]["Properties"]["DomainNameConfigurations"][0];
    assert_eq!(cfg["EndpointType"], "REGIONAL");
    assert_eq!(cfg["SecurityPolicy"], "TLS_1_2");
    assert_eq!(
        s(&res["ApiDomainMapping"]["Properties"]["ApiId"]),
        "HttpApi"
    );
    assert_eq!(res["ApiDomainRecords"]["Condition"], "RegionalRecord");
    // With it: CloudFront, and its web ACL.
    let edge = &res["EdgeDistribution"];
    assert_eq!(edge["Condition"], "EdgeOn");
    let d = &edge["Properties"]["DistributionConfig"];
    assert_eq!(s(&d["WebACLId"]), "EdgeWebAclArn");
    assert_eq!(
        s(&d["ViewerCertificate"]["AcmCertificateArn"]),
        "EdgeCertificateArn"
    );
    assert_eq!(
        d["ViewerCertificate"]["MinimumProtocolVersion"],
        "TLSv1.2_2021"
    );
    let origins = d["Origins"].as_sequence().unwrap();
    assert_eq!(origins.len(), 2);
    for o in origins {
        let header = &o["OriginCustomHeaders"][0];
        assert_eq!(
            header["HeaderName"],
            link_shared::apigw::ORIGIN_VERIFY_HEADER
        );
        assert!(s(&header["HeaderValue"]).contains("${EdgeOriginSecret}"));
        assert_eq!(
            o["CustomOriginConfig"]["OriginProtocolPolicy"],
            "https-only"
        );
    }
    assert!(s(&origins[0]["DomainName"]).starts_with("${HttpApi}.execute-api"));
    assert!(s(&origins[1]["DomainName"]).starts_with("${WebhookApi}.execute-api"));
    assert_eq!(d["DefaultCacheBehavior"]["TargetOriginId"], "api");
    assert_eq!(
        d["DefaultCacheBehavior"]["ViewerProtocolPolicy"],
        "https-only"
    );
    let webhook = &d["CacheBehaviors"][0];
    assert_eq!(webhook["PathPattern"], "/link/webhook/*");
    assert_eq!(webhook["TargetOriginId"], "webhooks");
    let cache = &res["EdgeCachePolicy"]["Properties"]["CachePolicyConfig"];
    assert_eq!(cache["DefaultTTL"], 0, "nothing is cached");
    assert_eq!(cache["MinTTL"], 0);
    assert_eq!(res["EdgeRecords"]["Condition"], "EdgeRecord");
    // The functions behind the Link routes check the secret CloudFront sends;
    // the others neither hold nor need it.
    let guarded = BTreeSet::from(["init-session", "callback", "complete", "connections"]);
    for f in functions(&t).values() {
        let env = &f["Properties"]["Environment"]["Variables"];
        let has = !env[vars::EDGE_ORIGIN_SECRET].is_null();
        assert_eq!(has, guarded.contains(binary(f).as_str()), "{}", binary(f));
        if has {
            let v = format!("{:?}", env[vars::EDGE_ORIGIN_SECRET]);
            assert!(
                v.contains("EdgeOn") && v.contains("${EdgeOriginSecret}"),
                "{v}"
            );
            // While rotating, the previous value too.
            assert!(
                v.contains("EdgeRotating") && v.contains("::AWSPREVIOUS"),
                "{v}"
            );
        }
    }
    // The functions take a new secret before CloudFront sends it.
    let depends: BTreeSet<String> = edge["DependsOn"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(s)
        .collect();
    let guarded_fns: BTreeSet<String> = functions(&t)
        .into_iter()
        .filter(|(_, f)| guarded.contains(binary(f).as_str()))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(depends, guarded_fns);
    // The edge cannot be deployed half: the rules ask for the domain, its
    // certificate and the web ACL.
    let rule = format!("{:?}", t["Rules"]["EdgeNeedsDomainCertificateAndWebAcl"]);
    for p in ["DomainName", "EdgeCertificateArn", "EdgeWebAclArn"] {
        assert!(rule.contains(p), "{p}");
    }
    let rule = format!("{:?}", t["Rules"]["RegionalDomainNeedsCertificate"]);
    assert!(rule.contains("DomainCertificateArn"));
    // The outputs name the domain when there is one.
    assert!(format!("{:?}", t["Outputs"]["ApiUrl"]).contains("${DomainName}"));
    assert!(format!("{:?}", t["Outputs"]["CallbackUrl"]).contains("${DomainName}/link/callback"));

    // The web ACL (edge/web-acl.yaml).
    let text = std::fs::read_to_string(root().join("edge/web-acl.yaml")).unwrap();
    let acl: Value = serde_norway::from_str(&text).unwrap();
    let acl = &acl["Resources"]["WebAcl"]["Properties"];
    assert_eq!(acl["Scope"], "CLOUDFRONT");
    let rules = acl["Rules"].as_sequence().unwrap();
    let rule = |name: &str| {
        rules
            .iter()
            .find(|r| r["Name"] == name)
            .unwrap_or_else(|| panic!("no rule {name}"))
    };
    for (name, path) in [
        ("callback-per-ip", routes::CALLBACK.1),
        ("complete-per-ip", routes::COMPLETE.1),
        ("session-per-ip", routes::SESSION.1),
    ] {
        let r = rule(name);
        assert!(!r["Action"]["Block"].is_null(), "{name} blocks");
        let st = &r["Statement"]["RateBasedStatement"];
        assert_eq!(st["AggregateKeyType"], "IP", "{name} is per client");
        assert_eq!(
            st["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"],
            path
        );
    }
    let unsigned = rule("webhook-without-signature");
    assert_eq!(unsigned["Priority"], 0, "before anything else");
    assert!(!unsigned["Action"]["Block"].is_null());
    let both = &unsigned["Statement"]["AndStatement"]["Statements"];
    assert_eq!(
        both[0]["ByteMatchStatement"]["SearchString"],
        format!("{}/", routes::WEBHOOK.1)
    );
    let headers: BTreeSet<String> = both[1]["NotStatement"]["Statement"]["OrStatement"]
        ["Statements"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|st| s(&st["SizeConstraintStatement"]["FieldToMatch"]["SingleHeader"]["Name"]))
        .collect();
    let accepted: BTreeSet<String> = link_shared::signature::SIGNATURE_HEADERS
        .iter()
        .map(|h| h.to_string())
        .collect();
    assert_eq!(
        headers, accepted,
        "the headers the webhook reads a signature from"
    );
    for managed in [
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesCommonRuleSet",
    ] {
        assert!(
            rules
                .iter()
                .any(|r| r["Statement"]["ManagedRuleGroupStatement"]["Name"] == managed),
            "{managed}"
        );
    }
}

/// An upgrade never replaces or drops the table: CloudFormation replaces a
/// DynamoDB table when its logical id, name or key schema changes, and a stack
/// update or deletion must keep it whatever happens. What would replace it, or
/// lose the stream the publisher reads, is held here; changing any of it needs a
/// migration (docs/operations.md, "Upgrading"), not an edit of this test.
#[test]
fn an_upgrade_never_replaces_or_loses_the_table() {
    let t = template();
    let res = resources(&t);
    let tables: Vec<&String> = res
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        tables,
        ["LinksTable"],
        "the table's logical id is LinksTable, always"
    );
    let table = &res["LinksTable"];
    assert_eq!(
        table["DeletionPolicy"], "Retain",
        "sam delete keeps the data"
    );
    assert_eq!(
        table["UpdateReplacePolicy"], "Retain",
        "a replacement keeps the old table"
    );
    let p = &table["Properties"];
    assert!(
        p["TableName"].is_null(),
        "a TableName makes a replacement fail and a rename replace the table"
    );
    let keys = key_schema(&p["KeySchema"]);
    assert_eq!(
        keys,
        [("pk".to_string(), "HASH".to_string())],
        "the key schema (a change replaces the table)"
    );
    assert_eq!(schema::PARTITION_KEY, "pk");
    // The stream's view type: changing it would give the stream a new ARN and
    // leave the publisher's unread records behind.
    assert_eq!(
        p["StreamSpecification"]["StreamViewType"],
        "NEW_AND_OLD_IMAGES"
    );
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(p["TimeToLiveSpecification"]["AttributeName"], "ttl");
    // The index the lists read: its name and keys (a rename is a new index,
    // built online, the list empty meanwhile).
    let gsi = &p["GlobalSecondaryIndexes"][0];
    assert_eq!(gsi["IndexName"], schema::USER_INDEX);
}
