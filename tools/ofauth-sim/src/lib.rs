//! A local OFAuth simulator: the parts of the OFAuth API and hosted Link pages this
//! project talks to, behaving as the seed pages and `ofauth-api-notes.md` describe,
//! with fault switches for tests. Not a mock: it is a real HTTP server.
//!
//! API (`apikey` header required):
//! - `POST /v2/link/init`, `GET /v2/access/self`, `GET /v2/account/connections`,
//!   `DELETE /v2/account/connections/{id}`
//!
//! Hosted pages: `GET /{session}` (HTML), `/{session}/approve`,
//! `/{session}/cancel?step=`, `/{session}/fail?error_code=` (303 to the redirect URL).
//!
//! Control (tests and the demo): `POST /__sim/faults`, `POST /__sim/reset`,
//! `GET|POST /__sim/connections`, `GET /__sim/requests`,
//! `POST /__sim/connections/{id}/expire`, `GET|POST /__sim/webhooks` (deliveries;
//! mode: duplicate, hold, delay, scheme), `POST /__sim/webhooks/release?reverse=`.
//!
//! System webhooks (`connection.created|updated|expired|disconnected`) are signed
//! with either scheme and retried like OFAuth's (5 attempts, exponential backoff).

pub mod secrets_manager;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Start-up settings.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The API key the simulator accepts.
    pub api_key: String,
    /// The client app's Allowed Redirect URIs (exact match, no wildcards).
    pub allowed_redirects: Vec<String>,
    /// The URL the hosted pages are served at; defaults to `http://<bound address>`.
    pub public_url: Option<String>,
    /// How long a Link session lives.
    pub session_ttl: Duration,
    /// Where and how to send system webhooks (none when `None`).
    pub webhook: Option<WebhookConfig>,
}

/// System webhook delivery settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// The endpoint's signing secret (`whsec_<base64>`).
    pub secret: String,
    pub scheme: SignatureScheme,
    /// First retry delay; doubles each attempt (OFAuth: up to 5 attempts).
    pub retry_base: Duration,
}

/// How deliveries are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureScheme {
    /// `OFAuth-Signature: t=…,v1=<hex>` (the documented scheme).
    Ofauth,
    /// `svix-id`, `svix-timestamp`, `svix-signature` (the SDKs' scheme).
    Svix,
}

/// Test switches for webhook delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookMode {
    /// Send every event twice.
    pub duplicate: bool,
    /// Keep events queued until `release` (for out-of-order and "never sent" cases).
    pub hold: bool,
    /// Wait this long before the first attempt.
    pub delay_ms: u64,
    /// Override the configured scheme.
    pub scheme: Option<SignatureScheme>,
}

/// One delivery attempt, for assertions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub event_id: String,
    pub event_type: String,
    pub attempt: u32,
    /// HTTP status, or 0 when the endpoint could not be reached.
    pub status: u16,
    pub outcome: Option<String>,
}

/// A webhook event as the simulator sends it.
#[derive(Debug, Clone, Serialize)]
pub struct SimEvent {
    pub id: String,
    pub event_type: String,
    pub body: Value,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "sk_sandbox_local".into(),
            allowed_redirects: Vec::new(),
            public_url: None,
            session_ttl: Duration::from_secs(3600),
            webhook: None,
        }
    }
}

/// Fault switches, applied to the `/v2/...` API routes (not the hosted pages).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added delay before answering.
    pub latency_ms: u64,
    /// Answer this status instead (for example 500, 503 or 429).
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with a 429.
    pub retry_after: Option<u64>,
    /// Answer 200 with a body that is not the documented JSON.
    pub malformed: bool,
    /// `POST /v2/link/init` answers `mode: "whitelabel"`.
    pub whitelabel: bool,
    /// Apply the faults only to paths starting with this.
    pub path_prefix: Option<String>,
}

/// A connection as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimConnection {
    pub id: String,
    pub status: String,
    pub client_reference_id: Option<String>,
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub avatar: String,
    pub created_at: String,
    pub updated_at: String,
}

/// One API request as received, for assertions.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub body: Value,
}

#[derive(Debug, Clone)]
struct Session {
    redirect_url: String,
    client_reference_id: Option<String>,
    connection_id: Option<String>,
    expires_at: SystemTime,
    finished: bool,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: BTreeMap<String, Session>,
    connections: BTreeMap<String, SimConnection>,
    faults: Faults,
    requests: Vec<RecordedRequest>,
    next_account: u64,
    webhook_mode: WebhookMode,
    held: Vec<SimEvent>,
    deliveries: Vec<Delivery>,
}

