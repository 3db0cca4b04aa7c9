//! Provenance and presence: a connection becomes a user's only when OFAuth attests
//! that one of that user's attempts produced it (signed webhook or connections
//! list), and only when that user completes the flow from the browser that
//! finished it (the callback's one-time code, or the popup's page). Against
//! DynamoDB Local and the simulator over HTTP, as the rest.

use std::time::Duration;

use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;
use ofauth_sim::{Faults, SignatureScheme, WebhookMode};

const WAIT: Duration = Duration::from_secs(10);

async fn with_webhooks(scheme: SignatureScheme) -> Harness {
    Harness::with(Options {
        webhooks: Some(scheme),
        ..Options::default()
    })
    .await
}

/// Mallory's own attempt, come back (forged) with someone else's connection id.
async fn forge(h: &Harness, connection: &str) -> (String, String) {
    let (url, attempt) = h.start_attempt("mallory", "").await;
    // Her session is used up at OFAuth; only its reference matters.
    h.hosted(&url, "cancel?step=login").await;
    let forged = format!("status=success&connection_id={connection}&client_reference_id={attempt}");
    (attempt, h.return_to_app(&forged).await)
}

/// Nothing is usable to Mallory: not listed, not disconnectable, not bound.
async fn mallory_has_nothing(h: &Harness, connection: &str) {
    let (_, body) = h.list_connections("mallory").await;
    assert!(
        body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] != "active"),
        "{body}"
    );
    assert_eq!(h.disconnect("mallory", connection).await.status(), 404);
    if let Some(rec) = h.item(&format!("CONNECTION#{connection}")).await {
        assert_ne!(s(&rec, "userId"), "mallory");
    }
    assert!(
        h.sim.connection(connection).is_some(),
        "still live at OFAuth"
    );
}

#[tokio::test]
async fn forged_callback_with_an_imported_connection_is_refused() {
    let h = Harness::new().await;
    h.sim.insert_connection("conn_imported1", None);
    let (attempt, loc) = forge(&h, "conn_imported1").await;
    assert_eq!(
        loc,
        format!("{APP_URL}/link/error?status=error&error_code=connection_not_verified")
    );
    mallory_has_nothing(&h, "conn_imported1").await;
    assert!(h.item("CONNECTION#conn_imported1").await.is_none());
    let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
    assert_eq!(s(&a, "status"), "failed");
    assert_eq!(s(&a, "errorCode"), "connection_not_verified");
}

#[tokio::test]
async fn forged_callback_with_another_attempts_abandoned_connection_is_refused() {
    // The victim approved and closed the tab; no webhook arrived (none configured).
    let h = Harness::new().await;
    let url = h.start("victim", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    let (_, loc) = forge(&h, &conn).await;
    assert!(loc.ends_with("error_code=connection_not_verified"), "{loc}");
    mallory_has_nothing(&h, &conn).await;
    // The victim's own return still completes.
    let (status, _) = h.return_and_complete("victim", &query).await;
    assert_eq!(status, 200);
    assert_eq!(s(&h.record(&conn).await, "userId"), "victim");
}

#[tokio::test]
async fn forged_callback_with_a_new_connection_before_its_webhook_is_refused() {
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let (url, victim_attempt) = h.start_attempt("victim", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    // Seconds later, before the webhook lands: OFAuth's list already names the
    // victim's attempt as its origin.
    let (_, loc) = forge(&h, &conn).await;
    assert!(loc.ends_with("error_code=connection_not_verified"), "{loc}");
    mallory_has_nothing(&h, &conn).await;
    // The signed webhook attests the victim's attempt; the victim completes.
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(1, WAIT).await;
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "attestedAttemptId"), victim_attempt);
    assert_eq!(s(&rec, "userId"), "");
    let (status, _) = h.return_and_complete("victim", &query).await;
    assert_eq!(status, 200);
    mallory_has_nothing(&h, &conn).await;
}

