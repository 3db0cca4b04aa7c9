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
    use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_dynamodbstreams::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-dynamodb",
        ))
        .endpoint_url(endpoint)
        .timeout_config(
            aws_sdk_dynamodbstreams::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
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
            loop {
                let Some(Some(it)) = self.iterators.get(&id).cloned() else {
                    break;
                };
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
