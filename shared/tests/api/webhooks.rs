//! Signed webhooks and the connections API, against DynamoDB Local and the
//! simulator, which delivers its webhooks over HTTP to the webhook handler.

use std::time::Duration;

use crate::helpers::*;
use ofauth_sim::{Faults, SignatureScheme, WebhookMode};

const WAIT: Duration = Duration::from_secs(10);

async fn with_webhooks(scheme: SignatureScheme) -> Harness {
    Harness::with(Options {
        webhooks: Some(scheme),
        ..Options::default()
    })
    .await
}

fn param(query: &str, name: &str) -> String {
    query_param(&format!("https://x/?{query}"), name).unwrap()
}

async fn only_record(
    h: &Harness,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    let conns = h.items_of("connection").await;
    assert_eq!(conns.len(), 1, "exactly one connection record");
    conns.into_iter().next().unwrap()
}

#[tokio::test]
async fn webhook_before_callback_attests_and_the_completion_binds() {
    for scheme in [SignatureScheme::Ofauth, SignatureScheme::Svix] {
        let h = with_webhooks(scheme).await;
        let (url, attempt) = h.start_attempt("user-1", "").await;
        let query = h.hosted(&url, "approve").await;
        let d = h.sim.wait_for_deliveries(1, WAIT).await;
        assert_eq!(d[0].status, 200, "{scheme:?}: {d:?}");
        assert_eq!(d[0].outcome.as_deref(), Some("applied"));
        // Attested, not bound: a webhook cannot know who is at the browser.
        let rec = only_record(&h).await;
        assert_eq!(s(&rec, "userId"), "");
        assert_eq!(s(&rec, "attestedAttemptId"), attempt);
        assert!(h.user_connections("user-1").await.is_empty());

        // The browser arrives afterwards and the user completes: bound at once.
        let (status, body) = h.return_and_complete("user-1", &query).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("active")));
        let rec = only_record(&h).await;
        assert_eq!(s(&rec, "userId"), "user-1");
        assert_eq!(s(&rec, "connectionId"), param(&query, "connection_id"));
    }
}

#[tokio::test]
async fn callback_before_webhook_ends_in_one_record() {
    let h = with_webhooks(SignatureScheme::Svix).await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    // OFAuth's connections list attests it: bound at completion.
    let (status, _) = h.return_and_complete("user-1", &query).await;
    assert_eq!(status, 200);
    let before = only_record(&h).await;
    h.sim.release_webhooks(false);
    let d = h.sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!(d[0].status, 200);
    let after = only_record(&h).await;
    assert_eq!(s(&after, "userId"), "user-1");
    assert_eq!(s(&after, "status"), "active");
    assert_eq!(s(&after, "connectedAt"), s(&before, "connectedAt"));
}

#[tokio::test]
async fn callback_that_never_arrives_leaves_an_attested_unbound_connection() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await; // the tab is closed here
    h.sim.wait_for_deliveries(1, WAIT).await;
    // Recorded (recoverable), but nobody's: not listed, not usable.
    let rec = only_record(&h).await;
    assert_eq!(s(&rec, "attestedAttemptId"), attempt);
    assert_eq!(s(&rec, "userId"), "");
    let (status, body) = h.list_connections("user-1").await;
    assert_eq!(status, 200);
    assert!(body["connections"].as_array().unwrap().is_empty());
    // The user comes back later (a reload of the return leg) and completes it.
    let (status, _) = h.return_and_complete("user-1", &query).await;
    assert_eq!(status, 200);
    let (_, body) = h.list_connections("user-1").await;
    let list = body["connections"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], param(&query, "connection_id").as_str());
    assert_eq!(list[0]["status"], "active");
    let sim_conn = h.sim.connection(&param(&query, "connection_id")).unwrap();
    assert_eq!(list[0]["username"], sim_conn.username.as_str());
    assert_eq!(list[0]["name"], sim_conn.name.as_str());
}

