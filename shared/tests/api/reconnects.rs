//! Reconnects whose quick legs are taken away (the trust model's third pass),
//! against DynamoDB Local and the simulator over HTTP. Mallory starts a
//! reconnect of her own connection and moves its attempt on before anyone signs
//! in (she completes it at once in the popup form, or ends it with a forged
//! cancel), then hands its Link URL to a victim, who signs in to their own
//! OnlyFans account there. OFAuth's webhook of it is lost. Whichever of the
//! other legs is left sees the victim's account and refuses it: the victim's
//! browser coming back (checked whatever the attempt's state), or, when that is
//! lost too, the reconciler's own check of every reconnect.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::helpers::*;
use ofauth_sim::{Faults, SignatureScheme, WebhookMode};

const WAIT: Duration = Duration::from_secs(10);
const PROFILE: [&str; 4] = ["accountId", "username", "name", "avatar"];

async fn with_webhooks() -> Harness {
    Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await
}

/// Mallory's connection (its `connection.created` delivered), and her
/// reconnect's hosted URL and attempt.
async fn mallory_reconnects(h: &Harness) -> (String, String, String) {
    let conn = h.connect("mallory", "").await;
    h.sim.wait_for_deliveries(1, WAIT).await;
    let (url, attempt) = h
        .start_attempt("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    (conn, url, attempt)
}

/// How Mallory moves her reconnect's attempt on before anyone signs in.
#[derive(Debug, Clone, Copy)]
enum EarlyMove {
    /// The popup form's completion, at once: OFAuth has re-authenticated
    /// nothing yet, so the attempt waits (202 verifying).
    Completed,
    /// A forged `status=cancelled` callback on her own attempt.
    Cancelled,
}

async fn move_on(h: &Harness, how: EarlyMove, conn: &str, attempt: &str) {
    match how {
        EarlyMove::Completed => {
            let (status, body) = h.complete_embed("mallory", attempt, conn).await;
            assert_eq!(
                (status, body["status"].as_str()),
                (202, Some("verifying")),
                "a reconnect OFAuth has not re-authenticated is not done: {body}"
            );
        }
        EarlyMove::Cancelled => {
            let cancel = format!("status=cancelled&step=login&client_reference_id={attempt}");
            assert!(location(&h.callback(&cancel).await).contains("status=cancelled"));
        }
    }
}

/// The victim signs in to their own account on the URL; OFAuth's webhook of it
/// is lost. The query their browser is sent back with.
async fn victim_signs_in_webhook_lost(h: &Harness, url: &str, conn: &str) -> String {
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    let query = h.hosted(url, "approve?other_account=true").await;
    let swapped = h.sim.connection(conn).unwrap();
    assert_eq!(
        swapped.status, "active",
        "OFAuth holds the victim's session"
    );
    query
}

/// The owner's record is as it was but for its status (expired: another
/// account is on it), OFAuth's connection is invalidated, and Mallory's list
/// shows it expired.
async fn refused(h: &Harness, conn: &str, before: &HashMap<String, AttributeValue>) {
    let rec = h.record(conn).await;
    for attr in PROFILE.iter().chain(&["userId", "connectedAt"]) {
        assert_eq!(s(&rec, attr), s(before, attr), "{attr} changed");
    }
    assert_eq!(s(&rec, "status"), "expired", "listed active for Mallory");
    assert_eq!(s(&rec, "changeCause"), "account_mismatch");
    assert_eq!(
        h.sim.connection(conn).unwrap().status,
        "expired",
        "not invalidated"
    );
    let (_, list) = h.list_connections("mallory").await;
    assert_eq!(list["connections"][0]["status"], "expired", "{list}");
}

#[tokio::test]
async fn the_victims_return_is_checked_whatever_the_attempts_state() {
    for how in [EarlyMove::Completed, EarlyMove::Cancelled] {
        let h = with_webhooks().await;
        let (conn, url, attempt) = mallory_reconnects(&h).await;
        let before = h.record(&conn).await;
        move_on(&h, how, &conn, &attempt).await;
        let query = victim_signs_in_webhook_lost(&h, &url, &conn).await;
        // The victim's browser (not Mallory's) comes back.
        let victim = Browser::default();
        let back = h.callback_in(&victim, &query).await;
        assert_error_redirect(&back, "account_mismatch");
        refused(&h, &conn, &before).await;
        // Mallory's own completion, tried again, gets nothing usable either.
        let (_, body) = h.complete_embed("mallory", &attempt, &conn).await;
        assert_ne!(body["status"], "active", "{how:?}: {body}");
    }
}

#[tokio::test]
async fn the_reconciler_checks_every_reconnect_when_both_quick_legs_are_lost() {
    for how in [EarlyMove::Completed, EarlyMove::Cancelled] {
        let h = with_webhooks().await;
        let (conn, url, attempt) = mallory_reconnects(&h).await;
        let before = h.record(&conn).await;
        move_on(&h, how, &conn, &attempt).await;
        victim_signs_in_webhook_lost(&h, &url, &conn).await;
        // Neither the webhook nor the victim's browser ever arrives; the sweep
        // is nowhere near the connection (a large table): the reconciler's
        // check of the reconnect finds the victim's account within one run.
        let checks = || {
            h.sim
                .requests()
                .iter()
                .filter(|r| r.path == "/v2/access/self" && r.connection.as_deref() == Some(&conn))
                .count()
        };
        let before_run = checks();
        let run = h.reconcile().await;
        assert_eq!(run.counts.errors, 0, "{how:?}: {run:?}");
        assert!(run.counts.reconnects >= 1, "{how:?}: {run:?}");
        refused(&h, &conn, &before).await;
        assert!(checks() - before_run >= 1);
        // It was the reconnects' own check (the run's second step, before any
        // pass over OFAuth's list) that saw it: its sighting is recorded.
        let own: Vec<_> = h
            .items_of("event")
            .await
            .into_iter()
            .filter(|i| s(i, "pk").starts_with(&format!("EVENT#reconcile:reconnect:{attempt}:")))
            .collect();
        assert_eq!(own.len(), 1, "{how:?}");
    }
}

#[tokio::test]
async fn a_reconnect_is_done_once_ofauth_attests_this_attempt() {
    // Mallory reconnects her own account: her completion waits until OFAuth's
    // webhook naming the attempt lands, which completes it; the attempt is not
    // listed a second time meanwhile.
    let h = with_webhooks().await;
    let (conn, url, attempt) = mallory_reconnects(&h).await;
    h.sim.expire_connection(&conn);
    h.sim.wait_for_deliveries(2, WAIT).await;
    assert_eq!(s(&h.record(&conn).await, "status"), "expired");
    h.withhold_attestation();
    let query = h.hosted(&url, "approve").await;
    let (status, body) = h.return_and_complete("mallory", &query).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("verifying")),
        "{body}"
    );
    let (_, list) = h.list_connections("mallory").await;
    assert_eq!(
        listed(&list),
        vec![conn.clone()],
        "listed twice while it waits: {list}"
    );
    h.sim.set_faults(Faults::default());
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(3, WAIT).await;
    let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
    assert_eq!(s(&a, "status"), "completed");
    assert_eq!(s(&h.record(&conn).await, "status"), "active");
    let (status, body) = h.complete_embed("mallory", &attempt, &conn).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
}

#[tokio::test]
async fn a_reconnects_return_checks_are_bounded() {
    // The victim's callback URL replayed over and over (or Mallory's own) costs
    // at most MAX_RECONNECT_CHECKS OFAuth calls for the attempt.
    let h = with_webhooks().await;
    let (conn, url, attempt) = mallory_reconnects(&h).await;
    move_on(&h, EarlyMove::Cancelled, &conn, &attempt).await;
    h.sim.set_webhook_mode(WebhookMode {
        drop: true,
        ..WebhookMode::default()
    });
    // The same account again: nothing to refuse, each return only checked.
    let query = h.hosted(&url, "approve").await;
    let checks = || {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path == "/v2/access/self" && r.connection.as_deref() == Some(&conn))
            .count()
    };
    let before = checks();
    for _ in 0..15 {
        assert_error_redirect(
            &h.callback_in(&Browser::default(), &query).await,
            "invalid_state",
        );
    }
    let max = link_shared::store::MAX_RECONNECT_CHECKS as usize;
    assert_eq!(checks() - before, max);
}
