//! The metrics' EMF output for one flow, against DynamoDB Local and the simulator
//! over HTTP: a connect (session, hosted approval, callback, completion, the
//! signed `connection.created`), a cancelled attempt, an attempt OFAuth fails, a
//! forged callback, a webhook with a bad signature, one reconciler run, its
//! halts (the breaker, an unpinned key) and a session while DynamoDB is
//! unreachable. Every document must be valid EMF in
//! the configured namespace, the counts must be exactly what happened, and no
//! dimension may carry an id.
//!
//! It runs in a process of its own (rusty-fork): the recorder is global to the
//! process.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::helpers::*;
use ofauth_sim::{SignatureScheme, WebhookMode};
use serde_json::Value;

const NS: &str = "OFAuthLink/test";

/// (metric, sorted dimensions) → the sum of its values (a histogram: how many).
type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

fn read_emf(text: &str, ids: &[&str]) -> Series {
    let mut out = Series::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].as_u64().is_some(), "{line}");
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NS, "{line}");
        let dims: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .expect("one dimension set")
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        assert!(dims.len() <= 3, "low cardinality: {line}");
        let mut labels: Vec<(String, String)> = dims
            .iter()
            .map(|d| {
                let v = doc[d]
                    .as_str()
                    .unwrap_or_else(|| panic!("{d} missing: {line}"));
                // A fixed vocabulary: lower-case codes, never an id.
                assert!(
                    v.len() <= 40
                        && v.bytes().all(|b| b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || b"_-".contains(&b)),
                    "dimension {d}={v} is not a code: {line}"
                );
                for id in ids {
                    assert!(!line.contains(id), "{id} in {line}");
                }
                (d.clone(), v.to_string())
            })
            .collect();
        labels.sort();
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap().to_string();
            assert!(
                link_shared::telemetry::METRICS.contains(&name.as_str()),
                "{name} is not in telemetry::METRICS"
            );
            if name == "OFAuthLatency" {
                assert_eq!(m["Unit"], "Milliseconds", "{line}");
            }
            let value = match &doc[&name] {
                Value::Number(n) => n.as_f64().unwrap(),
                Value::Array(values) => {
                    assert!(values.iter().all(|v| v.as_f64().is_some_and(|x| x >= 0.0)));
                    values.len() as f64
                }
                other => panic!("{name} = {other}: {line}"),
            };
            *out.entry((name, labels.clone())).or_default() += value;
        }
    }
    out
}

fn get(series: &Series, name: &str, dims: &[(&str, &str)]) -> f64 {
    let mut key: Vec<(String, String)> = dims
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    key.sort();
    series.get(&(name.to_string(), key)).copied().unwrap_or(0.0)
}

fn flushed() -> String {
    let mut buf = Vec::new();
    link_shared::telemetry::flush_to(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// In a process of its own: the metrics recorder is global to the process.
#[test]
fn one_flow_emits_exactly_its_metrics_and_no_ids() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(one_flow_emits_exactly_its_metrics_and_no_ids),
        rusty_fork::rusty_fork_id!(),
        || block_on(run()),
    );
}

