//! The catalogue of `invoke/`: one API Gateway event per path the tests cover, and
//! what each must answer and what must exist first (`invoke/expected.json`).
//! `link-dev make-invoke` writes the files from here; a test checks they match.

use std::collections::BTreeMap;
use std::path::Path;

use link_fixtures::ApiEvent;
use ofauth_sim::SignatureScheme;
use serde_json::json;

use crate::{Error, Expected, Seed, SeedRecord, SimSeed};

const USER: &str = "user-demo-1";
const OTHER: &str = "user-demo-2";
/// Where `make dev` serves the functions, and the demo app the callback returns to.
pub const DOMAIN: &str = "localhost:9000";
pub const APP: &str = "http://localhost:8080";

/// An attempt id made from a number, so events can name attempts the seed creates.
fn reference(n: u32) -> String {
    format!("la_{n:040x}")
}

fn attempts(pairs: &[(String, &str)]) -> Vec<SeedRecord> {
    pairs
        .iter()
        .map(|(id, user)| SeedRecord {
            id: id.clone(),
            user: user.to_string(),
        })
        .collect()
}

fn connections(pairs: &[(&str, &str)]) -> Vec<SeedRecord> {
    pairs
        .iter()
        .map(|(id, user)| SeedRecord {
            id: id.to_string(),
            user: user.to_string(),
        })
        .collect()
}

/// An event as the local stack receives it.
fn base(method: &str, path: &str) -> ApiEvent {
    ApiEvent::new(method, path)
        .on(DOMAIN)
        .api_id("local")
        .source("127.0.0.1", "cargo-lambda-invoke")
}

fn session(body: Option<&str>, user: Option<&str>) -> ApiEvent {
    let ev = base("POST", "/link/session")
        .header("content-type", "application/json")
        .header("origin", APP)
        .body(body.unwrap_or(""));
    match user {
        Some(u) => ev.user(u),
        None => ev,
    }
}

fn callback(query: &str) -> ApiEvent {
    base("GET", "/link/callback").query(query)
}

fn api(method: &str, path: &str, user: Option<&str>) -> ApiEvent {
    let ev = base(method, path)
        .header("origin", APP)
        .header("content-type", "application/json");
    match user {
        Some(u) => ev.user(u),
        None => ev,
    }
}

fn disconnect(id: &str, user: &str) -> ApiEvent {
    api("DELETE", &format!("/link/connections/{id}"), Some(user))
        .route("/link/connections/{id}")
        .path_param("id", id)
}

fn webhook(body: &str) -> ApiEvent {
    base("POST", "/link/webhook")
        .header("content-type", "application/json")
        .body(body)
}

fn connection_event(kind: &str, conn: &str, reference: Option<&str>, status: &str) -> String {
    json!({
        "id": format!("evt_{}_{conn}", kind.replace('.', "_")),
        "type": kind,
        "timestamp": "2026-11-23T10:00:00.000Z",
        "data": {
            "clientReferenceId": reference,
            "connection": {
                "id": conn, "status": status, "permissions": [],
                "userData": { "id": "300001", "name": "Webhook Creator", "username": "webhookcreator", "avatar": "https://avatars.example/w.png" }
            }
        }
    })
    .to_string()
}

/// One entry of the catalogue.
struct Entry {
    event: serde_json::Value,
    expected: Expected,
}

fn expect(function: &str, status: u16) -> Expected {
    Expected {
        function: function.into(),
        status,
        location: None,
        location_prefix: None,
        error: None,
        seed: Seed::default(),
        sign: None,
    }
}

impl Expected {
    fn location(mut self, l: String) -> Self {
        self.location = Some(l);
        self
    }
    fn location_prefix(mut self, l: String) -> Self {
        self.location_prefix = Some(l);
        self
    }
    fn error(mut self, e: &str) -> Self {
        self.error = Some(e.into());
        self
    }
    fn seed(mut self, s: Seed) -> Self {
        self.seed = s;
        self
    }
    fn sign(mut self, scheme: &str) -> Self {
        self.sign = Some(scheme.into());
        self
    }
}

fn seed_attempt(id: String, user: &str) -> Seed {
    Seed {
        attempts: attempts(&[(id, user)]),
        ..Seed::default()
    }
}

fn sim(id: &str, reference: Option<String>) -> SimSeed {
    SimSeed {
        id: id.into(),
        reference,
    }
}

fn seed_connection(id: &str, user: &str) -> Seed {
    Seed {
        connections: connections(&[(id, user)]),
        ..Seed::default()
    }
}

