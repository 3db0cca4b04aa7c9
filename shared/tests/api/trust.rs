//! The trust model's second pass, each test a sequence an attacker (or an
//! incident) could run against the functions, against DynamoDB Local and the
//! simulator over HTTP:
//! - the OnlyFans account of a bound connection is fixed, whichever leg shows
//!   another one first (callback, completion, webhook, reconciler);
//! - a new completion code goes only to the browser that came back, and the
//!   return page is told no connection id;
//! - a forged claim completed by a second account disconnects nothing it does
//!   not own;
//! - an unattested claim neither stores nor lists anyone's profile;
//! - verifications OFAuth cannot answer are bounded per attempt;
//! - a replayed completion says what is true now;
//! - an erasure is a barrier, also for a completion racing it.

use std::time::Duration;

use crate::helpers::*;
use ofauth_sim::{ErrorShape, Faults, SignatureScheme, WebhookMode};

const WAIT: Duration = Duration::from_secs(10);
const PROFILE: [&str; 4] = ["accountId", "username", "name", "avatar"];

async fn with_webhooks() -> Harness {
    Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await
}

/// Mallory's connection, and her reconnect's hosted URL and attempt.
async fn mallory_reconnects(h: &Harness) -> (String, String, String) {
    let conn = h.connect("mallory", "").await;
    let (url, attempt) = h
        .start_attempt("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    (conn, url, attempt)
}

/// The owner's record is as it was but for its status (expired: the connection
/// holds someone else's account and was invalidated), and OFAuth's connection
/// is expired.
async fn owner_kept_and_invalidated(
    h: &Harness,
    conn: &str,
    before: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) {
    let rec = h.record(conn).await;
    for attr in PROFILE.iter().chain(&["userId", "connectedAt"]) {
        assert_eq!(s(&rec, attr), s(before, attr), "{attr} changed");
    }
    assert_eq!(
        s(&rec, "status"),
        "expired",
        "still usable with another's account"
    );
    assert_eq!(
        h.sim.connection(conn).unwrap().status,
        "expired",
        "not invalidated"
    );
    let (_, list) = h.list_connections("mallory").await;
    assert_eq!(list["connections"][0]["status"], "expired", "{list}");
}

#[tokio::test]
async fn a_webhook_that_comes_first_cannot_swap_the_account_behind_a_reconnect() {
    // Mallory sends her reconnect URL to a victim, who signs in with their own
    // account; OFAuth's connection.updated reaches the webhook before the
    // victim's browser reaches the callback.
    let h = with_webhooks().await;
    let (conn, url, _) = mallory_reconnects(&h).await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let before = h.record(&conn).await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let query = h.hosted(&url, "approve?other_account=true").await;
    assert_ne!(
        h.sim.connection(&conn).unwrap().user_id,
        s(&before, "accountId")
    );
    h.sim.release_webhooks(false);
    let d = h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(d[1].outcome.as_deref(), Some("account_mismatch"), "{d:?}");
    // The webhook holds no API key: the stream's remedy (the publisher)
    // invalidates the connection at OFAuth.
    h.publish_stream(25, 0).await;
    owner_kept_and_invalidated(&h, &conn, &before).await;
    // The victim's browser then comes back: OFAuth no longer confirms the
    // (invalidated) connection, so it is refused, and nothing changes.
    assert_error_redirect(&h.callback(&query).await, "connection_not_verified");
    owner_kept_and_invalidated(&h, &conn, &before).await;
}

#[tokio::test]
async fn a_pre_cancelled_reconnect_cannot_swap_the_account() {
    // Mallory ends her own reconnect attempt with a forged cancel, so that the
    // victim's browser gets invalid_state and no account check runs there; the
    // signed connection.updated naming the attempt must not swap the account.
    let h = with_webhooks().await;
    let (conn, url, attempt) = mallory_reconnects(&h).await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let before = h.record(&conn).await;
    let cancel = format!("status=cancelled&step=login&client_reference_id={attempt}");
    assert!(location(&h.callback(&cancel).await).contains("status=cancelled"));
    let query = h.hosted(&url, "approve?other_account=true").await;
    let d = h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(d[1].outcome.as_deref(), Some("account_mismatch"), "{d:?}");
    h.publish_stream(25, 0).await; // the stream's remedy invalidates it
    assert_error_redirect(&h.callback(&query).await, "invalid_state");
    owner_kept_and_invalidated(&h, &conn, &before).await;
}

#[tokio::test]
async fn the_reconciler_refuses_another_account_on_a_bound_connection() {
    // The webhook is lost and the victim's browser never comes back: the
    // reconciler sees the other account on OFAuth's list.
    let h = with_webhooks().await;
    let (conn, url, _) = mallory_reconnects(&h).await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let before = h.record(&conn).await;
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    h.hosted(&url, "approve?other_account=true").await;
    let run = h.reconcile().await;
    assert_eq!(run.counts.errors, 0, "{run:?}");
    owner_kept_and_invalidated(&h, &conn, &before).await;
    // OFAuth now reports it expired (with the other account): nothing more is
    // invalidated, nothing of the owner's changes.
    let invalidations = || {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/invalidate"))
            .count()
    };
    let after_first = invalidations();
    h.reconcile().await;
    assert_eq!(invalidations(), after_first);
    owner_kept_and_invalidated(&h, &conn, &before).await;
}

#[tokio::test]
async fn a_popup_reconnect_with_another_account_is_refused() {
    let h = Harness::new().await;
    let (conn, url, attempt) = mallory_reconnects(&h).await;
    let before = h.record(&conn).await;
    h.hosted(&url, "approve?other_account=true").await;
    let (status, body) = h.complete_embed("mallory", &attempt, &conn).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("account_mismatch")),
        "{body}"
    );
    owner_kept_and_invalidated(&h, &conn, &before).await;
}

