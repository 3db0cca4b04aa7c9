//! The reconciler as a safety net nobody can switch off, against DynamoDB Local
//! and the simulator over HTTP: refused swaps, a wrong key on the first run,
//! small tables, an incident at OFAuth and repeated sightings never stop it or
//! fool it; and a disconnect or an erasure takes OFAuth's 404 as "already gone"
//! only under this deployment's key.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::helpers::*;
use link_shared::config::ReconcileSettings;
use link_shared::connections_api::ConnectionsService;
use link_shared::reconcile::{HaltReason, ReconcileService};
use ofauth_sim::{Faults, SignatureScheme, WebhookMode, ACCOUNT_ID, OTHER_ACCOUNT_ID};

const WAIT: Duration = Duration::from_secs(10);
const WRONG_KEY: &str = "sk_other_account";

/// A reconciler holding a key of another OFAuth account.
fn wrong_key(h: &Harness) -> ReconcileService {
    h.sim.set_foreign_keys(&[WRONG_KEY]);
    ReconcileService::new(
        h.store.clone(),
        ofauth_client(&h.config, WRONG_KEY),
        h.config.reconcile.clone(),
        h.config.list_search.page_size,
    )
}

/// The account the reconciler's cursor pinned ("" when none).
async fn pinned(h: &Harness) -> String {
    h.item("RECONCILE#cursor")
        .await
        .map(|c| s(&c, "ofauthAccountId"))
        .unwrap_or_default()
}

/// Every record of `conns` is active and not marked missing.
async fn untouched(h: &Harness, conns: &[String]) {
    for c in conns {
        let rec = h.record(c).await;
        assert_eq!(s(&rec, "status"), "active", "{c}");
        assert!(!rec.contains_key("missingSweep"), "{c} marked missing");
    }
}

async fn connected(h: &Harness, n: usize) -> Vec<String> {
    let mut conns = Vec::new();
    for i in 0..n {
        conns.push(h.connect(&format!("user-{i}"), "").await);
    }
    conns
}

fn drop_webhooks(h: &Harness) {
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
}

/// `user` reconnects `conn` and signs in to another OnlyFans account: refused
/// (expired, `account_mismatch`, invalidated at OFAuth), and OFAuth lists it
/// expired under the other account from then on.
async fn reconnect_with_the_wrong_login(h: &Harness, user: &str, conn: &str) {
    let (url, _) = h
        .start_attempt(user, &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    let query = h.hosted(&url, "approve?other_account=true").await;
    let back = h.callback(&query).await;
    assert_error_redirect(&back, "account_mismatch");
    let rec = h.record(conn).await;
    assert_eq!(s(&rec, "status"), "expired");
    assert_eq!(s(&rec, "changeCause"), "account_mismatch");
    assert_eq!(h.sim.connection(conn).unwrap().status, "expired");
}

fn invalidations(h: &Harness) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/invalidate"))
        .count()
}

