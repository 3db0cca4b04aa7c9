//! What the functions' roles allow is what their code does: every DynamoDB
//! request each service makes in these tests is recorded (an SDK interceptor on
//! each service's own client, named for its function's role), and checked
//! against template.yaml's statements for that role: the action, the table or
//! its index, and `dynamodb:LeadingKeys`. DynamoDB Local enforces no IAM: this
//! is what stands in for AWS saying AccessDenied to a flow the template did
//! not foresee.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_norway::Value;

use crate::helpers::*;
use ofauth_sim::{SignatureScheme, WebhookMode};

/// One request, as IAM sees it: the table, the action, the index (a Query's),
/// and the partition key it names (none for a Scan).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    pub table: String,
    pub role: &'static str,
    pub action: &'static str,
    pub index: Option<String>,
    pub key: Option<String>,
}

fn log() -> &'static Mutex<BTreeSet<Access>> {
    static LOG: OnceLock<Mutex<BTreeSet<Access>>> = OnceLock::new();
    LOG.get_or_init(Default::default)
}

/// Records each request a client makes, for `role`.
#[derive(Debug)]
pub struct Recorder(pub &'static str);

fn pk(item: Option<&HashMap<String, AttributeValue>>) -> Option<String> {
    item.and_then(|i| i.get("pk"))
        .and_then(|v| v.as_s().ok())
        .cloned()
}

impl Recorder {
    fn push(
        &self,
        table: Option<&str>,
        action: &'static str,
        index: Option<&str>,
        key: Option<String>,
    ) {
        log().lock().unwrap().insert(Access {
            table: table.unwrap_or_default().to_string(),
            role: self.0,
            action,
            index: index.map(str::to_string),
            key,
        });
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "iam-recorder"
    }

    fn read_before_execution(
        &self,
        ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::*;
        let input = ctx.input();
        if let Some(i) = input.downcast_ref::<get_item::GetItemInput>() {
            self.push(i.table_name(), "dynamodb:GetItem", None, pk(i.key()));
        } else if let Some(i) = input.downcast_ref::<put_item::PutItemInput>() {
            self.push(i.table_name(), "dynamodb:PutItem", None, pk(i.item()));
        } else if let Some(i) = input.downcast_ref::<update_item::UpdateItemInput>() {
            self.push(i.table_name(), "dynamodb:UpdateItem", None, pk(i.key()));
        } else if let Some(i) = input.downcast_ref::<delete_item::DeleteItemInput>() {
            self.push(i.table_name(), "dynamodb:DeleteItem", None, pk(i.key()));
        } else if let Some(i) = input.downcast_ref::<batch_get_item::BatchGetItemInput>() {
            for (table, keys) in i.request_items().into_iter().flatten() {
                for k in keys.keys() {
                    self.push(Some(table), "dynamodb:BatchGetItem", None, pk(Some(k)));
                }
            }
        } else if let Some(i) =
            input.downcast_ref::<transact_write_items::TransactWriteItemsInput>()
        {
            for item in i.transact_items() {
                if let Some(p) = item.put() {
                    self.push(
                        Some(p.table_name()),
                        "dynamodb:PutItem",
                        None,
                        pk(Some(p.item())),
                    );
                }
                if let Some(u) = item.update() {
                    self.push(
                        Some(u.table_name()),
                        "dynamodb:UpdateItem",
                        None,
                        pk(Some(u.key())),
                    );
                }
                if let Some(c) = item.condition_check() {
                    self.push(
                        Some(c.table_name()),
                        "dynamodb:ConditionCheckItem",
                        None,
                        pk(Some(c.key())),
                    );
                }
                if let Some(d) = item.delete() {
                    self.push(
                        Some(d.table_name()),
                        "dynamodb:DeleteItem",
                        None,
                        pk(Some(d.key())),
                    );
                }
            }
        } else if let Some(i) = input.downcast_ref::<query::QueryInput>() {
            // The partition key's value: the first `= :value` of the key
            // condition.
            let cond = i.key_condition_expression().unwrap_or_default();
            let key = cond
                .split('=')
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|name| i.expression_attribute_values()?.get(name))
                .and_then(|v| v.as_s().ok())
                .cloned();
            self.push(i.table_name(), "dynamodb:Query", i.index_name(), key);
        } else if let Some(i) = input.downcast_ref::<scan::ScanInput>() {
            self.push(i.table_name(), "dynamodb:Scan", i.index_name(), None);
        } else {
            self.push(None, "dynamodb:<unrecorded operation>", None, None);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A DynamoDB client whose requests are recorded for `role`.
pub fn client_for(
    endpoint: &str,
    timeout: Duration,
    role: &'static str,
) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::config::Builder::from(&local_dynamodb::local_sdk_config(
        endpoint, timeout,
    ))
    .interceptor(Recorder(role))
    .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// What each role's statements allow: (actions, on the index?, LeadingKeys).
type Statement = (BTreeSet<String>, bool, Option<Vec<String>>);

fn template_roles() -> BTreeMap<String, Vec<Statement>> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"),
    )
    .unwrap();
    let t: Value = serde_norway::from_str(&text).unwrap();
    let untag = |v: &Value| match v {
        Value::Tagged(t) => t.value.clone(),
        other => other.clone(),
    };
    let mut out = BTreeMap::new();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"] != "AWS::IAM::Role" {
            continue;
        }
        let mut sts = Vec::new();
        for policy in r["Properties"]["Policies"].as_sequence().unwrap() {
            for st in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
                let st = match untag(st) {
                    Value::Sequence(parts) if parts.len() == 3 => parts[1].clone(),
                    other => other,
                };
                let actions: BTreeSet<String> = match &st["Action"] {
                    Value::Sequence(a) => a
                        .iter()
                        .filter_map(|a| a.as_str().map(String::from))
                        .collect(),
                    a => a.as_str().map(String::from).into_iter().collect(),
                };
                let index = format!("{:?}", st["Resource"]).contains("/index/");
                let keys = st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                    .as_sequence()
                    .map(|ks| ks.iter().map(|k| k.as_str().unwrap().to_string()).collect());
                sts.push((actions, index, keys));
            }
        }
        out.insert(name.as_str().unwrap().to_string(), sts);
    }
    out
}

