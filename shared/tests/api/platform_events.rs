//! The platform hears of every connection change exactly once: a whole flow
//! (connect, expire by webhook, reconnect, disconnect, a second connection and an
//! erasure) written to DynamoDB Local, its table's stream read as Lambda reads
//! it, the publisher run on it, and what the EventBridge stand-in received
//! checked against the exact sequence of events and `openapi.yaml`'s
//! `PlatformEvent` schema. A publisher killed mid-batch, and one whose entries
//! EventBridge refuses, lose nothing and duplicate nothing but by identity.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::helpers::*;
use ofauth_sim::eventbridge::Received;
use ofauth_sim::{Faults, SignatureScheme, WebhookMode};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// Validates a received event against `openapi.yaml`'s `PlatformEvent`.
fn check_schema(events: &[Received]) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    let doc: Value = serde_norway::from_str(&text).unwrap();
    let root = json!({
        "$ref": "#/components/schemas/PlatformEvent",
        "components": doc["components"],
    });
    let validator = jsonschema::draft202012::new(&root).unwrap();
    for e in events {
        let event = json!({
            "source": e.source,
            "detail-type": e.detail_type,
            "detail": e.detail,
        });
        let errors: Vec<String> = validator
            .iter_errors(&event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{event}: {errors:?}");
    }
}

