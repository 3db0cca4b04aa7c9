//! Fuzzing every input a request controls, as property tests (proptest): the
//! machine's one stable Rust toolchain cannot build cargo-fuzz (nightly), and the
//! properties here are about answers, not only crashes, which proptest states
//! directly and shrinks to a minimal failing input.
//!
//! Targets: the callback's query (and raw path) up to the decision before the
//! store; the session body; both webhook signature schemes' headers and the
//! payload; the connections path, cursor and limit; the completion body.
//! Properties: no panic; every answer is one of the documented statuses and
//! codes; every redirect starts with the configured app URL and carries only the
//! documented parameters, each from a safe alphabet.
//!
//! `FUZZ_CASES` inputs per target (default 2,000, CI's short pass). The full run:
//! `FUZZ_CASES=1000000 cargo test --release -p link-shared --test api fuzz:: -- --nocapture`
//! (each target prints its inputs per second).

use std::collections::HashMap;
use std::time::Instant;

use link_shared::config::{AppTargets, Config};
use link_shared::lambda_http::http::HeaderMap;
use link_shared::lambda_http::http::HeaderName;
use link_shared::lambda_http::{Body, Context, Request, Response};
use link_shared::return_leg::callback;
use link_shared::return_leg::callback_query::{read_callback, CallbackOutcome};
use link_shared::return_leg::completion;
use link_shared::return_leg::refusal::RefusalCode;
use link_shared::signature::{self, Scheme, Verified};
use link_shared::{apigw, connections_api as connections, session, webhook};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};

const APP: &str = "https://app.example.com";
const SECRET: &str = "whsec_ZnV6ei1zaWduaW5nLXNlY3JldA==";

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Runs `property` on `cases()` inputs from `strategy`, and reports the rate.
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let n = cases();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: n,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let started = Instant::now();
    runner
        .run(&strategy, property)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "fuzz {name}: {n} inputs in {secs:.1} s ({:.0} inputs/s)",
        f64::from(n) / secs
    );
}

fn app() -> AppTargets {
    let env: HashMap<&str, &str> = [
        ("TABLE_NAME", "t"),
        ("APP_URL", APP),
        ("OFAUTH_API_KEY", "k"),
    ]
    .into();
    Config::from_lookup(|k| env.get(k).map(|v| v.to_string()))
        .unwrap()
        .return_leg
        .app
}

/// Text a client controls: some structure, much noise.
fn noise() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[a-z0-9_-]{0,70}",
        "[%0-9A-Fa-f&=+ ]{0,30}",
        "[\\x00-\\x1f\\x7f\"<>\\\\ ]{0,10}",
        Just(String::new()),
        "(https?:)?//evil\\.example(/.{0,10})?",
    ]
}

fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "la_[0-9a-f]{40}",
        "la_[0-9a-fA-F]{0,45}",
        "conn_[a-z0-9]{1,30}",
        "lc_[0-9a-f]{80}",
        noise(),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("status".to_string()),
        Just("connection_id".to_string()),
        Just("client_reference_id".to_string()),
        Just("step".to_string()),
        Just("error_code".to_string()),
        Just("redirect_uri".to_string()),
        noise(),
    ];
    let value = prop_oneof![
        Just("success".to_string()),
        Just("cancelled".to_string()),
        Just("error".to_string()),
        Just("2fa".to_string()),
        id_like(),
    ];
    prop_oneof![
        proptest::collection::vec((key, value), 0..7).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }),
        noise(),
        "[ -~]{0,200}",
    ]
}

fn event(
    method: &str,
    path: &str,
    query: &str,
    headers: HeaderMap,
    body: Option<String>,
) -> Request {
    let mut ev = link_fixtures::ApiEvent::new(method, path)
        .user("user-1")
        .build();
    ev.raw_path = Some(path.to_string());
    ev.raw_query_string = Some(query.to_string());
    for (k, v) in headers.iter() {
        ev.headers.insert(k.clone(), v.clone());
    }
    ev.body = body;
    apigw::request(ev, Context::default())
}

/// The redirect's target and parameters are the documented ones, from a safe alphabet.
fn check_redirect(resp: &Response<Body>) -> Result<(), TestCaseError> {
    prop_assert_eq!(resp.status().as_u16(), 302);
    let loc = resp.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(loc).unwrap();
    prop_assert_eq!(url.origin().ascii_serialization(), APP);
    prop_assert!(["/link/success", "/link/cancelled", "/link/error"].contains(&url.path()));
    for (k, v) in url.query_pairs() {
        prop_assert!(
            ["status", "connection_id", "code", "step", "error_code"].contains(&k.as_ref()),
            "{}",
            loc
        );
        prop_assert!(
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{}",
            loc
        );
    }
    Ok(())
}

#[test]
fn callback_query() {
    let app = app();
    let documented = [RefusalCode::InvalidRequest, RefusalCode::InvalidState];
    fuzz(
        "callback query",
        (
            query(),
            prop_oneof![
                Just("/link/callback".to_string()),
                "/link/callback[ -~]{0,5}"
            ],
        ),
        |(q, path)| {
            let req = event("GET", &path, &q, HeaderMap::new(), None);
            match read_callback(&req) {
                Ok(cb) => {
                    let resp = callback::redirect_for(&app, &cb.outcome, None);
                    check_redirect(&resp)?;
                    if let CallbackOutcome::Success { connection } = &cb.outcome {
                        prop_assert!(q.contains(connection.as_str()));
                    }
                }
                Err(code) => {
                    prop_assert!(documented.contains(&code), "{:?}", code);
                    check_redirect(&callback::error_redirect(&app, code))?;
                }
            }
            Ok(())
        },
    );
}