#[tokio::test]
async fn a_new_code_goes_only_to_the_browser_that_came_back() {
    // Mallory starts an attempt and sends its URL to a victim, who approves; the
    // victim's browser (not signed in to the app) gets a code. Mallory replays
    // the callback URL in her own browser to mint a code of her own.
    let h = Harness::new().await;
    let (url, attempt) = h.start_attempt("mallory", "").await;
    let query = h.hosted(&url, "approve").await;
    let victim_page = h.return_to_app(&query).await;
    let victim_code = query_param(&victim_page, "code").unwrap();
    assert_eq!(
        query_param(&victim_page, "connection_id"),
        None,
        "{victim_page}"
    );

    let mallory_browser = Browser::default();
    let replay = h.callback_in(&mallory_browser, &query).await;
    assert_error_redirect(&replay, "invalid_state");
    // A binding cookie of her own does not help either.
    let replay = h.callback_in(&mallory_browser, &query).await;
    assert_error_redirect(&replay, "invalid_state");
    let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
    assert_eq!(s(&a, "status"), "returned");
    // So Mallory has no code to complete with; the victim's still works for the
    // victim's browser, whose reload gets a fresh one.
    let reload = h.return_to_app(&query).await;
    let fresh = query_param(&reload, "code").unwrap();
    assert_ne!(fresh, victim_code);
    let (status, body) = h.complete_code("mallory", &victim_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_code"))
    );
}

#[tokio::test]
async fn a_forged_claim_completed_by_a_second_account_disconnects_nothing() {
    // A live connection this deployment never recorded, not yet on OFAuth's list
    // (the list lags): Mallory forges it onto her attempt, and her second account
    // completes the code, which is refused as a fixation. The connection is not
    // hers to have disconnected: OFAuth never attested her attempt made it.
    let h = Harness::new().await;
    h.sim.insert_connection(
        "conn_someoneelses1",
        Some("la_0000000000000000000000000000000000000001"),
    );
    h.sim.set_faults(Faults {
        list_hidden: true,
        ..Faults::default()
    });
    let (url, attempt) = h.start_attempt("mallory", "").await;
    h.hosted(&url, "cancel?step=login").await;
    let forged =
        format!("status=success&connection_id=conn_someoneelses1&client_reference_id={attempt}");
    let code = query_param(&h.return_to_app(&forged).await, "code").unwrap();
    let (status, body) = h.complete_code("mallory-second", &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("completion_refused")),
        "{body}"
    );
    assert!(
        h.sim.connection("conn_someoneelses1").is_some(),
        "disconnected"
    );
    assert_eq!(deletes_of(&h, "conn_someoneelses1"), 0);
    assert!(h.item("CONNECTION#conn_someoneelses1").await.is_none());
}

#[tokio::test]
async fn an_unattested_claim_stores_and_lists_no_profile() {
    // Any live connection id yields a claim that waits as verifying; it must not
    // yield that account's username, name or avatar to whoever claims it.
    let h = Harness::new().await;
    let victim = h.start("victim", "").await;
    let conn = param(&h.hosted(&victim, "approve").await, "connection_id");
    h.withhold_attestation();
    let (url, attempt) = h.start_attempt("mallory", "").await;
    h.hosted(&url, "cancel?step=login").await;
    let forged = format!("status=success&connection_id={conn}&client_reference_id={attempt}");
    let code = query_param(&h.return_to_app(&forged).await, "code").unwrap();
    let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
    for attr in PROFILE {
        assert!(!a.contains_key(attr), "the returned claim stores {attr}");
    }
    assert_eq!(h.complete_code("mallory", &code).await.0, 202);
    let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
    for attr in PROFILE {
        assert!(!a.contains_key(attr), "the verifying claim stores {attr}");
    }
    let (_, list) = h.list_connections("mallory").await;
    let entry = &list["connections"][0];
    assert_eq!(entry["status"], "verifying", "{list}");
    for field in ["username", "name", "avatar"] {
        assert!(entry[field].is_null(), "{field} listed: {list}");
    }
}