/// An agency's staff reconnect three creators with the wrong login: each is
/// refused, and OFAuth lists them expired under the other account ever after.
/// They are decided: they never count toward the breaker, so the runs after go
/// on catching what webhooks lose (another user's expiry and disconnect, a
/// verifying user whose attestation was lost) within one run, and they are not
/// refused again run after run.
#[tokio::test]
async fn refused_swaps_never_stop_the_reconciler() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await;
    let conns = connected(&h, 5).await;
    h.sim.wait_for_deliveries(5, WAIT).await;
    for (i, c) in conns.iter().take(3).enumerate() {
        reconnect_with_the_wrong_login(&h, &format!("user-{i}"), c).await;
    }
    let first = h.reconcile().await;
    assert_eq!(first.halted, None, "{first:?}");
    let refused = invalidations(&h);

    // Webhooks are lost from here on.
    drop_webhooks(&h);
    assert!(h.sim.expire_connection(&conns[3]));
    assert!(h.sim.disconnect_connection(&conns[4]));
    let (url, attempt) = h.start_attempt("user-5", "").await;
    let query = h.hosted(&url, "approve").await;
    let verifying = param(&query, "connection_id");
    h.sim.preload(150); // past what the callback's and completion's searches read
    let code = query_param(&h.return_to_app(&query).await, "code").unwrap();
    let (status, body) = h.complete_code("user-5", &code).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("verifying")));

    for round in 0..3 {
        let run = h.reconcile().await;
        assert_eq!(run.halted, None, "round {round}: {run:?}");
        assert_eq!(s(&h.record(&conns[3]).await, "status"), "expired");
        let rec = h.record(&verifying).await;
        assert_eq!(
            (s(&rec, "userId").as_str(), s(&rec, "status").as_str()),
            ("user-5", "active")
        );
        assert_eq!(s(&rec, "attestedAttemptId"), attempt);
        let gone = h.record(&conns[4]).await;
        if round == 0 {
            // Missing after one sweep, disconnected after a later one.
            assert!(gone.contains_key("missingSweep"), "{gone:?}");
            h.age_missing(&conns[4]).await;
        } else {
            assert_eq!(s(&gone, "status"), "disconnected");
        }
        for c in &conns[..3] {
            assert_eq!(s(&h.record(c).await, "status"), "expired");
        }
    }
    assert_eq!(
        invalidations(&h),
        refused,
        "a decided swap was refused again"
    );
}

/// A second expiry and a second swap of the same connection, while OFAuth's
/// list gives no `updatedAt`: each is applied (a sighting's id is the run's,
/// not a constant), and replaying what was applied changes nothing.
#[tokio::test]
async fn a_second_expiry_and_a_second_swap_are_applied() {
    let h = Harness::new().await; // no webhooks: every change is lost
    h.sim.set_faults(Faults {
        list_without_updated_at: true,
        ..Faults::default()
    });
    let conns = connected(&h, 4).await;
    let (expiring, swapping) = (&conns[0], &conns[1]);
    let accounts: Vec<String> = conns[..2]
        .iter()
        .map(|c| h.sim.connection(c).unwrap().user_id)
        .collect();
    h.reconcile().await;
    for round in 0..2 {
        assert!(h.sim.expire_connection(expiring));
        assert!(h.sim.swap_account(swapping));
        let run = h.reconcile().await;
        assert_eq!(run.halted, None, "round {round}: {run:?}");
        assert_eq!(s(&h.record(expiring).await, "status"), "expired");
        let rec = h.record(swapping).await;
        assert_eq!(s(&rec, "status"), "expired", "round {round}");
        assert_eq!(s(&rec, "changeCause"), "account_mismatch");
        assert_eq!(h.sim.connection(swapping).unwrap().status, "expired");
        // Replayed: nothing more.
        let again = h.reconcile().await;
        assert_eq!(again.counts.changed, 0, "round {round}: {again:?}");
        // Their owners reconnect (the right login), for the next round.
        reconnect(&h, "user-0", expiring, &accounts[0]).await;
        reconnect(&h, "user-1", swapping, &accounts[1]).await;
    }
    untouched(&h, &conns[2..]).await;
}

