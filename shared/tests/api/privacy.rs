//! Personal data has a lifecycle, against DynamoDB Local and the simulator over
//! HTTP: an erasure (`DELETE /link/me`) disconnects the user's connections at
//! OFAuth first and keeps only an audit trail, never touches a connection a
//! forged claim names, and is idempotent; the reconciler takes the account's
//! personal fields off records disconnected or expired past the retention.

use std::time::Duration;

use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;
use ofauth_sim::{Faults, SignatureScheme, WebhookMode};

const PERSONAL: [&str; 4] = ["accountId", "username", "name", "avatar"];
const WAIT: Duration = Duration::from_secs(10);

/// Every attribute of `item`, keys included, as text (nested values too).
fn texts(v: &AttributeValue, out: &mut Vec<String>) {
    match v {
        AttributeValue::S(s) | AttributeValue::N(s) => out.push(s.clone()),
        AttributeValue::Ss(l) | AttributeValue::Ns(l) => out.extend(l.iter().cloned()),
        AttributeValue::L(l) => l.iter().for_each(|v| texts(v, out)),
        AttributeValue::M(m) => m.iter().for_each(|(k, v)| {
            out.push(k.clone());
            texts(v, out)
        }),
        _ => {}
    }
}

/// Issue 33: after an erasure, the user id is nowhere in the table: not in a
/// key (the rate-limit windows, the erasure barrier, the index's keys), not in
/// an attribute of a record, attempt, marker or event.
#[tokio::test]
async fn after_an_erasure_the_user_id_is_nowhere_in_the_table() {
    let h = Harness::with(Options {
        env: vec![
            ("SESSION_RATE_LIMIT", "100".into()),
            ("COMPLETE_RATE_LIMIT", "100".into()),
        ],
        ..Options::default()
    })
    .await;
    let user = unique("erin");
    let kept = h.connect(&user, "{}").await;
    let gone = h.connect(&user, "{}").await;
    assert_eq!(h.disconnect(&user, &gone).await.status(), 204);
    h.start_attempt(&user, "{}").await; // in flight when the erasure comes
    h.start_attempt(&user, &format!(r#"{{"connectionId":"{kept}"}}"#))
        .await;
    let before: Vec<String> = h
        .items()
        .await
        .iter()
        .flat_map(|item| {
            let mut out = Vec::new();
            item.iter().for_each(|(k, v)| {
                out.push(k.clone());
                texts(v, &mut out)
            });
            out
        })
        .collect();
    assert!(
        before.iter().any(|t| t.contains(&user)),
        "the test's user left no trace to erase"
    );
    let (status, body) = h.erase(&user).await;
    assert_eq!(status, 200, "{body}");
    let mut markers = 0;
    for item in h.items().await {
        // The erasure's own marker names the user until its TTL (a day): its
        // stream record is the platform's `User Data Erased`, which a replay
        // re-announces from it. Its key does not name the user.
        if item["entity"].as_s().unwrap() == "erasure" {
            markers += 1;
            assert!(!item["pk"].as_s().unwrap().contains(&user));
            assert!(item.contains_key("ttl"));
            continue;
        }
        let mut all = Vec::new();
        for (k, v) in &item {
            all.push(k.clone());
            texts(v, &mut all);
        }
        assert!(
            !all.iter().any(|t| t.contains(&user)),
            "the erased user's id is still in {item:?}"
        );
    }
    assert_eq!(markers, 1);
}

#[tokio::test]
async fn an_erasure_disconnects_at_ofauth_first_and_keeps_only_an_audit_trail() {
    let h = Harness::new().await;
    let (user, other) = (unique("user"), unique("other"));
    let a = h.connect(&user, "{}").await;
    let b = h.connect(&user, "{}").await;
    let c = h.connect(&user, "{}").await;
    assert_eq!(h.disconnect(&user, &c).await.status(), 204);
    let d = h.connect(&other, "{}").await;
    for conn in [&a, &b, &c] {
        assert!(!s(&h.record(conn).await, "username").is_empty());
    }

    // OFAuth fails the disconnects: the answer says so, and every connection
    // still live at OFAuth is still the user's, with its fields.
    h.sim.set_faults(Faults {
        status: Some(503),
        path_prefix: Some("/v2/account/connections/".into()),
        ..Faults::default()
    });
    let (status, body) = h.erase(&user).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("ofauth_unavailable")),
        "{body}"
    );
    for conn in [&a, &b] {
        let rec = h.record(conn).await;
        assert_eq!(
            s(&rec, "userId"),
            user,
            "{conn} erased before OFAuth disconnected it"
        );
        assert!(!s(&rec, "username").is_empty());
    }
    h.sim.set_faults(Faults::default());

    let (status, body) = h.erase(&user).await;
    assert_eq!(status, 200, "{body}");
    for conn in [&a, &b] {
        // OFAuth forgets a connection it disconnected.
        assert!(h.sim.connection(conn).is_none(), "{conn} still at OFAuth");
    }
    // c was disconnected before: OFAuth is not asked again.
    assert_eq!(deletes_of(&h, &c), 1);
    for conn in [&a, &b, &c] {
        let rec = h.record(conn).await;
        assert_eq!(s(&rec, "status"), "disconnected");
        assert_eq!(s(&rec, "connectionId"), *conn);
        assert!(
            !s(&rec, "connectedAt").is_empty(),
            "the audit keeps the times"
        );
        assert!(!s(&rec, "attestedAttemptId").is_empty(), "and the origin");
        assert!(!s(&rec, "erasedAt").is_empty());
        for attr in PERSONAL.iter().chain(&["userId", "gsi1pk", "gsi1sk"]) {
            assert!(!rec.contains_key(*attr), "{conn} keeps {attr}");
        }
    }
    let (_, list) = h.list_connections(&user).await;
    assert!(listed(&list).is_empty(), "{list}");
    // The other user's connection is untouched.
    let rec = h.record(&d).await;
    assert_eq!(
        (s(&rec, "userId"), s(&rec, "status")),
        (other.clone(), "active".into())
    );
    assert_eq!(deletes_of(&h, &d), 0);
    assert_eq!(listed(&h.list_connections(&other).await.1), vec![d.clone()]);
    // Nothing is left to erase.
    let (status, body) = h.erase(&user).await;
    assert_eq!((status, body["erased"].as_u64()), (200, Some(0)), "{body}");
    // Signed in or not at all.
    let req = api_event("DELETE", "/link/me", None, "", &[], None);
    let resp = link_shared::connections_api::handle(req, &h.connections).await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn an_erasure_never_disconnects_a_connection_a_forged_claim_names() {
    // The victim's connection exists at OFAuth, not yet attested (webhooks held,
    // the list lags); Mallory's forged claim on it is waiting as "verifying".
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Svix),
        ..Options::default()
    })
    .await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let url = h.start("victim", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    h.sim.set_faults(Faults {
        list_hidden: true,
        ..Faults::default()
    });
    let (url, mallory_attempt) = h.start_attempt("mallory", "").await;
    h.hosted(&url, "cancel?step=login").await;
    let forged =
        format!("status=success&connection_id={conn}&client_reference_id={mallory_attempt}");
    let code = query_param(&h.return_to_app(&forged).await, "code").unwrap();
    assert_eq!(h.complete_code("mallory", &code).await.0, 202);

    // Unattested yet: Mallory's erasure ends her claim and nothing else.
    let (status, body) = h.erase("mallory").await;
    assert_eq!((status, body["erased"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(
        deletes_of(&h, &conn),
        0,
        "the victim's connection was disconnected"
    );
    let a = h.item(&format!("ATTEMPT#{mallory_attempt}")).await.unwrap();
    assert_eq!(s(&a, "status"), "erased");
    for attr in PERSONAL.iter().chain(&["userId", "gsi1pk", "codeHash"]) {
        assert!(!a.contains_key(*attr), "the erased claim keeps {attr}");
    }

    // Again with the connection attested (by the victim's attempt) and still
    // unbound while another claim of Mallory's waits.
    let (url, second) = h.start_attempt("mallory", "").await;
    h.hosted(&url, "cancel?step=login").await;
    let forged = format!("status=success&connection_id={conn}&client_reference_id={second}");
    let code = query_param(&h.return_to_app(&forged).await, "code").unwrap();
    assert_eq!(h.complete_code("mallory", &code).await.0, 202);
    h.sim.set_faults(Faults::default());
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(1, WAIT).await;
    let rec = h.record(&conn).await;
    assert!(s(&rec, "userId").is_empty() && !s(&rec, "attestedAttemptId").is_empty());
    let (status, body) = h.erase("mallory").await;
    assert_eq!((status, body["erased"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(
        deletes_of(&h, &conn),
        0,
        "the victim's connection was disconnected"
    );
    assert_eq!(s(&h.record(&conn).await, "status"), "active");

    // The victim's flow finishes as if nothing happened.
    let (status, body) = h.return_and_complete("victim", &query).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
}

#[tokio::test]
async fn personal_fields_leave_records_past_their_retention() {
    let h = Harness::with(Options {
        env: vec![("PERSONAL_DATA_RETENTION_DAYS", "1".into())],
        ..Options::default()
    })
    .await;
    let user = unique("user");
    let active = h.connect(&user, "{}").await;
    let gone = h.connect(&user, "{}").await;
    let expired = h.connect(&user, "{}").await;
    let recent = h.connect(&user, "{}").await;
    assert_eq!(h.disconnect(&user, &gone).await.status(), 204);
    assert_eq!(h.disconnect(&user, &recent).await.status(), 204);
    assert!(h.sim.expire_connection(&expired));
    let run = h.reconcile().await;
    assert_eq!(run.counts.scrubbed, 0, "nothing is past its retention yet");
    assert_eq!(s(&h.record(&expired).await, "status"), "expired");
    // Two days pass for all but `recent`.
    for conn in [&active, &gone, &expired] {
        h.set(
            &format!("CONNECTION#{conn}"),
            "updatedAt",
            AttributeValue::S("2020-01-01T00:00:00Z".into()),
        )
        .await;
    }

    let run = h.reconcile().await;
    assert_eq!(run.counts.scrubbed, 2, "{run:?}");
    let rec = h.record(&gone).await;
    for attr in PERSONAL {
        assert!(!rec.contains_key(attr), "disconnected keeps {attr}");
    }
    assert_eq!(s(&rec, "userId"), user, "the audit keeps whose it was");
    assert!(!s(&rec, "scrubbedAt").is_empty());
    let rec = h.record(&expired).await;
    for attr in ["username", "name", "avatar"] {
        assert!(!rec.contains_key(attr), "expired keeps {attr}");
    }
    assert!(
        !s(&rec, "accountId").is_empty(),
        "an expired one keeps the account id a reconnect is checked against"
    );
    for conn in [&active, &recent] {
        let rec = h.record(conn).await;
        for attr in PERSONAL {
            assert!(rec.contains_key(attr), "{conn} lost {attr}");
        }
    }
    // Done once.
    assert_eq!(h.reconcile().await.counts.scrubbed, 0);
}