#[tokio::test]
async fn an_attested_completion_still_gets_the_profile() {
    // The callback came back before the list showed the connection (not
    // attested, no profile kept); the completion finds it on the list and binds
    // with the profile the list gives.
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    h.sim.set_faults(Faults {
        list_hidden: true,
        ..Faults::default()
    });
    let loc = h.return_to_app(&query).await;
    h.sim.set_faults(Faults::default());
    let (status, body) = h
        .complete_code("user-1", &query_param(&loc, "code").unwrap())
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    let conn = body["connectionId"].as_str().unwrap();
    let rec = h.record(conn).await;
    assert_eq!(
        s(&rec, "username"),
        h.sim.connection(conn).unwrap().username
    );
    assert!(!s(&rec, "accountId").is_empty());
}

#[tokio::test]
async fn verifications_per_attempt_are_bounded() {
    // OFAuth failing on access/self keeps an attempt for a reload; a forger can
    // repeat the callback of their own attempt, each costing OFAuth calls. After
    // the bound the attempt ends and OFAuth is not asked again.
    let h = Harness::new().await;
    let victim = h.start("victim", "").await;
    let conn = param(&h.hosted(&victim, "approve").await, "connection_id");
    let (url, attempt) = h.start_attempt("mallory", "").await;
    h.hosted(&url, "cancel?step=login").await;
    h.sim.set_faults(Faults {
        status: Some(503),
        error_shape: ErrorShape::Current,
        path_prefix: Some("/v2/access/self".into()),
        ..Faults::default()
    });
    let forged = format!("status=success&connection_id={conn}&client_reference_id={attempt}");
    let calls = || {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.connection.as_deref() == Some(conn.as_str()))
            .count()
    };
    for _ in 0..10 {
        assert_error_redirect(&h.callback(&forged).await, "temporarily_unavailable");
    }
    let made = calls();
    assert_eq!(made, 10, "one access/self a verification");
    assert_error_redirect(&h.callback(&forged).await, "too_many_verifications");
    let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
    assert_eq!(
        (s(&a, "status"), s(&a, "errorCode")),
        ("failed".into(), "too_many_verifications".into())
    );
    h.sim.set_faults(Faults::default());
    assert_error_redirect(&h.callback(&forged).await, "invalid_state");
    assert_eq!(calls(), made, "OFAuth asked again");
}

#[tokio::test]
async fn a_completion_replayed_after_a_disconnect_says_disconnected() {
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").unwrap();
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
    let conn = body["connectionId"].as_str().unwrap().to_string();
    h.sim.expire_connection(&conn);
    h.reconcile().await;
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("expired")),
        "{body}"
    );
    assert_eq!(h.disconnect("user-1", &conn).await.status(), 204);
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("disconnected")),
        "{body}"
    );
    assert_eq!(body["connectionId"], conn.as_str());
}