#[tokio::test]
async fn unattested_forgery_only_ever_waits_and_never_binds() {
    // OFAuth's list lags (hides the connection) and no webhook has come: the
    // forger can get as far as "verifying", which is never usable and never
    // becomes active, and does not stand in the real owner's way.
    let h = with_webhooks(SignatureScheme::Svix).await;
    h.sim.set_webhook_mode(WebhookMode {
        hold: true,
        ..WebhookMode::default()
    });
    let (url, victim_attempt) = h.start_attempt("victim", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    h.sim.set_faults(Faults {
        list_hidden: true,
        ..Faults::default()
    });
    let (_, loc) = forge(&h, &conn).await;
    let code = query_param(&loc, "code").expect("nothing attests either way yet");
    let (status, body) = h.complete_code("mallory", &code).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("verifying")));
    let (_, list) = h.list_connections("mallory").await;
    assert_eq!(list["connections"][0]["status"], "verifying");
    mallory_has_nothing(&h, &conn).await;

    // The attestation names the victim's attempt: Mallory's claim stays unbound.
    h.sim.release_webhooks(false);
    h.sim.wait_for_deliveries(1, WAIT).await;
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "attestedAttemptId"), victim_attempt);
    assert_eq!(s(&rec, "userId"), "");
    mallory_has_nothing(&h, &conn).await;
    // The victim completes normally.
    let (status, _) = h.return_and_complete("victim", &query).await;
    assert_eq!(status, 200);
    assert_eq!(s(&h.record(&conn).await, "userId"), "victim");
    mallory_has_nothing(&h, &conn).await;
}

#[tokio::test]
async fn fixation_through_the_redirect_flow_is_refused_and_disconnected() {
    // Mallory starts a session and sends its genuine URL to the victim, who signs
    // in to OnlyFans there. The victim's browser comes back with the code.
    let h = with_webhooks(SignatureScheme::Ofauth).await;
    let (url, mallory_attempt) = h.start_attempt("mallory", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").unwrap();
    h.sim.wait_for_deliveries(1, WAIT).await;

    // Mallory lacks what the victim's browser received: she cannot complete.
    let forged_code = format!("lc_{}{}", &mallory_attempt[3..], "0".repeat(40));
    let (status, body) = h.complete_code("mallory", &forged_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_code"))
    );
    let (status, body) = h.complete_embed("mallory", &mallory_attempt, &conn).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("code_required"))
    );

    // The victim's app page, signed in as the victim, completes: refused.
    let (status, body) = h.complete_code("victim", &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("completion_refused"))
    );
    let a = h.item(&format!("ATTEMPT#{mallory_attempt}")).await.unwrap();
    assert_eq!(s(&a, "status"), "refused");
    // Disconnected at OFAuth: made against its holder's intent, owned by nobody.
    assert!(h.sim.connection(&conn).is_none());
    // The signed webhooks (created, then disconnected) never bind it to Mallory.
    h.sim.wait_for_deliveries(2, WAIT).await;
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "userId"), "");
    assert_eq!(s(&rec, "status"), "disconnected");
    for user in ["mallory", "victim"] {
        let (_, list) = h.list_connections(user).await;
        assert!(list["connections"].as_array().unwrap().is_empty(), "{user}");
    }
    // The code is spent for everyone now.
    let (status, body) = h.complete_code("mallory", &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_code"))
    );
    let (status, body) = h.complete_embed("mallory", &mallory_attempt, &conn).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("invalid_state"))
    );
}

#[tokio::test]
async fn completion_before_attestation_waits_then_binds_when_the_webhook_lands() {
    let h = with_webhooks(SignatureScheme::Svix).await;
    h.withhold_attestation();
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").unwrap();
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "verifying");
    assert_eq!(body["connectionId"], conn.as_str());
    assert!(body["verifyBy"].as_str().is_some());
    // Visible as verifying; not usable, not disconnectable.
    let (_, list) = h.list_connections("user-1").await;
    assert_eq!(list["connections"][0]["id"], conn.as_str());
    assert_eq!(list["connections"][0]["status"], "verifying");
    assert_eq!(h.disconnect("user-1", &conn).await.status(), 404);
    assert!(h.item(&format!("CONNECTION#{conn}")).await.is_none());

    h.sim.release_webhooks(false);
    let d = h.sim.wait_for_deliveries(1, WAIT).await;
    assert_eq!(d[0].outcome.as_deref(), Some("bound"));
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "userId"), "user-1");
    assert_eq!(s(&rec, "status"), "active");
    assert_eq!(s(&rec, "attestedAttemptId"), attempt);
    let (_, list) = h.list_connections("user-1").await;
    let list = list["connections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["status"], "active");
    // The same code again: the answer, not a second binding.
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
}

#[tokio::test]
async fn without_webhooks_the_connections_list_attests() {
    let h = Harness::new().await;
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    // Not yet listed when the browser comes back; listed by the completion.
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
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "attestedAttemptId"), attempt);
    assert_eq!(s(&rec, "userId"), "user-1");
}

