//! One request, one story: every log line of one user's flow, in every function
//! (init-session, the callback, the completion, the webhook and the reconciler),
//! carries the same correlation id, the masked attempt id, as `span.flow`; the
//! README's Logs Insights query (`filter span.flow = "<id>"`) prints the flow.
//! Captures the JSON log lines at INFO, the deployed level, while the flow runs
//! against DynamoDB Local and the simulator.
//!
//! It runs in a process of its own (rusty-fork): the log capture is the process's
//! global subscriber.

use std::time::Duration;

use crate::helpers::*;
use link_shared::ids::mask;
use ofauth_sim::{SignatureScheme, WebhookMode};
use serde_json::Value;

/// In a process of its own: the log capture is the process's global subscriber.
#[test]
fn every_log_line_of_a_flow_carries_its_correlation_id() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(every_log_line_of_a_flow_carries_its_correlation_id),
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
    let user = unique("user");
    // Another user's flow at the same time, which must not be mixed in.
    let other = h.connect(&unique("other"), "{}").await;

    let (url, attempt) = h.start_attempt(&user, "{}").await;
    let query = h.hosted(&url, "approve").await;
    let (status, body) = h.return_and_complete(&user, &query).await;
    assert_eq!(status, 200, "{body}");
    let conn = body["connectionId"].as_str().unwrap().to_string();
    h.sim.wait_for_deliveries(2, Duration::from_secs(10)).await;
    // The connection expires while OFAuth's webhooks are lost: the reconciler
    // finds it.
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    assert!(h.sim.expire_connection(&conn));
    assert_eq!(h.reconcile().await.counts.changed, 1);

    let flow = mask(&attempt);
    let text = capture.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let in_flow: Vec<&Value> = lines
        .iter()
        .filter(|l| l["span"]["flow"] == flow.as_str())
        .collect();

    // The flow's story, in order, from each function.
    let story: Vec<(String, String)> = in_flow
        .iter()
        .filter_map(|l| {
            let outcome = l["fields"]["outcome"].as_str()?;
            let route = l["span"]["route"].as_str().unwrap_or("reconciler");
            Some((route.to_string(), outcome.to_string()))
        })
        .collect();
    let expected = [
        ("session", "session_created"),
        ("callback", "returned"),
        ("complete", "active"),
        ("reconciler", "changed"),
    ];
    let mut at = 0;
    for (route, outcome) in &story {
        if at < expected.len() && (route.as_str(), outcome.as_str()) == expected[at] {
            at += 1;
        }
    }
    assert_eq!(at, expected.len(), "the flow's lines: {story:?}");
    assert!(
        story.iter().any(|(route, _)| route == "webhook"),
        "the signed connection.created: {story:?}"
    );

    // No line about this flow's attempt or connection goes without the id, and
    // no other flow's line has it.
    let masked_conn = mask(&conn);
    for l in &lines {
        let raw = l.to_string();
        if raw.contains(&flow) || raw.contains(&masked_conn) {
            assert_eq!(l["span"]["flow"], flow.as_str(), "{raw}");
        }
    }
    for l in &in_flow {
        assert!(!l.to_string().contains(&mask(&other)), "{l}");
    }
}
