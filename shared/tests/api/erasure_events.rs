//! The erasure is the last word on the bus, on DynamoDB Local's real stream
//! through the template's filter: a user with several connections (one bound,
//! one expired, one they disconnected) erases their data, another user's
//! connection changes meanwhile, and the publisher runs under refused entries,
//! a kill after `User Data Erased` went (redelivered whole and bisected), and
//! the marker's shard processed before or after the connections'. Whatever
//! happens, no event of a connection the erasure lists is accepted after that
//! user's `User Data Erased`, nothing of the account is on any event, and
//! nothing else is lost.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::helpers::*;
use ofauth_sim::eventbridge::Received;
use ofauth_sim::SignatureScheme;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// The erased user, their connections, and another user's connection.
struct Flow {
    user: String,
    erased: Vec<String>,
    other: String,
    /// When the erasure was done.
    done: std::time::Instant,
}

/// `user` connects three times (one stays bound, one expires, one they
/// disconnect), another user connects, and `user` erases their data.
async fn flow(h: &Harness) -> Flow {
    let user = unique("erased");
    let bound = h.connect(&user, "").await;
    let expired = h.connect(&user, "").await;
    let gone = h.connect(&user, "").await;
    h.sim.wait_for_deliveries(3, WAIT).await;
    assert!(h.sim.expire_connection(&expired));
    h.sim.wait_for_deliveries(4, WAIT).await;
    assert_eq!(h.disconnect(&user, &gone).await.status(), 204);
    h.sim.wait_for_deliveries(5, WAIT).await;
    let other = h.connect(&unique("other"), "").await;
    let (status, body) = h.erase(&user).await;
    assert_eq!(
        (status, body["erased"].as_u64().unwrap() >= 3),
        (200, true),
        "{body}"
    );
    Flow {
        user,
        erased: vec![bound, expired, gone],
        other,
        done: std::time::Instant::now(),
    }
}

async fn harness() -> Harness {
    Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await
}

/// The stream's records the publisher's event source passes (the template's
/// filter).
async fn filtered(h: &Harness) -> Vec<Value> {
    let mapping = local_dynamodb::stream::EventSourceMapping::from_template("publisher").unwrap();
    h.stream_records()
        .await
        .into_iter()
        .filter(|r| mapping.passes(r))
        .collect()
}

fn is_marker(r: &Value) -> bool {
    r["dynamodb"]["NewImage"]["entity"]["S"] == "erasure"
}

/// What the bus accepted keeps the erasure the last word: after the user's
/// first `User Data Erased`, no event of a connection it lists; it lists
/// every connection of the user; nothing of an account anywhere.
fn last_word(events: &[Received], f: &Flow) {
    let first = events
        .iter()
        .position(|e| e.detail_type == "User Data Erased" && e.detail["userId"] == f.user.as_str())
        .unwrap_or_else(|| panic!("no User Data Erased: {}", summary(events)));
    let listed: BTreeSet<&str> = events[first].detail["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connectionId"].as_str().unwrap())
        .collect();
    let mine: BTreeSet<&str> = f.erased.iter().map(String::as_str).collect();
    assert_eq!(
        listed, mine,
        "the erasure lists every connection of the user"
    );
    for e in &events[first + 1..] {
        if e.detail_type == "User Data Erased" {
            continue;
        }
        let c = e.detail["connectionId"].as_str().unwrap_or("");
        assert!(
            !listed.contains(c),
            "{} of an erased connection after User Data Erased: {}",
            e.detail_type,
            summary(events)
        );
    }
    for e in events {
        let d = e.detail.as_object().unwrap();
        assert!(
            !d.contains_key("accountId") && !d.contains_key("username"),
            "{:?}",
            e.detail
        );
    }
}

/// The other user's events all arrived (nothing lost for anyone else).
fn others_intact(events: &[Received], f: &Flow) {
    assert!(
        events
            .iter()
            .any(|e| e.detail["connectionId"] == f.other.as_str()
                && e.detail_type == "Connection Bound"),
        "{}",
        summary(events)
    );
}

