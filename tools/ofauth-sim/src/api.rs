//! The OFAuth API routes: `POST /v2/link/init`, `GET /v2/access/self`,
//! `GET /v2/account/connections`, `DELETE /v2/account/connections/{id}`,
//! `POST /v2/account/connections/{id}/invalidate` and `GET /v2/account/whoami`,
//! behind the fault switches and the API key check. A key of another OFAuth
//! account ([`crate::Simulator::set_foreign_keys`]) is accepted, and sees that
//! account: none of this simulator's connections.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::{self, iso, random_hex, Session, Sim};
use crate::{ErrorShape, RecordedRequest, SimConnection};

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/v2/link/init", post(link_init))
        .route("/v2/access/self", get(access_self))
        .route("/v2/account/connections", get(list_connections))
        .route("/v2/account/connections/{id}", delete(delete_connection))
        .route(
            "/v2/account/connections/{id}/invalidate",
            post(invalidate_connection),
        )
        .route("/v2/account/whoami", get(whoami))
}

/// Who a request's key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    /// The account this simulator's connections belong to.
    Primary,
    /// Another OFAuth account (a key rotated to the wrong account): it sees none
    /// of them.
    Other,
}

fn api_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({ "error": message, "type": kind }))).into_response()
}

/// Records the request, applies faults and checks the API key: the account the
/// key belongs to, or the answer that ends the request.
async fn gate(
    sim: &Sim,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<Account, Response> {
    let faults = {
        let mut inner = sim.lock();
        inner.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.to_string(),
            body,
            connection: headers
                .get("x-connection-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        });
        inner.faults.clone()
    };
    let applies = faults
        .path_prefix
        .as_deref()
        .is_none_or(|p| path.starts_with(p));
    if applies && faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if applies {
        if let Some(code) = faults.status {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = faults.error_type.as_deref().unwrap_or("SIMULATED");
            let mut resp = match faults.error_shape {
                ErrorShape::Current => api_error(status, kind, "simulated failure"),
                ErrorShape::Legacy => (
                    status,
                    Json(json!({ "error": "simulated failure", "code": kind, "details": {} })),
                )
                    .into_response(),
                ErrorShape::Plain => (status, "simulated failure").into_response(),
            };
            if code == 429 {
                let secs = faults.retry_after.unwrap_or(2).to_string();
                if let Ok(v) = secs.parse() {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            return Err(resp);
        }
        if faults.malformed {
            return Err((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"mode\":",
            )
                .into_response());
        }
    }
    let key = headers.get("apikey").and_then(|v| v.to_str().ok());
    let inner = sim.lock();
    match key {
        Some(k) if inner.foreign_keys.iter().any(|f| f == k) => Ok(Account::Other),
        Some(k) if inner.api_keys.is_empty() && k == sim.config.api_key => Ok(Account::Primary),
        Some(k) if inner.api_keys.iter().any(|a| a == k) => Ok(Account::Primary),
        _ => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Invalid or missing API key",
        )),
    }
}

/// The id `GET /v2/account/whoami` gives the simulator's own account.
pub const ACCOUNT_ID: &str = "acct_sim_primary";
/// ... and the account of a foreign key.
pub const OTHER_ACCOUNT_ID: &str = "acct_sim_other";

async fn whoami(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    let account = match gate(
        &sim,
        Method::GET,
        "/v2/account/whoami",
        &headers,
        Value::Null,
    )
    .await
    {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let (id, name) = match account {
        Account::Primary => (ACCOUNT_ID, "Simulated platform"),
        Account::Other => (OTHER_ACCOUNT_ID, "Another platform"),
    };
    Json(json!({ "id": id, "name": name, "permissions": ["link:init", "account:read"] }))
        .into_response()
}

async fn link_init(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: String) -> Response {
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let recorded = parsed.clone().unwrap_or(Value::String(body.clone()));
    if let Err(resp) = gate(&sim, Method::POST, "/v2/link/init", &headers, recorded).await {
        return resp;
    }
    let Some(Value::Object(req)) = parsed else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Body must be a JSON object",
        );
    };
    let text = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_string);
    if let Some(app) = req.get("clientAppId") {
        let ok = app
            .as_str()
            .and_then(|a| a.strip_prefix("app_"))
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !ok {
            return api_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "clientAppId must match ^app_[a-zA-Z0-9]+$",
            );
        }
    }
    let redirect_url = match text("redirectUrl") {
        Some(u) if sim.config.allowed_redirects.iter().any(|a| a == &u) => u,
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "redirectUrl is not in the client app's Allowed Redirect URIs",
            )
        }
        None => match sim.config.allowed_redirects.first() {
            Some(u) => u.clone(),
            None => {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "No redirect URI configured",
                )
            }
        },
    };
    if let Some(geo) = req.get("geolocation") {
        if geo.get("country").and_then(Value::as_str).is_none() {
            return api_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "geolocation.country is required",
            );
        }
    }
    let connection_id = text("connectionId");
    let mut inner = sim.lock();
    if let Some(id) = &connection_id {
        if !inner.connections.contains_key(id) {
            return api_error(
                StatusCode::NOT_FOUND,
                "RESOURCE_NOT_FOUND",
                "Connection not found",
            );
        }
    }
    let session_id = format!("cs_{}", random_hex(16));
    let invalid = inner.hosted_mode.invalid_sessions > 0;
    if invalid {
        inner.hosted_mode.invalid_sessions -= 1;
    }
    let expires_at = SystemTime::now() + sim.config.session_ttl;
    inner.sessions.insert(
        session_id.clone(),
        Session {
            redirect_url,
            client_reference_id: text("clientReferenceId"),
            connection_id,
            expires_at,
            finished: false,
            invalid,
        },
    );
    let expires = iso(expires_at, true);
    if inner.faults.whitelabel {
        return Json(json!({ "mode": "whitelabel", "clientSecret": format!("{session_id}_secret"), "expiresAt": expires }))
            .into_response();
    }
    Json(json!({ "mode": "hosted", "url": format!("{}/{session_id}", sim.public_url), "expiresAt": expires }))
        .into_response()
}