#[tokio::test]
async fn an_erasure_ends_the_attempts_in_flight() {
    // A pending attempt and a returned one (its code in hand): after the erasure
    // neither can be completed, reloaded or attested into a binding, and neither
    // keeps the user or the account.
    let h = with_webhooks().await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let user = unique("user");
    let (pending_url, pending) = h.start_attempt(&user, "").await;
    let (url, returned) = h.start_attempt(&user, "").await;
    let query = h.hosted(&url, "approve").await;
    let code = query_param(&h.return_to_app(&query).await, "code").unwrap();

    let (status, body) = h.erase(&user).await;
    assert_eq!((status, body["erased"].as_u64()), (200, Some(2)), "{body}");
    for attempt in [&pending, &returned] {
        let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
        assert_eq!(s(&a, "status"), "erased");
        for attr in PROFILE
            .iter()
            .chain(&["userId", "gsi1pk", "codeHash", "browserHash"])
        {
            assert!(!a.contains_key(*attr), "{attempt} keeps {attr}");
        }
    }
    let (status, body) = h.complete_code(&user, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_code")),
        "{body}"
    );
    assert_error_redirect(&h.callback(&query).await, "invalid_state");
    let late = h.hosted(&pending_url, "approve").await;
    assert_error_redirect(&h.callback(&late).await, "invalid_state");
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(2, WAIT).await;
    assert!(h.user_connections(&user).await.is_empty());
    let (_, list) = h.list_connections(&user).await;
    assert!(listed(&list).is_empty(), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erasure_is_a_barrier_for_a_completion_racing_it() {
    // The completion and the erasure at the same time, many times over: whichever
    // wins, nothing of the user's is bound or keeps the account afterwards.
    let h = std::sync::Arc::new(Harness::new().await);
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..12 {
        let user = unique("racer");
        let url = h.start(&user, "").await;
        let query = h.hosted(&url, "approve").await;
        let conn = param(&query, "connection_id");
        let code = query_param(&h.return_to_app(&query).await, "code").unwrap();
        let (complete, erase) = {
            let (h1, h2, u1, u2) = (h.clone(), h.clone(), user.clone(), user.clone());
            let complete = tokio::spawn(async move { h1.complete_code(&u1, &code).await.0 });
            if round % 2 == 1 {
                tokio::task::yield_now().await;
            }
            let erase = tokio::spawn(async move { h2.erase(&u2).await.0 });
            (complete.await.unwrap(), erase.await.unwrap())
        };
        // Won (200), or lost: the attempt ended (409) or its code gone (400).
        assert!(
            matches!(complete, 200 | 400 | 409),
            "completion answered {complete}"
        );
        // An erasure that lost to OFAuth's answer is retried by the app.
        let erase = if erase == 200 {
            200
        } else {
            h.erase(&user).await.0
        };
        assert_eq!(erase, 200);
        *outcomes.entry(complete).or_insert(0) += 1;
        if let Some(rec) = h.item(&format!("CONNECTION#{conn}")).await {
            assert_eq!(s(&rec, "userId"), "", "bound after the erasure");
            for attr in PROFILE {
                assert!(!rec.contains_key(attr), "the record keeps {attr}");
            }
        }
        assert!(h.user_index(&user).await.is_empty(), "{user}'s index");
        let (_, list) = h.list_connections(&user).await;
        assert!(listed(&list).is_empty(), "{list}");
    }
    assert!(outcomes.values().sum::<i32>() == 12, "{outcomes:?}");
}

/// In a process of its own: the metrics recorder is global to the process.
#[test]
fn a_swap_is_a_security_event_in_the_metrics() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(a_swap_is_a_security_event_in_the_metrics),
        rusty_fork::rusty_fork_id!(),
        || block_on(security_events()),
    );
}

async fn security_events() {
    link_shared::telemetry::install("OFAuthLink/test", "test");
    let h = with_webhooks().await;
    // A swap only the webhook sees (the attempt was cancelled first), then
    // OFAuth's report of the invalidation (expired, with the other account):
    // one security event.
    let (conn, url, attempt) = mallory_reconnects(&h).await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let cancel = format!("status=cancelled&step=login&client_reference_id={attempt}");
    h.callback(&cancel).await;
    h.hosted(&url, "approve?other_account=true").await;
    h.sim.wait_for_deliveries(2, WAIT).await;
    h.publish_stream(25, 0).await; // the stream's remedy invalidates it
    let d = h.sim.wait_for_deliveries(3, WAIT).await;
    let outcomes: Vec<_> = d.iter().map(|d| d.outcome.as_deref()).collect();
    assert_eq!(
        outcomes[1..],
        [Some("account_mismatch"), Some("account_mismatch")],
        "{d:?}"
    );
    assert_eq!(security_event_counts(), (1.0, 1.0));
    // A second reconnect attempt with another account, its browser back first,
    // then its webhook (which invalidates again: whether the first invalidation
    // held is OFAuth's to say) and the two invalidations' reports: one more.
    let (url, _) = h
        .start_attempt("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let query = h.hosted(&url, "approve?other_account=true").await;
    assert_error_redirect(&h.callback(&query).await, "account_mismatch");
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(4, WAIT).await;
    h.publish_stream(25, 0).await;
    let d = h.sim.wait_for_deliveries(6, WAIT).await;
    let outcomes: Vec<_> = d.iter().map(|d| d.outcome.as_deref()).collect();
    assert_eq!(outcomes[3..], [Some("account_mismatch"); 3], "{d:?}");
    assert_eq!(security_event_counts(), (1.0, 1.0));
}

/// In a process of its own: the metrics recorder is global to the process.
#[test]
fn a_swap_mark_outlasts_the_reconciler_and_a_new_swap_counts_as_new() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(
            a_swap_mark_outlasts_the_reconciler_and_a_new_swap_counts_as_new
        ),
        rusty_fork::rusty_fork_id!(),
        || block_on(swap_mark_outlasts_the_reconciler()),
    );
}

