//! System webhooks: built from connection changes, held or sent, signed with
//! either scheme, and retried like OFAuth's (5 attempts, exponential backoff).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::state::{iso, random_hex, Sim};
use crate::{Delivery, Dialect, SignatureScheme, SimConnection, SimEvent, WebhookMode};

/// Builds a system webhook event for a connection and sends (or holds) it.
pub(crate) fn emit(sim: &Arc<Sim>, kind: &str, conn: &SimConnection) {
    if sim.config.webhook.is_none() {
        return;
    }
    let id = format!("evt_{}", random_hex(12));
    let mut inner = sim.lock();
    let body = match inner.webhook_mode.dialect {
        Dialect::Docs => json!({
            "id": id, "type": kind, "timestamp": iso(SystemTime::now(), true),
            "data": {
                "clientReferenceId": conn.client_reference_id,
                "connection": {
                    "id": conn.id, "status": conn.status, "permissions": [],
                    "userData": { "id": conn.user_id, "name": conn.name, "username": conn.username, "avatar": conn.avatar },
                },
            },
        }),
        Dialect::V3 => json!({
            "eventType": kind, "live": inner.webhook_mode.live.unwrap_or(true),
            "data": {
                "clientReferenceId": conn.client_reference_id,
                "connection": {
                    "id": conn.id, "platformUserId": conn.user_id, "status": conn.status, "permissions": [],
                    "userData": { "userId": conn.user_id, "name": conn.name, "username": conn.username, "avatar": conn.avatar },
                },
            },
        }),
    };
    let event = SimEvent {
        id,
        event_type: kind.to_string(),
        body,
    };
    let lost = inner.webhook_mode.loss_percent > 0
        && crate::state::random_below(100) < u64::from(inner.webhook_mode.loss_percent);
    if inner.webhook_mode.drop || lost {
        return;
    }
    if inner.webhook_mode.hold {
        inner.held.push(event);
        return;
    }
    let mode = inner.webhook_mode.clone();
    drop(inner);
    dispatch(sim, event, &mode);
}

pub(crate) fn release(sim: &Arc<Sim>, reverse: bool) {
    let (mut events, mode) = {
        let mut inner = sim.lock();
        inner.webhook_mode.hold = false;
        (std::mem::take(&mut inner.held), inner.webhook_mode.clone())
    };
    if reverse {
        events.reverse();
    }
    let sim = sim.clone();
    // In the given order: each delivery finishes before the next starts.
    tokio::spawn(async move {
        for ev in events {
            let times = if mode.duplicate { 2 } else { 1 };
            for _ in 0..times {
                deliver(&sim, &mode, &ev).await;
            }
        }
    });
}

pub(crate) fn dispatch(sim: &Arc<Sim>, event: SimEvent, mode: &WebhookMode) {
    let sim = sim.clone();
    let mode = mode.clone();
    tokio::spawn(async move {
        let delay = mode.delay_ms + crate::state::random_below(mode.jitter_ms);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let times = if mode.duplicate { 2 } else { 1 };
        for _ in 0..times {
            deliver(&sim, &mode, &event).await;
        }
    });
}

/// Sends one event with OFAuth's retry policy: up to 5 attempts, exponential
/// backoff, 10 s timeout each, until a 2xx.
pub(crate) async fn deliver(sim: &Arc<Sim>, mode: &WebhookMode, event: &SimEvent) {
    let Some(cfg) = sim.config.webhook.clone() else {
        return;
    };
    let scheme = mode.scheme.unwrap_or(cfg.scheme);
    let body = event.body.to_string();
    let mut delay = cfg.retry_base;
    for attempt in 1..=5u32 {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        let delivery_id = format!("msg_{}", event.id.trim_start_matches("evt_"));
        let mut req = sim
            .http
            .post(&cfg.url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (k, v) in sign_headers(&cfg.secret, scheme, &delivery_id, t, body.as_bytes()) {
            req = req.header(k, v);
        }
        let (status, outcome) = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let outcome = resp
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v.get("outcome").and_then(Value::as_str).map(str::to_string));
                (status, outcome)
            }
            Err(_) => (0, None),
        };
        sim.lock().deliveries.push(Delivery {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            attempt,
            status,
            outcome,
        });
        if (200..300).contains(&status) {
            return;
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

/// The signature headers for a delivery.
pub fn sign_headers(
    secret: &str,
    scheme: SignatureScheme,
    id: &str,
    t: i64,
    body: &[u8],
) -> Vec<(String, String)> {
    use aws_lc_rs::hmac;
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    match scheme {
        SignatureScheme::Ofauth => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            let mut msg = format!("{t}.").into_bytes();
            msg.extend_from_slice(body);
            let sig = hex::encode(hmac::sign(&key, &msg));
            vec![("OFAuth-Signature".into(), format!("t={t},v1={sig}"))]
        }
        SignatureScheme::Svix => {
            let raw = b64
                .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
                .unwrap_or_default();
            let key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
            let mut msg = format!("{id}.{t}.").into_bytes();
            msg.extend_from_slice(body);
            let sig = b64.encode(hmac::sign(&key, &msg).as_ref());
            vec![
                ("svix-id".into(), id.to_string()),
                ("svix-timestamp".into(), t.to_string()),
                ("svix-signature".into(), format!("v1,{sig}")),
            ]
        }
    }
}
