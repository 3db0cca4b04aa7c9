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
//! newer state (see [`crate::store`]'s events for the order).
//!
//! Two payload dialects: OFAuth's docs (`type`, `timestamp`,
//! `data.connection.userData.id`) and its v3 SDKs (`eventType`, `live`,
//! `data.connection.platformUserId`, `userData.userId`). Only an event's own
//! `timestamp` orders it: a signature's timestamp is the delivery's, new on every
//! retry. A sandbox event (`live: false`) is acknowledged and not applied unless
//! the deployment accepts sandbox events (`WEBHOOK_ACCEPT_SANDBOX`).

use crate::telemetry;
use std::time::SystemTime;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::config::Secret;
use crate::error::ApiError;
use crate::http;
use crate::ids::{is_token, mask, AttemptId, ConnectionId};
use crate::model::{AccountProfile, ChangeCause, ConnectionStatus};
use crate::signature::{self, SignatureError};
use crate::store::{Applied, Sighting, Store, StoreError};
use crate::time::{epoch, parse_rfc3339_ms};

/// Largest delivery accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What the webhook function needs, built once per process.
#[derive(Debug, Clone)]
pub struct WebhookService {
    store: Store,
    secret: Secret,
    /// Apply sandbox events (`live: false`): for a deployment on a sandbox key.
    accept_sandbox: bool,
}

impl WebhookService {
    /// No OFAuth client: the webhook function is internet-facing and holds no
    /// API key; what a webhook needs done at OFAuth (an account swap's
    /// invalidation) the stream's remedy does (platform/remedy.rs).
    pub fn new(store: Store, secret: Secret) -> Self {
        Self {
            store,
            secret,
            accept_sandbox: false,
        }
    }

    pub fn accept_sandbox(mut self, accept: bool) -> Self {
        self.accept_sandbox = accept;
        self
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
    /// v3: `false` for a sandbox event.
    #[serde(default)]
    live: Option<bool>,
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
    /// v3: the connected account's id, outside `userData`.
    #[serde(default)]
    platform_user_id: Option<serde_json::Value>,
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
            telemetry::signature_failure(check);
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "The webhook signature is not valid.",
            )
            .detail(format_args!("check {check}: {e}; nothing written"))
        })?;
    let event = match read_event(body, &verified)? {
        Delivery::Ignored {
            event_type,
            event_id,
        } => {
            telemetry::outcome("ignored");
            tracing::info!(outcome = "ignored", event_type, event = %mask(&event_id), scheme = verified.scheme.as_str());
            return Ok(ok("ignored"));
        }
        Delivery::Connection(event) if event.live == Some(false) && !svc.accept_sandbox => {
            telemetry::outcome("sandbox_ignored");
            tracing::info!(outcome = "sandbox_ignored", event_type = %event.event_type, event = %mask(&event.event_id), scheme = verified.scheme.as_str());
            return Ok(ok("sandbox_ignored"));
        }
        Delivery::Connection(event) => event,
    };
    // OFAuth retries a failed delivery; nothing was half-written.
    let outcome = apply(svc, &event, now)
        .await
        .map_err(|e| ApiError::from(e).detail(format_args!("event {}", mask(&event.event_id))))?;
    telemetry::outcome(outcome);
    tracing::info!(
        outcome,
        event_type = %event.event_type,
        event = %mask(&event.event_id),
        connection = %event.connection.masked(),
        scheme = verified.scheme.as_str(),
    );
    Ok(ok(outcome))
}

/// A signed delivery, read.
#[derive(Debug)]
pub enum Delivery {
    /// An event type this service does not act on (`rules.updated`, new types).
    Ignored {
        event_type: String,
        event_id: String,
    },
    Connection(ConnectionDelivery),
}

/// A delivery about one connection.
#[derive(Debug)]
pub struct ConnectionDelivery {
    pub event_type: String,
    kind: Kind,
    pub event_id: String,
    /// When OFAuth says it happened (Unix milliseconds), if the event says.
    pub(crate) event_at_ms: Option<i64>,
    /// `Some(false)`: a sandbox event (v3 dialect).
    pub live: Option<bool>,
    pub connection: ConnectionId,
    pub status: Option<ConnectionStatus>,
    pub account: AccountProfile,
    pub client_reference_id: Option<String>,
}