async fn swap_mark_outlasts_the_reconciler() {
    link_shared::telemetry::install("OFAuthLink/test", "test");
    let h = with_webhooks().await;
    // A reconnect signed in to another account: refused, one security event,
    // the record marked with the attempt that showed it.
    let (conn, url, first) = mallory_reconnects(&h).await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let query = h.hosted(&url, "approve?other_account=true").await;
    assert_error_redirect(&h.callback(&query).await, "account_mismatch");
    h.publish_stream(25, 0).await;
    assert_eq!(security_event_counts(), (1.0, 1.0));
    let mark = |r: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
        r.get("swapAttemptId").and_then(|v| v.as_s().ok()).cloned()
    };
    assert_eq!(
        mark(&h.record(&conn).await).as_deref(),
        Some(first.as_str())
    );
    // The reconciler looks at it (OFAuth lists it under the other account),
    // OFAuth's reports arrive: repeats, no event, and the mark stays.
    h.reconcile().await;
    // OFAuth's reports: the swap's, and the invalidation's (expired, with the
    // other account, naming no attempt), then the reconciler again.
    h.sim.wait_for_deliveries(3, WAIT).await;
    h.publish_stream(25, 0).await;
    h.reconcile().await;
    // A later expiry at OFAuth whose webhook is lost: the reconciler applies
    // it (a newer state, still the other account).
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(h.sim.expire_connection(&conn));
    h.reconcile().await;
    h.sim.set_webhook_mode(WebhookMode::default());
    let record = h.record(&conn).await;
    assert_eq!(record["changeCause"].as_s().unwrap(), "account_mismatch");
    assert_eq!(
        mark(&record).as_deref(),
        Some(first.as_str()),
        "the reconciler kept the attempt that showed the swap"
    );
    assert_eq!(
        security_event_counts(),
        (0.0, 0.0),
        "a repeat is no new event"
    );
    // A new reconnect attempt showing another account again: a new swap,
    // counted as one, and now the mark is that attempt's.
    let (url, second) = h
        .start_attempt("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    let query = h.hosted(&url, "approve?other_account=true").await;
    assert_error_redirect(&h.callback(&query).await, "account_mismatch");
    assert_eq!(
        security_event_counts(),
        (1.0, 1.0),
        "a new swap is a new event"
    );
    assert_eq!(
        mark(&h.record(&conn).await).as_deref(),
        Some(second.as_str())
    );
}

/// In a process of its own: the metrics recorder is global to the process.
#[test]
fn one_swap_the_webhook_sees_is_one_security_event_whatever_follows() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(
            one_swap_the_webhook_sees_is_one_security_event_whatever_follows
        ),
        rusty_fork::rusty_fork_id!(),
        || block_on(one_swap_one_event()),
    );
}

/// A swap first seen by OFAuth's webhook on a live connection (no reconnect),
/// then OFAuth's report of the invalidation, the same change delivered again
/// under new ids (late, older than the record), a report that names no
/// account (a write of another cause), and a later report with the other
/// account: one security event, and the record keeps its swap mark.
async fn one_swap_one_event() {
    link_shared::telemetry::install("OFAuthLink/test", "test");
    let h = Harness::new().await;
    let conn = h.connect("owner", "").await;
    assert_eq!(security_event_counts(), (0.0, 0.0));
    let event = |id: &str, kind: &str, at: &str, status: &str, account: Option<&str>| {
        let mut connection = serde_json::json!({ "id": conn, "status": status });
        if let Some(a) = account {
            connection["userData"] = serde_json::json!({ "id": a });
        }
        serde_json::json!({
            "id": id, "type": kind, "timestamp": at,
            "data": { "connection": connection }
        })
        .to_string()
    };
    let at = |ms: u64| {
        link_shared::time::rfc3339_millis(std::time::SystemTime::now() + Duration::from_millis(ms))
    };
    let send = |body: String, id: &'static str| {
        let h = &h;
        async move {
            let resp = h
                .deliver(&signed_now(SignatureScheme::Svix, id, &body), &body)
                .await;
            json_body(&resp)["outcome"]
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    let (t1, t2, t3, t4) = (at(1_000), at(2_000), at(3_000), at(4_000));
    let swap = event(
        "evt_swap",
        "connection.updated",
        &t1,
        "active",
        Some("acct_other"),
    );
    assert_eq!(send(swap, "m1").await, "account_mismatch");
    assert_eq!(security_event_counts(), (1.0, 1.0), "the swap");
    let record = h.record(&conn).await;
    assert_eq!(s(&record, "changeCause"), "account_mismatch");
    assert!(!s(&record, "swapAccountHash").is_empty(), "{record:?}");
    assert!(!record.contains_key("accountId") || s(&record, "accountId") != "acct_other");
    // OFAuth's report of the invalidation, with the other account: a repeat.
    let invalidated = event(
        "evt_inv",
        "connection.expired",
        &t2,
        "expired",
        Some("acct_other"),
    );
    send(invalidated, "m2").await;
    // The same change again under a new id (older than the record now).
    let again = event(
        "evt_swap_again",
        "connection.updated",
        &t1,
        "active",
        Some("acct_other"),
    );
    assert_eq!(send(again, "m3").await, "superseded");
    // A report naming no account (written with the webhook's cause) ...
    let bare = event("evt_bare", "connection.updated", &t3, "expired", None);
    send(bare, "m4").await;
    // ... does not make the next report of the same swap a new one.
    let later = event(
        "evt_later",
        "connection.expired",
        &t4,
        "expired",
        Some("acct_other"),
    );
    send(later, "m5").await;
    assert_eq!(
        security_event_counts(),
        (0.0, 0.0),
        "repeats, not new swaps"
    );
    assert!(!s(&h.record(&conn).await, "swapAccountHash").is_empty());
}

/// In a process of its own: the metrics recorder is global to the process.
#[test]
fn a_late_report_of_a_swap_the_owner_undid_is_no_event_and_the_next_swap_is() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(
            a_late_report_of_a_swap_the_owner_undid_is_no_event_and_the_next_swap_is
        ),
        rusty_fork::rusty_fork_id!(),
        || block_on(late_report_after_restore()),
    );
}