#[tokio::test]
async fn no_attestation_before_expiry_means_never_bound() {
    let h = Harness::new().await;
    h.sim.set_faults(Faults {
        list_hidden: true,
        ..Faults::default()
    });
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    let loc = h.return_to_app(&query).await;
    let (status, _) = h
        .complete_code("user-1", &query_param(&loc, "code").unwrap())
        .await;
    assert_eq!(status, 202);
    // The attempt expires with no attestation.
    h.set(
        &format!("ATTEMPT#{attempt}"),
        "expiresAtEpoch",
        AttributeValue::N("1000".into()),
    )
    .await;
    let (_, list) = h.list_connections("user-1").await;
    assert_eq!(list["connections"][0]["status"], "unverified");
    // A late attestation does not bind it.
    let body = serde_json::json!({
        "id": "evt_late", "type": "connection.created", "timestamp": "2026-11-23T10:00:00Z",
        "data": { "clientReferenceId": attempt, "connection": { "id": conn, "status": "active" } }
    })
    .to_string();
    let headers = signed_now(SignatureScheme::Svix, "msg_late", &body);
    let resp = h.deliver(&headers, &body).await;
    assert_eq!(
        json_body(&resp)["outcome"],
        "applied",
        "{}",
        body_text(&resp)
    );
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "userId"), "");
    assert_eq!(h.disconnect("user-1", &conn).await.status(), 404);
}

#[tokio::test]
async fn reconnect_with_another_account_is_refused_and_invalidated() {
    // Mallory sends her own reconnect URL; the victim signs in with their account.
    let h = Harness::new().await;
    let conn = h.connect("mallory", "").await;
    let before = h.record(&conn).await;
    let url = h
        .start("mallory", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    let query = h.hosted(&url, "approve?other_account=true").await;
    let loc = h.return_to_app(&query).await;
    assert_eq!(
        loc,
        format!("{APP_URL}/link/error?status=error&error_code=account_mismatch")
    );
    // Invalidated at OFAuth (the victim's session is no longer behind it); the
    // record keeps its owner and the owner's account, and is marked expired
    // (nothing may use it with the victim's account, even were the invalidation
    // to fail).
    assert_eq!(h.sim.connection(&conn).unwrap().status, "expired");
    let after = h.record(&conn).await;
    for attr in [
        "userId",
        "accountId",
        "username",
        "name",
        "avatar",
        "connectedAt",
    ] {
        assert_eq!(s(&after, attr), s(&before, attr), "{attr}");
    }
    assert_eq!(s(&after, "status"), "expired");
    let attempt = h
        .item(&format!("ATTEMPT#{}", param(&query, "client_reference_id")))
        .await
        .unwrap();
    assert_eq!(s(&attempt, "status"), "refused");
}

#[tokio::test]
async fn reconnect_that_comes_back_with_another_connection_is_refused() {
    let h = Harness::new().await;
    let conn = h.connect("user-1", "").await;
    let url = h
        .start("user-1", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    let query = h.hosted(&url, "approve?new_connection=true").await;
    assert_ne!(param(&query, "connection_id"), conn);
    let loc = h.return_to_app(&query).await;
    assert!(loc.ends_with("error_code=connection_mismatch"), "{loc}");
    assert_eq!(h.items_of("connection").await.len(), 1);
}

#[tokio::test]
async fn reconnect_needs_presence_too() {
    let h = Harness::new().await;
    let conn = h.connect("alice", "").await;
    let url = h
        .start("alice", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    let query = h.hosted(&url, "approve").await;
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").unwrap();
    let (status, _) = h.complete_code("bob", &code).await;
    assert_eq!(status, 403);
    // Alice's connection is hers and untouched at OFAuth (only new connections
    // are disconnected on a refused completion).
    assert!(h.sim.connection(&conn).is_some());
    assert_eq!(s(&h.record(&conn).await, "userId"), "alice");
}

#[tokio::test]
async fn popup_flow_completes_with_the_attempt_and_the_connection() {
    let h = Harness::new().await;
    let (url, attempt) = h.start_attempt("user-1", "").await;
    // The iframe's success message carries the connection id to the page.
    let query = h.hosted(&url, "approve").await;
    let conn = param(&query, "connection_id");
    // Another user cannot complete it (and it is not a fixation: nothing changes).
    let (status, body) = h.complete_embed("user-2", &attempt, &conn).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("attempt_not_found"))
    );
    assert_eq!(
        s(
            &h.item(&format!("ATTEMPT#{attempt}")).await.unwrap(),
            "status"
        ),
        "pending"
    );
    let (status, body) = h.complete_embed("user-1", &attempt, &conn).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    assert_eq!(s(&h.record(&conn).await, "userId"), "user-1");
    // `redirect: true` sends the top window to `successUrl` (the callback): it
    // lands on the success page with nothing more to do.
    let loc = h.return_to_app(&query).await;
    assert_eq!(loc, format!("{APP_URL}/link/success?status=success"));
    // Repeated: the same answer.
    let (status, _) = h.complete_embed("user-1", &attempt, &conn).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn popup_completion_with_someone_elses_connection_is_refused() {
    let h = Harness::new().await;
    let victim = h.start("victim", "").await;
    let victim_conn = param(&h.hosted(&victim, "approve").await, "connection_id");
    let (_, attempt) = h.start_attempt("mallory", "").await;
    let (status, body) = h.complete_embed("mallory", &attempt, &victim_conn).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("connection_not_verified"))
    );
    mallory_has_nothing(&h, &victim_conn).await;
}

