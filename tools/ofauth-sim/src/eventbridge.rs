//! A local stand-in for Amazon EventBridge's `PutEvents` (JSON 1.1 protocol,
//! `X-Amz-Target: AWSEvents.PutEvents`): it records every entry it accepts, in
//! order, so the publisher's production path runs locally (`EVENTBRIDGE_ENDPOINT`)
//! and tests and the demo can read what a platform would receive. Requests are
//! not signature-checked.
//!
//! Test switches: fail the next N entries (per-entry failures, as EventBridge
//! reports them: `FailedEntryCount` and an `ErrorCode` on the entry), or answer
//! the next N calls with a 500.
//!
//! `GET /events` lists the recorded entries as JSON (`link-dev serve-demo`
//! shows them beside the connections).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::secrets_manager::{answer, aws_error, target};

/// One accepted entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    pub bus: String,
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
}

#[derive(Debug, Default)]
struct Recorded {
    events: Vec<Received>,
    calls: usize,
    fail_entries: usize,
    fail_calls: usize,
    /// Answers each call this much later (after recording it).
    latency_ms: u64,
}

/// A running stand-in.
#[derive(Debug, Clone)]
pub struct EventBridge {
    pub addr: SocketAddr,
    state: Arc<Mutex<Recorded>>,
}

impl EventBridge {
    /// Serves on a loopback listener (port 0 for a free port).
    pub async fn start(listener: tokio::net::TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(Recorded::default()));
        let app = Router::new()
            .route("/", post(put_events))
            .route("/events", get(list))
            .with_state(state.clone());
        crate::serve_in_background(listener, app);
        Ok(Self { addr, state })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every entry accepted so far, in order.
    pub fn events(&self) -> Vec<Received> {
        self.lock().events.clone()
    }

    /// How many `PutEvents` calls arrived.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    /// The next `n` entries fail (`InternalFailure`), one by one, in the
    /// calls that carry them.
    pub fn fail_entries(&self, n: usize) {
        self.lock().fail_entries = n;
    }

    /// The next `n` calls are answered 500.
    pub fn fail_calls(&self, n: usize) {
        self.lock().fail_calls = n;
    }

    /// Each call is answered `ms` later than it was recorded (a slow EventBridge,
    /// or a window to kill a publisher in).
    pub fn set_latency(&self, ms: u64) {
        self.lock().latency_ms = ms;
    }
}

async fn list(State(state): State<Arc<Mutex<Recorded>>>) -> Json<Vec<Received>> {
    Json(
        state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .events
            .clone(),
    )
}

async fn put_events(
    State(state): State<Arc<Mutex<Recorded>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if target(&headers) != "AWSEvents.PutEvents" {
        return aws_error("UnknownOperationException", "only PutEvents is served");
    }
    let entries = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("Entries").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    if entries.is_empty() || entries.len() > 10 {
        return aws_error("ValidationException", "1 to 10 entries");
    }
    let (resp, latency) = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let latency = state.latency_ms;
        (record(&mut state, entries), latency)
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    resp
}

/// Records a call's entries: the answer EventBridge would give.
fn record(state: &mut Recorded, entries: Vec<Value>) -> Response {
    state.calls += 1;
    if state.fail_calls > 0 {
        state.fail_calls -= 1;
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "__type": "InternalException", "message": "simulated" }),
        );
    }
    let mut results = Vec::new();
    let mut failed = 0;
    for e in entries {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let detail = serde_json::from_str::<Value>(&text("Detail")).ok();
        match detail {
            _ if state.fail_entries > 0 => {
                state.fail_entries -= 1;
                failed += 1;
                results
                    .push(json!({ "ErrorCode": "InternalFailure", "ErrorMessage": "simulated" }));
            }
            Some(detail) if !text("Source").is_empty() && !text("DetailType").is_empty() => {
                let id = format!(
                    "{:08x}-0000-0000-0000-{:012x}",
                    state.events.len(),
                    state.calls
                );
                state.events.push(Received {
                    bus: e
                        .get("EventBusName")
                        .and_then(Value::as_str)
                        .unwrap_or("default")
                        .to_string(),
                    source: text("Source"),
                    detail_type: text("DetailType"),
                    detail,
                });
                results.push(json!({ "EventId": id }));
            }
            _ => {
                failed += 1;
                results.push(
                    json!({ "ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is not JSON" }),
                );
            }
        }
    }
    answer(
        StatusCode::OK,
        json!({ "FailedEntryCount": failed, "Entries": results }),
    )
}