struct Sim {
    config: SimConfig,
    public_url: String,
    inner: Mutex<Inner>,
    http: reqwest::Client,
}

impl Sim {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a way
        // that matters to a test double; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running simulator.
pub struct Simulator {
    addr: SocketAddr,
    sim: Arc<Sim>,
    task: tokio::task::JoinHandle<()>,
}

impl Simulator {
    /// Serves on an already-bound listener (port 0 for a free port).
    pub async fn start(
        listener: tokio::net::TcpListener,
        config: SimConfig,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let sim = Arc::new(Sim {
            config,
            public_url,
            inner: Mutex::new(Inner::default()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(std::io::Error::other)?,
        });
        let app = router(sim.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, sim, task })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_faults(&self, faults: Faults) {
        self.sim.lock().faults = faults;
    }

    pub fn connections(&self) -> Vec<SimConnection> {
        self.sim.lock().connections.values().cloned().collect()
    }

    pub fn connection(&self, id: &str) -> Option<SimConnection> {
        self.sim.lock().connections.get(id).cloned()
    }

    /// Every API request so far (hosted pages and control routes excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.lock().requests.clone()
    }

    /// Marks a connection expired, as OFAuth does when its session lapses
    /// (and sends `connection.expired`).
    pub fn expire_connection(&self, id: &str) -> bool {
        expire(&self.sim, id)
    }

    pub fn set_webhook_mode(&self, mode: WebhookMode) {
        self.sim.lock().webhook_mode = mode;
    }

    /// Sends the held events, in order or reversed, and stops holding.
    pub fn release_webhooks(&self, reverse: bool) {
        release(&self.sim, reverse);
    }

    /// Every delivery attempt so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.sim.lock().deliveries.clone()
    }

    /// Waits until `n` deliveries have been answered (at most `timeout`).
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let d = self.deliveries();
            if d.len() >= n || tokio::time::Instant::now() >= deadline {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signs `body` as a delivery of the configured endpoint would be, at Unix time
    /// `t`: the headers to send. For tests of the receiver's checks.
    pub fn sign(
        &self,
        scheme: SignatureScheme,
        id: &str,
        t: i64,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let secret = self
            .sim
            .config
            .webhook
            .as_ref()
            .map(|w| w.secret.clone())
            .unwrap_or_default();
        sign_headers(&secret, scheme, id, t, body)
    }

    /// Adds an active connection directly (for tests that start from one).
    pub fn insert_connection(&self, id: &str, client_reference_id: Option<&str>) -> SimConnection {
        let mut inner = self.sim.lock();
        let conn = new_connection(
            &mut inner,
            id.to_string(),
            client_reference_id.map(str::to_string),
        );
        inner.connections.insert(id.to_string(), conn.clone());
        conn
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/v2/link/init", post(link_init))
        .route("/v2/access/self", get(access_self))
        .route("/v2/account/connections", get(list_connections))
        .route(
            "/v2/account/connections/{id}",
            axum::routing::delete(delete_connection),
        )
        .route("/__sim/faults", post(set_faults).get(get_faults))
        .route("/__sim/reset", post(reset))
        .route(
            "/__sim/connections",
            get(control_connections).post(control_insert),
        )
        .route("/__sim/connections/{id}/expire", post(control_expire))
        .route("/__sim/requests", get(control_requests))
        .route(
            "/__sim/webhooks",
            get(control_deliveries).post(control_webhook_mode),
        )
        .route("/__sim/webhooks/release", post(control_release))
        .route("/health", get(|| async { "ok" }))
        .route("/{session}", get(hosted_page))
        .route("/{session}/approve", get(approve).post(approve))
        .route("/{session}/cancel", get(cancel).post(cancel))
        .route("/{session}/fail", get(fail).post(fail))
        .with_state(sim)
}

// ---------------------------------------------------------------- API routes

fn api_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({ "error": message, "type": kind }))).into_response()
}

/// Records the request, applies faults and checks the API key.
async fn gate(
    sim: &Sim,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    body: Value,
) -> Option<Response> {
    let faults = {
        let mut inner = sim.lock();
        inner.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.to_string(),
            body,
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
            let mut resp = api_error(status, "SIMULATED", "simulated failure");
            if code == 429 {
                let secs = faults.retry_after.unwrap_or(2).to_string();
                if let Ok(v) = secs.parse() {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            return Some(resp);
        }
        if faults.malformed {
            return Some(
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"mode\":",
                )
                    .into_response(),
            );
        }
    }
    let key = headers.get("apikey").and_then(|v| v.to_str().ok());
    if key != Some(sim.config.api_key.as_str()) {
        return Some(api_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "Invalid or missing API key",
        ));
    }
    None
}