#[tokio::test]
async fn duplicate_deliveries_change_nothing() {
    let h = with_webhooks(SignatureScheme::Svix).await;
    h.sim.set_webhook_mode(WebhookMode {
        duplicate: true,
        ..WebhookMode::default()
    });
    let url = h.start("user-1", "").await;
    h.hosted(&url, "approve").await;
    let d = h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].outcome.as_deref(), Some("applied"));
    assert_eq!(d[1].outcome.as_deref(), Some("duplicate"));
    assert_eq!(h.items_of("connection").await.len(), 1);
    assert_eq!(h.items_of("event").await.len(), 1);

    // The exact same signed bytes replayed by hand: also a duplicate.
    let record = only_record(&h).await;
    let body = serde_json::json!({
        "id": "evt_manual", "type": "connection.updated", "timestamp": "2020-01-01T00:00:00Z",
        "data": { "connection": { "id": s(&record, "connectionId"), "status": "active" } }
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let headers = h
        .sim
        .sign(SignatureScheme::Ofauth, "", now, body.as_bytes());
    let first = json_body(&h.deliver(&headers, &body).await);
    let second = json_body(&h.deliver(&headers, &body).await);
    // Older than the record's state: superseded, and the replay is a duplicate or superseded, never applied.
    assert_eq!(first["outcome"], "superseded");
    assert_ne!(second["outcome"], "applied");
    assert_eq!(only_record(&h).await, record);
}

#[tokio::test]
async fn out_of_order_deliveries_keep_the_newest_state() {
    // created and expired are held, then delivered newest first.
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    h.sim.expire_connection(&param(&query, "connection_id"));
    h.sim.release_webhooks(true);
    let d = h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(d[0].event_type, "connection.expired");
    assert_eq!(d[1].event_type, "connection.created");
    assert_eq!(d[1].outcome.as_deref(), Some("superseded"));
    let rec = only_record(&h).await;
    assert_eq!(s(&rec, "status"), "expired");
    assert_eq!(
        s(&rec, "attestedAttemptId"),
        param(&query, "client_reference_id")
    );

    // And with a bound connection: expiry then a late, older update.
    let h = with_webhooks(SignatureScheme::Svix).await;
    let url = h.start("user-2", "").await;
    let query = h.hosted(&url, "approve").await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!(h.return_and_complete("user-2", &query).await.0, 200);
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let conn = param(&query, "connection_id");
    tokio::time::sleep(Duration::from_millis(5)).await;
    h.sim.expire_connection(&conn);
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(s(&only_record(&h).await, "status"), "expired");
    let (_, body) = h.list_connections("user-2").await;
    assert_eq!(body["connections"][0]["status"], "expired");
}

#[tokio::test]
async fn late_delivery_is_still_applied() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    h.sim.set_webhook_mode(WebhookMode {
        delay_ms: 300,
        ..WebhookMode::default()
    });
    let url = h.start("user-1", "").await;
    h.hosted(&url, "approve").await;
    assert!(h.items_of("connection").await.is_empty());
    let d = h.sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!(d[0].outcome.as_deref(), Some("applied"));
    assert_eq!(h.items_of("connection").await.len(), 1);
}