#[tokio::test]
async fn completion_codes_are_single_use_short_lived_and_checked() {
    let h = Harness::with(Options {
        env: vec![("COMPLETION_CODE_TTL_SECS", "30".into())],
        ..Options::default()
    })
    .await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").unwrap();
    // A reload gives a new code and the old one no longer works.
    let reload = h.return_to_app(&query).await;
    let fresh = query_param(&reload, "code").unwrap();
    assert_ne!(fresh, code);
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_code"))
    );
    // Expired.
    let attempt = param(&query, "client_reference_id");
    h.set(
        &format!("ATTEMPT#{attempt}"),
        "codeExpiresAt",
        AttributeValue::N("1000".into()),
    )
    .await;
    let (status, _) = h.complete_code("user-1", &fresh).await;
    assert_eq!(status, 400);
    assert!(h.items_of("connection").await.is_empty());
    // Bad bodies.
    for body in [
        serde_json::json!({}),
        serde_json::json!({ "code": fresh, "userId": "x" }),
        serde_json::json!({ "attemptId": attempt }),
    ] {
        let (status, _) = h.complete_with("user-1", &body).await;
        assert_eq!(status, 400, "{body}");
    }
    let req = api_event("POST", "/link/complete", None, r#"{"code":"x"}"#, &[], None);
    let resp = link_shared::return_leg::handle(req, &h.return_leg).await;
    assert_eq!(resp.status(), 401);
}

/// The callback reads the attempt and the connection's record in one
/// `BatchGetItem`: what it gets is what the two single reads give, whichever of
/// the two exists.
#[tokio::test]
async fn the_attempt_and_the_record_read_together_are_the_single_reads() {
    use link_shared::ids::{AttemptId, ConnectionId};
    let h = Harness::new().await;
    let conn_id = h.connect("alice", "{}").await;
    let attempt_id = s(&h.record(&conn_id).await, "attestedAttemptId");
    let (attempt, conn) = (
        AttemptId::parse(&attempt_id).unwrap(),
        ConnectionId::parse(&conn_id).unwrap(),
    );
    let other_attempt = AttemptId::generate().unwrap();
    let other_conn = ConnectionId::parse("conn_nothere").unwrap();
    for (a, c) in [
        (&attempt, &conn),
        (&attempt, &other_conn),
        (&other_attempt, &conn),
        (&other_attempt, &other_conn),
    ] {
        let (got_attempt, got_record) = h.store.get_attempt_and_connection(a, c).await.unwrap();
        let single_attempt = h.store.get_attempt(a).await.unwrap();
        let single_record = h.store.get_connection(c).await.unwrap();
        assert_eq!(got_attempt.is_some(), single_attempt.is_some());
        assert_eq!(format!("{got_attempt:?}"), format!("{single_attempt:?}"));
        assert_eq!(format!("{got_record:?}"), format!("{single_record:?}"));
    }
    // The pair that exists is read whole: this attempt, bound to this user.
    let (a, r) = h
        .store
        .get_attempt_and_connection(&attempt, &conn)
        .await
        .unwrap();
    assert_eq!(a.unwrap().user_id, "alice");
    let r = r.unwrap();
    assert_eq!(r.user_id.as_deref(), Some("alice"));
    assert_eq!(r.attested_attempt.as_deref(), Some(attempt_id.as_str()));
}
