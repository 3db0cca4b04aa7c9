//! Each function's binary, run exactly as Lambda runs it (the loopback Runtime
//! API), given what any client can send raw: a query or path with a space, `"`,
//! `<`, `>`, DEL or a control character, or a query of 70 KiB. Each answers with
//! its documented error (the callback: a redirect to the app's error page; the
//! JSON routes: 400 `invalid_request`), and the process is still alive and
//! answering for the next invocation. (Release builds abort on a panic, see
//! BENCHMARKS.md: these inputs must not reach one.)
//!
//! The binaries are the workspace's debug builds: `cargo build --workspace
//! --bins` first (`make test` does; `cargo test` alone builds a package's
//! binaries only for that package's own integration tests). No downstream is
//! needed: every request here is refused before DynamoDB or OFAuth would be
//! asked.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lambda_bench::runtime_api::{lambda_environment, Outcome, RuntimeApi};
use link_fixtures::ApiEvent;
use serde_json::Value;

const APP: &str = "https://app.example.com";

fn binary(name: &str) -> PathBuf {
    lambda_bench::debug_binary(name)
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts a function's binary under a Runtime API, with Lambda's environment.
async fn start(name: &str) -> (RuntimeApi, Child) {
    start_with(name, Stdio::null(), &[]).await
}

/// [`start`] with the process's stdout going to `stdout`, and more environment.
async fn start_with(name: &str, stdout: Stdio, env: &[(&str, &str)]) -> (RuntimeApi, Child) {
    let api = RuntimeApi::start(Duration::from_secs(5)).await.unwrap();
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let mut cmd = Command::new(binary(name));
    cmd.env_clear();
    let child = lambda_environment(&mut cmd, api.addr, name, 128)
        .env("TABLE_NAME", "raw-input")
        .env("DYNAMODB_ENDPOINT", &nowhere)
        .env("OFAUTH_BASE_URL", &nowhere)
        .env("OFAUTH_API_KEY", "sk_sandbox_raw")
        .env("OFAUTH_WEBHOOK_SECRET", "whsec_cmF3LWlucHV0LXNlY3JldA==")
        .env("APP_URL", APP)
        .env("CALLBACK_URL", "https://links.example.com/link/callback")
        .env("WARM_CONNECTIONS", "false")
        .envs(env.iter().copied())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    api.wait_for_init(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("{name} did not finish Init: {:?}", api.init_error()));
    (api, child)
}

/// An event whose raw path and query are exactly these strings.
fn raw(method: &str, path: &str, query: &str, ev: ApiEvent) -> String {
    let mut v = ev.json();
    v["rawPath"] = Value::String(path.into());
    v["rawQueryString"] = Value::String(query.into());
    v["requestContext"]["http"]["method"] = Value::String(method.into());
    v["requestContext"]["http"]["path"] = Value::String(path.into());
    v.to_string()
}

/// (status, headers, body) of a response, or panics on an error outcome.
async fn call(api: &mut RuntimeApi, event: String) -> (u64, Value, Value) {
    let (_, outcome) = api.invoke(event).await.expect("an answer");
    let Outcome::Response(bytes) = outcome else {
        panic!("an error instead of a response: {outcome:?}")
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let body = serde_json::from_str(v["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    (
        v["statusCode"].as_u64().unwrap(),
        v["headers"].clone(),
        body,
    )
}

fn alive(child: &mut Child) {
    assert!(child.try_wait().unwrap().is_none(), "the process ended");
}

/// The raw queries and paths a client can send.
fn hostile() -> Vec<String> {
    vec![
        "status=error&error_code=a b".into(),
        "status=error&error_code=\"x\"".into(),
        "status=error&error_code=<script>".into(),
        "status=cancelled&step=\u{7f}".into(),
        "status=cancelled&step=login\u{1}\u{0}".into(),
        format!("status=error&error_code={}", "a".repeat(70 * 1024)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_redirects_raw_input_to_the_error_page_and_lives_on() {
    // Its stdout is kept: the metrics (EMF) are checked at the end.
    let out = std::env::temp_dir().join(format!("raw-input-callback-{}.log", std::process::id()));
    let (mut api, mut child) = start_with(
        "callback",
        Stdio::from(std::fs::File::create(&out).unwrap()),
        &[("METRICS_NAMESPACE", "OFAuthLink/raw-input")],
    )
    .await;
    let want = format!("{APP}/link/error?status=error&error_code=invalid_request");
    for q in hostile() {
        let ev = raw(
            "GET",
            "/link/callback",
            &q,
            ApiEvent::new("GET", "/link/callback"),
        );
        let (status, headers, _) = call(&mut api, ev).await;
        assert_eq!(status, 302, "{}", &q[..q.len().min(60)]);
        assert_eq!(headers["location"], want.as_str());
        alive(&mut child);
    }
    // A raw space in the path too.
    let ev = raw(
        "GET",
        "/link/callback x",
        "status=maybe",
        ApiEvent::new("GET", "/link/callback"),
    );
    assert_eq!(call(&mut api, ev).await.1["location"], want.as_str());
    // And the next ordinary request is answered.
    let ev = ApiEvent::new("GET", "/link/callback")
        .query("status=maybe")
        .to_json_string();
    let (status, headers, _) = call(&mut api, ev).await;
    assert_eq!(
        (status, headers["location"].as_str()),
        (302, Some(want.as_str()))
    );
    alive(&mut child);
    let _ = child.kill();
    let _ = child.wait();

    // Each invocation flushed its metrics to stdout as EMF before it answered:
    // 8 requests counted as invalid_request, and one cold start.
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let mut requests = 0;
    let mut cold_starts = 0;
    for doc in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OFAuthLink/raw-input")
    {
        // (The raw path with a space is no known route: `Route=other`.)
        if doc["Outcome"] == "invalid_request" {
            requests += doc["Requests"].as_u64().unwrap();
        }
        if doc["Function"] == "callback" {
            cold_starts += doc["ColdStart"].as_u64().unwrap();
        }
    }
    assert_eq!((requests, cold_starts), (8, 1), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_routes_answer_raw_input_with_400_and_live_on() {
    let signed_in = |m: &str, p: &str| {
        ApiEvent::new(m, p)
            .user("user-1")
            .header("origin", APP)
            .header("content-type", "application/json")
    };
    // (function, method, path, event, an ordinary request and its status after)
    let cases = [
        (
            "init-session",
            "POST",
            "/link/session",
            ApiEvent::new("OPTIONS", "/link/session")
                .header("origin", APP)
                .header("access-control-request-method", "POST")
                .to_json_string(),
            204,
        ),
        (
            "connections",
            "GET",
            "/link/connections",
            ApiEvent::new("GET", "/link/connections").to_json_string(),
            401,
        ),
        (
            "webhook",
            "POST",
            "/link/webhook",
            ApiEvent::new("POST", "/link/webhook")
                .body("{}")
                .to_json_string(),
            401,
        ),
        (
            "complete",
            "POST",
            "/link/complete",
            ApiEvent::new("POST", "/link/complete").to_json_string(),
            401,
        ),
    ];
    for (function, method, path, ordinary, after) in cases {
        let (mut api, mut child) = start(function).await;
        for q in hostile() {
            let ev = raw(method, path, &q, signed_in(method, path));
            let (status, _, body) = call(&mut api, ev).await;
            assert_eq!(status, 400, "{function}: {}", &q[..q.len().min(60)]);
            assert_eq!(body["error"], "invalid_request", "{function}");
            alive(&mut child);
        }
        if method == "POST" && function != "webhook" {
            // A body that is not UTF-8, as API Gateway delivers one (base64):
            // not JSON, so 400 (`cargo lambda watch` itself answers 500 for
            // it before the function is called; docs/testing.md).
            let mut ev = signed_in(method, path).json();
            ev["body"] = Value::String("//4sdoBZ".into()); // ff fe 2c 76 80 59
            ev["isBase64Encoded"] = Value::Bool(true);
            let (status, _, body) = call(&mut api, ev.to_string()).await;
            assert_eq!(status, 400, "{function}: {body}");
            assert!(
                matches!(
                    body["error"].as_str(),
                    Some("invalid_json" | "invalid_request")
                ),
                "{function}: {body}"
            );
            alive(&mut child);
        }
        let (status, _, _) = call(&mut api, ordinary).await;
        assert_eq!(status, after, "{function} after raw input");
        alive(&mut child);
        let _ = child.kill();
    }
    // A raw path on the connections route, and on the platform's read API
    // (refused as malformed before the caller is looked at; then an ordinary
    // unsigned request is refused as such).
    let (mut api, mut child) = start("connections").await;
    let ev = raw(
        "DELETE",
        "/link/connections/a b\"<>",
        "",
        signed_in("DELETE", "/link/connections/{id}"),
    );
    assert_eq!(call(&mut api, ev).await.0, 400);
    for (path, q) in [
        ("/platform/users/a b\"<>/connections", ""),
        ("/platform/connections/conn_1", "x=\u{1}"),
        ("/platform/users/u1/connections", "a=<script>"),
    ] {
        let ev = raw(
            "GET",
            path,
            q,
            ApiEvent::new("GET", "/platform/connections/x"),
        );
        let (status, _, body) = call(&mut api, ev).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{path}"
        );
        alive(&mut child);
    }
    let unsigned = ApiEvent::new("GET", "/platform/users/u1/connections").to_json_string();
    assert_eq!(call(&mut api, unsigned).await.0, 403);
    let _ = child.kill();
}

/// The publisher given what no stream sends: not JSON, records of the wrong
/// shape, a change without its images. Each is an invocation error or a batch
/// item failure (Lambda retries, then the on-failure queue), never a crash, and
/// the process answers the next batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_refuses_malformed_batches_and_lives_on() {
    let (mut api, mut child) = start("publisher").await;
    for bad in [
        "not json".to_string(),
        r#"{"Records": 7}"#.to_string(),
        r#"{"Records": [{"garbage": true}]}"#.to_string(),
    ] {
        let (_, outcome) = api.invoke(bad.clone()).await.expect("an answer");
        if let Outcome::Response(bytes) = outcome {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(
                !v["batchItemFailures"].as_array().unwrap().is_empty(),
                "{bad}: {v}"
            );
        }
        alive(&mut child);
    }
    // A change with no new image (a stream without NEW_AND_OLD_IMAGES): reported
    // from that record, so Lambda retries it and then sets it aside.
    let record = serde_json::json!({
        "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-11-29T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_795_950_000,
            "Keys": { "pk": { "S": "CONN#conn_1" } },
            "SequenceNumber": "42", "SizeBytes": 40, "StreamViewType": "KEYS_ONLY"
        }
    });
    let (_, outcome) = api
        .invoke(serde_json::json!({ "Records": [record] }).to_string())
        .await
        .expect("an answer");
    let Outcome::Response(bytes) = outcome else {
        panic!("{outcome:?}")
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["batchItemFailures"][0]["itemIdentifier"], "42", "{v}");
    let (_, outcome) = api
        .invoke(r#"{"Records": []}"#.into())
        .await
        .expect("an answer");
    let Outcome::Response(bytes) = outcome else {
        panic!("{outcome:?}")
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["batchItemFailures"], serde_json::json!([]));
    alive(&mut child);
    let _ = child.kill();
}
