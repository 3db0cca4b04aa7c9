//! The reconciler, against DynamoDB Local and the simulator: each kind of drift
//! it repairs when webhooks are lost, what it must never touch, a run cut short
//! by its page budget and resumed, two runs at once, and a run racing a webhook.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;
use link_shared::config::{ReconcileSettings, UnboundAction};
use link_shared::reconcile::HaltReason;
use ofauth_sim::{Faults, SignatureScheme, WebhookMode};

fn settings(unbound: UnboundAction, grace_secs: u64, max_pages: u32) -> ReconcileSettings {
    ReconcileSettings {
        unbound,
        unbound_grace: Duration::from_secs(grace_secs),
        max_pages,
        personal_data_retention: None,
        breaker_percent: 20,
        expected_account: None,
    }
}

/// Webhooks on, then lost (OFAuth gave up): an expiry and a disconnect that
/// happened at OFAuth reach the records through the reconciler, and the
/// user's list shows them.
#[tokio::test]
async fn lost_expiry_and_lost_disconnect_are_caught_up() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Ofauth),
        ..Options::default()
    })
    .await;
    let expired = h.connect("user-1", "").await;
    let gone = h.connect("user-1", "").await;
    let delivered = h
        .sim
        .wait_for_deliveries(2, Duration::from_secs(10))
        .await
        .len();
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    assert!(h.sim.expire_connection(&expired));
    assert!(h.sim.disconnect_connection(&gone));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.sim.deliveries().len(), delivered, "the events were lost");
    assert_eq!(s(&h.record(&expired).await, "status"), "active");
    assert_eq!(s(&h.record(&gone).await, "status"), "active");

    let run = h.reconcile().await;
    assert!(run.sweep_done, "{run:?}");
    assert_eq!((run.counts.changed, run.counts.errors), (1, 0), "{run:?}");
    assert_eq!(s(&h.record(&expired).await, "status"), "expired");
    // The one OFAuth no longer knows is only missing after one sweep: a later
    // sweep confirms it before it is marked disconnected (final).
    assert_eq!(run.counts.missing, 1, "{run:?}");
    assert_eq!(s(&h.record(&gone).await, "status"), "active");
    assert!(!s(&h.record(&gone).await, "missingSince").is_empty());
    // A sweep right after confirms nothing (a blip at OFAuth must not be
    // final); one begun half an hour after the mark does.
    let run = h.reconcile().await;
    assert_eq!(run.counts.changed, 0, "{run:?}");
    assert_eq!(s(&h.record(&gone).await, "status"), "active");
    h.age_missing(&gone).await;
    let run = h.reconcile().await;
    assert_eq!((run.counts.changed, run.counts.errors), (1, 0), "{run:?}");
    let rec = h.record(&gone).await;
    assert_eq!(s(&rec, "status"), "disconnected");
    assert!(
        s(&rec, "gsi1sk").starts_with('~'),
        "a disconnected record leaves the list (its sort key after the list's range)"
    );
    let (status, list) = h.list_connections("user-1").await;
    assert_eq!(status, 200);
    let listed: Vec<(&str, &str)> = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, vec![(expired.as_str(), "expired")]);

    // Idempotent: the next sweep finds nothing to change.
    let again = h.reconcile().await;
    assert_eq!(
        (again.counts.changed, again.counts.errors),
        (0, 0),
        "{again:?}"
    );
}