async fn link_init(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: String) -> Response {
    let parsed: Option<Value> = serde_json::from_str(&body).ok();
    let recorded = parsed.clone().unwrap_or(Value::String(body.clone()));
    if let Some(resp) = gate(&sim, Method::POST, "/v2/link/init", &headers, recorded).await {
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
    let expires_at = SystemTime::now() + sim.config.session_ttl;
    inner.sessions.insert(
        session_id.clone(),
        Session {
            redirect_url,
            client_reference_id: text("clientReferenceId"),
            connection_id,
            expires_at,
            finished: false,
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
    if let Some(resp) = gate(&sim, Method::GET, "/v2/access/self", &headers, Value::Null).await {
        return resp;
    }
    let id = headers
        .get("x-connection-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let inner = sim.lock();
    match inner.connections.get(id) {
        None => api_error(
            StatusCode::UNAUTHORIZED,
            "SESSION_NOT_PROVIDED",
            "No valid connection for this request",
        ),
        Some(c) if c.status != "active" => Json(json!({ "isAuth": false })).into_response(),
        Some(c) => Json(json!({
            "isAuth": true,
            "id": c.user_id,
            "username": c.username,
            "name": c.name,
            "avatar": c.avatar,
        }))
        .into_response(),
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
    if let Some(resp) = gate(
        &sim,
        Method::GET,
        "/v2/account/connections",
        &headers,
        Value::Null,
    )
    .await
    {
        return resp;
    }
    let inner = sim.lock();
    let all: Vec<&SimConnection> = inner
        .connections
        .values()
        .filter(|c| q.status.as_deref().is_none_or(|s| s == c.status))
        .collect();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(10).clamp(1, 100);
    let list: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| connection_json(c))
        .collect();
    Json(json!({ "list": list, "hasMore": all.len() > offset + limit })).into_response()
}

async fn delete_connection(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/v2/account/connections/{id}");
    if let Some(resp) = gate(&sim, Method::DELETE, &path, &headers, Value::Null).await {
        return resp;
    }
    let removed = sim.lock().connections.remove(&id);
    match removed {
        Some(mut conn) => {
            conn.status = "disconnected".into();
            emit(&sim, "connection.disconnected", &conn);
            Json(json!({ "success": true })).into_response()
        }
        None => api_error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "Connection not found",
        ),
    }
}

fn connection_json(c: &SimConnection) -> Value {
    json!({
        "id": c.id,
        "status": c.status,
        "userData": { "id": c.user_id, "name": c.name, "username": c.username, "avatar": c.avatar },
        "permissions": [],
        "expiredAt": if c.status == "expired" { Value::String(c.updated_at.clone()) } else { Value::Null },
        "createdAt": c.created_at,
        "updatedAt": c.updated_at,
        "clientReferenceId": c.client_reference_id,
        "imported": false,
        "lastCheckedAt": c.updated_at,
    })
}

// ---------------------------------------------------------------- hosted pages

#[derive(Deserialize)]
struct StepQuery {
    step: Option<String>,
    error_code: Option<String>,
    username: Option<String>,
}

async fn hosted_page(State(sim): State<Arc<Sim>>, Path(session): Path<String>) -> Response {
    let open = sim
        .lock()
        .sessions
        .get(&session)
        .map(|s| !s.finished && SystemTime::now() < s.expires_at);
    match open {
        None => (
            StatusCode::NOT_FOUND,
            Html("<h1>Unknown Link session</h1>".to_string()),
        )
            .into_response(),
        Some(false) => finish(&sim, &session, Finish::Expired),
        Some(true) => Html(hosted_html(&session)).into_response(),
    }
}

async fn approve(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<StepQuery>,
) -> Response {
    finish(
        &sim,
        &session,
        Finish::Approve {
            username: q.username,
        },
    )
}

async fn cancel(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<StepQuery>,
) -> Response {
    finish(
        &sim,
        &session,
        Finish::Cancel {
            step: q.step.unwrap_or_else(|| "login".into()),
        },
    )
}

async fn fail(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<StepQuery>,
) -> Response {
    finish(
        &sim,
        &session,
        Finish::Fail {
            code: q.error_code.unwrap_or_else(|| "invalid_credentials".into()),
        },
    )
}

enum Finish {
    Approve { username: Option<String> },
    Cancel { step: String },
    Fail { code: String },
    Expired,
}

/// Ends a session and sends the browser to its redirect URL with exactly the documented parameters.
fn finish(sim: &Arc<Sim>, session_id: &str, how: Finish) -> Response {
    let mut inner = sim.lock();
    let Some(session) = inner.sessions.get(session_id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Unknown Link session</h1>".to_string()),
        )
            .into_response();
    };
    let usable = !session.finished && SystemTime::now() < session.expires_at;
    let how = if usable { how } else { Finish::Expired };
    if let Some(s) = inner.sessions.get_mut(session_id) {
        s.finished = true;
    }
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut event: Option<(&str, String)> = None;
    match how {
        Finish::Approve { username } => {
            let now = iso(SystemTime::now(), false);
            let id = match &session.connection_id {
                Some(existing) if inner.connections.contains_key(existing) => {
                    if let Some(c) = inner.connections.get_mut(existing) {
                        c.status = "active".into();
                        c.updated_at = now;
                        if session.client_reference_id.is_some() {
                            c.client_reference_id = session.client_reference_id.clone();
                        }
                    }
                    event = Some(("connection.updated", existing.clone()));
                    existing.clone()
                }
                _ => {
                    let id = format!("conn_{}", random_hex(12));
                    let mut conn =
                        new_connection(&mut inner, id.clone(), session.client_reference_id.clone());
                    if let Some(u) = username.filter(|u| !u.is_empty()) {
                        conn.name = u.clone();
                        conn.username = u;
                    }
                    inner.connections.insert(id.clone(), conn);
                    event = Some(("connection.created", id.clone()));
                    id
                }
            };
            params.push(("status", "success".into()));
            params.push(("connection_id", id));
        }
        Finish::Cancel { step } => {
            params.push(("status", "cancelled".into()));
            params.push(("step", step));
        }
        Finish::Fail { code } => {
            params.push(("status", "error".into()));
            params.push(("error_code", code));
        }
        Finish::Expired => {
            params.push(("status", "error".into()));
            params.push(("error_code", "session_expired".into()));
        }
    }
    if let Some(r) = &session.client_reference_id {
        params.push(("client_reference_id", r.clone()));
    }
    if let Some((kind, id)) = event {
        if let Some(conn) = inner.connections.get(&id).cloned() {
            drop(inner);
            emit(sim, kind, &conn);
        }
    }
    let location = match url::Url::parse(&session.redirect_url) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            u.to_string()
        }
        Err(_) => session.redirect_url.clone(),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn new_connection(
    inner: &mut Inner,
    id: String,
    client_reference_id: Option<String>,
) -> SimConnection {
    inner.next_account += 1;
    let n = inner.next_account;
    let now = iso(SystemTime::now(), false);
    SimConnection {
        id,
        status: "active".into(),
        client_reference_id,
        user_id: format!("{}", 100_000 + n),
        username: format!("creator{n}"),
        name: format!("Sandbox Creator {n}"),
        avatar: format!("https://avatars.sandbox.invalid/creator{n}.png"),
        created_at: now.clone(),
        updated_at: now,
    }
}

fn expire(sim: &Arc<Sim>, id: &str) -> bool {
    let conn = {
        let mut inner = sim.lock();
        let Some(c) = inner.connections.get_mut(id) else {
            return false;
        };
        c.status = "expired".into();
        c.updated_at = iso(SystemTime::now(), false);
        c.clone()
    };
    emit(sim, "connection.expired", &conn);
    true
}

// ---------------------------------------------------------------- webhooks

/// Builds a system webhook event for a connection and sends (or holds) it.
fn emit(sim: &Arc<Sim>, kind: &str, conn: &SimConnection) {
    if sim.config.webhook.is_none() {
        return;
    }
    let id = format!("evt_{}", random_hex(12));
    let data = json!({
        "clientReferenceId": conn.client_reference_id,
        "connection": {
            "id": conn.id,
            "status": conn.status,
            "permissions": [],
            "userData": { "id": conn.user_id, "name": conn.name, "username": conn.username, "avatar": conn.avatar },
        },
    });
    let body =
        json!({ "id": id, "type": kind, "timestamp": iso(SystemTime::now(), true), "data": data });
    let event = SimEvent {
        id,
        event_type: kind.to_string(),
        body,
    };
    let mut inner = sim.lock();
    if inner.webhook_mode.hold {
        inner.held.push(event);
        return;
    }
    let mode = inner.webhook_mode.clone();
    drop(inner);
    dispatch(sim, event, &mode);
}

fn release(sim: &Arc<Sim>, reverse: bool) {
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

fn dispatch(sim: &Arc<Sim>, event: SimEvent, mode: &WebhookMode) {
    let sim = sim.clone();
    let mode = mode.clone();
    tokio::spawn(async move {
        if mode.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(mode.delay_ms)).await;
        }
        let times = if mode.duplicate { 2 } else { 1 };
        for _ in 0..times {
            deliver(&sim, &mode, &event).await;
        }
    });
}

/// Sends one event with OFAuth's retry policy: up to 5 attempts, exponential
/// backoff, 10 s timeout each, until a 2xx.
async fn deliver(sim: &Arc<Sim>, mode: &WebhookMode, event: &SimEvent) {
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
            let sig: String = hmac::sign(&key, &msg)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
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

fn hosted_html(session: &str) -> String {
    // `session` matched a stored key, which this server generated (cs_ + hex).
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OFAuth Link (simulator)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
fieldset{{margin:1rem 0;border:1px solid #ccc;border-radius:.5rem}}button{{padding:.5rem 1rem}}</style></head>
<body>
<h1>Connect your OnlyFans account</h1>
<p><em>Local OFAuth simulator</em>: no real credentials are asked for or sent anywhere.</p>
<form method="post" action="/{session}/approve"><fieldset><legend>Sign in</legend>
<p><button id="approve" type="submit">Approve</button></p></fieldset></form>
<form method="get" action="/{session}/cancel"><fieldset><legend>Cancel</legend>
<select name="step" id="cancel-step"><option>pre-login</option><option>authorization</option><option>login</option><option>2fa</option></select>
<button id="cancel" type="submit">Cancel</button></fieldset></form>
<form method="get" action="/{session}/fail"><fieldset><legend>Fail</legend>
<select name="error_code" id="fail-code"><option>invalid_credentials</option><option>account_locked</option><option>2fa_failed</option><option>session_expired</option></select>
<button id="fail" type="submit">Fail</button></fieldset></form>
</body></html>"#
    )
}

// ---------------------------------------------------------------- control routes

async fn set_faults(State(sim): State<Arc<Sim>>, Json(f): Json<Faults>) -> Json<Faults> {
    sim.lock().faults = f.clone();
    Json(f)
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.lock().faults.clone())
}

async fn reset(State(sim): State<Arc<Sim>>) -> StatusCode {
    *sim.lock() = Inner::default();
    StatusCode::NO_CONTENT
}

async fn control_connections(State(sim): State<Arc<Sim>>) -> Json<Vec<SimConnection>> {
    Json(sim.lock().connections.values().cloned().collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsertConnection {
    id: String,
    client_reference_id: Option<String>,
}

async fn control_insert(
    State(sim): State<Arc<Sim>>,
    Json(req): Json<InsertConnection>,
) -> Json<SimConnection> {
    let mut inner = sim.lock();
    let conn = new_connection(&mut inner, req.id.clone(), req.client_reference_id);
    inner.connections.insert(req.id, conn.clone());
    Json(conn)
}

async fn control_expire(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> StatusCode {
    if expire(&sim, &id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn control_deliveries(State(sim): State<Arc<Sim>>) -> Json<Vec<Delivery>> {
    Json(sim.lock().deliveries.clone())
}

async fn control_webhook_mode(
    State(sim): State<Arc<Sim>>,
    Json(mode): Json<WebhookMode>,
) -> Json<WebhookMode> {
    sim.lock().webhook_mode = mode.clone();
    Json(mode)
}

#[derive(Deserialize)]
struct ReleaseQuery {
    #[serde(default)]
    reverse: bool,
}

async fn control_release(State(sim): State<Arc<Sim>>, Query(q): Query<ReleaseQuery>) -> StatusCode {
    release(&sim, q.reverse);
    StatusCode::NO_CONTENT
}

async fn control_requests(State(sim): State<Arc<Sim>>) -> Json<Vec<RecordedRequest>> {
    Json(sim.lock().requests.clone())
}

// ---------------------------------------------------------------- helpers

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS RNG does not fail on supported platforms; a zeroed id would still be unique-enough for a test double
    // only by chance, so make failure loud.
    if getrandom::fill(&mut buf).is_err() {
        panic!("no OS randomness");
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// `2023-10-27T10:00:00.000Z` (with millis) or `2023-10-27T10:00:00Z`.
pub fn iso(t: SystemTime, millis: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if millis {
        format!(
            "{y:04}-{m:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}.{:03}Z",
            d.subsec_millis()
        )
    } else {
        format!("{y:04}-{m:02}-{day:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_698_400_800_123);
        assert_eq!(iso(t, true), "2023-10-27T10:00:00.123Z");
        assert_eq!(iso(UNIX_EPOCH, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso(UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }
}
