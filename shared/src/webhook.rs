//! webhook: `POST /link/webhook` receives OFAuth's signed system webhooks and keeps
//! connection records true after the redirect (a browser may never come back;
//! connections expire, change and are disconnected).
//!
//! The signature is checked on the raw body before anything else. A signed event
//! that names one of this deployment's attempts (`clientReferenceId`) attests that
//! the attempt produced the connection; it does not bind it to anyone (a webhook
//! cannot know who is at the browser). It binds only an attempt whose user has
//! already completed the flow and was waiting for this attestation (`verifying`).
//! Each event id is applied at most once, and an older event never overwrites a
//! newer state (see [`crate::store`]'s events).

use std::time::SystemTime;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::config::Secret;
use crate::error::ApiError;
use crate::http;
use crate::ids::{is_token, mask, AttemptId, ConnectionId};
use crate::ofauth::AccountProfile;
use crate::signature::{self, SignatureError};
use crate::store::{self, Applied, ConnectionEvent, Store};
use crate::time::{epoch, parse_rfc3339_ms};

/// Largest delivery accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the webhook function needs, built once per process.
#[derive(Debug, Clone)]
pub struct WebhookService {
    pub store: Store,
    pub secret: Secret,
}

impl WebhookService {
    pub fn new(store: Store, secret: Secret) -> Self {
        Self { store, secret }
    }
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    #[serde(rename = "type", alias = "eventType")]
    kind: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    timestamp: Option<serde_json::Value>,
    #[serde(default)]
    data: Option<RawData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawData {
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    connection: Option<RawConnection>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConnection {
    id: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    user_data: Option<AccountProfile>,
}

fn ok(outcome: &str) -> Response<Body> {
    http::json(
        StatusCode::OK,
        &serde_json::json!({ "received": true, "outcome": outcome }),
    )
}

fn invalid_event(message: &'static str) -> ApiError {
    ApiError::bad_request("invalid_event", message)
}

/// Handles one delivery.
pub async fn handle(req: Request, svc: &WebhookService) -> Response<Body> {
    http::respond(receive(&req, svc).await)
}

async fn receive(req: &Request, svc: &WebhookService) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed("POST"));
    }
    if crate::apigw::is_malformed(req) {
        return Err(http::malformed_uri());
    }
    let body = http::body_bytes(req, MAX_BODY_BYTES)
        .ok_or_else(|| ApiError::bad_request("body_too_large", "The delivery is too large."))?;
    let now = SystemTime::now();
    let verified = signature::verify(req.headers(), body, svc.secret.expose(), epoch(now))
        .map_err(|e| {
            let check = match &e {
                SignatureError::Missing => "missing",
                SignatureError::Malformed(_) => "malformed",
                SignatureError::Stale { .. } => "stale",
                SignatureError::Mismatch => "mismatch",
            };
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "The webhook signature is not valid.",
            )
            .detail(format_args!("check {check}: {e}; nothing written"))
        })?;
    let event: RawEvent = serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_event"
        } else {
            "invalid_json"
        };
        ApiError::bad_request(code, "The delivery is not a valid event.")
            .detail(format_args!("signed delivery is not a readable event: {e}"))
    })?;
    let event_id = verified
        .delivery_id
        .clone()
        .or_else(|| event.id.clone())
        .unwrap_or_else(|| digest_id(verified.timestamp, body));
    if event_id.is_empty() || event_id.len() > 200 {
        return Err(invalid_event("The event id is not valid."));
    }
    let event_at_ms = event
        .timestamp
        .as_ref()
        .and_then(timestamp_ms)
        .unwrap_or(verified.timestamp * 1000);

    let change_kind = match event.kind.as_str() {
        "connection.created" | "connection.updated" => Kind::Upsert,
        "connection.expired" => Kind::Expired,
        "connection.disconnected" => Kind::Disconnected,
        other => {
            tracing::info!(outcome = "ignored", event_type = other, event = %mask(&event_id), scheme = verified.scheme.as_str());
            return Ok(ok("ignored"));
        }
    };
    let data = event
        .data
        .ok_or_else(|| invalid_event("The event has no data."))?;
    let conn = data
        .connection
        .as_ref()
        .ok_or_else(|| invalid_event("The event names no connection."))?;
    let connection = ConnectionId::parse(&conn.id)
        .ok_or_else(|| invalid_event("The connection id is not valid."))?;

    let received = Received {
        event_type: &event.kind,
        kind: change_kind,
        event_id: &event_id,
        event_at_ms,
        connection: &connection,
        conn,
        client_reference_id: data.client_reference_id.as_deref(),
    };
    // OFAuth retries a failed delivery; nothing was half-written.
    let outcome = apply(svc, &received, now)
        .await
        .map_err(|e| ApiError::from(e).detail(format_args!("event {}", mask(&event_id))))?;
    tracing::info!(
        outcome,
        event_type = %event.kind,
        event = %mask(&event_id),
        connection = %connection.masked(),
        scheme = verified.scheme.as_str(),
    );
    Ok(ok(outcome))
}

