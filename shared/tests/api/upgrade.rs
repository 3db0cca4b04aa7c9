//! Upgrades lose nothing: the items a release wrote, read and acted on by the
//! current code.
//!
//! `shared/tests/fixtures/items-<version>.json` holds every item a release's
//! real flows left in the table (DynamoDB JSON, by `pk`), with the OFAuth
//! side of them (the simulator's connections) and what only the browser or
//! the user knew (a completion code). [`write_item_fixtures`] makes it, for
//! this crate's version:
//!
//! ```sh
//! WRITE_ITEM_FIXTURES=1 cargo test -p link-shared --features dev-identity --test api \
//!     upgrade::write_item_fixtures -- --ignored --exact
//! ```
//!
//! [`old_items_are_read_and_acted_on`] loads each fixture file into a fresh
//! table, its times moved to now (by whole ten minutes, so that rate windows
//! and reconnect buckets keep their alignment), and runs the flows that can
//! follow each item: the returned attempt completed, a webhook attesting the
//! verifying one, a reconcile run resuming the stored cursor, a disconnect and
//! an erasure of records written before, a new connect past an old erasure's
//! barrier, and the publisher on the stream images of the old items. Every
//! assertion fails when the code can no longer read an item of that release.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::helpers::*;
use aws_sdk_dynamodb::types::AttributeValue;
use link_shared::config::{ReconcileSettings, UnboundAction};
use ofauth_sim::{Faults, SignatureScheme, SimConnection};
use serde_json::{json, Map, Value};

/// Times are moved by whole multiples of this (seconds): the rate windows (60 s)
/// and the reconnect buckets (600 s) stay aligned.
const SHIFT_STEP_SECS: i64 = 600;
/// How far from the fixture's making a number or time may be and still be one
/// of its times (moved with them); anything further is left as it is.
const TIME_RANGE_SECS: i64 = 40 * 86_400;

/// The users of each flow (fixed names: the fixture is committed).
const ACTIVE: &str = "user-active";
const OLD: &str = "user-old";
const EXPIRED: &str = "user-expired";
const GONE: &str = "user-gone";
const RECONNECT: &str = "user-reconnect";
const ERASED: &str = "user-erased";
const RETURNED: &str = "user-returned";
const PENDING: &str = "user-pending";
const CANCELLED: &str = "user-cancelled";
const VERIFYING: &str = "user-verifying";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every release's fixture file.
fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("shared/tests/fixtures")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("items-") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
}

/// An attribute value in DynamoDB's JSON, its map's keys sorted.
fn to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => {
            let mut v = v.clone();
            v.sort();
            json!({ "SS": v })
        }
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(to_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        other => panic!("an attribute type the fixtures do not hold: {other:?}"),
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    let sorted: BTreeMap<&String, &AttributeValue> = item.iter().collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect::<Map<_, _>>(),
    )
}

fn from_json(v: &Value) -> AttributeValue {
    let (kind, v) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .expect("an attribute value");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    match kind.as_str() {
        "S" => AttributeValue::S(v.as_str().unwrap().to_string()),
        "N" => AttributeValue::N(v.as_str().unwrap().to_string()),
        "BOOL" => AttributeValue::Bool(v.as_bool().unwrap()),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings(v)),
        "NS" => AttributeValue::Ns(strings(v)),
        "L" => AttributeValue::L(v.as_array().unwrap().iter().map(from_json).collect()),
        "M" => AttributeValue::M(item_from_json(v)),
        other => panic!("an attribute type the fixtures do not hold: {other}"),
    }
}

fn item_from_json(v: &Value) -> HashMap<String, AttributeValue> {
    v.as_object()
        .expect("an item")
        .iter()
        .map(|(k, v)| (k.clone(), from_json(v)))
        .collect()
}

/// Moves the fixture's times by `delta` seconds: numbers that are Unix
/// seconds or milliseconds near its making, RFC 3339 times, and such numbers
/// between `#` in keys (`RATE#…#<window>`, `RECONCILE#seen#<sweep>#<chunk>`).
struct Shift {
    made_ms: i64,
    delta_secs: i64,
}