async fn run() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Ofauth),
        ..Options::default()
    })
    .await;
    link_shared::telemetry::install(NS, "test");
    assert!(link_shared::telemetry::enabled());

    // A connect (its connection.created held until after the callback, so the
    // callback always searches OFAuth's list), then the signed event.
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let user = unique("user");
    let conn = h.connect(&user, "{}").await;
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(1, Duration::from_secs(10)).await;
    // A cancelled attempt, and one OFAuth fails.
    let url = h.start(&user, "{}").await;
    let q = h.hosted(&url, "cancel?step=2fa").await;
    assert!(h.return_to_app(&q).await.contains("status=cancelled"));
    let url = h.start(&user, "{}").await;
    let q = h.hosted(&url, "fail?error_code=account_locked").await;
    assert!(h.return_to_app(&q).await.contains("status=error"));
    // A forged callback and a forged webhook.
    assert_error_redirect(
        &h.callback(&format!(
            "status=success&connection_id={conn}&client_reference_id=la_{}",
            "0".repeat(40)
        ))
        .await,
        "invalid_state",
    );
    let now = link_shared::time::epoch(std::time::SystemTime::now());
    let headers = ofauth_sim::sign_headers(
        "not-the-secret",
        SignatureScheme::Ofauth,
        "evt_x",
        now,
        b"{}",
    );
    assert_eq!(h.deliver(&headers, "{}").await.status(), 401);
    // One reconciler run.
    let report = h.reconcile().await;

    let attempts: Vec<String> = h
        .items_of("attempt")
        .await
        .iter()
        .map(|a| s(a, "attemptId"))
        .collect();
    let mut ids: Vec<&str> = vec![conn.as_str(), user.as_str()];
    ids.extend(
        attempts
            .iter()
            .map(String::as_str)
            .filter(|a| !a.is_empty()),
    );
    let series = read_emf(&flushed(), &ids);

    let requests = |route: &str, outcome: &str| {
        get(
            &series,
            "Requests",
            &[("Route", route), ("Outcome", outcome)],
        )
    };
    assert_eq!(requests("session", "session_created"), 3.0, "{series:#?}");
    assert_eq!(requests("callback", "returned"), 1.0);
    assert_eq!(requests("callback", "cancelled"), 1.0);
    assert_eq!(requests("callback", "link_error"), 1.0);
    assert_eq!(requests("callback", "invalid_state"), 1.0);
    assert_eq!(requests("complete", "active"), 1.0);
    assert_eq!(requests("webhook", "invalid_signature"), 1.0);
    // The signed connection.created, whatever it found to do.
    let deliveries: f64 = series
        .iter()
        .filter(|((n, d), _)| {
            n == "Requests"
                && d.contains(&("Route".into(), "webhook".into()))
                && !d.contains(&("Outcome".into(), "invalid_signature".into()))
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(deliveries, 1.0, "{series:#?}");
    assert_eq!(get(&series, "LinkCancelled", &[("Step", "2fa")]), 1.0);
    assert_eq!(
        get(&series, "LinkErrors", &[("Code", "account_locked")]),
        1.0
    );
    assert_eq!(
        get(&series, "SignatureFailures", &[("Check", "mismatch")]),
        1.0
    );
    // Every request was counted once, with one outcome.
    let total_requests: f64 = series
        .iter()
        .filter(|((n, _), _)| n == "Requests")
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total_requests, 10.0, "{series:#?}");

    // OFAuth: three sessions; the callback's access/self and list search; the
    // reconciler's first run asks access/self once more (the pin's evidence:
    // the one bound record).
    let calls = |endpoint: &str| {
        get(
            &series,
            "OFAuthCalls",
            &[("Endpoint", endpoint), ("Result", "2xx")],
        )
    };
    assert_eq!(calls("link_init"), 3.0);
    assert_eq!(calls("access_self"), 2.0);
    assert!(calls("list_connections") >= 2.0, "callback + reconciler");
    let per_endpoint: f64 = series
        .iter()
        .filter(|((n, d), _)| n == "OFAuthCalls" && !d.is_empty())
        .map(|(_, v)| v)
        .sum();
    assert_eq!(get(&series, "OFAuthCalls", &[]), per_endpoint);
    assert_eq!(get(&series, "OFAuthLatency", &[]), per_endpoint);
    assert_eq!(get(&series, "OFAuthFailures", &[]), 0.0);

    // The reconciler's run, with its counts.
    assert_eq!(
        get(&series, "ReconcileRuns", &[("Outcome", "reconciled")]),
        1.0
    );
    assert_eq!(
        get(&series, "ReconcilePages", &[]),
        f64::from(report.counts.pages)
    );
    assert_eq!(
        get(&series, "ReconcileChecked", &[]),
        f64::from(report.counts.checked)
    );
    assert_eq!(get(&series, "ColdStart", &[("Function", "test")]), 1.0);
    assert_eq!(get(&series, "DynamoDBErrors", &[]), 0.0);

    // Counters are deltas: a second flush has nothing new.
    assert_eq!(flushed().trim(), "");

    // The reconciler's halts, by reason, and the breaker's trips, by why: an
    // incident that hides the deployment's connections, then a key nothing
    // vouches for on a fresh deployment.
    h.sim.set_faults(ofauth_sim::Faults {
        unseen: vec![conn.clone()],
        ..Default::default()
    });
    h.reconcile().await;
    h.sim.set_faults(Default::default());
    let fresh = Harness::new().await;
    fresh.connect(&user, "{}").await;
    fresh.sim.set_foreign_keys(&["sk_other"]);
    let wrong = link_shared::reconcile::ReconcileService::new(
        fresh.store.clone(),
        ofauth_client(&fresh.config, "sk_other"),
        fresh.config.reconcile.clone(),
        50,
    );
    fresh.reconcile_with(&wrong).await;
    let series = read_emf(&flushed(), &ids);
    let halted = |reason| get(&series, "ReconcileHalted", &[("Reason", reason)]);
    assert_eq!(
        (halted("breaker"), halted("unpinned")),
        (1.0, 1.0),
        "{series:#?}"
    );
    assert_eq!(get(&series, "ReconcileHalted", &[]), 2.0);
    assert_eq!(
        get(&series, "ReconcileBreakerTrips", &[("Why", "unseen")]),
        1.0,
        "{series:#?}"
    );

    // DynamoDB unreachable: the session fails, and the error is counted by kind.
    let down = Harness::with(Options {
        dynamodb_endpoint: Some(format!("http://127.0.0.1:{}", closed_port())),
        create_table: false,
        ..Options::default()
    })
    .await;
    let resp = down.create_session(&user, "{}").await;
    assert_eq!(resp.status(), 503, "{}", body_text(&resp));
    let series = read_emf(&flushed(), &ids);
    assert_eq!(
        get(
            &series,
            "Requests",
            &[("Route", "session"), ("Outcome", "storage_unavailable")]
        ),
        1.0,
        "{series:#?}"
    );
    let errors = get(&series, "DynamoDBErrors", &[]);
    assert!(errors >= 1.0, "{series:#?}");
    assert_eq!(
        get(&series, "DynamoDBErrors", &[("Kind", "unreachable")])
            + get(&series, "DynamoDBErrors", &[("Kind", "timeout")]),
        errors
    );
}