/// (detail-type, connection, cause) of each event, in order.
fn summary(events: &[Received]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.detail_type.clone(),
                e.detail["connectionId"].as_str().unwrap_or("-").to_string(),
                e.detail["cause"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The flow: `user` connects A, A expires (OFAuth's webhook), `user` reconnects
/// A, disconnects A, connects B, and erases their data. Returns (A, B).
async fn whole_flow(h: &Harness, user: &str) -> (String, String) {
    let a = h.connect(user, "").await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    assert!(h.sim.expire_connection(&a));
    h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(s(&h.record(&a).await, "status"), "expired");
    // The reconnect completes before OFAuth's webhook about it lands.
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let url = h.start(user, &format!(r#"{{"connectionId":"{a}"}}"#)).await;
    let query = h.hosted(&url, "approve").await;
    let (status, body) = h.return_and_complete(user, &query).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(3, WAIT).await;
    assert_eq!(h.disconnect(user, &a).await.status(), 204);
    h.sim.wait_for_deliveries(4, WAIT).await;
    let b = h.connect(user, "").await;
    h.sim.wait_for_deliveries(5, WAIT).await;
    // A second between the last change and the erasure: their times differ.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let now = || link_shared::time::epoch_ms(std::time::SystemTime::now());
    let started = now();
    let (status, body) = h.erase(user).await;
    assert_eq!(status, 200, "{body}");
    ERASED_WITHIN
        .lock()
        .unwrap()
        .insert(user.to_string(), (started, now()));
    (a, b)
}

/// When each user's erasure in [`whole_flow`] ran (Unix ms).
static ERASED_WITHIN: std::sync::Mutex<BTreeMap<String, (i64, i64)>> =
    std::sync::Mutex::new(BTreeMap::new());

fn expected(a: &str, b: &str) -> Vec<(String, String, String)> {
    [
        ("Connection Bound", a, "completion"),
        ("Connection Expired", a, "webhook"),
        ("Connection Reconnected", a, "completion"),
        ("Connection Disconnected", a, "user"),
        ("Connection Bound", b, "completion"),
        ("Connection Disconnected", b, "erasure"),
        ("User Data Erased", "-", "erasure"),
    ]
    .iter()
    .map(|(t, c, cause)| (t.to_string(), c.to_string(), cause.to_string()))
    .collect()
}

async fn webhooks() -> Harness {
    Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn every_connection_change_is_one_event_in_order() {
    let h = webhooks().await;
    let user = unique("user");
    let (a, b) = whole_flow(&h, &user).await;
    h.publish_stream(25, 0).await;
    let events = h.eventbridge.events();
    assert_eq!(summary(&events), expected(&a, &b));
    check_schema(&events);
    // Each has its own identity; the user, account and versions are there.
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e.detail["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len());
    for e in &events {
        assert_eq!(e.detail["userId"], user.as_str(), "{:?}", e.detail);
        assert_eq!(e.source, "ofauth.link");
        assert_eq!(e.bus, "default");
    }
    let bound = &events[0].detail;
    assert_eq!(bound["newStatus"], "active");
    // Nothing of the account (the schema allows none of it), no code, no key.
    let text =
        serde_json::to_string(&events.iter().map(|e| &e.detail).collect::<Vec<_>>()).unwrap();
    for secret in ["lc_", "sk_", "whsec_", "accountId", "username", "creator"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    // The erasure lists what it erased, at the versions it wrote.
    let erased: Vec<(String, i64)> = events[6].detail["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["connectionId"].as_str().unwrap().to_string(),
                c["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut want = Vec::new();
    for c in [&a, &b] {
        let version = h.record(c).await["version"]
            .as_n()
            .unwrap()
            .parse::<i64>()
            .unwrap();
        want.push((c.clone(), version));
    }
    let mut got = erased.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // The erasure's events have the erasure's time (not the connect's), to
    // the second its records' times keep.
    let (started, ended) = *ERASED_WITHIN.lock().unwrap().get(&user).unwrap();
    for e in &events[5..] {
        let at = link_shared::time::parse_rfc3339_ms(e.detail["time"].as_str().unwrap()).unwrap();
        assert!(
            at >= started / 1000 * 1000 && at <= ended + 1_000,
            "{}: {} not within the erasure ({started}..{ended})",
            e.detail_type,
            e.detail["time"]
        );
    }
    // The same stream again (Lambda's retry of a whole batch), after `User
    // Data Erased` went: nothing of the erased user's connections goes again
    // (the erasure is the last word), only the erasure itself, the same.
    h.publish_stream(25, 0).await;
    let again = h.eventbridge.events();
    assert_eq!(again.len(), events.len() + 1);
    assert_eq!(again[events.len()], events[6]);
}

/// The events each identity first arrived with, per connection in order, and
/// whether every identity came with one and the same event.
fn first_by_identity(events: &[Received]) -> (Vec<(String, String, String)>, bool) {
    let mut seen: BTreeMap<String, &Received> = BTreeMap::new();
    let mut firsts = Vec::new();
    let mut consistent = true;
    for e in events {
        let id = e.detail["eventId"].as_str().unwrap().to_string();
        match seen.get(&id) {
            Some(first) => consistent &= *first == e,
            None => {
                seen.insert(id, e);
                firsts.push(e.clone());
            }
        }
    }
    (summary(&firsts), consistent)
}

#[tokio::test]
async fn a_publisher_killed_mid_batch_loses_nothing_and_duplicates_only_by_identity() {
    let h = webhooks().await;
    let user = unique("user");
    let (a, b) = whole_flow(&h, &user).await;
    let records = h.stream_records().await;
    // The publisher dies after its first PutEvents call reached EventBridge
    // (answered slowly, so that it dies waiting for the answer).
    h.eventbridge.set_latency(200);
    let killed = {
        let h = &h;
        let run = h.publish_batch(&records);
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => false,
            _ = async {
                while h.eventbridge.calls() == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            } => true,
        }
    };
    assert!(killed, "the batch finished before it could be killed");
    let before_retry = h.eventbridge.events().len();
    assert!(before_retry < expected(&a, &b).len(), "{before_retry}");
    h.eventbridge.set_latency(0);
    // Lambda delivers the whole batch again: nothing lost, the duplicates are
    // the same events with the same identity, and each connection's in order.
    assert!(h.publish_batch(&records).await.is_empty());
    let events = h.eventbridge.events();
    let (firsts, consistent) = first_by_identity(&events);
    assert!(consistent, "an identity came with two different events");
    let mut got = firsts.clone();
    let mut want = expected(&a, &b);
    got.sort();
    want.sort();
    assert_eq!(got, want, "lost or invented");
    for conn in [&a, &b] {
        let order = |v: &[(String, String, String)]| {
            v.iter()
                .filter(|e| &e.1 == conn)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(order(&firsts), order(&expected(&a, &b)), "{conn}'s order");
    }
    check_schema(&events);
}

#[tokio::test]
async fn entries_eventbridge_refuses_are_retried_and_a_failing_call_is_reported() {
    let h = webhooks().await;
    let user = unique("user");
    let (a, b) = whole_flow(&h, &user).await;
    // Two entries refused once: tried again in the same invocation.
    h.eventbridge.fail_entries(2);
    h.publish_stream(25, 0).await;
    assert_eq!(summary(&h.eventbridge.events()), expected(&a, &b));

    // EventBridge down for longer than the publisher's tries: the batch is
    // reported from the first event not published, and Lambda's retry of it
    // publishes the rest; nothing lost, duplicates only by identity.
    let h = webhooks().await;
    let (a, b) = whole_flow(&h, &unique("user")).await;
    let records = h.stream_records().await;
    h.eventbridge.fail_calls(1_000);
    let failed = h.publish_batch(&records).await;
    assert_eq!(failed.len(), 1, "one failure, where the retry starts");
    assert!(h.eventbridge.events().is_empty());
    h.eventbridge.fail_calls(0);
    h.publish_stream(25, 1).await;
    let (firsts, consistent) = first_by_identity(&h.eventbridge.events());
    assert!(consistent);
    assert_eq!(firsts, expected(&a, &b));
}

#[tokio::test]
async fn each_cause_of_a_disconnect_and_the_other_transitions_are_events() {
    let h = webhooks().await;
    // OFAuth disconnects a connection (its webhook).
    let by_ofauth = h.connect("u-ofauth", "").await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    assert!(h.sim.disconnect_connection(&by_ofauth));
    h.sim.wait_for_deliveries(2, WAIT).await;
    // The profile changes (OFAuth's webhook, same account).
    let renamed = h.connect("u-renamed", "").await;
    h.sim.wait_for_deliveries(3, WAIT).await;
    let account = s(&h.record(&renamed).await, "accountId");
    let body = json!({
        "id": "evt_rename", "type": "connection.updated", "timestamp": "2099-01-01T00:00:00Z",
        "data": { "connection": { "id": renamed, "status": "active",
            "userData": { "id": account, "username": "newname", "name": "New Name" } } }
    })
    .to_string();
    let resp = h
        .deliver(
            &signed_now(SignatureScheme::Svix, "msg_rename", &body),
            &body,
        )
        .await;
    assert_eq!(json_body(&resp)["outcome"], "applied");
    // A reconnect signed in to another account (the webhook shows it first).
    let swapped = h.connect("u-swapped", "").await;
    h.sim.wait_for_deliveries(4, WAIT).await;
    let url = h
        .start("u-swapped", &format!(r#"{{"connectionId":"{swapped}"}}"#))
        .await;
    h.hosted(&url, "approve?other_account=true").await;
    h.sim.wait_for_deliveries(6, WAIT).await;
    // A refused fixation of a connection OFAuth attested as the attempt's.
    let (url, _) = h.start_attempt("mallory", "").await;
    let query = h.hosted(&url, "approve").await;
    let fixed = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    h.sim.wait_for_deliveries(7, WAIT).await;
    let (status, _) = h.return_and_complete("victim", &query).await;
    assert_eq!(status, 403);
    h.sim.wait_for_deliveries(8, WAIT).await;
    // A user's disconnect and an erasure whose OFAuth webhook lands before
    // OFAuth's answer to the disconnect does: still the user's, the erasure's.
    h.sim.set_faults(Faults {
        disconnect_answer_delay_ms: 400,
        ..Faults::default()
    });
    let disconnects_applied = || {
        h.sim
            .deliveries()
            .iter()
            .filter(|d| d.event_type == "connection.disconnected" && d.status == 200)
            .count()
    };
    let raced = h.connect("u-raced", "").await;
    h.sim.wait_for_deliveries(9, WAIT).await;
    let before = disconnects_applied();
    assert_eq!(h.disconnect("u-raced", &raced).await.status(), 204);
    assert_eq!(
        disconnects_applied(),
        before + 1,
        "the webhook landed first"
    );
    let raced_erasure = h.connect("u-raced-erasure", "").await;
    h.sim.wait_for_deliveries(11, WAIT).await;
    let (status, body) = h.erase("u-raced-erasure").await;
    assert_eq!(status, 200, "{body}");
    // Published while the erasure's grace lasts (later, the erasure is the
    // last word: none of the user's older events would go).
    h.publish_stream(25, 0).await;
    assert_eq!(
        disconnects_applied(),
        before + 2,
        "the webhook landed first"
    );
    h.sim.set_faults(Faults::default());
    // Lost webhooks: the reconciler finds a connection gone (in two sweeps).
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    let by_reconciler = h.connect("u-reconciled", "").await;
    assert!(h.sim.disconnect_connection(&by_reconciler));
    h.reconcile().await;
    h.age_missing(&by_reconciler).await;
    h.reconcile().await;

    h.publish_stream(25, 0).await;
    // Each identity once, as it first arrived (the stream was published
    // twice).
    let mut ids = BTreeSet::new();
    let events: Vec<Received> = h
        .eventbridge
        .events()
        .into_iter()
        .filter(|e| ids.insert(e.detail["eventId"].as_str().unwrap().to_string()))
        .collect();
    check_schema(&events);
    let of = |conn: &str| {
        summary(&events)
            .into_iter()
            .filter(|e| e.1 == conn)
            .map(|(t, _, cause)| (t, cause))
            .collect::<Vec<_>>()
    };
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(&by_ofauth),
        pairs(&[
            ("Connection Bound", "completion"),
            ("Connection Disconnected", "webhook")
        ])
    );
    assert_eq!(
        of(&renamed),
        pairs(&[
            ("Connection Bound", "completion"),
            ("Connection Profile Changed", "webhook")
        ])
    );
    assert_eq!(
        of(&swapped),
        pairs(&[
            ("Connection Bound", "completion"),
            ("Connection Expired", "account_mismatch")
        ])
    );
    assert_eq!(
        of(&fixed),
        pairs(&[("Connection Disconnected", "fixation")])
    );
    assert_eq!(
        of(&raced),
        pairs(&[
            ("Connection Bound", "completion"),
            ("Connection Disconnected", "user")
        ])
    );
    assert_eq!(
        of(&raced_erasure),
        pairs(&[
            ("Connection Bound", "completion"),
            ("Connection Disconnected", "erasure")
        ])
    );
    assert_eq!(
        of(&by_reconciler),
        pairs(&[
            ("Connection Bound", "completion"),
            ("Connection Disconnected", "reconciler")
        ])
    );
    let fixation = events
        .iter()
        .find(|e| e.detail["connectionId"] == fixed.as_str())
        .unwrap();
    assert!(fixation.detail["userId"].is_null(), "nobody owned it");
    // A profile change says only that it changed: the profile is the read
    // API's to give.
    let renamed_event = events
        .iter()
        .find(|e| e.detail_type == "Connection Profile Changed")
        .unwrap();
    assert!(!renamed_event.detail.to_string().contains("newname"));
}
