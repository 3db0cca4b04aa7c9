//! Bad input and failing dependencies: identity, bodies, CORS, OFAuth down, slow,
//! rate limiting or malformed, and DynamoDB unreachable. Each case asserts the
//! answer and what DynamoDB holds afterwards.

use crate::helpers::*;
use link_shared::lambda_http::http::Method;
use link_shared::lambda_http::{Body, Response};
use ofauth_sim::Faults;

fn assert_json_error(resp: &Response<Body>, status: u16, code: &str) {
    assert_eq!(resp.status(), status, "{}", body_text(resp));
    let body = json_body(resp);
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(!body_text(resp).contains(API_KEY));
}

#[tokio::test]
async fn no_identity_is_401_and_the_body_cannot_name_a_user() {
    let h = Harness::new().await;
    let resp = link_shared::session::handle(session_event(None, "", &[]), &h.session).await;
    assert_json_error(&resp, 401, "unauthenticated");
    // The dev header is ignored unless development explicitly enables it.
    let resp =
        link_shared::session::handle(session_event(None, "", &[("x-user-id", "bob")]), &h.session)
            .await;
    assert_json_error(&resp, 401, "unauthenticated");
    let resp =
        link_shared::session::handle(session_event(None, r#"{"userId":"bob"}"#, &[]), &h.session)
            .await;
    assert_json_error(&resp, 401, "unauthenticated");
    assert!(h.items().await.is_empty());
    assert!(h.init_requests().is_empty());
}

#[tokio::test]
async fn dev_header_and_custom_claim() {
    let h = Harness::with(Options {
        env: vec![
            ("DEV_TRUST_USER_HEADER", "true".into()),
            ("USER_ID_CLAIM", "email".into()),
        ],
        ..Options::default()
    })
    .await;
    let resp = link_shared::session::handle(
        session_event(None, "", &[("x-user-id", "dev-user")]),
        &h.session,
    )
    .await;
    assert_eq!(resp.status(), 200, "{}", body_text(&resp));
    let attempts = h.items_of("attempt").await;
    assert_eq!(s(&attempts[0], "userId"), "dev-user");
    // `sub` is not the configured claim, so a JWT without `email` has no identity here.
    let resp = h.create_session("someone", "").await;
    assert_json_error(&resp, 401, "unauthenticated");
}

#[tokio::test]
async fn bad_bodies_are_400_and_write_nothing() {
    let h = Harness::new().await;
    let cases: [(&str, &str); 8] = [
        ("{", "invalid_json"),
        ("connectionId=conn_1", "invalid_json"),
        (r#"{"connectionId": 42}"#, "invalid_body"),
        (r#"{"connectionId":"conn_1","extra":true}"#, "invalid_body"),
        (
            r#"{"redirectUrl":"https://evil.example/cb"}"#,
            "invalid_body",
        ),
        (r#"{"geolocation":{"state":"CA"}}"#, "invalid_body"),
        (
            r#"{"geolocation":{"country":"USA"}}"#,
            "invalid_geolocation",
        ),
        (r#"{"connectionId":"../../x"}"#, "invalid_connection_id"),
    ];
    for (body, code) in cases {
        assert_json_error(&h.create_session("user-1", body).await, 400, code);
    }
    let big = format!(r#"{{"connectionId":"{}"}}"#, "a".repeat(5000));
    assert_json_error(
        &h.create_session("user-1", &big).await,
        400,
        "body_too_large",
    );
    assert!(h.items().await.is_empty());
    assert!(h.init_requests().is_empty());
}

#[tokio::test]
async fn geolocation_is_forwarded() {
    let h = Harness::new().await;
    let resp = h
        .create_session(
            "user-1",
            r#"{"geolocation":{"country":"us","state":"CA","city":"Los Angeles"}}"#,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        h.init_requests()[0]["geolocation"],
        serde_json::json!({"country":"US","state":"CA","city":"Los Angeles"})
    );
}

#[tokio::test]
async fn cors_is_limited_to_configured_origins() {
    let h = Harness::new().await;
    let mut pre = session_event(None, "", &[("access-control-request-method", "POST")]);
    *pre.method_mut() = Method::OPTIONS;
    let resp = link_shared::session::handle(pre, &h.session).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["access-control-allow-origin"], ORIGIN);
    assert!(resp.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(resp.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));

    let mut pre = session_event(None, "", &[("origin", "https://evil.example")]);
    *pre.method_mut() = Method::OPTIONS;
    let resp = link_shared::session::handle(pre, &h.session).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get("access-control-allow-origin").is_none());

    let resp = link_shared::session::handle(
        session_event(Some("user-1"), "", &[("origin", "https://evil.example")]),
        &h.session,
    )
    .await;
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    assert_eq!(resp.headers()["vary"], "Origin");

    let mut get = session_event(Some("user-1"), "", &[]);
    *get.method_mut() = Method::GET;
    assert_json_error(
        &link_shared::session::handle(get, &h.session).await,
        405,
        "method_not_allowed",
    );
}

/// Sets a fault, asks for a session, and checks nothing was stored.
async fn session_with_fault(h: &Harness, faults: Faults) -> Response<Body> {
    h.sim.set_faults(faults);
    let resp = h.create_session("user-1", "").await;
    assert!(
        h.items_of("attempt").await.is_empty(),
        "no attempt for a failed init"
    );
    resp
}

#[tokio::test]
async fn ofauth_failures_during_init() {
    let h = Harness::new().await;
    let fault = |f: fn(&mut Faults)| {
        let mut faults = Faults::default();
        f(&mut faults);
        faults
    };
    let cases = [
        (fault(|f| f.status = Some(500)), 502, "ofauth_unavailable"),
        (fault(|f| f.status = Some(503)), 502, "ofauth_unavailable"),
        (fault(|f| f.malformed = true), 502, "ofauth_bad_response"),
        (fault(|f| f.latency_ms = 1500), 504, "ofauth_timeout"),
        (
            fault(|f| f.whitelabel = true),
            502,
            "unsupported_session_mode",
        ),
        // OFAuth rejecting our key or redirect URL.
        (fault(|f| f.status = Some(401)), 502, "ofauth_rejected"),
        (fault(|f| f.status = Some(400)), 502, "ofauth_rejected"),
    ];
    for (faults, status, code) in cases {
        let r = session_with_fault(&h, faults).await;
        assert_json_error(&r, status, code);
    }
    let r = session_with_fault(
        &h,
        fault(|f| {
            f.status = Some(429);
            f.retry_after = Some(7);
        }),
    )
    .await;
    assert_json_error(&r, 503, "ofauth_rate_limited");
    assert_eq!(r.headers()["retry-after"], "7");
    // And it recovers.
    h.sim.set_faults(Faults::default());
    assert_eq!(h.create_session("user-1", "").await.status(), 200);
}

#[tokio::test]
async fn wrong_api_key_or_redirect_url_is_a_502() {
    let h = Harness::with(Options {
        env: vec![("OFAUTH_API_KEY", "sk_sandbox_wrong".into())],
        ..Options::default()
    })
    .await;
    assert_json_error(
        &h.create_session("user-1", "").await,
        502,
        "ofauth_rejected",
    );
    let h = Harness::with(Options {
        env: vec![(
            "CALLBACK_URL",
            "https://not-registered.example.com/link/callback".into(),
        )],
        ..Options::default()
    })
    .await;
    assert_json_error(
        &h.create_session("user-1", "").await,
        502,
        "ofauth_rejected",
    );
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn ofauth_down_during_init() {
    let port = closed_port();
    let h = Harness::with(Options {
        ofauth_base: Some(format!("http://127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;
    assert_json_error(
        &h.create_session("user-1", "").await,
        502,
        "ofauth_unavailable",
    );
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn ofauth_failing_during_callback_keeps_the_attempt_usable() {
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let faults = [
        Faults {
            status: Some(503),
            ..Faults::default()
        },
        Faults {
            status: Some(429),
            ..Faults::default()
        },
        Faults {
            malformed: true,
            ..Faults::default()
        },
        Faults {
            latency_ms: 1500,
            ..Faults::default()
        },
    ];
    for f in faults {
        h.sim.set_faults(f.clone());
        assert_error_redirect(&h.callback(&query).await, "temporarily_unavailable");
        assert!(h.items_of("connection").await.is_empty(), "{f:?}");
        assert_eq!(
            s(&h.items_of("attempt").await[0], "status"),
            "pending",
            "{f:?}"
        );
    }
    // A reload after OFAuth recovers finishes the job: nothing was lost.
    h.sim.set_faults(Faults::default());
    let loc = location(&h.callback(&query).await);
    assert!(loc.contains("status=success"), "{loc}");
    let (status, _) = h
        .complete_code("user-1", &query_param(&loc, "code").unwrap())
        .await;
    assert_eq!(status, 200);
    assert_eq!(h.items_of("connection").await.len(), 1);
}

#[tokio::test]
async fn dynamodb_unreachable() {
    let port = closed_port();
    let down = Harness::with(Options {
        dynamodb_endpoint: Some(format!("http://127.0.0.1:{port}")),
        create_table: false,
        ..Options::default()
    })
    .await;
    let resp = down.create_session("user-1", "").await;
    assert_json_error(&resp, 503, "storage_unavailable");
    let resp = down
        .create_session("user-1", r#"{"connectionId":"conn_abc"}"#)
        .await;
    assert_json_error(&resp, 503, "storage_unavailable");

    // A callback that arrives while DynamoDB is down gets a redirect, not a 500.
    let up = Harness::new().await;
    let url = up.start("user-1", "").await;
    let query = up.hosted(&url, "approve").await;
    assert_error_redirect(&down.callback(&query).await, "temporarily_unavailable");
    // ...and the attempt (in the real table) stays usable for a reload.
    assert!(location(&up.callback(&query).await).contains("status=success"));
}

#[tokio::test]
async fn dynamodb_failing_between_check_and_write_keeps_the_attempt() {
    // The table disappears after the attempt was read: the transaction fails, the
    // browser is told to retry, and nothing is half-written.
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    h.sim.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let client = h.ddb.clone();
    let table = h.table.clone();
    let drop_table = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        client
            .delete_table()
            .table_name(table)
            .send()
            .await
            .unwrap();
    });
    let resp = h.callback(&query).await;
    drop_table.await.unwrap();
    assert_error_redirect(&resp, "temporarily_unavailable");
}

#[tokio::test]
async fn callback_answers_within_the_lambda_deadline() {
    // OFAuth's own timeout is longer than its 1.5 s delay, so only the Lambda
    // deadline (600 ms left) can cut the call short.
    let h = Harness::with(Options {
        env: vec![("OFAUTH_TIMEOUT_MS", "10000".into())],
        ..Options::default()
    })
    .await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    h.sim.set_faults(Faults {
        latency_ms: 1_500,
        ..Faults::default()
    });
    // In the browser that started the attempt.
    let mut req = request(
        &link_fixtures::ApiEvent::new("GET", "/link/callback")
            .query(&query)
            .cookie(&h.browser.cookie().unwrap()),
    );
    let mut ctx = link_shared::lambda_http::Context::default();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    ctx.deadline = now_ms + 600;
    req.extensions_mut().insert(ctx);
    let resp = link_shared::return_leg::handle(req, &h.return_leg).await;
    assert_error_redirect(&resp, "temporarily_unavailable");
    assert_eq!(s(&h.items_of("attempt").await[0], "status"), "pending");
}

#[tokio::test]
async fn key_and_platform_errors_during_the_callback_keep_the_attempt() {
    // Only what OFAuth documents as being about the connection ends an attempt;
    // a refused or revoked key, outdated rules, the older error shape, a plain
    // 401 or a 400 are this platform's problem: temporarily_unavailable, and the
    // attempt is kept for a reload.
    use ofauth_sim::ErrorShape;
    let h = Harness::new().await;
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let fault = |status: u16, kind: Option<&str>, shape: ErrorShape| Faults {
        status: Some(status),
        error_type: kind.map(str::to_string),
        error_shape: shape,
        path_prefix: Some("/v2/access/self".into()),
        ..Faults::default()
    };
    for f in [
        fault(401, Some("UNAUTHORIZED"), ErrorShape::Current),
        fault(401, Some("RULES_OUTDATED"), ErrorShape::Current),
        fault(403, Some("FORBIDDEN"), ErrorShape::Current),
        fault(401, Some("UNAUTHORIZED"), ErrorShape::Legacy),
        fault(401, None, ErrorShape::Plain),
        fault(400, Some("BAD_REQUEST"), ErrorShape::Current),
        fault(404, Some("RESOURCE_NOT_FOUND"), ErrorShape::Current),
    ] {
        h.sim.set_faults(f.clone());
        assert_error_redirect(&h.callback(&query).await, "temporarily_unavailable");
        assert_eq!(
            s(&h.items_of("attempt").await[0], "status"),
            "pending",
            "{f:?}"
        );
    }
    // What is about the connection ends it: SESSION_EXPIRED (either shape).
    for shape in [ErrorShape::Current, ErrorShape::Legacy] {
        let url = h.start("user-2", "").await;
        let q = h.hosted(&url, "approve").await;
        h.sim.set_faults(fault(401, Some("SESSION_EXPIRED"), shape));
        assert_error_redirect(&h.callback(&q).await, "connection_not_verified");
    }
    h.sim.set_faults(Faults::default());
    assert!(location(&h.callback(&query).await).contains("status=success"));
}

#[tokio::test]
async fn sessions_are_rate_limited_per_user() {
    let h = Harness::with(Options {
        env: vec![
            ("SESSION_RATE_LIMIT", "3".into()),
            ("SESSION_RATE_WINDOW_SECS", "3600".into()),
        ],
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.create_session("user-1", "").await.status(), 200);
    }
    let calls = h.init_requests().len();
    let resp = h.create_session("user-1", "").await;
    assert_json_error(&resp, 429, "rate_limited");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(h.init_requests().len(), calls, "OFAuth was not asked");
    assert_eq!(h.items_of("attempt").await.len(), 3, "nothing stored");
    // Another user has their own allowance.
    assert_eq!(h.create_session("user-2", "").await.status(), 200);
}

#[tokio::test]
async fn a_session_url_off_the_link_hosts_is_refused() {
    for public in ["https://evil.example.com", "http://link.ofauth.com"] {
        let h = Harness::with(Options {
            sim_public_url: Some(public.into()),
            env: vec![("LINK_HOSTS", "127.0.0.1,link.ofauth.com".into())],
            ..Options::default()
        })
        .await;
        let resp = h.create_session("user-1", "").await;
        assert_json_error(&resp, 502, "ofauth_bad_response");
        assert!(!body_text(&resp).contains("evil"), "{public}");
        assert!(h.items_of("attempt").await.is_empty(), "{public}");
    }
}

#[tokio::test]
async fn a_write_committed_behind_a_timeout_is_found_by_the_reload() {
    // The Lambda deadline can drop a write's future after DynamoDB committed it:
    // the user is told to reload. The reload must then succeed, not refuse.
    let h = Harness::new().await;
    let (url, attempt) = h.start_attempt("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let conn = query_param(&format!("https://x/?{query}"), "connection_id").unwrap();
    // The callback's write committed, its answer lost: the attempt is returned.
    let first = h.return_to_app(&query).await;
    assert!(first.contains("code="), "{first}");
    // The reload of the callback: a new code, success.
    let reload = h.return_to_app(&query).await;
    let code = query_param(&reload, "code").expect("a code on the reload");
    // The completion's transaction committed, its answer lost (done here directly).
    let a = h
        .store
        .get_attempt(&link_shared::ids::AttemptId::parse(&attempt).unwrap())
        .await
        .unwrap()
        .unwrap();
    h.store
        .bind_connection(
            &a,
            &[link_shared::model::AttemptStatus::Returned],
            &link_shared::ids::ConnectionId::parse(&conn).unwrap(),
            Some(&a.account),
            true,
            None,
            std::time::SystemTime::now(),
        )
        .await
        .unwrap();
    // The app retries the completion: the connection is the user's, 200.
    let (status, body) = h.complete_code("user-1", &code).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    // And a reload of the return leg lands on the success page.
    let again = h.return_to_app(&query).await;
    assert!(again.contains("status=success"), "{again}");
    assert_eq!(h.items_of("connection").await.len(), 1);
}

/// One signed-in user asking for completions fast (valid or not) spends their
/// own allowance, not the route's: over it they get 429 with Retry-After,
/// before any read or OFAuth call, and another user's completion goes through.
#[tokio::test]
async fn completions_are_rate_limited_per_user() {
    let h = Harness::with(Options {
        env: vec![
            ("COMPLETE_RATE_LIMIT", "3".into()),
            ("COMPLETE_RATE_WINDOW_SECS", "3600".into()),
        ],
        ..Options::default()
    })
    .await;
    let junk = format!("lc_{}", "0".repeat(80));
    for _ in 0..3 {
        let (status, body) = h.complete_code("mallory", &junk).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_code"))
        );
    }
    let asked = h.sim.requests().len();
    let (status, body) = h.complete_code("mallory", &junk).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("rate_limited"))
    );
    assert_eq!(h.sim.requests().len(), asked, "OFAuth was not asked");
    // Another user's completion: their own allowance.
    let conn = h.connect("user-1", "").await;
    assert_eq!(s(&h.record(&conn).await, "status"), "active");
}
