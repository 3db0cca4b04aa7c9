//! A local OFAuth simulator: the parts of the OFAuth API and hosted Link pages this
//! project talks to, behaving as the seed pages and `ofauth-api-notes.md` describe,
//! with fault switches for tests. Not a mock: it is a real HTTP server.
//!
//! API (`apikey` header required), answering what OFAuth's own SDK models accept:
//! - `POST /v2/link/init`, `GET /v2/access/self`, `GET /v2/account/connections`
//!   (newest first), `DELETE /v2/account/connections/{id}`,
//!   `POST /v2/account/connections/{id}/invalidate`, `GET /v2/account/whoami`
//!
//! Hosted pages: `GET /{session}` (HTML), `/{session}/approve`,
//! `/{session}/cancel?step=`, `/{session}/fail?error_code=` (303 to the redirect URL).
//! With `embed=true&embed_origin=<origin>` (the embed library's iframe) they post
//! `{ type: "OFAUTH_LINK", event, metadata }` messages (`loaded`, `success`,
//! `exit`, `invalid_session`) to that origin instead of redirecting. Every hosted
//! page sends `Content-Security-Policy: frame-ancestors 'self' <allowed origins>`.
//!
//! Control (tests and the demo): `POST /__sim/faults`, `POST /__sim/reset`,
//! `GET|POST /__sim/connections`, `GET /__sim/requests`,
//! `POST /__sim/connections/{id}/expire`, `GET|POST /__sim/webhooks` (deliveries;
//! mode: duplicate, hold, delay, jitter, a share lost, scheme),
//! `POST /__sim/webhooks/release?reverse=`, `GET|POST /__sim/hosted` (embed
//! `redirect`, sessions reported invalid). At scale: `POST /__sim/connections/bulk`
//! (an account that already holds many connections) and `POST /__sim/traffic`
//! (other users connecting at a set rate); the list pages newest first without
//! sorting the account.
//!
//! System webhooks (`connection.created|updated|expired|disconnected`) are signed
//! with either scheme and retried like OFAuth's (5 attempts, exponential backoff).

mod api;
mod control;
pub mod eventbridge;
mod hosted;
pub mod secrets_manager;
mod state;
pub mod tls;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use api::{ACCOUNT_ID, OTHER_ACCOUNT_ID};
pub use webhooks::sign_headers;

use state::{Inner, Sim};

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
    /// The client app's Allowed Origins: who may frame the hosted pages (embed).
    pub allowed_origins: Vec<String>,
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

/// The payload shape of a system webhook.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// OFAuth's docs: `id`, `type`, `timestamp`, `data.connection.userData.id`.
    #[default]
    Docs,
    /// OFAuth's v3 SDKs: `eventType`, `live`, `connection.platformUserId`,
    /// `userData.userId`; no event id or time of its own.
    V3,
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
    /// Lose every event (OFAuth gave up on it).
    pub drop: bool,
    pub dialect: Dialect,
    /// The v3 dialect's `live` (default true; false is a sandbox event).
    pub live: Option<bool>,
    /// Lose this share of events, each independently (0 to 100).
    pub loss_percent: u8,
    /// Add a random delay of up to this long to each event, each independently
    /// (so events overtake each other: reordered).
    pub jitter_ms: u64,
}

/// Other users of the platform connecting in the background, at a steady rate:
/// each a new connection made through Link (a `clientReferenceId` of an attempt
/// this backend does not know), newest first in the list like any other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Traffic {
    /// New connections per second (0 stops it).
    pub connects_per_second: f64,
    /// Send their `connection.created` webhooks too.
    pub webhooks: bool,
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
            allowed_origins: Vec::new(),
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
    /// With `status`: the error body's `type` (current shape), e.g. `UNAUTHORIZED`,
    /// `SESSION_EXPIRED`, `RULES_OUTDATED` (default `SIMULATED`).
    pub error_type: Option<String>,
    /// With `status`: the error body's shape.
    pub error_shape: ErrorShape,
    /// `GET /v2/account/connections` answers an empty page (a list that lags).
    pub list_hidden: bool,
    /// Apply the faults only to paths starting with this.
    pub path_prefix: Option<String>,
    /// `DELETE /v2/account/connections/{id}` answers this long after it
    /// disconnected (its webhook goes out meanwhile): OFAuth's webhook landing
    /// before its answer does.
    pub disconnect_answer_delay_ms: u64,
    /// `GET /v2/access/self` answers a profile without the account's `id`.
    pub self_without_account_id: bool,
    /// `GET /v2/account/connections` gives no `updatedAt` (a shape the
    /// client accepts).
    pub list_without_updated_at: bool,
    /// Connections OFAuth loses sight of (an incident at OFAuth): not listed,
    /// and unknown to `GET /v2/access/self`, while they still exist.
    pub unseen: Vec<String>,
}