impl Shift {
    fn number(&self, v: i64) -> Option<i64> {
        let made = self.made_ms / 1000;
        if (v - made).abs() <= TIME_RANGE_SECS {
            Some(v + self.delta_secs)
        } else if (v - self.made_ms).abs() <= TIME_RANGE_SECS * 1000 {
            Some(v + self.delta_secs * 1000)
        } else {
            None
        }
    }

    /// One string: an RFC 3339 time (whole seconds or milliseconds, as stored),
    /// or `#`-separated parts, the numeric or time ones moved. Other text as it is.
    fn text(&self, v: &str) -> String {
        v.split('#')
            .map(|part| self.part(part))
            .collect::<Vec<_>>()
            .join("#")
    }

    fn part(&self, part: &str) -> String {
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            if let Some(moved) = part.parse().ok().and_then(|n| self.number(n)) {
                return moved.to_string();
            }
            return part.to_string();
        }
        // A time, possibly after the index's range marker (`!`, `~`).
        let (prefix, rest) = match part.strip_prefix(['!', '~']) {
            Some(rest) => (&part[..1], rest),
            None => ("", part),
        };
        let looks_like_time = rest.len() >= 20
            && rest.as_bytes()[4] == b'-'
            && rest.as_bytes()[10] == b'T'
            && rest.ends_with('Z');
        match looks_like_time
            .then(|| link_shared::time::parse_rfc3339_ms(rest))
            .flatten()
        {
            Some(ms) => {
                let t = SystemTime::UNIX_EPOCH
                    + Duration::from_millis((ms + self.delta_secs * 1000) as u64);
                let moved = if rest.contains('.') {
                    link_shared::time::rfc3339_millis(t)
                } else {
                    link_shared::time::rfc3339(t)
                };
                format!("{prefix}{moved}")
            }
            None => part.to_string(),
        }
    }

    fn value(&self, v: &AttributeValue) -> AttributeValue {
        match v {
            AttributeValue::S(s) => AttributeValue::S(self.text(s)),
            AttributeValue::N(n) => AttributeValue::N(
                n.parse()
                    .ok()
                    .and_then(|n| self.number(n))
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| n.clone()),
            ),
            AttributeValue::Ss(v) => AttributeValue::Ss(v.iter().map(|s| self.text(s)).collect()),
            AttributeValue::L(l) => AttributeValue::L(l.iter().map(|v| self.value(v)).collect()),
            AttributeValue::M(m) => AttributeValue::M(self.item(m)),
            other => other.clone(),
        }
    }

    fn item(&self, item: &HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
        item.iter()
            .map(|(k, v)| (k.clone(), self.value(v)))
            .collect()
    }

    fn connection(&self, mut c: SimConnection) -> SimConnection {
        c.created_at = self.text(&c.created_at);
        c.updated_at = self.text(&c.updated_at);
        c
    }
}

/// Waits until the simulator has sent every webhook it is going to (no new
/// delivery for half a second).
async fn settle(h: &Harness) {
    let mut seen = h.sim.deliveries().len();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = h.sim.deliveries().len();
        if now == seen {
            return;
        }
        seen = now;
    }
}

/// Makes `shared/tests/fixtures/items-<this crate's version>.json` from real
/// flows on DynamoDB Local (with the simulator's signed webhooks): a pending, a
/// cancelled, a returned (with its completion code), a completed and a
/// verifying attempt; active, expired, disconnected, reconnected and erased
/// connections (with the erasure's marker and barrier); an attested
/// connection nobody bound yet; a user with a connection and an attempt in
/// flight to erase later; the reconciler's cursor in the middle of a sweep and
/// what it saw; rate-limit windows and webhook event records. Only with
/// `WRITE_ITEM_FIXTURES=1`.
///
/// Both tests run on [`block_on`]'s large stacks: a body that awaits every
/// handler in turn holds all their futures.
#[test]
#[ignore = "writes the fixture file: WRITE_ITEM_FIXTURES=1 … -- --ignored"]
fn write_item_fixtures() {
    if std::env::var("WRITE_ITEM_FIXTURES").as_deref() != Ok("1") {
        eprintln!("WRITE_ITEM_FIXTURES=1 writes the fixture file; nothing written");
        return;
    }
    block_on(make_fixtures());
}