/// A refused swap, the owner's own reconnect (which undoes it), then OFAuth's
/// late report of the old swap (its own, older time): nothing written, no
/// event; then a real new swap: one event.
async fn late_report_after_restore() {
    link_shared::telemetry::install("OFAuthLink/test", "test");
    // OFAuth's webhooks on, as deployed: its own report of the owner's
    // reconnect is what dates the record past the old swap.
    let h = with_webhooks().await;
    let (conn, url, _) = mallory_reconnects(&h).await;
    let own = s(&h.record(&conn).await, "accountId");
    let query = h.hosted(&url, "approve?other_account=true").await;
    assert_error_redirect(&h.callback(&query).await, "account_mismatch");
    assert_eq!(security_event_counts(), (1.0, 1.0), "the swap");
    let swapped_at = link_shared::time::rfc3339_millis(std::time::SystemTime::now());
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // The owner reconnects with her own account: usable again, the mark off.
    let (url, _) = h
        .start_attempt("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    let query = h.hosted(&url, &format!("approve?account={own}")).await;
    let (status, body) = h.return_and_complete("mallory", &query).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    // OFAuth's reports of all that, delivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.sim
        .wait_for_deliveries(h.sim.deliveries().len(), WAIT)
        .await;
    assert_eq!(
        security_event_counts().0,
        0.0,
        "the reports repeat the one swap"
    );
    let restored = h.record(&conn).await;
    assert_eq!(s(&restored, "status"), "active");
    assert!(!restored.contains_key("swapAccountHash"), "{restored:?}");
    let event = |id: &str, kind: &str, at: &str, status: &str| {
        serde_json::json!({
            "id": id, "type": kind, "timestamp": at,
            "data": { "connection": { "id": conn, "status": status,
                "userData": { "id": "acct_other_late" } } }
        })
        .to_string()
    };
    // OFAuth's late report of the old swap: older than the record.
    let late = event("evt_late", "connection.expired", &swapped_at, "expired");
    let resp = h
        .deliver(&signed_now(SignatureScheme::Svix, "m_late", &late), &late)
        .await;
    assert_eq!(
        json_body(&resp)["outcome"],
        "superseded",
        "{}",
        body_text(&resp)
    );
    assert_eq!(
        security_event_counts(),
        (0.0, 0.0),
        "a late report is no event"
    );
    let after = h.record(&conn).await;
    assert_eq!(s(&after, "status"), "active");
    assert_eq!(
        s(&after, "version"),
        s(&restored, "version"),
        "nothing written"
    );
    // A new swap now: one event.
    let now = link_shared::time::rfc3339_millis(std::time::SystemTime::now());
    let swap = event("evt_new", "connection.updated", &now, "active");
    let resp = h
        .deliver(&signed_now(SignatureScheme::Svix, "m_new", &swap), &swap)
        .await;
    assert_eq!(json_body(&resp)["outcome"], "account_mismatch");
    assert_eq!(
        security_event_counts(),
        (1.0, 1.0),
        "a new swap is an event"
    );
}

/// The `SecurityEvents` flushed since the last call: `account_mismatch` ones,
/// and the total (no other kind may appear).
fn security_event_counts() -> (f64, f64) {
    let mut out = Vec::new();
    link_shared::telemetry::flush_to(&mut out).unwrap();
    let (mut by_kind, mut total) = (0.0, 0.0);
    for line in String::from_utf8(out).unwrap().lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(n) = doc["SecurityEvents"].as_f64() else {
            continue;
        };
        match doc["Kind"].as_str() {
            Some("account_mismatch") => by_kind += n,
            None => total += n,
            Some(other) => panic!("unexpected security event {other}: {line}"),
        }
    }
    (by_kind, total)
}