#[test]
fn session_body() {
    let documented = [
        "invalid_json",
        "invalid_body",
        "invalid_connection_id",
        "invalid_geolocation",
    ];
    let body = prop_oneof![
        noise(),
        "\\{.{0,60}\\}",
        (id_like(), noise(), noise()).prop_map(|(c, country, state)| {
            serde_json::json!({ "connectionId": c, "geolocation": { "country": country, "state": state } })
                .to_string()
        }),
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ];
    fuzz("session body", body, |b| {
        if let Err(e) = session::parse_request(b.as_bytes()) {
            prop_assert!(documented.contains(&e.code), "{}", e.code);
        }
        Ok(())
    });
}

#[test]
fn webhook_signatures_and_payload() {
    let now = 1_800_000_000i64;
    let header = prop_oneof![
        noise(),
        (any::<i64>(), "[0-9a-f]{0,70}").prop_map(|(t, h)| format!("t={t},v1={h}")),
        (any::<i64>(), noise()).prop_map(|(t, v)| format!("t={t},v1={v},v1=00")),
        proptest::collection::vec("v1,[A-Za-z0-9+/=]{0,50}", 0..12).prop_map(|v| v.join(" ")),
    ];
    let payload = prop_oneof![
        noise(),
        (id_like(), id_like(), any::<i64>(), noise()).prop_map(|(conn, r, ts, kind)| {
            serde_json::json!({ "type": kind, "timestamp": ts, "data": { "clientReferenceId": r, "connection": { "id": conn, "status": "active" } } })
                .to_string()
        }),
        (id_like(), noise()).prop_map(|(conn, ts)| {
            serde_json::json!({ "type": "connection.created", "timestamp": ts, "data": { "connection": { "id": conn, "userData": { "id": 5 } } } })
                .to_string()
        }),
    ];
    let valid = ["invalid_signature", "invalid_json", "invalid_event"];
    fuzz(
        "webhook",
        (
            header.clone(),
            header,
            noise(),
            any::<i64>(),
            payload,
            any::<bool>(),
        ),
        |(ofauth, svix_sig, svix_id, svix_ts, body, sign)| {
            let mut h = HeaderMap::new();
            let put = |h: &mut HeaderMap, k: &str, v: &str| {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                    v.parse(),
                ) {
                    h.insert(k, v);
                }
            };
            if sign {
                // A genuine signature over the fuzzed body: the payload checks run.
                for (k, v) in ofauth_sim::sign_headers(
                    SECRET,
                    ofauth_sim::SignatureScheme::Svix,
                    "msg_f",
                    now,
                    body.as_bytes(),
                ) {
                    put(&mut h, &k, &v);
                }
            } else {
                put(&mut h, "ofauth-signature", &ofauth);
                put(&mut h, "svix-signature", &svix_sig);
                put(&mut h, "svix-id", &svix_id);
                put(&mut h, "svix-timestamp", &svix_ts.to_string());
            }
            match signature::verify(&h, body.as_bytes(), SECRET, now) {
                Err(_) => prop_assert!(!sign),
                Ok(v) => {
                    prop_assert!(sign);
                    if let Err(e) = webhook::read_event(body.as_bytes(), &v) {
                        prop_assert!(valid.contains(&e.code), "{}", e.code);
                    }
                }
            }
            // The payload on its own, whatever signed it.
            let unsigned = Verified {
                scheme: Scheme::OfAuth,
                delivery_id: None,
                timestamp: svix_ts,
            };
            if let Err(e) = webhook::read_event(body.as_bytes(), &unsigned) {
                prop_assert!(valid.contains(&e.code), "{}", e.code);
            }
            Ok(())
        },
    );
}

#[test]
fn connections_path_cursor_and_limit() {
    fuzz(
        "connections",
        (
            prop_oneof![id_like(), "[ -~]{0,30}"],
            proptest::option::of(prop_oneof![noise(), "[0-9]{1,5}"]),
            proptest::option::of(prop_oneof![noise(), "[A-Za-z0-9_-]{0,120}"]),
        ),
        |(id, limit, cursor)| {
            let req = event(
                "DELETE",
                &format!("/link/connections/{id}"),
                "",
                HeaderMap::new(),
                None,
            );
            if let Some(Ok(c)) = connections::connection_id_param(&req) {
                prop_assert!(!c.as_str().is_empty() && c.as_str().len() <= 128);
            }
            if let Err(e) = connections::parse_page(limit.as_deref(), cursor.as_deref()) {
                prop_assert!(
                    ["invalid_limit", "invalid_cursor"].contains(&e.code),
                    "{}",
                    e.code
                );
                prop_assert_eq!(e.status.as_u16(), 400);
            }
            Ok(())
        },
    );
}

#[test]
fn completion_body() {
    let body = prop_oneof![
        noise(),
        id_like().prop_map(|c| serde_json::json!({ "code": c }).to_string()),
        (id_like(), id_like()).prop_map(|(a, c)| {
            serde_json::json!({ "attemptId": a, "connectionId": c }).to_string()
        }),
    ];
    fuzz("completion body", body, |b| {
        if let Err(e) = completion::parse_request(b.as_bytes()) {
            prop_assert!(
                [
                    RefusalCode::InvalidRequest.as_str(),
                    RefusalCode::InvalidCode.as_str()
                ]
                .contains(&e.code),
                "{}",
                e.code
            );
            prop_assert_eq!(e.status.as_u16(), 400);
        }
        Ok(())
    });
}