async fn make_fixtures() {
    let h = Harness::with(Options {
        webhooks: Some(SignatureScheme::Ofauth),
        env: vec![
            // The longest code (capped by the attempt's own expiry): the
            // returned attempt's code is still good when the test loads it.
            ("COMPLETION_CODE_TTL_SECS", "3600".into()),
            // On, so that their windows are items too.
            ("SESSION_RATE_LIMIT", "100".into()),
            ("COMPLETE_RATE_LIMIT", "100".into()),
        ],
        ..Options::default()
    })
    .await;
    let made_ms = link_shared::time::epoch_ms(SystemTime::now());
    let mut flows = Map::new();

    let active = h.connect(ACTIVE, "").await;
    settle(&h).await;
    flows.insert(
        "active".into(),
        json!({ "user": ACTIVE, "connection": active }),
    );

    let old = h.connect(OLD, "").await;
    let (_, old_pending) = h.start_attempt(OLD, "").await;
    settle(&h).await;
    flows.insert(
        "toErase".into(),
        json!({ "user": OLD, "connection": old, "pendingAttempt": old_pending }),
    );

    let expired = h.connect(EXPIRED, "").await;
    settle(&h).await;
    assert!(h.sim.expire_connection(&expired));
    settle(&h).await;
    assert_eq!(s(&h.record(&expired).await, "status"), "expired");
    flows.insert(
        "expired".into(),
        json!({ "user": EXPIRED, "connection": expired }),
    );

    let gone = h.connect(GONE, "").await;
    settle(&h).await;
    assert_eq!(h.disconnect(GONE, &gone).await.status(), 204);
    settle(&h).await;
    flows.insert(
        "disconnected".into(),
        json!({ "user": GONE, "connection": gone }),
    );

    let reconnected = h.connect(RECONNECT, "").await;
    settle(&h).await;
    let url = h
        .start(RECONNECT, &format!(r#"{{"connectionId":"{reconnected}"}}"#))
        .await;
    let query = h.hosted(&url, "approve").await;
    let (status, body) = h.return_and_complete(RECONNECT, &query).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("active")));
    settle(&h).await;
    flows.insert(
        "reconnected".into(),
        json!({ "user": RECONNECT, "connection": reconnected }),
    );

    let erased = h.connect(ERASED, "").await;
    settle(&h).await;
    let (status, body) = h.erase(ERASED).await;
    assert_eq!(status, 200, "{body}");
    settle(&h).await;
    flows.insert(
        "erased".into(),
        json!({ "user": ERASED, "connection": erased }),
    );

    let (url, returned_attempt) = h.start_attempt(RETURNED, "").await;
    let query = h.hosted(&url, "approve").await;
    let returned = param(&query, "connection_id");
    let loc = h.return_to_app(&query).await;
    let code = query_param(&loc, "code").expect("a completion code");
    settle(&h).await;
    flows.insert(
        "returned".into(),
        json!({ "user": RETURNED, "attempt": returned_attempt, "connection": returned, "code": code }),
    );

    let (_, pending) = h.start_attempt(PENDING, "").await;
    flows.insert(
        "pending".into(),
        json!({ "user": PENDING, "attempt": pending }),
    );

    let (url, cancelled) = h.start_attempt(CANCELLED, "").await;
    let query = h.hosted(&url, "cancel?step=2fa").await;
    let loc = h.return_to_app(&query).await;
    assert!(!loc.contains("status=success"), "{loc}");
    let attempt = h.item(&format!("ATTEMPT#{cancelled}")).await.unwrap();
    assert_eq!(s(&attempt, "status"), "cancelled");
    flows.insert(
        "cancelled".into(),
        json!({ "user": CANCELLED, "attempt": cancelled }),
    );

    // A run cut short by its page budget: the cursor in the middle of a sweep.
    let svc = h.reconciler(
        ReconcileSettings {
            unbound: UnboundAction::Report,
            unbound_grace: Duration::from_secs(3600),
            max_pages: 1,
            personal_data_retention: None,
            breaker_percent: 20,
            expected_account: None,
        },
        2,
    );
    let run = h.reconcile_with(&svc).await;
    assert!(!run.sweep_done && run.counts.errors == 0, "{run:?}");
    let cursor = h.item("RECONCILE#cursor").await.expect("the cursor");
    assert_ne!(s(&cursor, "phase"), "done");

    // Last: nothing attests it (its webhook is held and never sent).
    h.withhold_attestation();
    let (url, verifying_attempt) = h.start_attempt(VERIFYING, "").await;
    let query = h.hosted(&url, "approve").await;
    let verifying = param(&query, "connection_id");
    let (status, body) = h.return_and_complete(VERIFYING, &query).await;
    assert_eq!((status, body["status"].as_str()), (202, Some("verifying")));
    h.sim.set_faults(Faults::default());
    flows.insert(
        "verifying".into(),
        json!({ "user": VERIFYING, "attempt": verifying_attempt, "connection": verifying }),
    );

    let items: Vec<Value> = h.items().await.iter().map(item_json).collect();
    let mut ofauth = h.sim.connections();
    ofauth.sort_by_key(|c| c.seq);
    let fixture = json!({
        "release": env!("CARGO_PKG_VERSION"),
        "generatedAtMs": made_ms,
        "about": "Every item this release's real flows left in the table (shared/tests/api/upgrade.rs, write_item_fixtures), DynamoDB JSON by pk; `ofauth` the simulator's connections, `flows` what only the users and browsers knew. Times are as written; the test moves them to now.",
        "flows": flows,
        "ofauth": ofauth,
        "items": items,
    });
    let path = fixtures_dir().join(format!("items-{}.json", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(fixtures_dir()).unwrap();
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&fixture).unwrap() + "\n",
    )
    .unwrap();
    eprintln!(
        "wrote {} ({} items)",
        path.display(),
        fixture["items"].as_array().unwrap().len()
    );
}