/// The shapes OFAuth's sources give its error bodies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorShape {
    /// `{ "error", "type", "requestId" }` (the current docs).
    #[default]
    Current,
    /// `{ "error", "code", "details" }` (the older docs).
    Legacy,
    /// A plain-text body.
    Plain,
}

/// Test switches for the hosted pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HostedMode {
    /// Embed success metadata says `redirect: true` (the page then follows `successUrl`).
    pub embed_redirect: bool,
    /// The next this many sessions opened report themselves invalid (expired).
    pub invalid_sessions: u32,
}

/// A connection as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Imported into OFAuth (not made through Link).
    pub imported: bool,
    /// Creation order (the list answers newest first).
    pub seq: u64,
}

/// One API request as received, for assertions.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub body: Value,
    /// The `x-connection-id` header (Access API calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
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
        let task = serve_in_background(listener, router(sim.clone()));
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
        state::expire(&self.sim, id)
    }

    pub fn set_webhook_mode(&self, mode: WebhookMode) {
        self.sim.lock().webhook_mode = mode;
    }

    /// Sends the held events, in order or reversed, and stops holding.
    pub fn release_webhooks(&self, reverse: bool) {
        webhooks::release(&self.sim, reverse);
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

    /// Adds an active connection directly (for tests that start from one): made by
    /// the Link attempt `client_reference_id`, or imported when there is none.
    pub fn insert_connection(&self, id: &str, client_reference_id: Option<&str>) -> SimConnection {
        let mut inner = self.sim.lock();
        let mut conn = state::new_connection(
            &mut inner,
            id.to_string(),
            client_reference_id.map(str::to_string),
        );
        conn.imported = client_reference_id.is_none();
        inner.put_connection(conn.clone());
        conn
    }

    /// Puts connections back as another simulator held them (a saved state:
    /// the same ids, accounts, times and order), without webhooks; accounts
    /// made after are new ones.
    pub fn restore_connections(&self, connections: Vec<SimConnection>) {
        let mut inner = self.sim.lock();
        for conn in connections {
            let account = conn
                .user_id
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_sub(100_000))
                .unwrap_or(0);
            inner.next_account = inner.next_account.max(conn.seq).max(account);
            inner.put_connection(conn);
        }
    }

    /// The API keys OFAuth accepts from now on (a rotation: both for a while,
    /// then only the new one).
    pub fn set_api_keys(&self, keys: &[&str]) {
        self.sim.lock().api_keys = keys.iter().map(|k| k.to_string()).collect();
    }

    /// Keys of another OFAuth account (a key rotated to the wrong account): they
    /// are accepted, `whoami` names [`OTHER_ACCOUNT_ID`], and they see none of
    /// this account's connections.
    pub fn set_foreign_keys(&self, keys: &[&str]) {
        self.sim.lock().foreign_keys = keys.iter().map(|k| k.to_string()).collect();
    }

    /// Adds `count` imported connections at once (an account that already holds
    /// them), older than any made after; no webhooks. Their ids are
    /// `conn_pre<n>_<hex>`.
    pub fn preload(&self, count: u64) {
        state::preload(&self.sim, count);
    }

    /// Starts (or changes, or with a rate of 0 stops) the background traffic.
    /// Must be called within the Tokio runtime the simulator runs on.
    pub fn set_traffic(&self, traffic: Traffic) {
        state::start_traffic(self.sim.clone(), traffic);
    }

    /// How many connections the account holds.
    pub fn connection_count(&self) -> usize {
        self.sim.lock().connections.len()
    }

    pub fn set_hosted_mode(&self, mode: HostedMode) {
        self.sim.lock().hosted_mode = mode;
    }

    /// Gives a connection another OnlyFans account, as a reconnect signed in to
    /// someone else's would, without a webhook (one lost): a test switch.
    pub fn swap_account(&self, id: &str) -> bool {
        let mut inner = self.sim.lock();
        let Some(mut conn) = inner.connections.get(id).cloned() else {
            return false;
        };
        state::new_account(&mut inner, &mut conn);
        inner.put_connection(conn);
        true
    }

    /// Disconnects a connection as OFAuth would on its own (sends
    /// `connection.disconnected`).
    pub fn disconnect_connection(&self, id: &str) -> bool {
        state::disconnect(&self.sim, id)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(sim: Arc<Sim>) -> Router {
    api::routes()
        .merge(control::routes())
        .merge(hosted::routes())
        .with_state(sim)
}

/// Serves `app` on `listener` until the task is aborted (or the runtime ends).
pub(crate) fn serve_in_background(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}