/// A verified, parsed delivery about one connection.
struct Received<'a> {
    event_type: &'a str,
    kind: Kind,
    event_id: &'a str,
    event_at_ms: i64,
    connection: &'a ConnectionId,
    conn: &'a RawConnection,
    client_reference_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Upsert,
    Expired,
    Disconnected,
}

async fn apply(
    svc: &WebhookService,
    ev: &Received<'_>,
    now: SystemTime,
) -> Result<&'static str, store::StoreError> {
    let connection = ev.connection;
    // This deployment's attempt, if the event names one (other client apps on the
    // same OFAuth account name their own references, or none): read with the record.
    let attempt = ev.client_reference_id.and_then(AttemptId::parse);
    let account = ev.conn.user_data.clone().unwrap_or_default();
    let status = match ev.kind {
        Kind::Upsert => match ev.conn.status.as_deref() {
            Some(s) if is_token(s) => Some(s),
            _ if ev.event_type == "connection.created" => Some("active"),
            _ => None,
        },
        Kind::Expired => Some("expired"),
        Kind::Disconnected => Some("disconnected"),
    };
    let event = ConnectionEvent {
        event_id: ev.event_id,
        event_type: ev.event_type,
        event_at_ms: ev.event_at_ms,
        connection,
        status,
        account: &account,
        attempt: attempt.as_ref(),
    };
    let named = attempt.as_ref().map(|a| a.masked()).unwrap_or_default();
    Ok(match svc.store.apply_event(&event, now).await? {
        Applied::Applied { bound: true } => "bound",
        Applied::Applied { bound: false } => "applied",
        Applied::Duplicate => "duplicate",
        Applied::Superseded => "superseded",
        Applied::Unattributed => match ev.kind {
            Kind::Upsert => "unattributed",
            _ => "unknown_connection",
        },
        Applied::ForeignAttempt => {
            tracing::warn!(
                security = true,
                connection = %connection.masked(),
                attempt = %named,
                "a signed webhook names an attempt of a user other than the connection's owner; the owner is kept"
            );
            "applied"
        }
    })
}

/// An id for a delivery that carries none: the digest of what was signed, so an
/// exact replay maps to the same id.
fn digest_id(timestamp: i64, body: &[u8]) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("sha256_{}", hex::encode(ctx.finish()))
}

/// An event timestamp: RFC 3339 text, or Unix seconds or milliseconds.
fn timestamp_ms(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => parse_rfc3339_ms(s),
        serde_json::Value::Number(n) => {
            let n = n.as_i64()?;
            Some(if n < 100_000_000_000 { n * 1000 } else { n })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            timestamp_ms(&serde_json::json!("2026-11-23T10:00:00.250Z")),
            Some(1_795_428_000_250)
        );
        assert_eq!(
            timestamp_ms(&serde_json::json!(1_795_428_000)),
            Some(1_795_428_000_000)
        );
        assert_eq!(
            timestamp_ms(&serde_json::json!(1_795_428_000_250i64)),
            Some(1_795_428_000_250)
        );
        assert_eq!(timestamp_ms(&serde_json::json!("soon")), None);
    }

    #[test]
    fn digest_ids_are_stable() {
        assert_eq!(digest_id(1, b"x"), digest_id(1, b"x"));
        assert_ne!(digest_id(1, b"x"), digest_id(2, b"x"));
    }
}
