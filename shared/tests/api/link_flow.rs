//! End-to-end Link flows through both handlers, driven by API Gateway events,
//! against DynamoDB Local and the OFAuth simulator over HTTP.

use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;

const STEPS: [&str; 5] = [
    "pre-login",
    "authorization",
    "login",
    "2fa",
    "captcha_timeout",
];
const ERROR_CODES: [&str; 5] = [
    "session_expired",
    "invalid_credentials",
    "account_locked",
    "2fa_failed",
    "proxy_unavailable",
];

fn attempt_pk(query: &str) -> String {
    let r = query_param(&format!("https://x/?{query}"), "client_reference_id").unwrap();
    format!("ATTEMPT#{r}")
}

#[tokio::test]
async fn new_connection_is_confirmed_and_recorded() {
    let h = Harness::new().await;
    let resp = h.create_session("user-1", "").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["access-control-allow-origin"], ORIGIN);
    let body = body_text(&resp);
    let session: serde_json::Value = serde_json::from_str(&body).unwrap();
    // The documented shape (mode, url, expiresAt, in that order), plus the
    // attempt id the popup flow's completion names.
    let url = session["url"].as_str().unwrap();
    let expires = session["expiresAt"].as_str().unwrap();
    let attempt_id = session["attemptId"].as_str().unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"mode":"hosted","url":"{url}","expiresAt":"{expires}","attemptId":"{attempt_id}"}}"#
        )
    );

    // What OFAuth was asked: the configured app id and callback, an opaque reference.
    let init = h.init_requests();
    assert_eq!(init.len(), 1);
    assert_eq!(init[0]["clientAppId"], "app_test123");
    assert_eq!(init[0]["redirectUrl"], CALLBACK_URL);
    let reference = init[0]["clientReferenceId"].as_str().unwrap();
    assert!(
        reference.starts_with("la_") && reference.len() >= 3 + 32,
        "{reference}"
    );
    assert!(!reference.contains("user-1"));
    assert!(init[0].get("connectionId").is_none());

    // The attempt is stored, pending, with a TTL after OFAuth's expiry.
    let attempt = h
        .item(&format!("ATTEMPT#{reference}"))
        .await
        .expect("attempt stored");
    assert_eq!(s(&attempt, "status"), "pending");
    assert_eq!(s(&attempt, "userId"), "user-1");
    assert_eq!(s(&attempt, "expiresAt"), expires);
    let ttl: i64 = attempt["ttl"].as_n().unwrap().parse().unwrap();
    let exp: i64 = attempt["expiresAtEpoch"].as_n().unwrap().parse().unwrap();
    assert!(ttl > exp);

    assert_eq!(attempt_id, reference);
    let query = h.hosted(url, "approve").await;
    let resp = h.callback(&query).await;
    let loc = location(&resp);
    let conn = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    let code = query_param(&loc, "code").unwrap();
    // The return page gets only what it needs: the completion's answer names
    // the connection.
    assert_eq!(
        loc,
        format!("{APP_URL}/link/success?status=success&code={code}")
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    // The browser that came back is bound to the attempt by an HttpOnly cookie.
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-ofauth-link-return=")
            && cookie.contains("HttpOnly")
            && cookie.contains("Secure"),
        "{cookie}"
    );
    // Checked server-side (live, and made by this attempt per OFAuth's list),
    // but nothing is bound until the signed-in user completes.
    assert!(h.sim.requests().iter().any(|r| r.path == "/v2/access/self"));
    assert!(h
        .sim
        .requests()
        .iter()
        .any(|r| r.path == "/v2/account/connections"));
    assert!(h.item(&format!("CONNECTION#{conn}")).await.is_none());
    let attempt = h.item(&format!("ATTEMPT#{reference}")).await.unwrap();
    assert_eq!(s(&attempt, "status"), "returned");
    assert_ne!(
        s(&attempt, "codeHash"),
        code,
        "only the code's hash is stored"
    );
    let (status, answer) = h.complete_code("user-1", &code).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({ "status": "active", "connectionId": conn })
    );
    let rec = h
        .item(&format!("CONNECTION#{conn}"))
        .await
        .expect("connection recorded");
    let sim_conn = h.sim.connection(&conn).unwrap();
    assert_eq!(s(&rec, "userId"), "user-1");
    assert_eq!(s(&rec, "status"), "active");
    assert_eq!(s(&rec, "username"), sim_conn.username);
    assert_eq!(s(&rec, "name"), sim_conn.name);
    assert_eq!(s(&rec, "avatar"), sim_conn.avatar);
    assert_eq!(s(&rec, "accountId"), sim_conn.user_id);
    assert_eq!(s(&rec, "lastAttemptId"), reference);
    let attempt = h.item(&format!("ATTEMPT#{reference}")).await.unwrap();
    assert_eq!(s(&attempt, "status"), "completed");
    assert_eq!(s(&attempt, "connectionId"), conn);
    assert_eq!(h.user_connections("user-1").await.len(), 1);
}