fn allowed(statements: &[Statement], a: &Access) -> bool {
    statements.iter().any(|(actions, index, keys)| {
        actions.contains(a.action)
            && *index == a.index.is_some()
            && match (keys, &a.key) {
                (None, _) => true,
                (Some(prefixes), Some(key)) => prefixes
                    .iter()
                    .any(|p| key.starts_with(p.trim_end_matches('*'))),
                // A request naming no key under a key condition: IAM's
                // ForAllValues holds for an empty set, but only a Scan is
                // expected to name none.
                (Some(_), None) => a.action == "dynamodb:Scan",
            }
    })
}

/// Every flow the functions run, each leg through its own role's client: a
/// redirect connect, a popup completion, a reconnect signed in to another
/// account (the callback's refusal, the webhook's mark, the publisher's
/// remedy), a disconnect, an erasure, the rate limits, the reconciler's runs
/// (new, expired, reconnects, the table pass), the publisher and its replay;
/// then every request is one its role's statements allow.
#[test]
fn every_table_access_is_one_its_role_allows() {
    block_on(async {
        let h = Harness::with(Options {
            webhooks: Some(SignatureScheme::Ofauth),
            env: vec![
                ("SESSION_RATE_LIMIT", "100".into()),
                ("COMPLETE_RATE_LIMIT", "100".into()),
            ],
            ..Options::default()
        })
        .await;
        const WAIT: Duration = Duration::from_secs(10);
        let more = |k: usize| h.sim.deliveries().len() + k;
        let user = unique("iam");
        // Two completions before OFAuth's attestation: the webhook binds the
        // first, the reconciler (its webhook lost) the second.
        for by_webhook in [true, false] {
            h.withhold_attestation();
            let (url, _) = h.start_attempt(&user, "").await;
            let query = h.hosted(&url, "approve").await;
            let loc = h.return_to_app(&query).await;
            let code = query_param(&loc, "code").unwrap();
            assert_eq!(h.complete_code(&user, &code).await.0, 202);
            h.sim.set_faults(ofauth_sim::Faults::default());
            if by_webhook {
                let n = more(1);
                h.sim.release_webhooks(false);
                assert_eq!(
                    h.sim.wait_for_deliveries(n, WAIT).await[n - 1]
                        .outcome
                        .as_deref(),
                    Some("bound")
                );
            } else {
                h.sim.set_webhook_mode(WebhookMode {
                    drop: true,
                    ..WebhookMode::default()
                });
                let run = h.reconcile().await;
                assert_eq!(run.counts.attested, 1, "{run:?}");
                h.sim.set_webhook_mode(WebhookMode::default());
            }
        }
        let n = more(1);
        let conn = h.connect(&user, "{}").await;
        h.sim.wait_for_deliveries(n, WAIT).await;
        // A reconnect signed in to another account: the browser's return sees
        // it (the callback's refusal), then a second whose browser never comes
        // back (the webhook's mark, the stream's remedy).
        let (url, _) = h
            .start_attempt(&user, &format!(r#"{{"connectionId":"{conn}"}}"#))
            .await;
        let query = h.hosted(&url, "approve?other_account=true").await;
        h.callback(&query).await;
        let other = h.connect(&user, "{}").await;
        let (url, attempt) = h
            .start_attempt(&user, &format!(r#"{{"connectionId":"{other}"}}"#))
            .await;
        h.callback(&format!(
            "status=cancelled&step=login&client_reference_id={attempt}"
        ))
        .await;
        let n = more(2);
        h.hosted(&url, "approve?other_account=true").await;
        h.sim.wait_for_deliveries(n, WAIT).await;
        h.publish_stream(25, 0).await;
        // The lists, a disconnect, the reconciler, an erasure, the publisher.
        h.list_connections(&user).await;
        let third = h.connect(&user, "{}").await;
        assert_eq!(h.disconnect(&user, &third).await.status(), 204);
        h.sim.set_webhook_mode(WebhookMode {
            drop: true,
            ..WebhookMode::default()
        });
        let lost = h.connect(&user, "{}").await;
        h.sim.expire_connection(&lost);
        h.reconcile().await;
        h.reconcile().await;
        let (status, _) = h.erase(&user).await;
        assert_eq!(status, 200);
        h.publish_stream(25, 0).await;

        let roles = template_roles();
        let seen: Vec<Access> = log()
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.table == h.table)
            .cloned()
            .collect();
        let refused: Vec<&Access> = seen
            .iter()
            .filter(|a| !allowed(&roles[a.role], a))
            .collect();
        assert!(refused.is_empty(), "AWS would refuse: {refused:#?}");
        // What the flows reached: every function, and the kinds of item.
        let by_role: BTreeSet<&str> = seen.iter().map(|a| a.role).collect();
        assert_eq!(
            by_role,
            BTreeSet::from([
                "CallbackRole",
                "CompleteRole",
                "ConnectionsRole",
                "InitSessionRole",
                "PublisherRole",
                "ReconcileRole",
                "WebhookRole",
            ]),
            "{seen:#?}"
        );
        let prefixes: BTreeSet<String> = seen
            .iter()
            .filter_map(|a| a.key.as_ref())
            .map(|k| k.split('#').next().unwrap().to_string())
            .collect();
        for p in [
            "ATTEMPT",
            "CONNECTION",
            "EVENT",
            "ERASED",
            "ERASURE",
            "RATE",
            "RECONCILE",
            "RECONNECTS",
            "USER",
        ] {
            assert!(
                prefixes.contains(p),
                "no flow touched {p}# items: {prefixes:?}"
            );
        }
    });
}