/// A record whose connection OFAuth never had (or deleted long ago): OFAuth
/// does not list it, and asked on its own does not know it.
#[tokio::test]
async fn a_record_without_an_ofauth_connection_is_marked_disconnected() {
    let h = Harness::new().await;
    let kept = h.connect("user-1", "").await;
    h.ddb
        .put_item()
        .table_name(&h.table)
        .item("pk", AttributeValue::S("CONNECTION#conn_ghost".into()))
        .item("entity", AttributeValue::S("connection".into()))
        .item("connectionId", AttributeValue::S("conn_ghost".into()))
        .item("userId", AttributeValue::S("user-1".into()))
        .item("status", AttributeValue::S("active".into()))
        .item("gsi1pk", AttributeValue::S("USER#user-1".into()))
        .item("gsi1sk", AttributeValue::S("2026-01-01T00:00:00Z".into()))
        .item(
            "connectedAt",
            AttributeValue::S("2026-01-01T00:00:00Z".into()),
        )
        .item(
            "updatedAt",
            AttributeValue::S("2026-01-01T00:00:00Z".into()),
        )
        .item("version", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    // Missing after one sweep, disconnected when the next confirms it.
    let run = h.reconcile().await;
    assert_eq!(
        (run.counts.changed, run.counts.missing, run.counts.errors),
        (0, 1, 0),
        "{run:?}"
    );
    assert_eq!(s(&h.record("conn_ghost").await, "status"), "active");
    h.age_missing("conn_ghost").await;
    let run = h.reconcile().await;
    assert_eq!((run.counts.changed, run.counts.errors), (1, 0), "{run:?}");
    assert_eq!(s(&h.record("conn_ghost").await, "status"), "disconnected");
    assert_eq!(s(&h.record(&kept).await, "status"), "active");
    // Asked about on its own only because the list did not show it.
    let asked = |id: &str| {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path == "/v2/access/self" && r.connection.as_deref() == Some(id))
            .count()
    };
    let kept_before = asked(&kept);
    // Twice by the sweeps, and perhaps once by the first run's pin (its
    // evidence asks the bound records in turn until OFAuth knows one).
    let ghost_asked = asked("conn_ghost");
    assert!((2..=3).contains(&ghost_asked), "{ghost_asked}");
    let run = h.reconcile().await;
    assert_eq!(run.counts.changed, 0, "{run:?}");
    assert_eq!(
        asked(&kept),
        kept_before,
        "a listed record is not asked about"
    );
    assert_eq!(
        asked("conn_ghost"),
        ghost_asked,
        "a disconnected record is left alone"
    );
}