fn summary(events: &[Received]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "{}({})",
                e.detail_type,
                e.detail["connectionId"].as_str().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// EventBridge refuses entries (once each, a varying number): the user's
/// earlier events are retried and accepted before `User Data Erased`, which
/// goes alone, after them; nothing lost.
#[tokio::test]
async fn refused_entries_never_put_the_erasure_before_the_users_events() {
    let scenario = |refused: usize| async move {
        let h = harness().await;
        let f = flow(&h).await;
        h.eventbridge.fail_entries(refused);
        let records = h.stream_records().await;
        let late = f.done.elapsed();
        h.publish_records(&records, 25, 2).await;
        let events = h.eventbridge.events();
        last_word(&events, &f);
        others_intact(&events, &f);
        // Published well within the grace (a loaded machine may not), nothing
        // of the user was held back: each of their connections' events came,
        // before the erasure.
        let prompt = late < Duration::from_millis(ERASURE_GRACE_MS / 2);
        for c in f.erased.iter().filter(|_| prompt) {
            assert!(
                events
                    .iter()
                    .any(|e| e.detail["connectionId"] == c.as_str()),
                "{c}: {}",
                summary(&events)
            );
        }
        let erasure = events
            .iter()
            .position(|e| e.detail_type == "User Data Erased")
            .unwrap();
        assert!(events[erasure..]
            .iter()
            .all(|e| e.detail_type == "User Data Erased"
                || e.detail["connectionId"] == f.other.as_str()));
    };
    tokio::join!(scenario(1), scenario(3), scenario(6));
}

/// The publisher is killed while `User Data Erased` is in flight (EventBridge
/// took it), and Lambda delivers the batch again, whole, then bisected: the
/// erasure goes again (the same identity), nothing of the user's connections
/// does.
#[tokio::test]
async fn a_kill_after_the_erasure_went_sends_nothing_of_the_user_again() {
    let h = harness().await;
    let f = flow(&h).await;
    let records = filtered(&h).await;
    h.eventbridge.set_latency(300);
    let killed = {
        let h = &h;
        let run = h.publish_batch(&records);
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => false,
            _ = async {
                while !h.eventbridge.events().iter().any(|e| e.detail_type == "User Data Erased") {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            } => true,
        }
    };
    assert!(killed, "the batch finished before it could be killed");
    h.eventbridge.set_latency(0);
    assert!(h.publish_batch(&records).await.is_empty());
    let (first, second) = records.split_at(records.len() / 2);
    assert!(h.publish_batch(first).await.is_empty());
    assert!(h.publish_batch(second).await.is_empty());
    let events = h.eventbridge.events();
    last_word(&events, &f);
    others_intact(&events, &f);
    let erasures = events
        .iter()
        .filter(|e| e.detail_type == "User Data Erased")
        .count();
    assert_eq!(erasures, 3, "{}", summary(&events));
}

/// Across shards nothing orders the marker and the connections' records: the
/// marker's shard first (its `User Data Erased` waits out the grace, then
/// goes), then the connections' shard, late: none of the user's older events
/// goes, the other user's do, and the user's connection made after the
/// erasure is heard of. The other way round, everything arrives in order.
#[tokio::test]
async fn the_erasure_stays_last_whichever_shard_goes_first() {
    let (first, second) = tokio::join!(marker_first(), marker_last());
    first.unwrap();
    second.unwrap();
}

async fn marker_first() -> Result<(), String> {
    let h = harness().await;
    let f = flow(&h).await;
    // The user comes back after the erasure: a new connection, not erased.
    let again = h.connect(&f.user, "").await;
    let records = filtered(&h).await;
    let (markers, rest): (Vec<Value>, Vec<Value>) = records.into_iter().partition(is_marker);
    assert_eq!(markers.len(), 1);
    assert!(h.publish_batch(&markers).await.is_empty());
    assert!(h.publish_batch(&rest).await.is_empty());
    let events = h.eventbridge.events();
    assert_eq!(
        events[0].detail_type,
        "User Data Erased",
        "{}",
        summary(&events)
    );
    last_word(&events, &f);
    others_intact(&events, &f);
    assert!(
        events
            .iter()
            .any(|e| e.detail["connectionId"] == again.as_str()),
        "{}",
        summary(&events)
    );
    Ok(())
}

async fn marker_last() -> Result<(), String> {
    let h = harness().await;
    let f = flow(&h).await;
    let records = filtered(&h).await;
    let (markers, rest): (Vec<Value>, Vec<Value>) = records.into_iter().partition(is_marker);
    assert!(h.publish_batch(&rest).await.is_empty());
    assert!(h.publish_batch(&markers).await.is_empty());
    let events = h.eventbridge.events();
    last_word(&events, &f);
    others_intact(&events, &f);
    assert_eq!(
        events.last().unwrap().detail_type,
        "User Data Erased",
        "{}",
        summary(&events)
    );
    for c in &f.erased {
        assert!(events
            .iter()
            .any(|e| e.detail["connectionId"] == c.as_str()));
    }
    Ok(())
}