/// No leg fails open: a signed webhook naming a reconnect attempt, whose
/// connection carries a profile but no account id (either dialect), writes
/// nothing onto the owner's record, does not make an expired one usable, and
/// publishes no profile.
#[tokio::test]
async fn a_webhook_without_an_account_id_writes_nothing_onto_a_bound_connection() {
    let h = Harness::new().await;
    let (conn, _, attempt) = mallory_reconnects(&h).await;
    let before = h.record(&conn).await;
    assert!(!s(&before, "accountId").is_empty());
    let later = link_shared::time::rfc3339(
        std::time::SystemTime::now() + std::time::Duration::from_secs(60),
    );
    let docs = serde_json::json!({
        "id": "evt_nameless", "type": "connection.updated", "timestamp": later,
        "data": { "clientReferenceId": attempt, "connection": { "id": conn, "status": "active",
            "userData": { "username": "someone", "name": "Some One", "avatar": "x" } } }
    })
    .to_string();
    let v3 = serde_json::json!({
        "eventType": "connection.updated", "live": true,
        "data": { "clientReferenceId": attempt, "connection": { "id": conn, "status": "active",
            "userData": { "username": "someone", "name": "Some One" }, "permissions": [] } }
    })
    .to_string();
    // Also once the record is expired: nothing makes it usable.
    for (body, scheme, expired) in [
        (&docs, SignatureScheme::Ofauth, false),
        (&v3, SignatureScheme::Svix, false),
        (&v3, SignatureScheme::Svix, true),
    ] {
        if expired {
            h.set(
                &format!("CONNECTION#{conn}"),
                "status",
                aws_sdk_dynamodb::types::AttributeValue::S("expired".into()),
            )
            .await;
        }
        let resp = h
            .deliver(&signed_now(scheme, &unique("msg"), body), body)
            .await;
        assert_eq!(resp.status(), 200);
        let rec = h.record(&conn).await;
        for attr in PROFILE {
            assert_eq!(s(&rec, attr), s(&before, attr), "{attr} written");
        }
        let want = if expired { "expired" } else { "active" };
        assert_eq!(s(&rec, "status"), want);
        let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
        assert_eq!(s(&a, "status"), "pending", "the reconnect completed");
    }
    // The platform hears of no profile change.
    h.publish_stream(100, 3).await;
    let kinds: Vec<String> = h
        .eventbridge
        .events()
        .into_iter()
        .map(|e| e.detail_type)
        .collect();
    assert!(
        !kinds.iter().any(|k| k == "Connection Profile Changed"),
        "{kinds:?}"
    );
}

/// No leg fails open: OFAuth's `access/self` naming no account id binds no new
/// connection and reconnects nothing (nothing could vouch for whose it is).
#[tokio::test]
async fn an_answer_without_an_account_id_binds_nothing() {
    let h = Harness::new().await;
    let (conn, url, attempt) = mallory_reconnects(&h).await;
    h.sim.set_faults(Faults {
        self_without_account_id: true,
        ..Faults::default()
    });
    // The reconnect: the popup form, then a new connection's redirect flow.
    h.hosted(&url, "approve").await;
    let (status, body) = h.complete_embed("mallory", &attempt, &conn).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("connection_not_verified")),
        "{body}"
    );
    let url = h.start("victim", "").await;
    let query = h.hosted(&url, "approve").await;
    assert_error_redirect(&h.callback(&query).await, "connection_not_verified");
    let fresh = param(&query, "connection_id");
    assert!(h.item(&format!("CONNECTION#{fresh}")).await.is_none());
    assert_eq!(s(&h.record(&conn).await, "status"), "active");
}

/// No leg fails open: a connection bound to no account id cannot be
/// reconnected (no leg could compare what comes back with anything).
#[tokio::test]
async fn a_connection_bound_to_no_account_cannot_be_reconnected() {
    let h = Harness::new().await;
    let conn = h.connect("mallory", "").await;
    h.ddb
        .update_item()
        .table_name(&h.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CONNECTION#{conn}")),
        )
        .update_expression("REMOVE accountId")
        .send()
        .await
        .unwrap();
    let resp = h
        .create_session("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    assert_eq!(resp.status(), 409, "{}", body_text(&resp));
    assert_eq!(json_body(&resp)["error"], "reconnect_unavailable");
    assert!(
        h.init_requests().len() == 1,
        "OFAuth was asked for a session"
    );
}

/// In a process of its own: the metrics recorder is global to the process.
#[test]
fn a_users_own_reload_elsewhere_is_no_security_event() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(a_users_own_reload_elsewhere_is_no_security_event),
        rusty_fork::rusty_fork_id!(),
        || block_on(own_reloads()),
    );
}

