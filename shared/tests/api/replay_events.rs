//! The publisher's replay, against DynamoDB Local and the EventBridge
//! stand-in: the state of every connection written in a window (a dead
//! letter's batch, or a window an operator gives) is re-announced with the
//! identities its own changes had, so a consumer that already applied them
//! drops them as duplicates, and one that missed them gets what it missed,
//! after the stream's 24 hours too. An erased user's connections are never
//! re-announced; their erasure is.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::helpers::*;
use link_shared::platform::replay::{replay, ReplayRequest};
use link_shared::time::rfc3339;
use ofauth_sim::SignatureScheme;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_replay_re_announces_the_windows_state_with_the_same_identities() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await;
    let since = rfc3339(SystemTime::now() - Duration::from_secs(1));
    let kept = h.connect("keeper", "").await;
    let expired = h.connect("keeper", "").await;
    h.sim.wait_for_deliveries(2, WAIT).await;
    assert!(h.sim.expire_connection(&expired));
    h.sim.wait_for_deliveries(3, WAIT).await;
    let erased = h.connect("leaver", "").await;
    let (status, _) = h.erase("leaver").await;
    assert_eq!(status, 200);
    let until = rfc3339(SystemTime::now() + Duration::from_secs(1));

    // What the stream published (the events a consumer may have, or missed).
    h.publish_stream(25, 0).await;
    let published = h.eventbridge.events();
    let by_id: BTreeMap<String, String> = published
        .iter()
        .map(|e| {
            (
                e.detail["eventId"].as_str().unwrap().to_string(),
                e.detail_type.clone(),
            )
        })
        .collect();

    // A dead letter's batch, as Lambda writes it to the on-failure queue.
    let message = json!({
        "version": "1.0",
        "timestamp": until,
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001",
            "startSequenceNumber": "1",
            "endSequenceNumber": "99",
            "approximateArrivalOfFirstRecord": since,
            "approximateArrivalOfLastRecord": until,
            "batchSize": 12,
            "streamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x"
        }
    });
    for request in [
        ReplayRequest {
            since: Some(since.clone()),
            until: Some(until.clone()),
            dead_letter: None,
        },
        serde_json::from_value(json!({ "deadLetter": message })).unwrap(),
    ] {
        let before = h.eventbridge.events().len();
        let report = replay(&request, &h.publisher).await.unwrap();
        assert_eq!((report.connections, report.erasures), (2, 1), "{report:?}");
        let replayed = h.eventbridge.events()[before..].to_vec();
        let summary: Vec<(String, String)> = replayed
            .iter()
            .map(|e| {
                (
                    e.detail_type.clone(),
                    e.detail["connectionId"].as_str().unwrap_or("-").to_string(),
                )
            })
            .collect();
        assert!(
            summary.contains(&("Connection Bound".into(), kept.clone())),
            "{summary:?}"
        );
        assert!(
            summary.contains(&("Connection Expired".into(), expired.clone())),
            "{summary:?}"
        );
        assert_eq!(summary.last().unwrap().0, "User Data Erased", "{summary:?}");
        for e in &replayed {
            assert_eq!(e.detail["replayed"], true);
            assert_ne!(
                e.detail["connectionId"],
                erased.as_str(),
                "an erased record"
            );
            // The identity of the record's latest write: its own change's
            // (the same kind of event), or, when that write was no event (a
            // webhook confirming what was there), one at a higher version
            // than any the consumer has, carrying the state it has.
            let id = e.detail["eventId"].as_str().unwrap();
            match by_id.get(id) {
                Some(kind) => assert_eq!(kind, &e.detail_type, "{id}"),
                None => {
                    let c = e.detail["connectionId"].as_str().unwrap();
                    let newest = published
                        .iter()
                        .filter(|p| p.detail["connectionId"] == c)
                        .filter_map(|p| p.detail["version"].as_i64())
                        .max()
                        .unwrap();
                    assert!(e.detail["version"].as_i64().unwrap() > newest, "{id}");
                }
            }
        }
    }
    // Without a window, nothing.
    assert!(replay(&ReplayRequest::default(), &h.publisher)
        .await
        .is_err());
}
