//! A table's change stream on DynamoDB Local, read as Lambda's event source
//! mapping reads it: every shard from its start, each record once, in order, and
//! handed over as the JSON of the event Lambda gives the function
//! (`{"Records":[{"eventName","dynamodb":{"NewImage","OldImage","SequenceNumber",…}}]}`).
//! `link-dev stream` (under `make dev`) and the tests both read the publisher's
//! input this way.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{json, Map, Value};

/// Reads one table's stream.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Each shard's next iterator (none once a closed shard is read to its end).
    iterators: BTreeMap<String, Option<String>>,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A DynamoDB Streams client for a local endpoint, with the local credentials.
pub fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::new(&crate::local_sdk_config(
        endpoint,
        Duration::from_secs(10),
    ))
}

impl StreamReader {
    /// The stream of `table`, read from its start.
    pub async fn open(endpoint: &str, table: &str) -> Result<Self, Error> {
        let ddb = crate::client(endpoint, Duration::from_secs(10));
        let described = ddb.describe_table().table_name(table).send().await?;
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or("the table has no stream")?
            .to_string();
        Ok(Self {
            client: streams_client(endpoint),
            arn,
            iterators: BTreeMap::new(),
        })
    }

    /// Every record written since the last read, as Lambda's event records,
    /// shard by shard in order (one item's records are in one shard).
    pub async fn read(&mut self) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await?;
        let shards = described
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id().map(str::to_string) else {
                continue;
            };
            if !self.iterators.contains_key(&id) {
                let it = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await?;
                self.iterators.insert(id.clone(), it.shard_iterator);
            }
            while let Some(Some(it)) = self.iterators.get(&id).cloned() {
                let got = self.client.get_records().shard_iterator(it).send().await?;
                let records = got.records.unwrap_or_default();
                let empty = records.is_empty();
                out.extend(records.iter().map(|r| lambda_record(r, &self.arn)));
                self.iterators.insert(id.clone(), got.next_shard_iterator);
                if empty {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// Lambda's event for these records.
pub fn lambda_event(records: &[Value]) -> Value {
    json!({ "Records": records })
}

/// One stream record as Lambda's event carries it.
pub fn lambda_record(r: &Record, arn: &str) -> Value {
    let change = r.dynamodb();
    let image = |i: Option<&std::collections::HashMap<String, AttributeValue>>| {
        i.map(|m| {
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), attribute(v)))
                    .collect::<Map<_, _>>(),
            )
        })
    };
    let mut dynamodb = Map::new();
    if let Some(c) = change {
        if let Some(t) = c.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (k, v) in [
            ("Keys", image(c.keys.as_ref())),
            ("NewImage", image(c.new_image.as_ref())),
            ("OldImage", image(c.old_image.as_ref())),
        ] {
            if let Some(v) = v {
                dynamodb.insert(k.into(), v);
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(c.sequence_number()));
        dynamodb.insert("SizeBytes".into(), json!(c.size_bytes().unwrap_or(0)));
        dynamodb.insert(
            "StreamViewType".into(),
            json!(c.stream_view_type().map(|v| v.as_str())),
        );
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": arn,
    })
}

/// An attribute value in DynamoDB's JSON (`{"S": "…"}`).
fn attribute(v: &AttributeValue) -> Value {
    use base64::Engine;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({
            "M": m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect::<Map<_, _>>()
        }),
        _ => json!({ "NULL": true }),
    }
}

/// A function's DynamoDB event source as template.yaml defines it, run as
/// Lambda's event source mapping runs it: the records its filters let through,
/// in batches of its `BatchSize`, in order; a batch whose invocation reports a
/// batch item failure (or fails) is delivered again from that record, at most
/// `MaximumRetryAttempts` times, and then set aside (Lambda's on-failure
/// destination) and the stream goes on.
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    pub batch_size: usize,
    pub max_retries: usize,
    /// Waited before each retry (Lambda backs off; tests need not).
    pub retry_delay: Duration,
    filters: Vec<Value>,
}

/// What one [`EventSourceMapping::deliver`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub invocations: usize,
    /// The records that passed the filters.
    pub delivered: usize,
    /// Sequence numbers of the batches set aside after every retry (their first
    /// and last record).
    pub dead_letters: Vec<(String, String)>,
}

impl EventSourceMapping {
    /// The DynamoDB event source of the function template.yaml builds from
    /// `binary`.
    pub fn from_template(binary: &str) -> Result<Self, Error> {
        let path = crate::workspace_root().join("template.yaml");
        let template: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(path)?)?;
        let function = template["Resources"]
            .as_mapping()
            .ok_or("template has no Resources")?
            .values()
            .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .ok_or_else(|| format!("template builds no function {binary}"))?;
        let source = function["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flat_map(|m| m.values())
            .find(|e| e["Type"] == "DynamoDB")
            .ok_or_else(|| format!("{binary} has no DynamoDB event source"))?;
        let p = &source["Properties"];
        let number = |k: &str, default: u64| p[k].as_u64().unwrap_or(default) as usize;
        let mut filters = Vec::new();
        for f in p["FilterCriteria"]["Filters"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let text = f["Pattern"]
                .as_str()
                .ok_or("a filter without its Pattern")?;
            let pattern: Value = serde_json::from_str(text)?;
            if !exact_values_only(&pattern) {
                return Err(format!(
                    "{binary}'s filter {text}: only exact values can be run locally"
                )
                .into());
            }
            filters.push(pattern);
        }
        Ok(Self {
            batch_size: number("BatchSize", 100).max(1),
            // Lambda's default for a stream: until the record expires.
            max_retries: number("MaximumRetryAttempts", 10_000),
            retry_delay: Duration::ZERO,
            filters,
        })
    }

