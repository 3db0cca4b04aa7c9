//! What the logs show on every path where something goes wrong: never a full
//! connection id, attempt id, completion code, API key or webhook secret (ids are
//! masked to their first 8 characters). Captures the JSON log lines the functions
//! write at the deployed level (INFO) while the fault paths run against DynamoDB
//! Local and the simulator.
//!
//! It runs in a process of its own (rusty-fork): the log capture is the process's
//! global subscriber.

use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;
use ofauth_sim::{ErrorShape, Faults, SignatureScheme};

/// Every whole identifier or secret the run produced that must not be logged.
fn secrets_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (prefix, len) in [("conn_", 24), ("la_", 40), ("lc_", 80)] {
        let mut rest = text;
        while let Some(i) = rest.find(prefix) {
            let tail = &rest[i + prefix.len()..];
            let run: String = tail.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            if run.len() >= len {
                found.push(format!("{prefix}{run}"));
            }
            rest = &tail[run.len().min(tail.len())..];
        }
    }
    for secret in [API_KEY, WEBHOOK_SECRET] {
        if text.contains(secret) {
            found.push(secret.to_string());
        }
    }
    found
}

/// In a process of its own: the log capture is the process's global subscriber.
#[test]
fn no_fault_path_logs_a_whole_id_or_a_secret() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(no_fault_path_logs_a_whole_id_or_a_secret),
        rusty_fork::rusty_fork_id!(),
        || block_on(run()),
    );
}

async fn run() {
    let capture = LogCapture::install();

    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Ofauth),
        ..Options::default()
    })
    .await;
    let fault = |status: Option<u16>, latency_ms: u64, path: &str| Faults {
        status,
        latency_ms,
        path_prefix: Some(path.into()),
        error_type: Some("UNAUTHORIZED".into()),
        error_shape: ErrorShape::Current,
        ..Faults::default()
    };

    // A bound connection, and a pending attempt that came back.
    let conn = h.connect("alice", "").await;
    let (url, attempt) = h.start_attempt("bob", "").await;
    let query = h.hosted(&url, "approve").await;
    // OFAuth failing, slow, refusing the key, during the callback.
    for f in [
        fault(Some(503), 0, "/v2/access/self"),
        fault(None, 1500, "/v2/access/self"),
        fault(Some(401), 0, "/v2/access/self"),
        fault(Some(500), 0, "/v2/account/connections"),
    ] {
        h.sim.set_faults(f);
        h.callback(&query).await;
    }
    h.sim.set_faults(Faults::default());
    // Conflicts and forgeries.
    let forged = format!("status=success&connection_id={conn}&client_reference_id={attempt}");
    h.callback(&forged).await;
    h.callback(&format!(
        "status=success&connection_id=conn_{}&client_reference_id=la_{}",
        "ab".repeat(12),
        "0".repeat(40)
    ))
    .await;
    // A fixation, with OFAuth failing the disconnect.
    let (url, _) = h.start_attempt("mallory", "").await;
    let q = h.hosted(&url, "approve").await;
    let loc = h.return_to_app(&q).await;
    let code = query_param(&loc, "code").unwrap();
    h.sim
        .set_faults(fault(Some(500), 0, "/v2/account/connections/"));
    h.complete_code("victim", &code).await;
    h.complete_code("victim", &code).await;
    h.complete_code("mallory", &format!("lc_{}", "1".repeat(80)))
        .await;
    // A disconnect that OFAuth fails (its URL holds the connection id).
    h.disconnect("alice", &conn).await;
    h.sim.set_faults(Faults::default());
    // OFAuth unreachable (the error text would carry the URL).
    let down = Harness::with(Options {
        ofauth_base: Some(format!("http://127.0.0.1:{}", closed_port())),
        ..Options::default()
    })
    .await;
    down.create_session("carol", "").await;
    // A disconnect while OFAuth is unreachable: the request's URL holds the id.
    let conn_down = format!("conn_{}", "cd".repeat(12));
    let item = |k: &str, v: &str| (k.to_string(), AttributeValue::S(v.to_string()));
    down.ddb
        .put_item()
        .table_name(&down.table)
        .set_item(Some(std::collections::HashMap::from([
            item("pk", &format!("CONNECTION#{conn_down}")),
            item("entity", "connection"),
            item("connectionId", &conn_down),
            item("userId", "dave"),
            item("status", "active"),
            item("updatedAt", "2026-11-23T10:00:00Z"),
        ])))
        .send()
        .await
        .unwrap();
    let resp = down.disconnect("dave", &conn_down).await;
    assert_eq!(
        resp.status(),
        502,
        "OFAuth was called and could not be reached"
    );
    // DynamoDB down.
    let no_table = Harness::with(Options {
        dynamodb_endpoint: Some(format!("http://127.0.0.1:{}", closed_port())),
        create_table: false,
        ..Options::default()
    })
    .await;
    no_table.callback(&query).await;
    no_table
        .complete_code("bob", &format!("lc_{}", "2".repeat(80)))
        .await;
    // Webhooks: bad signatures, and one that cannot be stored.
    let body = serde_json::json!({ "type": "connection.created", "data": { "clientReferenceId": attempt, "connection": { "id": conn } } }).to_string();
    h.deliver(&[("OFAuth-Signature".into(), "t=1,v1=00".into())], &body)
        .await;
    let now = link_shared::time::epoch(std::time::SystemTime::now());
    let signed = ofauth_sim::sign_headers(
        WEBHOOK_SECRET,
        SignatureScheme::Ofauth,
        "",
        now,
        body.as_bytes(),
    );
    let store_down = Harness::with(Options {
        dynamodb_endpoint: Some(format!("http://127.0.0.1:{}", closed_port())),
        create_table: false,
        ..Options::default()
    })
    .await;
    store_down.deliver(&signed, &body).await;

    let text = capture.text();
    let lines = text.lines().count();
    assert!(lines > 20, "the paths above log: {lines} lines");
    assert!(text.contains("temporarily_unavailable") && text.contains("completion_refused"));
    let leaked = secrets_in(&text);
    assert!(leaked.is_empty(), "logged in full: {leaked:?}\n{text}");
}
