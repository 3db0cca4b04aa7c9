//! Completions keep their own capacity: the callback function and the complete
//! function are separate binaries, each with its own execution environments
//! (on Lambda, its own reserved concurrency). Here the callback's one
//! environment is saturated (its DynamoDB never answers, so each forged
//! callback waits out its timeout), and a signed-in user's completion, served by
//! the complete function's own environment against DynamoDB Local, answers
//! while the callbacks are still queued.
//!
//! The binaries are the workspace's debug builds (`make test` builds them
//! first); DynamoDB Local is `DYNAMODB_TEST_ENDPOINT`'s.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_bench::runtime_api::{lambda_environment, Outcome, RuntimeApi};
use link_fixtures::ApiEvent;
use serde_json::Value;

const APP: &str = "https://app.example.com";

fn binary(name: &str) -> PathBuf {
    lambda_bench::debug_binary(name)
}

async fn start(name: &str, dynamodb: &str, table: &str) -> (RuntimeApi, std::process::Child) {
    let api = RuntimeApi::start(Duration::from_secs(30)).await.unwrap();
    let mut cmd = Command::new(binary(name));
    cmd.env_clear();
    let child = lambda_environment(&mut cmd, api.addr, name, 128)
        .env("TABLE_NAME", table)
        .env("DYNAMODB_ENDPOINT", dynamodb)
        .env("DYNAMODB_TIMEOUT_MS", "2000")
        .env("OFAUTH_BASE_URL", "http://127.0.0.1:9")
        .env("OFAUTH_API_KEY", "sk_sandbox_saturation")
        .env("APP_URL", APP)
        .env("CALLBACK_URL", "https://links.example.com/link/callback")
        .env("WARM_CONNECTIONS", "false")
        .env("DEV_TRUST_USER_HEADER", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    api.wait_for_init(Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("{name} did not finish Init: {:?}", api.init_error()));
    (api, child)
}

/// A TCP listener that accepts and never answers: a DynamoDB that hangs.
async fn black_hole() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_answer_while_the_callback_is_saturated() {
    let endpoint =
        std::env::var("DYNAMODB_TEST_ENDPOINT").unwrap_or_else(|_| local_dynamodb::endpoint());
    let admin = local_dynamodb::client(&endpoint, Duration::from_secs(30));
    let table = format!("saturation-{}", std::process::id());
    local_dynamodb::create_table(&admin, &table).await.unwrap();

    // The callback: one environment, its DynamoDB hanging.
    let hole = black_hole().await;
    let (mut callback, mut cb_child) = start("callback", &hole, &table).await;
    let (mut complete, mut co_child) = start("complete", &endpoint, &table).await;

    const QUEUED: usize = 5;
    let done = Arc::new(AtomicUsize::new(0));
    let counter = done.clone();
    let flood = tokio::spawn(async move {
        for i in 0..QUEUED {
            let query = format!(
                "status=success&connection_id=conn_flood{i}&client_reference_id=la_{:040x}",
                i + 1
            );
            let ev = ApiEvent::new("GET", "/link/callback").query(&query);
            let (_, outcome) = callback.invoke(ev.to_json_string()).await.unwrap();
            assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
            counter.fetch_add(1, Ordering::SeqCst);
        }
        callback
    });
    // A signed-in user's completion (a code nobody issued: a real read of the
    // table, then 400), while the callbacks wait on their DynamoDB.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ev = ApiEvent::new("POST", "/link/complete")
        .header("origin", APP)
        .header("content-type", "application/json")
        .header("x-user-id", "user-1")
        .body(&serde_json::json!({ "code": format!("lc_{}", "0".repeat(80)) }).to_string());
    let (_, outcome) = complete.invoke(ev.to_json_string()).await.unwrap();
    let Outcome::Response(bytes) = outcome else {
        panic!("{outcome:?}")
    };
    let answered_after = done.load(Ordering::SeqCst);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    let body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (v["statusCode"].as_u64(), body["error"].as_str()),
        (Some(400), Some("invalid_code")),
        "{v}"
    );
    // Not one callback had its answer yet: the callback function was
    // saturated the whole time, and the completion did not wait for it.
    assert_eq!(
        answered_after, 0,
        "the completion waited for the callbacks ({answered_after} of {QUEUED} done)"
    );
    flood.abort();
    let _ = cb_child.kill();
    let _ = co_child.kill();
}