    /// Whether a record passes the filters (any one of them; all without any).
    pub fn passes(&self, record: &Value) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| matches(f, record))
    }

    /// Delivers `records` (in stream order) to `invoke`, which answers the
    /// sequence numbers it reports as failed (or an error for a failed
    /// invocation, which fails the whole batch).
    pub async fn deliver<F, Fut>(&self, records: &[Value], mut invoke: F) -> Delivery
    where
        F: FnMut(Vec<Value>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<String>, Error>>,
    {
        let passed: Vec<&Value> = records.iter().filter(|r| self.passes(r)).collect();
        let sequence = |r: &Value| {
            r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let mut out = Delivery {
            delivered: passed.len(),
            ..Delivery::default()
        };
        let (mut start, mut retries) = (0, 0);
        while start < passed.len() {
            let end = (start + self.batch_size).min(passed.len());
            let batch: Vec<Value> = passed[start..end].iter().map(|r| (*r).clone()).collect();
            out.invocations += 1;
            let failed_at = match invoke(batch).await {
                // A reported failure outside the batch fails it all, as Lambda does.
                Ok(failed) => failed.first().map(|seq| {
                    passed[start..end]
                        .iter()
                        .position(|r| sequence(r) == *seq)
                        .map_or(start, |i| start + i)
                }),
                Err(_) => Some(start),
            };
            match failed_at {
                None => (start, retries) = (end, 0),
                Some(at) if retries < self.max_retries => {
                    retries += 1;
                    start = at;
                    tokio::time::sleep(self.retry_delay).await;
                }
                Some(at) => {
                    out.dead_letters
                        .push((sequence(passed[at]), sequence(passed[end - 1])));
                    (start, retries) = (end, 0);
                }
            }
        }
        out
    }
}

/// An event pattern (EventBridge's syntax, as Lambda's filters use it) made only
/// of objects and lists of exact values.
fn exact_values_only(pattern: &Value) -> bool {
    match pattern {
        Value::Object(m) => m.values().all(exact_values_only),
        Value::Array(options) => options.iter().all(|o| {
            matches!(
                o,
                Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null
            )
        }),
        _ => false,
    }
}

/// Whether `value` matches `pattern`: every key of an object matches, a list
/// matches a value equal to one of its options (or a list holding one).
fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(m) => m
            .iter()
            .all(|(k, sub)| matches(sub, value.get(k).unwrap_or(&Value::Null))),
        Value::Array(options) => match value {
            Value::Array(values) => values.iter().any(|v| options.contains(v)),
            v => options.contains(v),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: &str, entity: &str, name: &str) -> Value {
        json!({"eventName": name, "dynamodb": {"SequenceNumber": seq, "NewImage": {"entity": {"S": entity}}}})
    }

    fn mapping(batch: usize, retries: usize) -> EventSourceMapping {
        EventSourceMapping {
            batch_size: batch,
            max_retries: retries,
            retry_delay: Duration::ZERO,
            filters: vec![
                json!({"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"entity": {"S": ["connection"]}}}}),
            ],
        }
    }

    #[test]
    fn a_filter_lets_through_exactly_what_it_names() {
        let m = mapping(10, 0);
        assert!(m.passes(&record("1", "connection", "MODIFY")));
        assert!(!m.passes(&record("1", "attempt", "MODIFY")));
        assert!(!m.passes(&record("1", "connection", "REMOVE")));
        assert!(!m.passes(&json!({"eventName": "INSERT"})));
    }

    #[tokio::test]
    async fn a_failure_is_retried_from_its_record_then_set_aside() {
        let records: Vec<Value> = (1..=5)
            .map(|i| {
                record(
                    &i.to_string(),
                    if i == 2 { "attempt" } else { "connection" },
                    "INSERT",
                )
            })
            .collect();
        // Record 3 fails twice, then goes through: batches [1,3], [3,4], [3,4], [5].
        let seen = std::sync::Mutex::new(Vec::new());
        let fails = std::sync::Mutex::new(2);
        let out = mapping(2, 5)
            .deliver(&records, |batch| {
                let seqs: Vec<String> = batch
                    .iter()
                    .map(|r| {
                        r["dynamodb"]["SequenceNumber"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                seen.lock().unwrap().push(seqs.clone());
                let mut f = fails.lock().unwrap();
                let failed = if seqs.contains(&"3".to_string()) && *f > 0 {
                    *f -= 1;
                    vec!["3".to_string()]
                } else {
                    vec![]
                };
                async move { Ok(failed) }
            })
            .await;
        assert_eq!(
            *seen.lock().unwrap(),
            [vec!["1", "3"], vec!["3", "4"], vec!["3", "4"], vec!["5"]]
        );
        assert_eq!(out.delivered, 4);
        assert!(out.dead_letters.is_empty());
        // Always failing, with one retry: set aside after two tries, and the
        // stream goes on.
        let out = mapping(2, 1)
            .deliver(&records, |batch| async move {
                let first = batch[0]["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap()
                    .to_string();
                if first == "1" {
                    Err("down".into())
                } else {
                    Ok(vec![])
                }
            })
            .await;
        assert_eq!(out.dead_letters, [("1".to_string(), "3".to_string())]);
        assert_eq!(out.invocations, 3);
    }
}