async fn own_reloads() {
    link_shared::telemetry::install("OFAuthLink/test", "test");
    let h = Harness::new().await;
    // Back through the callback, then the same URL in another browser (a copy
    // of the address bar, another device): refused, logged, not counted.
    let (url, _) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    assert!(h.return_to_app(&query).await.contains("code="));
    assert_error_redirect(
        &h.callback_in(&Browser::default(), &query).await,
        "invalid_state",
    );
    // A Link URL opened in another browser than the one that started it.
    let (url, _) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    assert_error_redirect(
        &h.callback_in(&Browser::default(), &query).await,
        "browser_mismatch",
    );
    // Another user signed in at the browser that started the attempt (an
    // account switch) completes its code: refused as ever, not counted.
    let (url, _) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let code = query_param(&h.return_to_app(&query).await, "code").unwrap();
    let (status, body) = h.complete_code("user-2", &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("completion_refused"))
    );
    let mut out = Vec::new();
    link_shared::telemetry::flush_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("SecurityEvents"), "{text}");
    assert!(text.contains("invalid_state") && text.contains("browser_mismatch"));
    assert!(text.contains("completion_refused"), "{text}");

    // A cross-site deployment hands a code to a browser without the start
    // cookie (a Link URL finished elsewhere): another user completing that
    // code is a security event.
    let cross = Harness::with(Options {
        callback_url: Some(
            "https://abc123.execute-api.us-east-1.amazonaws.com/link/callback".into(),
        ),
        ..Options::default()
    })
    .await;
    let (url, _) = cross.start_attempt("user-1", "").await;
    let query = cross.hosted(&url, "approve").await;
    let back = cross.callback_in(&Browser::default(), &query).await;
    let code = query_param(&location(&back), "code").unwrap();
    let (status, _) = cross.complete_code("user-2", &code).await;
    assert_eq!(status, 403);
    let mut out = Vec::new();
    link_shared::telemetry::flush_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let refused: f64 = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| d["Kind"] == "completion_refused")
        .filter_map(|d| d["SecurityEvents"].as_f64())
        .sum();
    assert_eq!(refused, 1.0, "{text}");
}

/// The webhook function holds no API key: an account swap it sees is
/// invalidated at OFAuth by the stream's remedy (the publisher), on DynamoDB
/// Local's real stream, exactly once: OFAuth failing the first try leaves the
/// batch to be retried from that record, and any number of redeliveries after
/// it was done invalidate nothing more.
#[tokio::test]
async fn a_swap_the_webhook_sees_is_invalidated_once_from_the_stream() {
    let h = with_webhooks().await;
    let (conn, url, _) = mallory_reconnects(&h).await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    h.hosted(&url, "approve?other_account=true").await; // her browser never returns
    let d = h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(d[1].outcome.as_deref(), Some("account_mismatch"), "{d:?}");
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "status"), "expired");
    assert!(!s(&rec, "invalidateRequested").is_empty(), "{rec:?}");
    assert_eq!(
        h.sim.connection(&conn).unwrap().status,
        "active",
        "no key at the webhook"
    );
    let invalidations = || {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/invalidate") && r.path.contains(conn.as_str()))
            .count()
    };
    assert_eq!(invalidations(), 0);

    // OFAuth fails it: the batch is reported from that record.
    let records = h.stream_records().await;
    h.sim.set_faults(Faults {
        status: Some(503),
        path_prefix: Some(format!("/v2/account/connections/{conn}/invalidate")),
        ..Faults::default()
    });
    let failed = h.publish_batch(&records).await;
    assert_eq!(failed.len(), 1, "retried from the record that asked");
    assert_eq!(h.sim.connection(&conn).unwrap().status, "active");
    h.sim.set_faults(Faults::default());
    // Lambda's retries, and redeliveries after it was done: once.
    for _ in 0..3 {
        assert!(h.publish_batch(&records).await.is_empty());
    }
    h.publish_stream(25, 0).await;
    assert_eq!(h.sim.connection(&conn).unwrap().status, "expired");
    let fault_tries = 1;
    assert_eq!(
        invalidations(),
        fault_tries + 1,
        "invalidated once (after the failed try)"
    );
    let rec = h.record(&conn).await;
    assert!(!rec.contains_key("invalidateRequested"), "{rec:?}");
    assert!(!s(&rec, "invalidatedAt").is_empty());
}