/// A valid body for the signature tests.
fn created_body(conn: &str) -> String {
    serde_json::json!({
        "id": "evt_sig", "type": "connection.created", "timestamp": "2026-11-23T10:00:00Z",
        "data": { "connection": { "id": conn, "status": "active" } }
    })
    .to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn bad_signatures_are_401_and_write_nothing() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    let conn = h.connect("user-1", "").await;
    let before = h.items().await;
    let body = created_body(&conn);
    let t = now();
    let good_ofauth = h.sim.sign(SignatureScheme::Ofauth, "", t, body.as_bytes());
    let good_svix = h
        .sim
        .sign(SignatureScheme::Svix, "msg_1", t, body.as_bytes());
    let wrong_secret = ofauth_sim::sign_headers(
        "whsec_b3RoZXI=",
        SignatureScheme::Ofauth,
        "",
        t,
        body.as_bytes(),
    );
    let wrong_secret_svix = ofauth_sim::sign_headers(
        "whsec_b3RoZXI=",
        SignatureScheme::Svix,
        "m",
        t,
        body.as_bytes(),
    );
    let stale = h
        .sim
        .sign(SignatureScheme::Ofauth, "", t - 301, body.as_bytes());
    let stale_svix = h
        .sim
        .sign(SignatureScheme::Svix, "msg_1", t - 301, body.as_bytes());
    let future = h
        .sim
        .sign(SignatureScheme::Svix, "msg_1", t + 301, body.as_bytes());
    let tampered = body.replace("user", "usr").replace("active", "expired");
    let hdr = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    type Headers = Vec<(String, String)>;
    let cases: Vec<(&str, Headers, &str)> = vec![
        ("missing", vec![], &body),
        ("malformed", hdr("OFAuth-Signature", "v1=abc"), &body),
        (
            "malformed hex",
            hdr("OFAuth-Signature", &format!("t={t},v1=xyz")),
            &body,
        ),
        ("malformed svix", hdr("svix-signature", "v1,abc"), &body),
        ("wrong secret", wrong_secret, &body),
        ("wrong secret svix", wrong_secret_svix, &body),
        ("stale", stale, &body),
        ("stale svix", stale_svix, &body),
        ("future svix", future, &body),
        ("tampered body", good_ofauth.clone(), &tampered),
        ("tampered body svix", good_svix.clone(), &tampered),
    ];
    for (name, headers, b) in cases {
        let resp = h.deliver(&headers, b).await;
        assert_eq!(resp.status(), 401, "{name}");
        assert_eq!(json_body(&resp)["error"], "invalid_signature", "{name}");
        assert!(!body_text(&resp).contains(WEBHOOK_SECRET));
    }
    assert_eq!(h.items().await, before, "nothing written");
    // The same bodies, correctly signed, are accepted.
    assert_eq!(h.deliver(&good_ofauth, &body).await.status(), 200);
}