/// A connection one of our attempts made that nobody owns: left alone while the
/// attempt could still bind it; reported after; disconnected at OFAuth after the
/// grace period (or only reported, per the setting). Connections of other apps
/// on the same OFAuth account, imported ones and another deployment's are
/// never touched.
#[tokio::test]
async fn unbound_connections_of_ours_are_reported_then_disconnected_and_others_left_alone() {
    let h = Harness::with(Options {
        session_ttl: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    // Abandoned after OFAuth made the connection: the browser never came back.
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let abandoned = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    // Not ours: another app's reference, another deployment's attempt id, imported.
    let others = ["conn_otherapp", "conn_otherdeploy", "conn_imported"];
    h.sim.insert_connection(others[0], Some("order-7781"));
    h.sim.insert_connection(
        others[1],
        Some("la_00000000000000000000000000000000000000ff"),
    );
    h.sim.insert_connection(others[2], None);

    // While the attempt can still bind it: not even reported.
    let disconnect_now = h.reconciler(settings(UnboundAction::Disconnect, 0, 100), 50);
    let run = h.reconcile_with(&disconnect_now).await;
    assert_eq!(
        (run.counts.reported, run.counts.disconnected),
        (0, 0),
        "{run:?}"
    );

    tokio::time::sleep(Duration::from_millis(3_100)).await; // the session is over
                                                            // Within the grace period, or set to report: reported only.
    for svc in [
        h.reconciler(settings(UnboundAction::Disconnect, 3_600, 100), 50),
        h.reconciler(settings(UnboundAction::Report, 0, 100), 50),
    ] {
        let run = h.reconcile_with(&svc).await;
        assert_eq!(
            (run.counts.reported, run.counts.disconnected),
            (1, 0),
            "{run:?}"
        );
        assert!(h.sim.connection(&abandoned).is_some());
    }
    assert_eq!(deletes_of(&h, &abandoned), 0);

    // After the grace period: disconnected at OFAuth (billing stops) and recorded.
    let run = h.reconcile_with(&disconnect_now).await;
    assert_eq!(
        (run.counts.reported, run.counts.disconnected),
        (1, 1),
        "{run:?}"
    );
    assert!(h.sim.connection(&abandoned).is_none());
    assert_eq!(deletes_of(&h, &abandoned), 1);
    let rec = h.record(&abandoned).await;
    assert_eq!(s(&rec, "status"), "disconnected");
    assert_eq!(s(&rec, "userId"), "");
    assert_eq!(s(&rec, "attestedAttemptId"), attempt);
    // Done once: the next sweep has nothing left to do.
    let run = h.reconcile_with(&disconnect_now).await;
    assert_eq!(
        (run.counts.reported, run.counts.disconnected),
        (0, 0),
        "{run:?}"
    );

    for other in others {
        assert!(
            h.sim.connection(other).is_some(),
            "{other} was disconnected"
        );
        assert_eq!(deletes_of(&h, other), 0, "{other}");
        assert!(
            h.item(&format!("CONNECTION#{other}")).await.is_none(),
            "{other} was recorded"
        );
    }
}

/// A page budget of one: each run reads one page and leaves a cursor; the
/// runs after it resume there until the sweep is done, and the result is the
/// same as one long run. Two runs at once: one works, the other finds the lease.
#[tokio::test]
async fn a_run_cut_short_by_its_page_budget_is_resumed() {
    let h = Harness::new().await;
    let mut conns = Vec::new();
    for user in ["user-1", "user-2", "user-3"] {
        conns.push(h.connect(user, "").await);
    }
    for (i, c) in conns.iter().enumerate() {
        h.sim
            .insert_connection(&format!("conn_foreign{i}"), Some("elsewhere"));
        assert!(h.sim.expire_connection(c)); // no webhooks: lost
    }
    let svc = h.reconciler(settings(UnboundAction::Disconnect, 0, 1), 2);
    let mut runs = Vec::new();
    loop {
        let run = h.reconcile_with(&svc).await;
        assert!(!run.busy && run.counts.errors == 0, "{run:?}");
        // The sweep's budget (the passes over new and expired connections have
        // their own).
        let sweep_pages = run.counts.pages - run.counts.recent_pages - run.counts.expired_pages;
        assert!(sweep_pages <= 1, "{run:?}");
        runs.push(run.clone());
        if run.sweep_done {
            break;
        }
        assert!(runs.len() < 20, "{runs:?}");
        let cursor = h.item("RECONCILE#cursor").await.unwrap();
        assert_ne!(s(&cursor, "phase"), "done");
    }
    // 6 listed connections in pages of 2 (the last one is seen empty-handed or
    // not), then at least one page of the table.
    assert!(runs.len() >= 4, "{runs:?}");
    assert_eq!(runs.iter().map(|r| r.counts.changed).sum::<u32>(), 3);
    for c in &conns {
        assert_eq!(s(&h.record(c).await, "status"), "expired", "{c}");
    }

    let h = Arc::new(h);
    let svc = Arc::new(h.reconciler(settings(UnboundAction::Disconnect, 0, 100), 2));
    let (a, b) = tokio::join!(
        {
            let (h, svc) = (h.clone(), svc.clone());
            async move { h.reconcile_with(&svc).await }
        },
        {
            let (h, svc) = (h.clone(), svc.clone());
            async move { h.reconcile_with(&svc).await }
        }
    );
    assert_eq!(
        [a.busy, b.busy].iter().filter(|b| **b).count(),
        1,
        "{a:?} {b:?}"
    );
    // The lease is released at the end of a run.
    assert!(!h.reconcile_with(&svc).await.busy);
}

/// A reconciler run and a webhook about the same connection at the same moment:
/// whichever lands first, the newer state (by OFAuth's clock) is what stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_racing_a_webhook_keeps_the_newer_state() {
    for round in 0..4 {
        let h = Arc::new(Harness::new().await);
        let conn = h.connect("user-1", "").await;
        // OFAuth expired it (webhook lost): the list says expired, at its updatedAt.
        assert!(h.sim.expire_connection(&conn));
        let expired_at =
            link_shared::time::parse_rfc3339_ms(&h.sim.connection(&conn).unwrap().updated_at)
                .unwrap();
        // Even rounds: a reconnect OFAuth reports 5 s after the expiry (newer);
        // odd rounds: an update from 5 s before it (older).
        let newer = round % 2 == 0;
        let at = if newer {
            expired_at + 5_000
        } else {
            expired_at - 5_000
        };
        let account = h.sim.connection(&conn).unwrap().user_id;
        let body = serde_json::json!({
            "id": format!("evt_race_{round}"), "type": "connection.updated",
            "timestamp": at,
            "data": { "connection": { "id": conn, "status": "active", "userData": { "id": account } } }
        })
        .to_string();
        let headers = signed_now(SignatureScheme::Ofauth, "", &body);
        let (run, delivered) = tokio::join!(
            {
                let h = h.clone();
                async move { h.reconcile().await }
            },
            {
                let h = h.clone();
                async move { h.deliver(&headers, &body).await.status().as_u16() }
            }
        );
        assert_eq!(
            (run.counts.errors, delivered),
            (0, 200),
            "round {round}: {run:?}"
        );
        let want = if newer { "active" } else { "expired" };
        assert_eq!(
            s(&h.record(&conn).await, "status"),
            want,
            "round {round}: the newer state"
        );
    }
}

/// The records of `n` connected users, and the harness.
async fn connected(n: usize) -> (Harness, Vec<String>) {
    let h = Harness::new().await;
    let mut conns = Vec::new();
    for i in 0..n {
        conns.push(h.connect(&format!("user-{i}"), "").await);
    }
    (h, conns)
}

/// Every record is as it was: active, not marked missing.
async fn untouched(h: &Harness, conns: &[String]) {
    for c in conns {
        let rec = h.record(c).await;
        assert_eq!(s(&rec, "status"), "active", "{c}");
        assert!(!rec.contains_key("missingSweep"), "{c} marked missing");
    }
}

/// A key rotated to another OFAuth account sees none of our connections, and
/// OFAuth does not know them under it: every record would look gone. The run
/// asks whose key it holds first, and changes nothing.
#[tokio::test]
async fn a_key_of_another_account_changes_nothing() {
    let (h, conns) = connected(3).await;
    // The first run sees (and keeps) the deployment's account.
    let run = h.reconcile().await;
    assert_eq!(run.halted, None, "{run:?}");
    h.sim.set_foreign_keys(&["sk_other_account"]);
    let wrong = link_shared::reconcile::ReconcileService::new(
        h.store.clone(),
        ofauth_client(&h.config, "sk_other_account"),
        wrong_settings(),
        50,
    );
    for _ in 0..3 {
        let run = h.reconcile_with(&wrong).await;
        assert_eq!(run.halted, Some(HaltReason::WrongAccount), "{run:?}");
        assert_eq!((run.counts.changed, run.counts.missing), (0, 0), "{run:?}");
    }
    untouched(&h, &conns).await;
    let asked = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/access/self" || r.path == "/v2/account/connections")
        .count();
    // Configured explicitly, the expected account wins over what a first run saw.
    let configured = link_shared::reconcile::ReconcileService::new(
        h.store.clone(),
        h.ofauth.clone(),
        ReconcileSettings {
            expected_account: Some("acct_someone_else".into()),
            ..wrong_settings()
        },
        50,
    );
    let run = h.reconcile_with(&configured).await;
    assert_eq!(run.halted, Some(HaltReason::WrongAccount), "{run:?}");
    let asked_after = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/access/self" || r.path == "/v2/account/connections")
        .count();
    assert_eq!(asked, asked_after, "a halted run read OFAuth's connections");
    // With the right key the sweep goes on.
    let run = h.reconcile().await;
    assert_eq!(run.halted, None, "{run:?}");
    untouched(&h, &conns).await;
}

fn wrong_settings() -> ReconcileSettings {
    settings(UnboundAction::Disconnect, 0, 100)
}

/// An incident at OFAuth: the list lags and `access/self` calls every
/// connection unknown. The page's share of unknown records trips the breaker:
/// nothing is changed, not even marked missing, and the run stops. With the
/// breaker off (100 %), the same sweep only marks them missing.
#[tokio::test]
async fn the_breaker_stops_a_run_that_finds_an_unusual_share_unknown() {
    let (h, conns) = connected(4).await;
    h.reconcile().await;
    h.sim.set_faults(Faults {
        list_hidden: true,
        status: Some(401),
        error_type: Some("SESSION_NOT_PROVIDED".into()),
        path_prefix: Some("/v2/access/self".into()),
        ..Faults::default()
    });
    for _ in 0..2 {
        let run = h.reconcile().await;
        assert_eq!(run.halted, Some(HaltReason::Breaker), "{run:?}");
        assert!(!run.sweep_done, "{run:?}");
        untouched(&h, &conns).await;
    }
    let off = h.reconciler(
        ReconcileSettings {
            breaker_percent: 100,
            ..wrong_settings()
        },
        50,
    );
    let run = h.reconcile_with(&off).await;
    assert_eq!((run.halted, run.counts.missing), (None, 4), "{run:?}");
    for c in &conns {
        assert_eq!(
            s(&h.record(c).await, "status"),
            "active",
            "missing is not final"
        );
    }
}

/// A record OFAuth does not know in one sweep and knows again in the next is
/// never disconnected: the missing mark comes off.
#[tokio::test]
async fn a_missing_record_that_comes_back_is_never_disconnected() {
    let (h, conns) = connected(3).await;
    h.reconcile().await;
    // OFAuth loses sight of one (not listed, unknown when asked) while it
    // shows the others: one unknown record, fewer than the breaker's minimum.
    h.sim.set_faults(Faults {
        unseen: vec![conns[0].clone()],
        ..Faults::default()
    });
    let run = h.reconcile().await;
    assert_eq!((run.halted, run.counts.missing), (None, 1), "{run:?}");
    assert!(h.record(&conns[0]).await.contains_key("missingSweep"));
    h.sim.set_faults(Faults::default());
    let run = h.reconcile().await;
    assert_eq!((run.counts.changed, run.counts.missing), (0, 0), "{run:?}");
    untouched(&h, &conns).await;
    let run = h.reconcile().await;
    assert_eq!(run.counts.changed, 0, "{run:?}");
    untouched(&h, &conns).await;
}

/// OFAuth's list names another OnlyFans account for most of a page's bound
/// connections at once: a change in how OFAuth names accounts, or an incident,
/// not a wave of swaps. The breaker keeps the run from invalidating them all.
#[tokio::test]
async fn the_breaker_also_stops_a_page_of_swapped_accounts() {
    let (h, conns) = connected(4).await;
    h.reconcile().await;
    for c in &conns {
        assert!(h.sim.swap_account(c));
    }
    let invalidations = || {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/invalidate"))
            .count()
    };
    let run = h.reconcile().await;
    assert_eq!(run.halted, Some(HaltReason::Breaker), "{run:?}");
    assert_eq!(invalidations(), 0);
    untouched(&h, &conns).await;
    // One swap alone is refused as any other leg refuses it.
    let (h, conns) = connected(4).await;
    h.reconcile().await;
    assert!(h.sim.swap_account(&conns[0]));
    let run = h.reconcile().await;
    assert_eq!(run.halted, None, "{run:?}");
    assert_eq!(s(&h.record(&conns[0]).await, "status"), "expired");
    assert_eq!(h.sim.connection(&conns[0]).unwrap().status, "expired");
    untouched(&h, &conns[1..]).await;
}

/// A user who finished while the callback's search could not see their
/// connection (more others connected in between than it reads) and whose
/// webhook was lost: the next run's pass over new connections finds their
/// attempt named on OFAuth's list and binds it, as the webhook would have.
#[tokio::test]
async fn a_verifying_attempt_whose_webhook_was_lost_is_bound_by_the_next_run() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Ofauth),
        ..Options::default()
    })
    .await;
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    // 150 others connect before the browser is back: past the 100 the
    // callback's and the completion's searches read.
    h.sim.preload(150);
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").unwrap();
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("verifying")),
        "{body}"
    );
    assert!(h.item(&format!("CONNECTION#{conn}")).await.is_none());

    let run = h.reconcile().await;
    assert!(run.recent_complete, "{run:?}");
    assert_eq!((run.counts.attested, run.counts.errors), (1, 0), "{run:?}");
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "userId"), "user-1");
    assert_eq!(s(&rec, "status"), "active");
    assert_eq!(s(&rec, "attestedAttemptId"), attempt);
    assert_eq!(s(&rec, "changeCause"), "reconciler");
    let (_, list) = h.list_connections("user-1").await;
    assert_eq!(list["connections"][0]["id"], conn.as_str());
    assert_eq!(list["connections"][0]["status"], "active");
    // The code now answers what is true.
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
    // Nothing more to attest, and nobody else's connection was touched.
    let again = h.reconcile().await;
    assert_eq!(
        (again.counts.attested, again.counts.errors),
        (0, 0),
        "{again:?}"
    );
    assert!(again.recent_complete, "{again:?}");
    assert_eq!(h.sim.connection_count(), 151, "nothing disconnected");
}