async fn access_self(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    let account = match gate(&sim, Method::GET, "/v2/access/self", &headers, Value::Null).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let id = headers
        .get("x-connection-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let inner = sim.lock();
    match inner
        .connections
        .get(id)
        .filter(|_| account == Account::Primary)
        .filter(|c| !inner.faults.unseen.contains(&c.id))
    {
        None => api_error(
            StatusCode::UNAUTHORIZED,
            "SESSION_NOT_PROVIDED",
            "No valid connection for this request",
        ),
        Some(c) if c.status != "active" => Json(json!({ "isAuth": false })).into_response(),
        // OFAuth's model: a numeric `id`, and the profile's counts.
        Some(c) => {
            let mut body = json!({
                "isAuth": true,
                "id": c.user_id.parse::<u64>().unwrap_or(0),
                "username": c.username,
                "name": c.name,
                "isVerified": false,
                "avatar": c.avatar,
                "subscribersCount": 0,
                "postsCount": 0,
                "photosCount": 0,
                "videosCount": 0,
            });
            if inner.faults.self_without_account_id {
                if let Some(o) = body.as_object_mut() {
                    o.remove("id");
                }
            }
            Json(body).into_response()
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn list_connections(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let account = match gate(
        &sim,
        Method::GET,
        "/v2/account/connections",
        &headers,
        Value::Null,
    )
    .await
    {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let inner = sim.lock();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(10).clamp(1, 100);
    let visible = !inner.faults.list_hidden && account == Account::Primary;
    // Newest first; one more than the page says whether there are more.
    let mut page: Vec<Value> = if !visible {
        Vec::new()
    } else if let Some(status) = q.status.as_deref() {
        inner
            .newest_first()
            .filter(|c| c.status == status)
            .skip(offset)
            .take(limit + 1)
            .map(connection_json)
            .collect()
    } else {
        // Skipped by id alone: a page deep in a large account costs the skip,
        // not a lookup of every connection before it.
        inner
            .by_seq
            .values()
            .rev()
            .skip(offset)
            .take(limit + 1)
            .filter_map(|id| inner.connections.get(id))
            .map(connection_json)
            .collect()
    };
    let has_more = page.len() > limit;
    page.truncate(limit);
    let faults = &inner.faults;
    page.retain(|c| !faults.unseen.iter().any(|u| c["id"] == u.as_str()));
    if faults.list_without_updated_at {
        for c in &mut page {
            if let Some(o) = c.as_object_mut() {
                o.remove("updatedAt");
            }
        }
    }
    Json(json!({ "list": page, "hasMore": has_more })).into_response()
}

async fn delete_connection(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/v2/account/connections/{id}");
    match gate(&sim, Method::DELETE, &path, &headers, Value::Null).await {
        Ok(Account::Primary) => {
            let done = state::disconnect(&sim, &id);
            let delay = sim.lock().faults.disconnect_answer_delay_ms;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            done_or_not_found(done)
        }
        Ok(Account::Other) => done_or_not_found(false),
        Err(resp) => resp,
    }
}

/// OFAuth's answer to an action on a connection: done, or it does not know it.
fn done_or_not_found(done: bool) -> Response {
    if done {
        Json(json!({ "success": true })).into_response()
    } else {
        api_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "Connection not found",
        )
    }
}

async fn invalidate_connection(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/v2/account/connections/{id}/invalidate");
    match gate(&sim, Method::POST, &path, &headers, Value::Null).await {
        Ok(Account::Primary) => done_or_not_found(state::expire(&sim, &id)),
        Ok(Account::Other) => done_or_not_found(false),
        Err(resp) => resp,
    }
}

/// A connection as OFAuth's model types it: every field a string where the model
/// says so (`expiredAt` and `clientReferenceId` are `""` when there is none).
fn connection_json(c: &SimConnection) -> Value {
    json!({
        "id": c.id,
        "status": c.status,
        "userData": { "id": c.user_id, "name": c.name, "username": c.username, "avatar": c.avatar },
        "permissions": [],
        "expiredAt": if c.status == "expired" { c.updated_at.as_str() } else { "" },
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "clientReferenceId": c.client_reference_id.as_deref().unwrap_or(""),
        "imported": c.imported,
        "lastCheckedAt": c.updated_at,
    })
}
