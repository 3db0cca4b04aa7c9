//! `link-dev stream` (run by `make dev`): what AWS does for the publisher when
//! deployed, locally. It serves the EventBridge stand-in (the simulator's, which
//! records every event it accepts; the demo lists them), reads the table's change
//! stream on DynamoDB Local, and invokes the publisher under `cargo lambda watch`
//! with real DynamoDB stream events, as the template's event source mapping does
//! (its filter, batch size and retries: [`EventSourceMapping`]).

use std::time::Duration;

use local_dynamodb::stream::{lambda_event, EventSourceMapping, StreamReader};
use ofauth_sim::eventbridge::EventBridge;
use serde_json::Value;

use crate::Error;

/// Where things are.
pub struct Options {
    pub dynamodb_endpoint: String,
    pub table: String,
    /// `cargo lambda watch`'s invoke endpoint for the publisher.
    pub invoke_url: String,
    pub events_port: u16,
}

/// The Lambda Invoke API path of a function under `cargo lambda watch`.
pub fn invoke_url(watch_port: u16, function: &str) -> String {
    format!("http://127.0.0.1:{watch_port}/2015-03-31/functions/{function}/invocations")
}

/// Runs until stopped.
pub async fn run(o: Options) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", o.events_port))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on port {}: {e} (set EVENTS_PORT to another port)",
                o.events_port
            )
        })?;
    let bus = EventBridge::start(listener).await?;
    println!(
        "EventBridge stand-in on {} (GET /events lists what it received)",
        bus.url()
    );
    let mut mapping = EventSourceMapping::from_template("publisher")?;
    mapping.retry_delay = Duration::from_secs(1);
    let mut reader = StreamReader::open(&o.dynamodb_endpoint, &o.table).await?;
    // The first invocation may wait for `cargo lambda watch` to start the function.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    println!(
        "reading {}'s stream; the publisher gets batches of up to {} changes",
        o.table, mapping.batch_size
    );
    loop {
        let records = match reader.read().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("reading the stream failed (trying again): {e}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if !records.is_empty() {
            let before = bus.events().len();
            let out = mapping
                .deliver(&records, |batch| invoke(&http, &o.invoke_url, batch))
                .await;
            println!(
                "{} changes, {} for the publisher, {} invocation(s): {} event(s) published",
                records.len(),
                out.delivered,
                out.invocations,
                bus.events().len() - before
            );
            for (first, last) in &out.dead_letters {
                eprintln!("set aside after every retry (the on-failure queue when deployed): records {first} to {last}");
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One invocation: the sequence numbers the publisher reports as failed, or an
/// error when the invocation itself failed.
async fn invoke(
    http: &reqwest::Client,
    url: &str,
    batch: Vec<Value>,
) -> Result<Vec<String>, Error> {
    let resp = http.post(url).json(&lambda_event(&batch)).send().await?;
    let failed = resp.headers().contains_key("x-amz-function-error");
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if failed || !status.is_success() || body.get("errorType").is_some() {
        eprintln!("the publisher failed ({status}): {body}");
        return Err(format!("the publisher failed: {status}").into());
    }
    Ok(body["batchItemFailures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
        .collect())
}