/// The pass over new connections binds nothing the list names unless that
/// attempt's user finished and waits: an attempt never completed (its user
/// never came back) leaves the connection unbound, reported as before.
#[tokio::test]
async fn the_list_binds_no_attempt_whose_user_did_not_finish() {
    let h = Harness::new().await;
    let (url, _attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    let run = h.reconcile().await;
    assert_eq!(run.counts.attested, 0, "{run:?}");
    let rec = h.item(&format!("CONNECTION#{conn}")).await;
    assert!(
        rec.as_ref().is_none_or(|r| !r.contains_key("userId")),
        "{rec:?}"
    );
}

/// A lost expiry of a connection deep in a large account is caught by the next
/// run, not when the sweep gets to it: each run reads OFAuth's `expired`
/// connections first. Here the sweep reads one page a run, and the account's
/// 300 newer connections stand between it and ours.
#[tokio::test]
async fn a_lost_expiry_deep_in_the_list_is_caught_by_the_next_run() {
    let h = Harness::new().await; // no webhooks: every change is lost
    let mut conns = Vec::new();
    for user in ["user-1", "user-2", "user-3"] {
        conns.push(h.connect(user, "").await);
    }
    // Imported long ago, listed before ours (newest first by creation).
    h.sim.preload(300);
    let svc = h.reconciler(settings(UnboundAction::Report, 0, 1), 50);
    let first = h.reconcile_with(&svc).await;
    assert!(first.recent_complete, "{first:?}");
    for c in &conns {
        assert!(h.sim.expire_connection(c));
    }
    let run = h.reconcile_with(&svc).await;
    assert_eq!((run.counts.changed, run.counts.errors), (3, 0), "{run:?}");
    assert_eq!(run.counts.expired_pages, 1, "{run:?}");
    assert!(
        run.counts.pages - run.counts.recent_pages - run.counts.expired_pages <= 1,
        "{run:?}"
    );
    assert!(!run.sweep_done, "the sweep is nowhere near ours: {run:?}");
    for c in &conns {
        assert_eq!(s(&h.record(c).await, "status"), "expired", "{c}");
    }
}