/// (detail-type, connection, cause) of each event, sorted: the stream's
/// shards give no order between items.
fn summary(events: &[ofauth_sim::eventbridge::Received]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.detail_type.clone(),
                e.detail["connectionId"].as_str().unwrap_or("-").to_string(),
                e.detail["cause"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The reconciler's seen-id chunks per sweep (from their keys,
/// `RECONCILE#seen#<sweep>#<chunk>`).
async fn seen_chunks(h: &Harness) -> BTreeMap<String, usize> {
    let mut sweeps = BTreeMap::new();
    for item in h.items().await {
        if let Some(rest) = s(&item, "pk").strip_prefix("RECONCILE#seen#") {
            let sweep = rest.split('#').next().unwrap_or_default().to_string();
            *sweeps.entry(sweep).or_insert(0) += 1;
        }
    }
    sweeps
}

#[test]
fn old_items_are_read_and_acted_on() {
    let files = fixture_files();
    assert!(!files.is_empty(), "no fixture in {:?}", fixtures_dir());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let fixture: Value = serde_json::from_str(&text).unwrap();
        block_on(upgrade_from(file, fixture));
    }
}

async fn upgrade_from(file: PathBuf, fixture: Value) {
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    let flow = |f: &str, k: &str| -> String {
        fixture["flows"][f][k]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: flows.{f}.{k}"))
            .to_string()
    };
    let h = Harness::new().await;
    let made_ms = fixture["generatedAtMs"].as_i64().unwrap();
    let now_ms = link_shared::time::epoch_ms(SystemTime::now());
    let shift = Shift {
        made_ms,
        delta_secs: (now_ms - made_ms).div_euclid(1000 * SHIFT_STEP_SECS) * SHIFT_STEP_SECS,
    };

    // OFAuth's side as it was, then the table's items as the release wrote them.
    let ofauth: Vec<SimConnection> = serde_json::from_value(fixture["ofauth"].clone()).unwrap();
    h.sim
        .restore_connections(ofauth.into_iter().map(|c| shift.connection(c)).collect());
    for item in fixture["items"].as_array().unwrap() {
        h.ddb
            .put_item()
            .table_name(&h.table)
            .set_item(Some(shift.item(&item_from_json(item))))
            .send()
            .await
            .unwrap();
    }
    // The loading's own stream records are not the release's changes: read past them.
    let mut stream = local_dynamodb::stream::StreamReader::open(&dynamodb_endpoint(), &h.table)
        .await
        .unwrap();
    let loaded = stream.read().await.unwrap();
    assert_eq!(loaded.len(), fixture["items"].as_array().unwrap().len());

    // The lists read the old records and the verifying attempt.
    let listed_as = |list: &Value, conn: &str| -> (String, String) {
        let c = list["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == conn)
            .unwrap_or_else(|| panic!("{name}: {conn} not listed: {list}"));
        (
            c["status"].as_str().unwrap_or("").to_string(),
            c["username"].as_str().unwrap_or("").to_string(),
        )
    };
    let active = flow("active", "connection");
    let (status, list) = h.list_connections(ACTIVE).await;
    assert_eq!(status, 200, "{name}: {list}");
    let (st, username) = listed_as(&list, &active);
    assert_eq!(st, "active", "{name}: {list}");
    assert!(!username.is_empty(), "{name}: no username: {list}");
    let (_, list) = h.list_connections(EXPIRED).await;
    assert_eq!(
        listed_as(&list, &flow("expired", "connection")).0,
        "expired",
        "{name}"
    );
    let (_, list) = h.list_connections(RECONNECT).await;
    assert_eq!(listed(&list), [flow("reconnected", "connection")], "{name}");
    assert_eq!(
        listed_as(&list, &flow("reconnected", "connection")).0,
        "active",
        "{name}"
    );
    let verifying = flow("verifying", "connection");
    let (_, list) = h.list_connections(VERIFYING).await;
    assert_eq!(listed_as(&list, &verifying).0, "verifying", "{name}");

    // The returned attempt completes with the code its browser was given.
    let returned = flow("returned", "connection");
    let (status, body) = h.complete_code(RETURNED, &flow("returned", "code")).await;
    assert_eq!(
        (
            status,
            body["status"].as_str(),
            body["connectionId"].as_str()
        ),
        (200, Some("active"), Some(returned.as_str())),
        "{name}: completing the returned attempt: {body}"
    );
    assert_eq!(s(&h.record(&returned).await, "userId"), RETURNED, "{name}");

    // OFAuth's webhook attests the verifying attempt: bound to its user.
    let account = h.sim.connection(&verifying).unwrap().user_id;
    let body = json!({
        "id": "evt_upgrade_verifying", "type": "connection.created",
        "timestamp": link_shared::time::rfc3339_millis(SystemTime::now()),
        "data": { "clientReferenceId": flow("verifying", "attempt"),
            "connection": { "id": verifying, "status": "active", "userData": { "id": account } } }
    })
    .to_string();
    let resp = h
        .deliver(&signed_now(SignatureScheme::Ofauth, "", &body), &body)
        .await;
    assert_eq!(
        (resp.status().as_u16(), json_body(&resp)["outcome"].as_str()),
        (200, Some("bound")),
        "{name}: the webhook on the verifying attempt: {}",
        body_text(&resp)
    );
    let (_, list) = h.list_connections(VERIFYING).await;
    assert_eq!(listed_as(&list, &verifying).0, "active", "{name}: {list}");

    // A disconnect of a record the release wrote.
    assert_eq!(h.disconnect(ACTIVE, &active).await.status(), 204, "{name}");
    assert_eq!(deletes_of(&h, &active), 1, "{name}");
    assert_eq!(s(&h.record(&active).await, "status"), "disconnected");

    // The reconciler resumes the stored sweep where it stood, with what it had
    // seen: it goes on writing that sweep's seen ids (after its stored chunks)
    // rather than starting a sweep of its own, finishes it, and nothing it saw
    // is missing or changed.
    let before = seen_chunks(&h).await;
    assert_eq!(before.len(), 1, "{name}: one sweep stored: {before:?}");
    let run = h.reconcile().await;
    assert!(
        run.sweep_done && !run.busy && run.counts.errors == 0,
        "{name}: {run:?}"
    );
    assert_eq!(
        (
            run.counts.missing,
            run.counts.changed,
            run.counts.disconnected
        ),
        (0, 0, 0),
        "{name}: {run:?}"
    );
    let after = seen_chunks(&h).await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "{name}: the stored sweep was not resumed"
    );
    assert!(
        after.values().sum::<usize>() > before.values().sum::<usize>(),
        "{name}: the stored sweep went no further: {after:?}"
    );
    for (user, conn, status) in [
        (EXPIRED, flow("expired", "connection"), "expired"),
        (RECONNECT, flow("reconnected", "connection"), "active"),
        (RETURNED, returned.clone(), "active"),
        (OLD, flow("toErase", "connection"), "active"),
    ] {
        let rec = h.record(&conn).await;
        assert_eq!(
            (s(&rec, "userId").as_str(), s(&rec, "status").as_str()),
            (user, status),
            "{name}: {conn} after the reconcile run"
        );
        assert!(!rec.contains_key("missingSweep"), "{name}: {conn} missing");
    }

    // An erasure of a user whose records and attempt in flight the release wrote.
    let old = flow("toErase", "connection");
    let (status, body) = h.erase(OLD).await;
    assert_eq!(status, 200, "{name}: {body}");
    assert_eq!(body["disconnected"], 1, "{name}: {body}");
    assert_eq!(deletes_of(&h, &old), 1, "{name}");
    let rec = h.record(&old).await;
    assert_eq!(s(&rec, "status"), "disconnected", "{name}");
    assert!(!rec.contains_key("userId"), "{name}: {rec:?}");
    let pending = h
        .item(&format!("ATTEMPT#{}", flow("toErase", "pendingAttempt")))
        .await
        .unwrap();
    assert_eq!(s(&pending, "status"), "erased", "{name}");
    assert!(!pending.contains_key("userId"), "{name}");

    // The old erasure's barrier holds for what started before it, and lets a
    // new attempt of the same user through.
    let again = h.connect(ERASED, "").await;
    assert_eq!(s(&h.record(&again).await, "userId"), ERASED, "{name}");

    // The publisher on the stream since the loading: every change's old image
    // is an item the release wrote.
    let records = stream.read().await.unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["eventName"] == "MODIFY" && r["dynamodb"]["OldImage"].is_object()),
        "{name}"
    );
    h.publish_records(&records, 25, 0).await;
    let cause = |c: &str| c.to_string();
    let mut want = vec![
        (
            "Connection Bound".to_string(),
            returned.clone(),
            cause("completion"),
        ),
        (
            "Connection Bound".to_string(),
            verifying.clone(),
            cause("webhook"),
        ),
        (
            "Connection Disconnected".to_string(),
            active.clone(),
            cause("user"),
        ),
        (
            "Connection Disconnected".to_string(),
            old.clone(),
            cause("erasure"),
        ),
        (
            "User Data Erased".to_string(),
            "-".to_string(),
            cause("erasure"),
        ),
        (
            "Connection Bound".to_string(),
            again.clone(),
            cause("completion"),
        ),
    ];
    want.sort();
    assert_eq!(summary(&h.eventbridge.events()), want, "{name}");
}