/// Every event, by name.
fn catalogue() -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut add = |name: &str, event: ApiEvent, expected: Expected| {
        out.insert(
            name.to_string(),
            Entry {
                event: event.json(),
                expected,
            },
        );
    };
    let error_at = |code: &str| format!("{APP}/link/error?status=error&error_code={code}");
    let existing = "conn_eventexisting";
    let reconnect = json!({ "connectionId": existing }).to_string();

    // init-session
    add(
        "session-new",
        session(None, Some(USER)),
        expect("init-session", 200),
    );
    add(
        "session-reconnect",
        session(Some(&reconnect), Some(USER)),
        expect("init-session", 200).seed(seed_connection(existing, USER)),
    );
    add(
        "session-geolocation",
        session(
            Some(&json!({ "geolocation": { "country": "US", "state": "CA" } }).to_string()),
            Some(USER),
        ),
        expect("init-session", 200),
    );
    add(
        "session-reconnect-other-user",
        session(Some(&reconnect), Some(OTHER)),
        expect("init-session", 404)
            .error("connection_not_found")
            .seed(seed_connection(existing, USER)),
    );
    add(
        "session-unauthenticated",
        session(None, None),
        expect("init-session", 401).error("unauthenticated"),
    );
    add(
        "session-malformed-body",
        session(Some(r#"{"connectionId":"#), Some(USER)),
        expect("init-session", 400).error("invalid_json"),
    );
    add(
        "session-wrong-type",
        session(Some(r#"{"connectionId": 42}"#), Some(USER)),
        expect("init-session", 400).error("invalid_body"),
    );
    add(
        "session-oversized-body",
        session(
            Some(&json!({ "connectionId": "x".repeat(5000) }).to_string()),
            Some(USER),
        ),
        expect("init-session", 400).error("body_too_large"),
    );
    add(
        "session-preflight",
        base("OPTIONS", "/link/session")
            .header("origin", APP)
            .header("access-control-request-method", "POST"),
        expect("init-session", 204),
    );

    // callback: success, each cancel step, each error code
    add(
        "callback-success",
        callback(&format!(
            "status=success&connection_id=conn_eventsuccess&client_reference_id={}",
            reference(1)
        )),
        expect("callback", 302)
            .location_prefix(format!("{APP}/link/success?status=success&code=lc_"))
            .seed(Seed {
                attempts: attempts(&[(reference(1), USER)]),
                sim_connections: vec![sim("conn_eventsuccess", Some(reference(1)))],
                ..Seed::default()
            }),
    );
    for (i, step) in ["pre-login", "authorization", "login", "2fa"]
        .iter()
        .enumerate()
    {
        let r = reference(10 + i as u32);
        add(
            &format!("callback-cancelled-{step}"),
            callback(&format!(
                "status=cancelled&step={step}&client_reference_id={r}"
            )),
            expect("callback", 302)
                .location(format!("{APP}/link/cancelled?status=cancelled&step={step}"))
                .seed(seed_attempt(r, USER)),
        );
    }
    for (i, code) in [
        "session_expired",
        "invalid_credentials",
        "account_locked",
        "2fa_failed",
        "unknown_new_code",
    ]
    .iter()
    .enumerate()
    {
        let r = reference(20 + i as u32);
        add(
            &format!("callback-error-{}", code.replace('_', "-")),
            callback(&format!(
                "status=error&error_code={code}&client_reference_id={r}"
            )),
            expect("callback", 302)
                .location(error_at(code))
                .seed(seed_attempt(r, USER)),
        );
    }

    // callback: bad inputs
    add(
        "callback-forged-reference",
        callback(&format!(
            "status=success&connection_id=conn_eventsuccess&client_reference_id={}",
            reference(999)
        )),
        expect("callback", 302).location(error_at("invalid_state")),
    );
    add(
        "callback-unverified-connection",
        callback(&format!(
            "status=success&connection_id=conn_notatofauth&client_reference_id={}",
            reference(30)
        )),
        expect("callback", 302)
            .location(error_at("connection_not_verified"))
            .seed(seed_attempt(reference(30), USER)),
    );
    add(
        "callback-other-users-connection",
        callback(&format!(
            "status=success&connection_id={existing}&client_reference_id={}",
            reference(31)
        )),
        expect("callback", 302)
            .location(error_at("connection_conflict"))
            .seed(Seed {
                attempts: attempts(&[(reference(31), OTHER)]),
                connections: connections(&[(existing, USER)]),
                sim_connections: vec![sim(existing, None)],
            }),
    );
    add(
        "callback-open-redirect",
        callback(&format!(
            "status=cancelled&step=%2F%2Fevil.example&client_reference_id={}&redirect_uri=https%3A%2F%2Fevil.example",
            reference(32)
        )),
        expect("callback", 302)
            .location(error_at("invalid_request"))
            .seed(seed_attempt(reference(32), USER)),
    );
    add(
        "callback-malformed",
        callback("status=maybe&connection_id=conn%00x"),
        expect("callback", 302).location(error_at("invalid_request")),
    );

    // complete: the popup flow's completion, and refusals
    let complete = |body: serde_json::Value, user: Option<&str>| {
        api("POST", "/link/complete", user).body(&body.to_string())
    };
    add(
        "complete-popup",
        complete(
            json!({ "attemptId": reference(50), "connectionId": "conn_eventpopup" }),
            Some(USER),
        ),
        expect("complete", 200).seed(Seed {
            attempts: attempts(&[(reference(50), USER)]),
            sim_connections: vec![sim("conn_eventpopup", Some(reference(50)))],
            ..Seed::default()
        }),
    );
    add(
        "complete-other-users-attempt",
        complete(
            json!({ "attemptId": reference(51), "connectionId": "conn_eventpopup" }),
            Some(OTHER),
        ),
        expect("complete", 404)
            .error("attempt_not_found")
            .seed(seed_attempt(reference(51), USER)),
    );
    add(
        "complete-invalid-code",
        complete(
            json!({ "code": format!("lc_{}", "0".repeat(80)) }),
            Some(USER),
        ),
        expect("complete", 400).error("invalid_code"),
    );
    add(
        "complete-malformed",
        complete(json!({ "code": 42 }), Some(USER)),
        expect("complete", 400).error("invalid_request"),
    );
    add(
        "complete-unauthenticated",
        complete(json!({ "code": "lc_x" }), None),
        expect("complete", 401).error("unauthenticated"),
    );
    add(
        "complete-preflight",
        base("OPTIONS", "/link/complete")
            .header("origin", APP)
            .header("access-control-request-method", "POST"),
        expect("complete", 204),
    );

    // webhook: signed when sent ("sign"), or deliberately bad
    add(
        "webhook-connection-created",
        webhook(&connection_event(
            "connection.created",
            "conn_eventwebhook",
            Some(&reference(40)),
            "active",
        )),
        expect("webhook", 200)
            .sign("ofauth")
            .seed(seed_attempt(reference(40), USER)),
    );
    add(
        "webhook-connection-created-svix",
        webhook(&connection_event(
            "connection.created",
            "conn_eventwebhooksvix",
            Some(&reference(41)),
            "active",
        )),
        expect("webhook", 200)
            .sign("svix")
            .seed(seed_attempt(reference(41), USER)),
    );
    add(
        "webhook-connection-updated",
        webhook(&connection_event(
            "connection.updated",
            existing,
            None,
            "active",
        )),
        expect("webhook", 200)
            .sign("ofauth")
            .seed(seed_connection(existing, USER)),
    );
    add(
        "webhook-connection-expired",
        webhook(&connection_event(
            "connection.expired",
            existing,
            None,
            "expired",
        )),
        expect("webhook", 200)
            .sign("svix")
            .seed(seed_connection(existing, USER)),
    );
    add(
        "webhook-connection-disconnected",
        webhook(&connection_event(
            "connection.disconnected",
            existing,
            None,
            "disconnected",
        )),
        expect("webhook", 200)
            .sign("ofauth")
            .seed(seed_connection(existing, USER)),
    );
    add(
        "webhook-rules-updated",
        webhook(
            &json!({ "type": "rules.updated", "timestamp": "2026-11-23T10:00:00Z", "data": {} })
                .to_string(),
        ),
        expect("webhook", 200).sign("ofauth"),
    );
    add(
        "webhook-malformed-json",
        webhook(r#"{"type": "connection.created", "#),
        expect("webhook", 400).error("invalid_json").sign("svix"),
    );
    let forged = json!({
        "id": "evt_forged", "type": "connection.created", "timestamp": "2026-11-23T10:00:00.000Z",
        "data": { "clientReferenceId": reference(40), "connection": { "id": "conn_eventwebhook", "status": "active" } }
    })
    .to_string();
    let signed = |t: i64, secret: &str| {
        let headers =
            ofauth_sim::sign_headers(secret, SignatureScheme::Ofauth, "", t, forged.as_bytes());
        headers
            .iter()
            .fold(webhook(&forged), |ev, (k, v)| ev.header(k, v))
    };
    add(
        "webhook-wrong-signature",
        signed(1_795_428_000, "whsec_d3Jvbmc="),
        expect("webhook", 401).error("invalid_signature"),
    );
    add(
        "webhook-stale-signature",
        signed(1_700_000_000, &crate::env_example("OFAUTH_WEBHOOK_SECRET")),
        expect("webhook", 401).error("invalid_signature"),
    );
    add(
        "webhook-missing-signature",
        webhook(&forged),
        expect("webhook", 401).error("invalid_signature"),
    );

    // connections
    add(
        "connections-list",
        api("GET", "/link/connections", Some(USER)),
        expect("connections", 200).seed(seed_connection(existing, USER)),
    );
    add(
        "connections-disconnect",
        disconnect("conn_eventdisconnect", USER),
        expect("connections", 204).seed(Seed {
            connections: connections(&[("conn_eventdisconnect", USER)]),
            sim_connections: vec![sim("conn_eventdisconnect", None)],
            ..Seed::default()
        }),
    );
    add(
        "connections-disconnect-other-user",
        disconnect(existing, OTHER),
        expect("connections", 404)
            .error("connection_not_found")
            .seed(seed_connection(existing, USER)),
    );
    // An erasure (a data-subject request) by a user of its own: their one
    // connection is disconnected at OFAuth, its record kept without them.
    add(
        "connections-erase",
        api("DELETE", "/link/me", Some("user-erase-1")).route("/link/me"),
        expect("connections", 200).seed(Seed {
            connections: connections(&[("conn_eventerase", "user-erase-1")]),
            sim_connections: vec![sim("conn_eventerase", None)],
            ..Seed::default()
        }),
    );
    add(
        "connections-unauthenticated",
        api("GET", "/link/connections", None),
        expect("connections", 401).error("unauthenticated"),
    );
    // The platform's read API (AWS IAM): a signed caller (the IAM authorizer's
    // context) reads a user's connections and one connection; no signature, a
    // browser's JWT, an unknown connection are refused.
    let service = "arn:aws:iam::123456789012:role/billing-worker";
    let platform_conn = "conn_eventplatform";
    let users_route = "/platform/users/{userId}/connections";
    let user_connections = |path_user: &str| {
        base("GET", &format!("/platform/users/{path_user}/connections"))
            .route(users_route)
            .path_param("userId", path_user)
    };
    let one_connection = |id: &str| {
        base("GET", &format!("/platform/connections/{id}"))
            .route("/platform/connections/{id}")
            .path_param("id", id)
    };
    add(
        "platform-user-connections",
        user_connections(USER).iam(service),
        expect("connections", 200).seed(seed_connection(platform_conn, USER)),
    );
    add(
        "platform-connection",
        one_connection(platform_conn).iam(service),
        expect("connections", 200).seed(seed_connection(platform_conn, USER)),
    );
    add(
        "platform-unknown-connection",
        one_connection("conn_eventnobodyhasthis").iam(service),
        expect("connections", 404).error("connection_not_found"),
    );
    add(
        "platform-unsigned",
        user_connections(USER),
        expect("connections", 403).error("forbidden"),
    );
    add(
        "platform-jwt",
        user_connections(USER).user(USER),
        expect("connections", 403).error("forbidden"),
    );
    // reconcile: a scheduled run (200: it ran, not busy, no error).
    out.insert(
        "reconcile-scheduled".into(),
        Entry {
            event: link_fixtures::scheduled_event("2026-11-23T12:00:00Z"),
            expected: expect("reconcile", 200).seed(Seed {
                connections: connections(&[("conn_eventreconcile", USER)]),
                sim_connections: vec![sim("conn_eventreconcile", None)],
                ..Seed::default()
            }),
        },
    );
    out
}

/// The files `invoke/` holds: `<name>.json` for each event and `expected.json`.
pub fn files() -> Result<BTreeMap<String, String>, Error> {
    let mut files = BTreeMap::new();
    let mut expected = BTreeMap::new();
    for (name, entry) in catalogue() {
        files.insert(
            format!("{name}.json"),
            serde_json::to_string_pretty(&entry.event)? + "\n",
        );
        expected.insert(name, entry.expected);
    }
    files.insert(
        "expected.json".into(),
        serde_json::to_string_pretty(&expected)? + "\n",
    );
    Ok(files)
}

/// Writes `invoke/` from the catalogue, removing event files it no longer has.
pub fn write(dir: &Path) -> Result<usize, Error> {
    let files = files()?;
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.ends_with(".json") && !files.contains_key(&name) {
            std::fs::remove_file(&path)?;
        }
    }
    for (name, text) in &files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(files.len() - 1)
}