/// Reads a verified delivery's body: what happened to which connection, or why it
/// is refused (`invalid_json`, `invalid_event`).
pub fn read_event(body: &[u8], verified: &signature::Verified) -> Result<Delivery, ApiError> {
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
        .unwrap_or_else(|| digest_id(body));
    if event_id.is_empty() || event_id.len() > 200 {
        return Err(invalid_event("The event id is not valid."));
    }
    // Never the signature's timestamp: it is the delivery's, new on each retry.
    let event_at_ms = event.timestamp.as_ref().and_then(timestamp_ms);
    let kind = match event.kind.as_str() {
        "connection.created" | "connection.updated" => Kind::Upsert,
        "connection.expired" => Kind::Expired,
        "connection.disconnected" => Kind::Disconnected,
        _ => {
            return Ok(Delivery::Ignored {
                event_type: event.kind.chars().take(64).collect(),
                event_id,
            })
        }
    };
    let data = event
        .data
        .ok_or_else(|| invalid_event("The event has no data."))?;
    let conn = data
        .connection
        .ok_or_else(|| invalid_event("The event names no connection."))?;
    let connection = ConnectionId::parse(&conn.id)
        .ok_or_else(|| invalid_event("The connection id is not valid."))?;
    let status = match kind {
        Kind::Upsert => match conn.status.as_deref() {
            Some(s) if is_token(s) => Some(ConnectionStatus::parse(s)),
            _ if event.kind == "connection.created" => Some(ConnectionStatus::Active),
            _ => None,
        },
        Kind::Expired => Some(ConnectionStatus::Expired),
        Kind::Disconnected => Some(ConnectionStatus::Disconnected),
    };
    let mut account = conn.user_data.unwrap_or_default();
    if account.id.is_none() {
        account.id = match conn.platform_user_id {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
    }
    Ok(Delivery::Connection(ConnectionDelivery {
        event_type: event.kind,
        kind,
        event_id,
        event_at_ms,
        live: event.live,
        connection,
        status,
        account,
        client_reference_id: data.client_reference_id,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Upsert,
    Expired,
    Disconnected,
}

async fn apply(
    svc: &WebhookService,
    ev: &ConnectionDelivery,
    now: SystemTime,
) -> Result<&'static str, StoreError> {
    // This deployment's attempt, if the event names one (other client apps on the
    // same OFAuth account name their own references, or none): read with the record.
    let attempt = ev.client_reference_id.as_deref().and_then(AttemptId::parse);
    if let Some(a) = &attempt {
        telemetry::correlate(a);
    }
    let sighting = Sighting {
        event_id: &ev.event_id,
        event_type: &ev.event_type,
        event_at_ms: ev.event_at_ms,
        rank: match ev.kind {
            Kind::Upsert if ev.event_type == "connection.created" => 0,
            _ => ev.status.as_ref().map_or(1, ConnectionStatus::rank),
        },
        connection: &ev.connection,
        status: ev.status.clone(),
        account: &ev.account,
        attempt: attempt.as_ref(),
        cause: ChangeCause::Webhook,
    };
    Ok(match svc.store.apply_sighting(&sighting, now).await? {
        Applied::Written { bound: true } => "bound",
        Applied::Written { bound: false } => "applied",
        Applied::Duplicate => "duplicate",
        Applied::Superseded => "superseded",
        Applied::Unattributed => match ev.kind {
            Kind::Upsert => "unattributed",
            _ => "unknown_connection",
        },
        Applied::ForeignAttempt => {
            telemetry::security_event("foreign_attempt");
            tracing::warn!(
                security = true,
                connection = %ev.connection.masked(),
                attempt = %attempt.as_ref().map(AttemptId::masked).unwrap_or_default(),
                "a signed webhook names an attempt of a user other than the connection's owner; the owner is kept"
            );
            "applied"
        }
        Applied::AccountSwapped(swap) => {
            // Invalidating a live one at OFAuth is the stream's remedy's (the
            // write above asked for it): this function holds no API key.
            let attempt = attempt.as_ref().map(AttemptId::masked).unwrap_or_default();
            telemetry::account_swap(
                swap.first,
                swap.live,
                "webhook",
                &ev.connection.masked(),
                &attempt,
                false,
            );
            ChangeCause::AccountMismatch.as_str()
        }
    })
}

/// An id for a delivery that carries none: the digest of its body, so a retry
/// (re-signed with a new timestamp) maps to the same id.
fn digest_id(body: &[u8]) -> String {
    format!(
        "sha256_{}",
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body))
    )
}

/// An event timestamp: RFC 3339 text, or Unix seconds or milliseconds. Only
/// plausible times (1970 to 9999) count; anything else is no timestamp.
fn timestamp_ms(v: &serde_json::Value) -> Option<i64> {
    const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = match v {
        serde_json::Value::String(s) => parse_rfc3339_ms(s)?,
        serde_json::Value::Number(n) => {
            let n = n.as_i64()?;
            if n < 100_000_000_000 {
                n.checked_mul(1000)?
            } else {
                n
            }
        }
        _ => return None,
    };
    (0..=MAX_MS).contains(&ms).then_some(ms)
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
        assert_eq!(timestamp_ms(&serde_json::json!(i64::MIN)), None);
        assert_eq!(timestamp_ms(&serde_json::json!(-1)), None);
        assert_eq!(timestamp_ms(&serde_json::json!(i64::MAX)), None);
    }

    #[test]
    fn digest_ids_are_stable() {
        assert_eq!(digest_id(b"x"), digest_id(b"x"));
        assert_ne!(digest_id(b"x"), digest_id(b"y"));
    }

    fn verified(timestamp: i64) -> signature::Verified {
        signature::Verified {
            scheme: signature::Scheme::OfAuth,
            delivery_id: None,
            timestamp,
        }
    }

    fn connection(d: Delivery) -> ConnectionDelivery {
        match d {
            Delivery::Connection(c) => c,
            other => panic!("{other:?}"),
        }
    }

    /// Both dialects read to the same event; only a body timestamp orders it.
    #[test]
    fn both_dialects() {
        let docs = br#"{"type":"connection.updated","timestamp":"2026-11-23T10:00:00Z",
            "data":{"clientReferenceId":"r","connection":{"id":"conn_1","status":"active",
            "userData":{"id":"42","username":"u","name":"N","avatar":"a"}}}}"#;
        let v3 = br#"{"eventType":"connection.updated","live":true,
            "data":{"clientReferenceId":"r","connection":{"id":"conn_1","platformUserId":"42",
            "status":"active","userData":{"userId":"42","username":"u","name":"N","avatar":"a"},
            "permissions":[]}}}"#;
        let a = connection(read_event(docs, &verified(1)).unwrap());
        let b = connection(read_event(v3, &verified(1)).unwrap());
        assert_eq!(a.account, b.account);
        assert_eq!(a.account.id.as_deref(), Some("42"));
        assert_eq!(
            (a.status, b.status),
            (
                Some(ConnectionStatus::Active),
                Some(ConnectionStatus::Active)
            )
        );
        assert_eq!(a.event_at_ms, Some(1_795_428_000_000));
        assert_eq!((a.live, b.live), (None, Some(true)));
        // v3 carries no event time: unordered, not the delivery's time.
        assert_eq!(b.event_at_ms, None);
        // A retry is re-signed with a new timestamp and keeps its id.
        let c = connection(read_event(v3, &verified(999)).unwrap());
        assert_eq!(b.event_id, c.event_id);
        // platformUserId alone names the account too.
        let bare = br#"{"eventType":"connection.created","live":false,
            "data":{"connection":{"id":"conn_1","platformUserId":7}}}"#;
        let d = connection(read_event(bare, &verified(1)).unwrap());
        assert_eq!(d.account.id.as_deref(), Some("7"));
        assert_eq!(d.live, Some(false));
    }
}