#[tokio::test]
async fn reconnect_updates_the_same_record() {
    let h = Harness::new().await;
    let conn = h.connect("user-1", "").await;
    let first = h.record(&conn).await;
    h.sim.expire_connection(&conn);

    let url = h
        .start("user-1", &format!(r#"{{"connectionId":"{conn}"}}"#))
        .await;
    assert_eq!(h.init_requests()[1]["connectionId"], conn.as_str());
    let query = h.hosted(&url, "approve").await;
    assert_eq!(
        query_param(&format!("https://x/?{query}"), "connection_id").unwrap(),
        conn
    );
    let loc = h.return_to_app(&query).await;
    let (status, body) = h
        .complete_code("user-1", &query_param(&loc, "code").unwrap())
        .await;
    assert_eq!(body["connectionId"], conn.as_str());
    assert_eq!(status, 200);

    assert_eq!(
        h.items_of("connection").await.len(),
        1,
        "no duplicate record"
    );
    assert_eq!(h.user_connections("user-1").await.len(), 1);
    let rec = h.record(&conn).await;
    assert_eq!(s(&rec, "connectedAt"), s(&first, "connectedAt"));
    assert_eq!(s(&rec, "status"), "active");
    assert_ne!(s(&rec, "lastAttemptId"), s(&first, "lastAttemptId"));
}

#[tokio::test]
async fn reconnect_of_another_users_connection_is_not_found() {
    let h = Harness::new().await;
    let conn = h.connect("alice", "").await;
    let calls_before = h.init_requests().len();
    for body in [
        format!(r#"{{"connectionId":"{conn}"}}"#),
        r#"{"connectionId":"conn_doesnotexist"}"#.to_string(),
    ] {
        let resp = h.create_session("mallory", &body).await;
        assert_eq!(resp.status(), 404, "{}", body_text(&resp));
        assert_eq!(json_body(&resp)["error"], "connection_not_found");
    }
    assert_eq!(
        h.init_requests().len(),
        calls_before,
        "OFAuth was not asked"
    );
    assert_eq!(
        h.items_of("attempt").await.len(),
        1,
        "no attempt stored for mallory"
    );
    assert_eq!(s(&h.record(&conn).await, "userId"), "alice");
}

#[tokio::test]
async fn cancelled_at_each_step() {
    let h = Harness::new().await;
    for step in STEPS {
        let url = h.start("user-1", "").await;
        let query = h.hosted(&url, &format!("cancel?step={step}")).await;
        let pk = attempt_pk(&query);
        let resp = h.callback(&query).await;
        assert_eq!(
            location(&resp),
            format!("{APP_URL}/link/cancelled?status=cancelled&step={step}")
        );
        let attempt = h.item(&pk).await.unwrap();
        assert_eq!(s(&attempt, "status"), "cancelled");
        assert_eq!(s(&attempt, "step"), step);
    }
    assert!(h.items_of("connection").await.is_empty());
}

#[tokio::test]
async fn each_error_code_and_an_unknown_one() {
    let h = Harness::new().await;
    for code in ERROR_CODES {
        let url = h.start("user-1", "").await;
        let query = h.hosted(&url, &format!("fail?error_code={code}")).await;
        let pk = attempt_pk(&query);
        let resp = h.callback(&query).await;
        assert_error_redirect(&resp, code);
        let attempt = h.item(&pk).await.unwrap();
        assert_eq!(s(&attempt, "status"), "failed");
        assert_eq!(s(&attempt, "errorCode"), code);
    }
    assert!(h.items_of("connection").await.is_empty());
}

#[tokio::test]
async fn expired_attempt_records_nothing() {
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let pk = attempt_pk(&query);
    h.set(&pk, "expiresAtEpoch", AttributeValue::N("1000".into()))
        .await;
    let resp = h.callback(&query).await;
    assert_error_redirect(&resp, "session_expired");
    assert!(h.items_of("connection").await.is_empty());
    assert_eq!(s(&h.item(&pk).await.unwrap(), "status"), "pending");
}

#[tokio::test]
async fn replayed_callback_changes_nothing() {
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let loc = h.return_to_app(&query).await;
    let (status, _) = h
        .complete_code("user-1", &query_param(&loc, "code").unwrap())
        .await;
    assert_eq!(status, 200);
    let before = h.items().await;
    // The same return after completion (a reload, or the popup's page following
    // `successUrl`): success, no new code, nothing changes.
    let again = h.return_to_app(&query).await;
    assert!(again.contains("status=success"), "{again}");
    assert_eq!(query_param(&again, "code"), None);
    // Another outcome for the used attempt: refused.
    let resp = h
        .callback(&query.replace("status=success", "status=cancelled&step=login"))
        .await;
    assert_error_redirect(&resp, "invalid_state");
    assert_eq!(h.items().await, before);
}

#[tokio::test]
async fn forged_client_reference_id_is_refused() {
    let h = Harness::new().await;
    h.connect("user-1", "").await;
    let before = h.items().await;
    let forged = [
        "status=success&connection_id=conn_x&client_reference_id=la_0123456789abcdef0123456789abcdef01234567",
        "status=success&connection_id=conn_x&client_reference_id=user-1",
        "status=success&connection_id=conn_x",
        "status=cancelled&step=login&client_reference_id=ATTEMPT%23x",
        "status=error&error_code=account_locked&client_reference_id=",
    ];
    for q in forged {
        assert_error_redirect(&h.callback(q).await, "invalid_state");
    }
    assert_eq!(h.items().await, before);
}

#[tokio::test]
async fn connection_unknown_to_ofauth_is_not_recorded() {
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let pk = attempt_pk(&query);
    let real = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    let forged = query.replace(&real, "conn_forged123");
    assert_error_redirect(&h.callback(&forged).await, "connection_not_verified");
    assert!(h.items_of("connection").await.is_empty());
    let attempt = h.item(&pk).await.unwrap();
    assert_eq!(s(&attempt, "status"), "failed");
    assert_eq!(s(&attempt, "errorCode"), "connection_not_verified");

    // An expired connection does not confirm either.
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    h.sim.expire_connection(&conn);
    assert_error_redirect(&h.callback(&query).await, "connection_not_verified");
    assert!(h.items_of("connection").await.is_empty());
}

#[tokio::test]
async fn another_users_connection_never_moves() {
    let h = Harness::new().await;
    let conn = h.connect("alice", "").await;
    let alice_rec = h.record(&conn).await;

    // Mallory starts her own attempt and comes back with Alice's (leaked) connection id.
    let url = h.start("mallory", "").await;
    let query = h.hosted(&url, "cancel?step=login").await;
    let pk = attempt_pk(&query);
    let reference = query_param(&format!("https://x/?{query}"), "client_reference_id").unwrap();
    let forged = format!("status=success&connection_id={conn}&client_reference_id={reference}");
    let self_calls = |h: &Harness| {
        h.sim
            .requests()
            .iter()
            .filter(|r| r.path == "/v2/access/self")
            .count()
    };
    let before = self_calls(&h);
    assert_error_redirect(&h.callback(&forged).await, "connection_conflict");

    assert_eq!(h.record(&conn).await, alice_rec);
    // The record is checked first: Alice's connection is not even asked about
    // (OFAuth limits access/self per connection), and Mallory's attempt is spent.
    assert_eq!(self_calls(&h), before);
    let attempt = h.item(&pk).await.unwrap();
    assert_eq!(s(&attempt, "status"), "failed");
    assert_eq!(s(&attempt, "errorCode"), "connection_conflict");
    assert_error_redirect(&h.callback(&forged).await, "invalid_state");
    assert!(h.user_connections("mallory").await.is_empty());
}

#[tokio::test]
async fn open_redirect_attempts_go_nowhere_but_the_app() {
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let reference = query_param(&format!("https://x/?{query}"), "client_reference_id").unwrap();
    let evil = "https%3A%2F%2Fevil.example%2F";
    let attempts = [
        format!("status={evil}&client_reference_id={reference}"),
        format!("status=success&connection_id={evil}&client_reference_id={reference}"),
        format!("status=success&connection_id=conn_1&client_reference_id={evil}"),
        format!("status=cancelled&step={evil}&client_reference_id={reference}"),
        format!("status=cancelled&step=%2F%2Fevil.example&client_reference_id={reference}"),
        format!("status=error&error_code={evil}&client_reference_id={reference}"),
        format!("status=error&error_code=x%0D%0ALocation:%20https://evil.example&client_reference_id={reference}"),
        format!("status=cancelled&step=login&client_reference_id={reference}&redirect_uri={evil}&next={evil}&return_to={evil}"),
    ];
    for q in &attempts {
        let resp = h.callback(q).await;
        let loc = location(&resp);
        let parsed = url::Url::parse(&loc).unwrap();
        assert_eq!(
            parsed.origin().ascii_serialization(),
            APP_URL,
            "{q} -> {loc}"
        );
        assert!(
            ["/link/success", "/link/cancelled", "/link/error"].contains(&parsed.path()),
            "{loc}"
        );
        assert!(!loc.contains("evil"), "{q} -> {loc}");
    }
    assert!(h.items_of("connection").await.is_empty());
}

#[tokio::test]
async fn malformed_callback_inputs_are_refused() {
    let h = Harness::new().await;
    let before = h.items().await;
    for q in [
        "",
        "status=",
        "status=SUCCESS&connection_id=conn_1",
        "status=success&status=success&connection_id=conn_1",
        "status=success&connection_id=conn_1&connection_id=conn_2",
        "status=success&connection_id=conn%00x",
        &format!("status=success&connection_id={}", "a".repeat(10_000)),
        "status=%FF%FE",
    ] {
        assert_error_redirect(&h.callback(q).await, "invalid_request");
    }
    assert_eq!(h.items().await, before);
    // Only GET.
    let mut req = callback_event("status=success");
    *req.method_mut() = link_shared::lambda_http::http::Method::POST;
    let resp = link_shared::return_leg::handle(req, &h.return_leg).await;
    assert_eq!(resp.status(), 405);
}
