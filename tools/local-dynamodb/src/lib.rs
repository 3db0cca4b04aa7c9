//! DynamoDB Local for tests and local tools: the endpoint in `DYNAMODB_TEST_ENDPOINT`
//! when the test command started one, else one this process starts (and stops at
//! exit); and a client for it.

pub mod stream;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static CHILD: Mutex<Option<Child>> = Mutex::new(None);
static ENDPOINT: OnceLock<String> = OnceLock::new();

extern "C" fn stop() {
    if let Ok(mut guard) = CHILD.lock() {
        if let Some(mut child) = guard.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The AWS configuration every local client uses: fixed local credentials
/// (DynamoDB Local keeps tables per access key and region, so every tool uses the
/// same ones), the endpoint, and short timeouts.
pub fn local_sdk_config(endpoint: &str, timeout: Duration) -> aws_types::SdkConfig {
    use aws_sdk_dynamodb::config::{
        retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Credentials, Region,
        SharedCredentialsProvider,
    };
    aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-dynamodb",
        )))
        .endpoint_url(endpoint)
        .timeout_config(
            TimeoutConfig::builder()
                // Generous attempts: a loaded 2-core CI machine runs DynamoDB Local,
                // the compiler and the tests at once.
                .connect_timeout(Duration::from_millis(500).min(timeout))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build()
}

/// A DynamoDB client for a local endpoint ([`local_sdk_config`]).
pub fn client(endpoint: &str, timeout: Duration) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_sdk_config(endpoint, timeout))
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the DynamoDB Local jar is installed (`DYNAMODB_LOCAL_DIR`, else
/// `.tools/dynamodb-local`), installing it first when it is missing.
pub fn install_dir() -> std::io::Result<PathBuf> {
    let root = workspace_root();
    let dir = std::env::var("DYNAMODB_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".tools/dynamodb-local"));
    if !dir.join("DynamoDBLocal.jar").exists() {
        let ok = Command::new("bash")
            .arg(root.join("scripts/ensure-dynamodb-local.sh"))
            .status()?
            .success();
        if !ok {
            return Err(std::io::Error::other("could not install DynamoDB Local"));
        }
    }
    Ok(dir)
}

/// The one way DynamoDB Local is started (tests, `make dev`, `make test`): in
/// memory on `port`, at most 512 MiB of heap.
pub fn command(port: u16) -> std::io::Result<Command> {
    let mut cmd = Command::new("java");
    cmd.current_dir(install_dir()?)
        .args([
            "-Xmx512m",
            "-Djava.library.path=./DynamoDBLocal_lib",
            "-jar",
            "DynamoDBLocal.jar",
        ])
        .args(["-inMemory", "-port", &port.to_string()]);
    Ok(cmd)
}

/// The endpoint of a running DynamoDB Local. Panics (in a test) when it cannot start one.
pub fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| {
            if let Ok(e) = std::env::var("DYNAMODB_TEST_ENDPOINT") {
                if !e.is_empty() {
                    return e;
                }
            }
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free loopback port");
            let child = command(port)
                .expect("DynamoDB Local is installed")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("java (17+) must be installed to run DynamoDB Local");
            *CHILD.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
            // SAFETY: registers a plain extern "C" fn that only kills the child process.
            unsafe {
                libc::atexit(stop);
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "DynamoDB Local did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
            format!("http://127.0.0.1:{port}")
        })
        .clone()
}

/// A table of this process's own on [`endpoint`]'s DynamoDB Local, named
/// `<prefix>-<pid>` and created by [`create_table`]: its client (with `timeout`)
/// and its name. For the benchmark's and the scale tools' runs.
pub async fn process_table(
    prefix: &str,
    timeout: Duration,
) -> Result<(aws_sdk_dynamodb::Client, String), Box<dyn std::error::Error + Send + Sync>> {
    let table = format!("{prefix}-{}", std::process::id());
    let client = client(&endpoint(), timeout);
    create_table(&client, &table).await?;
    Ok((client, table))
}

/// Creates `table` at the client's endpoint from the `AWS::DynamoDB::Table` that
/// template.yaml defines: the deployed table and the local one have one source.
pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use serde_norway::Value;

    fn untag(v: &Value) -> &Value {
        match v {
            Value::Tagged(t) => &t.value,
            other => other,
        }
    }
    fn text(v: &Value) -> Result<String, String> {
        untag(v)
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("expected text, found {v:?}"))
    }
    fn keys(v: &Value) -> Result<Vec<KeySchemaElement>, Box<dyn std::error::Error + Send + Sync>> {
        let mut out = Vec::new();
        for k in v.as_sequence().ok_or("KeySchema is not a list")? {
            out.push(
                KeySchemaElement::builder()
                    .attribute_name(text(&k["AttributeName"])?)
                    .key_type(KeyType::from(text(&k["KeyType"])?.as_str()))
                    .build()?,
            );
        }
        Ok(out)
    }

    let path = workspace_root().join("template.yaml");
    let template: Value = serde_norway::from_str(&std::fs::read_to_string(&path)?)?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or("template has no Resources")?;
    let def = resources
        .values()
        .find(|r| r["Type"] == "AWS::DynamoDB::Table")
        .ok_or("template defines no DynamoDB table")?;
    let p = &def["Properties"];
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::from(text(&p["BillingMode"])?.as_str()))
        .set_key_schema(Some(keys(&p["KeySchema"])?));
    for a in p["AttributeDefinitions"]
        .as_sequence()
        .ok_or("AttributeDefinitions is not a list")?
    {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&a["AttributeName"])?)
                .attribute_type(ScalarAttributeType::from(
                    text(&a["AttributeType"])?.as_str(),
                ))
                .build()?,
        );
    }
    if let Some(gsis) = p["GlobalSecondaryIndexes"].as_sequence() {
        for g in gsis {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(text(&g["IndexName"])?)
                    .set_key_schema(Some(keys(&g["KeySchema"])?))
                    .projection({
                        let mut p = Projection::builder().projection_type(ProjectionType::from(
                            text(&g["Projection"]["ProjectionType"])?.as_str(),
                        ));
                        if let Some(attrs) = g["Projection"]["NonKeyAttributes"].as_sequence() {
                            for a in attrs {
                                p = p.non_key_attributes(text(a)?);
                            }
                        }
                        p.build()
                    })
                    .build()?,
            );
        }
    }
    if let Some(view) = p["StreamSpecification"]["StreamViewType"].as_str() {
        req = req.stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view))
                .build()?,
        );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        // Our own retry of a create that succeeded but answered late.
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception())
                && client
                    .describe_table()
                    .table_name(table)
                    .send()
                    .await
                    .is_ok() =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