#[tokio::test]
async fn malformed_json_after_a_valid_signature_is_400() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    for body in [
        "{not json",
        "[]",
        r#"{"type":"connection.created"}"#,
        r#"{"type":"connection.created","data":{"connection":{"id":"bad id"}}}"#,
    ] {
        let headers = h
            .sim
            .sign(SignatureScheme::Svix, "msg_x", now(), body.as_bytes());
        let resp = h.deliver(&headers, body).await;
        assert_eq!(resp.status(), 400, "{body}");
    }
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn other_event_types_are_acknowledged_and_ignored() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    for kind in ["rules.updated", "something.new"] {
        let body =
            serde_json::json!({ "type": kind, "timestamp": "2026-11-23T10:00:00Z", "data": {} })
                .to_string();
        let headers = h
            .sim
            .sign(SignatureScheme::Ofauth, "", now(), body.as_bytes());
        let resp = h.deliver(&headers, &body).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json_body(&resp)["outcome"], "ignored");
    }
    // An event for a connection nobody can be attributed to is acknowledged, not stored.
    let body = created_body("conn_nobody");
    let headers = h
        .sim
        .sign(SignatureScheme::Ofauth, "", now(), body.as_bytes());
    assert_eq!(
        json_body(&h.deliver(&headers, &body).await)["outcome"],
        "unattributed"
    );
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn expiry_and_disconnect_show_in_the_connections_list() {
    let h = with_webhooks(SignatureScheme::Svix).await;
    let first = h.connect("user-1", "").await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // distinct connectedAt, for the order
    let second = h.connect("user-1", "").await;
    h.sim.wait_for_deliveries(2, WAIT).await;
    let (_, body) = h.list_connections("user-1").await;
    let ids: Vec<&str> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![second.as_str(), first.as_str()], "newest first");
    let ofauth_calls = h.sim.requests().len();
    let _ = h.list_connections("user-1").await;
    assert_eq!(
        h.sim.requests().len(),
        ofauth_calls,
        "no OFAuth call to list"
    );

    h.sim.expire_connection(&first);
    h.sim.wait_for_deliveries(3, WAIT).await;
    let (_, body) = h.list_connections("user-1").await;
    let expired = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == first.as_str())
        .unwrap()
        .clone();
    assert_eq!(expired["status"], "expired");

    let resp = h.disconnect("user-1", &second).await;
    assert_eq!(resp.status(), 204, "{}", body_text(&resp));
    assert!(
        h.sim.connection(&second).is_none(),
        "disconnected at OFAuth"
    );
    assert!(h
        .sim
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.path.ends_with(&second)));
    let (_, body) = h.list_connections("user-1").await;
    let ids: Vec<&str> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![first.as_str()]);
    assert_eq!(
        s(
            &h.item(&format!("CONNECTION#{second}")).await.unwrap(),
            "status"
        ),
        "disconnected"
    );
    // OFAuth's connection.disconnected webhook arrives afterwards and changes nothing.
    let d = h.sim.wait_for_deliveries(4, WAIT).await;
    assert_eq!(d[3].event_type, "connection.disconnected");
    assert_eq!(
        s(
            &h.item(&format!("CONNECTION#{second}")).await.unwrap(),
            "status"
        ),
        "disconnected"
    );
    // Disconnecting again: gone.
    assert_eq!(h.disconnect("user-1", &second).await.status(), 404);
    // A disconnected connection cannot be reconnected.
    assert_eq!(
        h.create_session("user-1", &format!(r#"{{"connectionId":"{second}"}}"#))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn disconnect_by_a_non_owner_is_404() {
    let h = Harness::new().await;
    let conn = h.connect("alice", "").await;
    let before = h.items().await;
    let resp = h.disconnect("mallory", &conn).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(json_body(&resp)["error"], "connection_not_found");
    assert_eq!(
        h.disconnect("mallory", "conn_doesnotexist").await.status(),
        404
    );
    assert_eq!(h.disconnect("mallory", "bad%20id").await.status(), 404);
    assert!(h.sim.connection(&conn).is_some(), "OFAuth was not asked");
    assert!(!h.sim.requests().iter().any(|r| r.method == "DELETE"));
    assert_eq!(h.items().await, before);
    assert!(h.list_connections("mallory").await.1["connections"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn ofauth_failing_during_disconnect_leaves_the_record() {
    let h = Harness::new().await;
    let conn = h.connect("alice", "").await;
    let before = h.items().await;
    for (faults, status) in [
        (
            Faults {
                status: Some(500),
                ..Faults::default()
            },
            502,
        ),
        (
            Faults {
                status: Some(429),
                retry_after: Some(3),
                ..Faults::default()
            },
            503,
        ),
        (
            Faults {
                latency_ms: 1500,
                ..Faults::default()
            },
            504,
        ),
    ] {
        h.sim.set_faults(faults);
        let resp = h.disconnect("alice", &conn).await;
        assert_eq!(resp.status(), status, "{}", body_text(&resp));
        // Only the disconnect's request (its cause, should OFAuth have done it
        // after all) and the version that records it.
        let bookkeeping = ["version", "disconnectRequestedBy", "disconnectRequestedAt"];
        let without = |items: Vec<std::collections::HashMap<String, _>>| {
            items
                .into_iter()
                .map(|mut i| {
                    i.retain(|k, _| !bookkeeping.contains(&k.as_str()));
                    i
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(without(h.items().await), without(before.clone()));
    }
    h.sim.set_faults(Faults::default());
    assert_eq!(h.disconnect("alice", &conn).await.status(), 204);
}

#[tokio::test]
async fn connections_api_requires_identity_and_cors() {
    let h = Harness::new().await;
    let req = api_event("GET", "/link/connections", None, "", &[], None);
    let resp = link_shared::connections_api::handle(req, &h.connections).await;
    assert_eq!(resp.status(), 401);
    let req = api_event("POST", "/link/connections", Some("u"), "", &[], None);
    assert_eq!(
        link_shared::connections_api::handle(req, &h.connections)
            .await
            .status(),
        405
    );
    let req = api_event(
        "OPTIONS",
        "/link/connections",
        None,
        "",
        &[("access-control-request-method", "DELETE")],
        None,
    );
    let resp = link_shared::connections_api::handle(req, &h.connections).await;
    assert_eq!(resp.status(), 204);
    assert!(resp.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("DELETE"));
    assert_eq!(resp.headers()["access-control-allow-origin"], ORIGIN);
}

#[tokio::test]
async fn the_connections_list_pages_with_a_cursor() {
    let h = Harness::new().await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(h.connect("user-1", "").await);
        // Distinct connection times (the index sorts by them, to the second).
        tokio::time::sleep(Duration::from_millis(1010)).await;
    }
    // A disconnected one leaves the list: in the index only after `~` (where an
    // erasure finds it), past the list's key range.
    assert_eq!(h.disconnect("user-1", &ids[3]).await.status(), 204);
    let index = h.user_connections("user-1").await;
    let gone: Vec<String> = index
        .iter()
        .filter(|i| s(i, "gsi1sk").starts_with('~'))
        .map(|i| s(i, "connectionId"))
        .collect();
    assert_eq!((index.len(), gone), (7, vec![ids[3].clone()]));
    h.connect("user-2", "").await;

    let page = |cursor: Option<String>| {
        let h = &h;
        async move {
            let q = match &cursor {
                Some(c) => format!("limit=4&cursor={c}"),
                None => "limit=4".into(),
            };
            let ev = link_fixtures::ApiEvent::new("GET", "/link/connections")
                .user("user-1")
                .header("origin", ORIGIN)
                .query(&q);
            let resp = link_shared::connections_api::handle(request(&ev), &h.connections).await;
            (resp.status().as_u16(), json_body(&resp))
        }
    };
    let (status, first) = page(None).await;
    assert_eq!(status, 200);
    let first_ids = listed(&first);
    assert_eq!(first_ids.len(), 4);
    let cursor = first["nextCursor"].as_str().unwrap().to_string();
    let (_, second) = page(Some(cursor.clone())).await;
    let second_ids = listed(&second);
    assert_eq!(second["connections"].as_array().unwrap().len(), 2);
    // Newest first, each active connection once, the disconnected one never.
    let mut all = first_ids.clone();
    all.extend(second_ids);
    let want: Vec<String> = ids
        .iter()
        .rev()
        .filter(|i| **i != ids[3])
        .cloned()
        .collect();
    assert_eq!(all, want);
    // Bad limits and cursors are 400s.
    for q in [
        "limit=0",
        "limit=1000",
        "limit=x",
        "cursor=nonsense",
        "limit=1&limit=2",
    ] {
        let ev = link_fixtures::ApiEvent::new("GET", "/link/connections")
            .user("user-1")
            .query(q);
        let resp = link_shared::connections_api::handle(request(&ev), &h.connections).await;
        assert_eq!(resp.status(), 400, "{q}");
    }
    // Another user's cursor shows nothing of user-1's.
    let ev = link_fixtures::ApiEvent::new("GET", "/link/connections")
        .user("user-2")
        .query(&format!("cursor={cursor}"));
    let resp = link_shared::connections_api::handle(request(&ev), &h.connections).await;
    let body = json_body(&resp);
    assert!(
        resp.status() == 400
            || body["connections"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| !ids.contains(&c["id"].as_str().unwrap().to_string())),
        "{body}"
    );
}

/// A signed delivery of `body` (OFAuth's scheme, now), straight to the handler:
/// its outcome.
async fn deliver_now(h: &Harness, body: &serde_json::Value) -> String {
    let body = body.to_string();
    let headers = signed_now(SignatureScheme::Ofauth, "", &body);
    let resp = h.deliver(&headers, &body).await;
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    json_body(&resp)["outcome"].as_str().unwrap().to_string()
}

/// OFAuth's `connection.updated` for `conn`, with its account (which it always
/// names: an event without it writes nothing onto a bound connection).
fn updated(
    h: &Harness,
    id: &str,
    conn: &str,
    timestamp: &str,
    username: &str,
) -> serde_json::Value {
    let account = h.sim.connection(conn).unwrap().user_id;
    serde_json::json!({
        "id": id, "type": "connection.updated", "timestamp": timestamp,
        "data": { "connection": { "id": conn, "status": "active",
            "userData": { "id": account, "username": username } } }
    })
}

/// Ordering by event time, then a tie-break: two different events stamped in the
/// same second are both applied (the later delivery last); an expiry of that
/// second ranks after an update of it, whichever arrives first.
#[tokio::test]
async fn two_events_in_the_same_second_are_both_applied() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    let conn = h.connect("user-1", "").await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let t = link_shared::time::rfc3339(std::time::SystemTime::now() + Duration::from_secs(60));
    assert_eq!(
        deliver_now(&h, &updated(&h, "evt_s1", &conn, &t, "first")).await,
        "applied"
    );
    assert_eq!(
        deliver_now(&h, &updated(&h, "evt_s2", &conn, &t, "second")).await,
        "applied"
    );
    assert_eq!(s(&only_record(&h).await, "username"), "second");
    let expired = serde_json::json!({
        "id": "evt_s3", "type": "connection.expired", "timestamp": t,
        "data": { "connection": { "id": conn, "status": "expired" } }
    });
    assert_eq!(deliver_now(&h, &expired).await, "applied");
    // An update of the same second, delivered after the expiry: the expiry stays.
    assert_eq!(
        deliver_now(&h, &updated(&h, "evt_s4", &conn, &t, "third")).await,
        "superseded"
    );
    assert_eq!(s(&only_record(&h).await, "status"), "expired");
}

/// Events without a time of their own (the v3 dialect documents none) are not
/// ordered by the signature's timestamp, which is new on every retry: a retry of
/// an older event, re-signed later, does not revive a disconnected record, and
/// neither does another untimed event.
#[tokio::test]
async fn a_retried_older_event_without_a_timestamp_does_not_revive_a_disconnected_record() {
    let h = with_webhooks(SignatureScheme::Svix).await;
    let conn = h.connect("user-1", "").await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    // The connection's own account (another would be refused as a swap).
    let account = s(&h.record(&conn).await, "accountId");
    let event = |kind: &str, status: &str| {
        serde_json::json!({
            "eventType": kind, "live": true,
            "data": { "connection": { "id": conn, "status": status, "userData": { "userId": account } } }
        })
        .to_string()
    };
    let send = |id: &'static str, t: i64, body: String| {
        let h = &h;
        async move {
            let headers = h.sim.sign(SignatureScheme::Svix, id, t, body.as_bytes());
            let resp = h.deliver(&headers, &body).await;
            assert_eq!(resp.status(), 200, "{}", body_text(&resp));
            json_body(&resp)["outcome"].as_str().unwrap().to_string()
        }
    };
    let t = now();
    let update = event("connection.updated", "active");
    assert_eq!(send("msg_upd", t - 120, update.clone()).await, "applied");
    assert_eq!(
        send(
            "msg_disc",
            t - 60,
            event("connection.disconnected", "disconnected")
        )
        .await,
        "applied"
    );
    assert_eq!(s(&only_record(&h).await, "status"), "disconnected");
    // OFAuth retries the update (same svix-id), signed now: a duplicate.
    assert_eq!(send("msg_upd", t, update.clone()).await, "duplicate");
    // The same untimed body under the documented scheme, which carries no id,
    // delivered twice with different signature times: neither revives it.
    for signed_at in [t - 30, t] {
        let headers = h
            .sim
            .sign(SignatureScheme::Ofauth, "", signed_at, update.as_bytes());
        let resp = h.deliver(&headers, &update).await;
        assert_eq!(json_body(&resp)["outcome"], "superseded");
    }
    // Another untimed event: it may not move the record back from disconnected.
    assert_eq!(
        send("msg_other", t, event("connection.updated", "active")).await,
        "superseded"
    );
    let rec = only_record(&h).await;
    assert_eq!(s(&rec, "status"), "disconnected");
    assert!(s(&rec, "gsi1sk").starts_with('~'), "out of the list");
}

/// OFAuth's docs' payload and its v3 SDKs' payload, end to end from the
/// simulator: both attest, and both name the account.
#[tokio::test]
async fn both_payload_dialects_are_read() {
    for (scheme, dialect) in [
        (SignatureScheme::Ofauth, ofauth_sim::Dialect::Docs),
        (SignatureScheme::Svix, ofauth_sim::Dialect::V3),
    ] {
        let h = with_webhooks(scheme).await;
        h.sim.set_webhook_mode(WebhookMode {
            dialect,
            ..WebhookMode::default()
        });
        let (url, attempt) = h.start_attempt("user-1", "").await;
        let query = h.hosted(&url, "approve").await;
        let d = h.sim.wait_for_deliveries(1, WAIT).await;
        assert_eq!(
            d[0].outcome.as_deref(),
            Some("applied"),
            "{dialect:?}: {d:?}"
        );
        let conn = param(&query, "connection_id");
        let sim_conn = h.sim.connection(&conn).unwrap();
        let rec = only_record(&h).await;
        assert_eq!(s(&rec, "attestedAttemptId"), attempt, "{dialect:?}");
        assert_eq!(s(&rec, "accountId"), sim_conn.user_id, "{dialect:?}");
        assert_eq!(s(&rec, "username"), sim_conn.username, "{dialect:?}");
        // An expiry in the same dialect reaches the record after the completion.
        assert_eq!(h.return_and_complete("user-1", &query).await.0, 200);
        h.sim.expire_connection(&conn);
        let d = h.sim.wait_for_deliveries(2, WAIT).await;
        assert_eq!(
            d[1].outcome.as_deref(),
            Some("applied"),
            "{dialect:?}: {d:?}"
        );
        assert_eq!(
            s(&only_record(&h).await, "status"),
            "expired",
            "{dialect:?}"
        );
    }
}

/// A sandbox event (`live: false`) on a live deployment is acknowledged and not
/// applied; a deployment that accepts sandbox events applies it.
#[tokio::test]
async fn a_sandbox_event_on_a_live_deployment_is_acknowledged_and_ignored() {
    for accept in [false, true] {
        let h = Harness::with(Options {
            webhooks: Some(SignatureScheme::Svix),
            env: vec![("WEBHOOK_ACCEPT_SANDBOX", accept.to_string())],
            ..Options::default()
        })
        .await;
        h.sim.set_webhook_mode(WebhookMode {
            dialect: ofauth_sim::Dialect::V3,
            live: Some(false),
            ..WebhookMode::default()
        });
        let url = h.start("user-1", "").await;
        h.hosted(&url, "approve").await;
        let d = h.sim.wait_for_deliveries(1, WAIT).await;
        assert_eq!(d[0].status, 200, "acknowledged, so OFAuth does not retry");
        if accept {
            assert_eq!(d[0].outcome.as_deref(), Some("applied"));
            assert_eq!(h.items_of("connection").await.len(), 1);
        } else {
            assert_eq!(d[0].outcome.as_deref(), Some("sandbox_ignored"));
            assert!(h.items_of("connection").await.is_empty());
            assert!(h.items_of("event").await.is_empty());
        }
    }
}

/// More signatures than a rotation needs are refused before any hashing (the
/// work is counted, not timed); a valid delivery costs one HMAC.
#[tokio::test]
async fn too_many_signatures_are_refused_before_hashing() {
    let h = with_webhooks(SignatureScheme::Svix).await;
    let conn = h.connect("user-1", "").await;
    let body = format!(
        r#"{{"id":"evt_many","type":"connection.updated","data":{{"connection":{{"id":"{conn}","status":"active"}},"pad":"{}"}}}}"#,
        "x".repeat(200 * 1024)
    );
    let good = h
        .sim
        .sign(SignatureScheme::Svix, "msg_many", now(), body.as_bytes());
    let sig = good
        .iter()
        .find(|(k, _)| k == "svix-signature")
        .unwrap()
        .1
        .clone();
    let with_sig = |value: String| {
        good.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if k == "svix-signature" {
                        value.clone()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let before = link_shared::signature::hmacs_computed();
    let flood = with_sig(format!("{}{sig}", "v1,AAAA ".repeat(1_700)));
    let resp = h.deliver(&flood, &body).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        link_shared::signature::hmacs_computed(),
        before,
        "no hashing"
    );
    let six = with_sig(format!("{}{sig}", "v1,AAAA ".repeat(5)));
    assert_eq!(h.deliver(&six, &body).await.status(), 401);
    assert_eq!(link_shared::signature::hmacs_computed(), before);
    let five = with_sig(format!("{}{sig}", "v1,AAAA ".repeat(4)));
    assert_eq!(h.deliver(&five, &body).await.status(), 200);
    assert_eq!(link_shared::signature::hmacs_computed(), before + 1);
    // A body over the limit is refused before hashing too.
    let huge = "x".repeat(link_shared::webhook::MAX_BODY_BYTES + 1);
    let signed = h
        .sim
        .sign(SignatureScheme::Svix, "msg_huge", now(), huge.as_bytes());
    assert_eq!(h.deliver(&signed, &huge).await.status(), 400);
    assert_eq!(link_shared::signature::hmacs_computed(), before + 1);
}

/// This service's own confirmation (the binding's `access/self` check, on its
/// clock) never makes a later OFAuth event look old: OFAuth's clock running a
/// minute behind ours, an expiry it reports after the binding still applies.
#[tokio::test]
async fn our_confirmation_time_does_not_beat_a_later_ofauth_event() {
    let h = Harness::new().await; // no webhooks: the binding is the only write
    let conn = h.connect("user-1", "").await;
    let behind = link_shared::time::rfc3339(std::time::SystemTime::now() - Duration::from_secs(60));
    let expired = serde_json::json!({
        "id": "evt_behind", "type": "connection.expired", "timestamp": behind,
        "data": { "connection": { "id": conn, "status": "expired" } }
    });
    assert_eq!(deliver_now(&h, &expired).await, "applied");
    assert_eq!(s(&only_record(&h).await, "status"), "expired");
}

/// A signed event whose time is far ahead of this clock (OFAuth's clock gone
/// wrong, or a body built by hand) is ordered as if it came now: it cannot
/// make every later, real event look older and pin the record.
#[tokio::test]
async fn an_event_time_far_ahead_cannot_pin_a_record() {
    let h = Harness::new().await;
    let conn = h.connect("user-1", "").await;
    let account = s(&h.record(&conn).await, "accountId");
    let event = |id: &str, kind: &str, at: &str, status: &str| {
        serde_json::json!({
            "id": id, "type": kind, "timestamp": at,
            "data": { "connection": { "id": conn, "status": status,
                "userData": { "id": account } } }
        })
        .to_string()
    };
    let far = event(
        "evt_far",
        "connection.updated",
        "9999-12-31T23:59:59Z",
        "active",
    );
    let resp = h
        .deliver(&signed_now(SignatureScheme::Svix, "msg_far", &far), &far)
        .await;
    assert_eq!(json_body(&resp)["outcome"], "applied");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let now = link_shared::time::rfc3339_millis(std::time::SystemTime::now());
    let expired = event("evt_real", "connection.expired", &now, "expired");
    let resp = h
        .deliver(
            &signed_now(SignatureScheme::Svix, "msg_real", &expired),
            &expired,
        )
        .await;
    assert_eq!(
        json_body(&resp)["outcome"],
        "applied",
        "{}",
        body_text(&resp)
    );
    assert_eq!(s(&h.record(&conn).await, "status"), "expired");
}