/// `user` reconnects `conn` signing in to `account` (their own).
async fn reconnect(h: &Harness, user: &str, conn: &str, account: &str) {
    let body = format!(r#"{{"connectionId":"{conn}"}}"#);
    let url = h.start(user, &body).await;
    let query = h.hosted(&url, &format!("approve?account={account}")).await;
    let (status, done) = h.return_and_complete(user, &query).await;
    assert_eq!(
        (status, done["status"].as_str()),
        (200, Some("active")),
        "{done}"
    );
    assert_eq!(s(&h.record(conn).await, "status"), "active");
}

/// A fresh deployment, `OFAuthAccountId` empty, whose reconciler's first runs
/// hold a key of another OFAuth account: on a table of 1, 2 or 30 bound
/// connections, nothing is pinned, read as gone or changed (`unpinned`), run
/// after run; the first run after the key is fixed pins the right account and
/// reconciles normally, and the wrong key after that is `wrong_account`.
#[tokio::test]
async fn a_wrong_key_on_the_first_run_loses_nothing() {
    for n in [1, 2, 30] {
        let h = Harness::new().await;
        let conns = connected(&h, n).await;
        let wrong = wrong_key(&h);
        for _ in 0..3 {
            let run = h.reconcile_with(&wrong).await;
            assert_eq!(run.halted, Some(HaltReason::Unpinned), "{n}: {run:?}");
            assert_eq!((run.counts.changed, run.counts.missing), (0, 0), "{run:?}");
        }
        assert_eq!(pinned(&h).await, "", "{n}: a wrong key was pinned");
        untouched(&h, &conns).await;

        // The key is fixed: no one edits an item.
        let run = h.reconcile().await;
        assert_eq!(run.halted, None, "{n}: {run:?}");
        assert!(run.sweep_done, "{n}: {run:?}");
        assert_eq!(pinned(&h).await, ACCOUNT_ID);
        untouched(&h, &conns).await;
        // A lost expiry is caught, as on any run.
        assert!(h.sim.expire_connection(&conns[0]));
        let run = h.reconcile().await;
        assert_eq!((run.halted, run.counts.changed), (None, 1), "{n}: {run:?}");

        let run = h.reconcile_with(&wrong).await;
        assert_eq!(run.halted, Some(HaltReason::WrongAccount), "{n}: {run:?}");
        assert_eq!(pinned(&h).await, ACCOUNT_ID);
        untouched(&h, &conns[1..]).await;
    }
}

/// A pin an earlier version took from a wrong key (it pinned whatever the
/// first run's key was) gives way to the right key by itself; the right pin
/// never gives way to a wrong key.
#[tokio::test]
async fn a_wrong_pin_gives_way_to_the_right_key() {
    let h = Harness::new().await;
    let conns = connected(&h, 3).await;
    h.reconcile().await;
    h.set(
        "RECONCILE#cursor",
        "ofauthAccountId",
        AttributeValue::S(OTHER_ACCOUNT_ID.into()),
    )
    .await;
    let run = h.reconcile().await;
    assert_eq!(run.halted, None, "{run:?}");
    assert_eq!(pinned(&h).await, ACCOUNT_ID);
    let run = h.reconcile_with(&wrong_key(&h)).await;
    assert_eq!(run.halted, Some(HaltReason::WrongAccount), "{run:?}");
    assert_eq!(pinned(&h).await, ACCOUNT_ID);
    untouched(&h, &conns).await;
}

/// An incident at OFAuth hides every connection of a table of one or two (not
/// listed, unknown when asked): too few for the breaker's share, but OFAuth
/// shows the run none of the deployment's connections, so nothing is marked
/// missing or disconnected, run after run; once OFAuth is back, runs go on by
/// themselves. A record really gone beside one OFAuth still shows is marked
/// missing, then disconnected, as on any table.
#[tokio::test]
async fn an_incident_on_a_small_table_loses_nothing() {
    for n in [1, 2] {
        let h = Harness::new().await;
        let conns = connected(&h, n).await;
        h.reconcile().await;
        h.sim.set_faults(Faults {
            unseen: conns.clone(),
            ..Faults::default()
        });
        for _ in 0..3 {
            let run = h.reconcile().await;
            assert_eq!(run.halted, Some(HaltReason::Breaker), "{n}: {run:?}");
            assert_eq!((run.counts.changed, run.counts.missing), (0, 0), "{run:?}");
        }
        untouched(&h, &conns).await;
        h.sim.set_faults(Faults::default());
        let run = h.reconcile().await;
        assert_eq!((run.halted, run.counts.changed), (None, 0), "{n}: {run:?}");
        untouched(&h, &conns).await;
    }
    let h = Harness::new().await;
    let conns = connected(&h, 2).await;
    h.reconcile().await;
    assert!(h.sim.disconnect_connection(&conns[0]));
    let run = h.reconcile().await;
    assert_eq!((run.halted, run.counts.missing), (None, 1), "{run:?}");
    h.age_missing(&conns[0]).await;
    h.reconcile().await;
    assert_eq!(s(&h.record(&conns[0]).await, "status"), "disconnected");
    untouched(&h, &conns[1..]).await;
}

/// A page whose bound connections mostly show another account trips the
/// breaker in the pass over new connections; the run's other passes do not
/// depend on that page and go on: a lost expiry is caught in the same run.
#[tokio::test]
async fn a_tripped_page_does_not_stop_the_other_passes() {
    let h = Harness::new().await;
    h.reconcile().await; // the pass over new connections has its mark
    let conns = connected(&h, 5).await;
    for c in &conns[..4] {
        assert!(h.sim.swap_account(c));
    }
    assert!(h.sim.expire_connection(&conns[4]));
    let run = h.reconcile().await;
    assert_eq!(run.halted, Some(HaltReason::Breaker), "{run:?}");
    assert_eq!(
        s(&h.record(&conns[4]).await, "status"),
        "expired",
        "{run:?}"
    );
    untouched(&h, &conns[..4]).await;
    assert_eq!(invalidations(&h), 0);
}

/// A disconnect or an erasure whose key OFAuth does not know the connection
/// under: the 404 is "already gone" only when the key is this deployment's
/// account's. Under another account's key the user gets an error, and the
/// record and OFAuth's connection stay as they were; under the right key (the
/// pinned account, or `OFAUTH_ACCOUNT_ID`) a connection really gone at OFAuth
/// is marked disconnected.
#[tokio::test]
async fn a_404_is_already_gone_only_under_the_deployments_key() {
    let h = Harness::new().await;
    let conn = h.connect("user-1", "").await;
    h.reconcile().await; // pins the account
    h.sim.set_foreign_keys(&[WRONG_KEY]);
    let wrong = ConnectionsService::new(
        &h.config,
        h.store.clone(),
        ofauth_client(&h.config, WRONG_KEY),
    );
    let path = format!("/link/connections/{conn}");
    let req = api_event("DELETE", &path, Some("user-1"), "", &[], Some(&conn));
    let resp = link_shared::connections_api::handle(req, &wrong).await;
    assert_eq!(resp.status(), 502, "{}", body_text(&resp));
    assert_eq!(json_body(&resp)["error"], "ofauth_rejected");
    let req = api_event("DELETE", "/link/me", Some("user-1"), "", &[], None);
    let resp = link_shared::connections_api::handle(req, &wrong).await;
    assert_eq!(resp.status(), 502, "{}", body_text(&resp));
    let rec = h.record(&conn).await;
    assert_eq!(
        (s(&rec, "status").as_str(), s(&rec, "userId").as_str()),
        ("active", "user-1")
    );
    assert_eq!(h.sim.connection(&conn).unwrap().status, "active");

    // Gone at OFAuth (its webhook lost): under the pinned account's key the
    // 404 is taken as done.
    assert!(h.sim.disconnect_connection(&conn));
    assert_eq!(h.disconnect("user-1", &conn).await.status(), 204);
    assert_eq!(s(&h.record(&conn).await, "status"), "disconnected");

    // Nothing pinned yet and OFAUTH_ACCOUNT_ID unset: not taken as gone.
    let h = Harness::new().await;
    let conn = h.connect("user-1", "").await;
    assert!(h.sim.disconnect_connection(&conn));
    assert_eq!(h.disconnect("user-1", &conn).await.status(), 502);
    assert_eq!(s(&h.record(&conn).await, "status"), "active");
    // OFAUTH_ACCOUNT_ID set: taken as gone, by the erasure too.
    let h = Harness::with(Options {
        env: vec![("OFAUTH_ACCOUNT_ID", ACCOUNT_ID.to_string())],
        ..Options::default()
    })
    .await;
    let conn = h.connect("user-1", "").await;
    assert!(h.sim.disconnect_connection(&conn));
    let (status, body) = h.erase("user-1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s(&h.record(&conn).await, "status"), "disconnected");
}

/// The breaker's settings reach it as configured: 100 turns it off, and then
/// the same incident only marks records missing (not final).
#[tokio::test]
async fn with_the_breaker_off_an_incident_only_marks_records_missing() {
    let h = Harness::new().await;
    let conns = connected(&h, 4).await;
    h.reconcile().await;
    h.sim.set_faults(Faults {
        unseen: conns[..3].to_vec(),
        ..Faults::default()
    });
    let run = h.reconcile().await;
    assert_eq!(
        (run.halted, run.counts.missing),
        (Some(HaltReason::Breaker), 0)
    );
    let off = h.reconciler(
        ReconcileSettings {
            breaker_percent: 100,
            ..h.config.reconcile.clone()
        },
        50,
    );
    let run = h.reconcile_with(&off).await;
    assert_eq!((run.halted, run.counts.missing), (None, 3), "{run:?}");
    h.sim.set_faults(Faults::default());
    let run = h.reconcile().await;
    assert_eq!(run.counts.changed, 0, "{run:?}");
    untouched(&h, &conns).await;
}

/// A trip's log line says why and names the records that tripped it (masked),
/// so an operator can look at exactly those; a halt for an unpinned key says
/// to set `OFAUTH_ACCOUNT_ID`. In a process of its own: the log capture is the
/// process's global subscriber.
#[test]
fn a_trip_names_its_records_and_why() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(a_trip_names_its_records_and_why),
        rusty_fork::rusty_fork_id!(),
        || block_on(trip_logs()),
    );
}

async fn trip_logs() {
    let capture = LogCapture::install();
    let h = Harness::new().await;
    let conns = connected(&h, 2).await;
    h.reconcile().await;
    h.sim.set_faults(Faults {
        unseen: conns.clone(),
        ..Faults::default()
    });
    h.reconcile().await;
    let trip = capture
        .text()
        .lines()
        .find(|l| l.contains(r#""reason":"breaker""#))
        .expect("a trip's line")
        .to_string();
    assert!(trip.contains(r#""why":"unseen""#), "{trip}");
    for c in &conns {
        let masked = link_shared::ids::ConnectionId::parse(c).unwrap().masked();
        assert!(trip.contains(&masked), "{masked} not named: {trip}");
        assert!(!trip.contains(c.as_str()), "a whole id: {trip}");
    }
    let fresh = Harness::new().await;
    fresh.connect("user-0", "").await;
    fresh.reconcile_with(&wrong_key(&fresh)).await;
    let unpinned = capture
        .text()
        .lines()
        .find(|l| l.contains(r#""reason":"unpinned""#))
        .expect("an unpinned line")
        .to_string();
    assert!(unpinned.contains("OFAUTH_ACCOUNT_ID"), "{unpinned}");
}

/// More reconnects than half a run can check (OFAuth slow): the run stops
/// checking them at half its time, and its other passes still run (a lost
/// expiry is caught in the same run); the next run goes on where it stopped,
/// so every reconnect is checked once before any is checked twice, and a swap
/// among them is found. No one's reconnects keep anyone else's waiting.
#[tokio::test]
async fn many_reconnects_neither_starve_the_run_nor_hide_one() {
    let h = Harness::new().await; // no webhooks: every change is lost
    let conns = connected(&h, 13).await;
    h.sim.preload(300); // the sweep (a page a run) is nowhere near ours
    let svc = h.reconciler(
        ReconcileSettings {
            max_pages: 1,
            ..h.config.reconcile.clone()
        },
        50,
    );
    h.reconcile_with(&svc).await;
    for (i, c) in conns[..12].iter().enumerate() {
        h.start_attempt(
            &format!("user-{i}"),
            &format!(r#"{{"connectionId":"{c}"}}"#),
        )
        .await;
    }
    let swapped = &conns[7];
    assert!(h.sim.swap_account(swapped));
    assert!(h.sim.expire_connection(&conns[12]));
    h.sim.set_faults(Faults {
        latency_ms: 400,
        path_prefix: Some("/v2/access/self".into()),
        ..Faults::default()
    });
    let asked = || {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path == "/v2/access/self")
            .filter_map(|r| r.connection.clone())
            .collect::<Vec<_>>()
    };
    let before = asked().len();
    let mut order: Vec<String> = Vec::new();
    for run_no in 0..12 {
        // 19 s: 4 s of work before the run's 15 s margin, half for reconnects.
        let run = svc
            .run(std::time::Instant::now() + Duration::from_secs(19))
            .await
            .unwrap();
        let now = asked();
        let this_run = &now[before + order.len()..];
        assert!(
            !this_run.is_empty(),
            "run {run_no} checked nothing: {run:?}"
        );
        order.extend(this_run.iter().cloned());
        if run_no == 0 {
            assert!(run.counts.reconnects < 12, "{run:?}");
            assert_eq!(
                s(&h.record(&conns[12]).await, "status"),
                "expired",
                "the expired pass ran: {run:?}"
            );
        }
        if order.len() >= 12 {
            break;
        }
    }
    let first12: std::collections::HashSet<&String> = order.iter().take(12).collect();
    assert_eq!(
        first12.len(),
        12,
        "one checked twice before all were: {order:?}"
    );
    let rec = h.record(swapped).await;
    assert_eq!(s(&rec, "status"), "expired");
    assert_eq!(s(&rec, "changeCause"), "account_mismatch");
}

/// A refused swap whose invalidation at OFAuth failed (OFAuth down at that
/// moment) is invalidated by the reconciler once OFAuth answers: the record
/// holds the swap already, but OFAuth still shows the other account live, and
/// that is remedied every run until it is not (no new security event).
#[tokio::test]
async fn a_refused_swap_whose_invalidation_failed_is_invalidated_later() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await;
    let conns = connected(&h, 6).await;
    h.sim.wait_for_deliveries(6, WAIT).await;
    // Two of them expired first (their owners reconnect them), two active.
    for c in &conns[..2] {
        assert!(h.sim.expire_connection(c));
    }
    h.sim.wait_for_deliveries(8, WAIT).await;
    h.sim.set_faults(Faults {
        status: Some(500),
        path_prefix: Some("/v2/account/connections/conn".into()),
        ..Faults::default()
    });
    for (i, c) in conns[..4].iter().enumerate() {
        let (url, _) = h
            .start_attempt(
                &format!("user-{i}"),
                &format!(r#"{{"connectionId":"{c}"}}"#),
            )
            .await;
        let query = h.hosted(&url, "approve?other_account=true").await;
        assert_error_redirect(&h.callback(&query).await, "account_mismatch");
        let rec = h.record(c).await;
        assert_eq!(s(&rec, "changeCause"), "account_mismatch");
        assert_eq!(
            h.sim.connection(c).unwrap().status,
            "active",
            "not invalidated yet"
        );
    }
    // The reconciler runs while OFAuth still fails the invalidation, then
    // after.
    let run = h.reconcile().await;
    assert_eq!(run.halted, None, "{run:?}");
    h.sim.set_faults(Faults::default());
    let run = h.reconcile().await;
    assert_eq!(run.halted, None, "{run:?}");
    for c in &conns[..4] {
        assert_eq!(
            h.sim.connection(c).unwrap().status,
            "expired",
            "{c}: {run:?}"
        );
        assert_eq!(s(&h.record(c).await, "status"), "expired");
    }
    untouched(&h, &conns[4..]).await;
}

/// Records whose connections are gone at OFAuth (their webhooks lost) do not
/// keep the right key from being pinned: one of ours that OFAuth knows is
/// proof enough, from the sample or, when the whole sample is gone, from the
/// key's list (a connection an attempt of ours made). The ghosts are then
/// caught as any lost disconnect is.
#[tokio::test]
async fn records_gone_at_ofauth_do_not_keep_the_right_key_unpinned() {
    // Five bound, two of them gone at OFAuth.
    let h = Harness::new().await;
    let conns = connected(&h, 5).await;
    for c in &conns[..2] {
        assert!(h.sim.disconnect_connection(c));
    }
    let run = h.reconcile().await;
    assert_eq!((run.halted, run.counts.missing), (None, 2), "{run:?}");
    assert_eq!(pinned(&h).await, ACCOUNT_ID);

    // One bound and gone; an abandoned flow's connection is on the list.
    let h = Harness::new().await;
    let ghost = h.connect("user-0", "").await;
    assert!(h.sim.disconnect_connection(&ghost));
    let url = h.start("user-9", "").await;
    h.hosted(&url, "approve").await; // never comes back
    let run = h.reconcile().await;
    assert_eq!(pinned(&h).await, ACCOUNT_ID, "{run:?}");
    // (Its one bound record, unknown to OFAuth with none of the deployment's
    // others to vouch, is the small-table case: not believed, the breaker
    // names it; docs/operations.md.)
    assert_eq!(run.halted, Some(HaltReason::Breaker), "{run:?}");
    assert_eq!(s(&h.record(&ghost).await, "status"), "active");

    // One bound and gone, nothing of ours on the list: nothing shows whose
    // key it is (a wrong key looks the same), so it says so and changes
    // nothing, until OFAUTH_ACCOUNT_ID is set.
    let h = Harness::new().await;
    let ghost = h.connect("user-0", "").await;
    assert!(h.sim.disconnect_connection(&ghost));
    let run = h.reconcile().await;
    assert_eq!(run.halted, Some(HaltReason::Unpinned), "{run:?}");
    let configured = h.reconciler(
        ReconcileSettings {
            expected_account: Some(ACCOUNT_ID.into()),
            ..h.config.reconcile.clone()
        },
        50,
    );
    let run = h.reconcile_with(&configured).await;
    assert_ne!(run.halted, Some(HaltReason::Unpinned), "{run:?}");
    assert_ne!(run.halted, Some(HaltReason::WrongAccount), "{run:?}");
}

/// Unbound connections (flows anyone can start and abandon) neither vouch
/// that OFAuth still sees a small deployment's connections nor dilute the
/// breaker's share: an incident hiding every bound connection changes
/// nothing, with 2 bound and an abandoned flow, or 5 bound and 25.
#[tokio::test]
async fn abandoned_flows_neither_vouch_for_nor_dilute_the_breaker() {
    for (bound, abandoned) in [(2, 1), (5, 25)] {
        let h = Harness::new().await;
        let conns = connected(&h, bound).await;
        for i in 0..abandoned {
            let url = h.start(&format!("mallory-{}", i % 9), "").await;
            h.hosted(&url, "approve").await;
        }
        h.reconcile().await;
        h.sim.set_faults(Faults {
            unseen: conns.clone(),
            ..Faults::default()
        });
        for _ in 0..2 {
            let run = h.reconcile().await;
            assert_eq!(run.halted, Some(HaltReason::Breaker), "{bound}: {run:?}");
            for c in &conns {
                h.age_missing(c).await; // were any marked, make them confirmable
            }
        }
        for c in &conns {
            let rec = h.record(c).await;
            assert_eq!(s(&rec, "status"), "active", "{bound}/{abandoned}: {c}");
        }
    }
}

/// A right pin never gives way to a key that merely has nothing to show (no
/// bound, live record to ask about, nothing of ours on its list).
#[tokio::test]
async fn a_right_pin_never_gives_way_to_a_key_with_nothing_to_show() {
    let h = Harness::new().await;
    let conn = h.connect("user-0", "").await;
    h.reconcile().await;
    assert_eq!(pinned(&h).await, ACCOUNT_ID);
    assert_eq!(h.disconnect("user-0", &conn).await.status(), 204);
    let run = h.reconcile_with(&wrong_key(&h)).await;
    assert_eq!(run.halted, Some(HaltReason::WrongAccount), "{run:?}");
    assert_eq!(pinned(&h).await, ACCOUNT_ID);
}
