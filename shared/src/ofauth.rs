//! The OFAuth API client: `POST /v2/link/init`, `GET /v2/access/self`,
//! `GET /v2/account/connections`, `DELETE /v2/account/connections/{id}`,
//! `POST /v2/account/connections/{id}/invalidate` and `GET /v2/account/whoami`,
//! with one `reqwest::Client` per
//! process and explicit connect and total timeouts on every call.

use crate::telemetry::{self, CallResult};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{OfAuthSettings, Secret};
use crate::ids::{is_token, ConnectionId};
use crate::model::{AccountProfile, ConnectionStatus};
use crate::time::parse_rfc3339_ms;

/// `geolocation` in a Link init request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geolocation {
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
}

/// The body of `POST /v2/link/init`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkInitRequest<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_app_id: Option<&'a str>,
    pub redirect_url: &'a str,
    pub client_reference_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geolocation: Option<&'a Geolocation>,
}

/// A Link session as OFAuth returns it, discriminated by `mode`.
/// Serialising the hosted variant gives exactly `{"mode":"hosted","url":…,"expiresAt":…}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum LinkSession {
    Hosted {
        url: String,
        #[serde(rename = "expiresAt")]
        expires_at: String,
    },
    Whitelabel {
        #[serde(rename = "clientSecret")]
        client_secret: String,
        #[serde(rename = "expiresAt")]
        expires_at: String,
    },
}

impl LinkSession {
    pub fn expires_at(&self) -> &str {
        match self {
            Self::Hosted { expires_at, .. } | Self::Whitelabel { expires_at, .. } => expires_at,
        }
    }
}

/// One connection from `GET /v2/account/connections`. OFAuth's SDKs disagree on
/// whether `clientReferenceId` may be null; both null and `""` read as none.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedConnection {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub(crate) user_data: Option<AccountProfile>,
    #[serde(default, deserialize_with = "non_empty")]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub imported: bool,
    #[serde(default)]
    pub created_at: Option<String>,
    /// When OFAuth last changed it: orders the reconciler's observation against
    /// webhook events (OFAuth's clock).
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl ListedConnection {
    /// The status OFAuth lists, when it is a short token.
    pub(crate) fn reported_status(&self) -> Option<ConnectionStatus> {
        self.status
            .as_deref()
            .filter(|s| is_token(s))
            .map(ConnectionStatus::parse)
    }

    /// `updatedAt` in Unix milliseconds, when OFAuth gave a readable one.
    pub(crate) fn updated_at_ms(&self) -> Option<i64> {
        self.updated_at.as_deref().and_then(parse_rfc3339_ms)
    }
}

/// A page of `GET /v2/account/connections`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPage {
    pub list: Vec<ListedConnection>,
    #[serde(default)]
    pub has_more: bool,
}

/// A page of `GET /v2/account/connections` as the search reads it: each entry
/// kept as its raw JSON (checked to be JSON, nothing allocated per field).
#[derive(Deserialize)]
struct SearchPage<'a> {
    #[serde(borrow)]
    list: Vec<&'a serde_json::value::RawValue>,
    #[serde(default, rename = "hasMore")]
    has_more: bool,
}

impl SearchPage<'_> {
    /// The entry for `id`. Only an entry whose text holds the id, or an escape
    /// (which could spell it differently), can be it; of those only the `id` is
    /// read, and the one that matches is parsed whole (so another entry's odd
    /// shape does not fail the search).
    fn find(&self, id: &ConnectionId) -> Result<Option<ListedConnection>, OfAuthError> {
        #[derive(Deserialize)]
        struct IdOnly<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
        }
        for raw in &self.list {
            let text = raw.get();
            if !text.contains(id.as_str()) && !text.contains('\\') {
                continue;
            }
            let Ok(entry) = serde_json::from_str::<IdOnly>(text) else {
                continue;
            };
            if entry.id == id.as_str() {
                return serde_json::from_str(text).map(Some).map_err(bad_response);
            }
        }
        Ok(None)
    }
}

fn bad_response(e: serde_json::Error) -> OfAuthError {
    OfAuthError::BadResponse(e.to_string())
}

/// The OFAuth account an API key belongs to (`GET /v2/account/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KeyAccount {
    #[serde(default, deserialize_with = "crate::model::string_or_number")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Invalidates a connection at OFAuth (its session ends; it needs its owner's
/// reconnect): what the stream's remedy needs of OFAuth, apart from how the
/// client is built (on first use, in the publisher).
pub trait Invalidator: Send + Sync + std::fmt::Debug {
    fn invalidate<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

impl Invalidator for OfAuthClient {
    fn invalidate<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            self.invalidate_connection(id)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// What a disconnect at OFAuth did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Disconnected,
    /// OFAuth does not know the connection under this key (404): already
    /// gone, or the key is another account's.
    NotFound,
}

/// What a bounded search of OFAuth's connections list found for one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<ListedConnection>),
    /// Not within the pages searched (newest first): too old, or not listed yet.
    NotFound {
        pages: u32,
    },
}

/// What OFAuth says of a connection id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectionCheck {
    /// `isAuth: true`: the connection exists and is authenticated.
    Authenticated(AccountProfile),
    /// `isAuth: false`, or `SESSION_EXPIRED`: it exists and needs a reconnect.
    NotAuthenticated,
    /// `SESSION_NOT_PROVIDED`: OFAuth does not know the connection.
    Unknown,
}

/// An OFAuth call that did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum OfAuthError {
    /// OFAuth refused the request (bad key, redirect URL, input): a 4xx other than 429.
    #[error("OFAuth rejected the request with {status}: {message}")]
    Rejected {
        status: u16,
        kind: Option<String>,
        message: String,
    },
    #[error("OFAuth rate limited the request (retry after {retry_after_secs:?} s)")]
    RateLimited { retry_after_secs: Option<u64> },
    #[error("OFAuth answered {status}")]
    Server { status: u16 },
    #[error("OFAuth did not answer in time")]
    Timeout,
    #[error("could not reach OFAuth: {0}")]
    Unreachable(String),
    #[error("OFAuth's answer could not be read: {0}")]
    BadResponse(String),
}

/// OFAuth's error body. Sources disagree on its shape, so every field is optional.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// The OFAuth API client, built once per process.
#[derive(Debug, Clone)]
pub struct OfAuthClient {
    http: reqwest::Client,
    base: Url,
    key: Arc<ApiKey>,
}

/// Where the API key can be read again, so that a rotated key is picked up
/// without a redeploy (Secrets Manager in AWS; see `bootstrap`).
pub(crate) trait KeySource: Send + Sync + fmt::Debug {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>>;
}

/// At most one re-read of the key per this long, per process.
pub(crate) const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The API key in use, and where to read it again.
#[derive(Debug)]
struct ApiKey {
    current: RwLock<Secret>,
    source: Option<Arc<dyn KeySource>>,
    last_read: Mutex<Option<Instant>>,
}

impl ApiKey {
    fn current(&self) -> Secret {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// After OFAuth refused the key: reads it again (at most once per
    /// [`KEY_REFRESH_INTERVAL`]); the new key when it changed.
    async fn refresh(&self) -> Option<Secret> {
        let source = self.source.as_ref()?;
        {
            let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < KEY_REFRESH_INTERVAL) {
                return None;
            }
            *last = Some(Instant::now());
        }
        match source.fetch().await {
            Ok(fresh) if fresh != self.current() => {
                tracing::warn!(
                    "OFAuth refused the API key; a new key was read from its secret and is in use"
                );
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                Some(fresh)
            }
            Ok(_) => {
                tracing::error!("OFAuth refused the API key, and its secret holds the same key: rotate or fix it");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "OFAuth refused the API key, and reading its secret again failed");
                None
            }
        }
    }
}

impl OfAuthClient {
    pub fn new(
        base: Url,
        api_key: Secret,
        connect_timeout: Duration,
        timeout: Duration,
        tls: rustls::ClientConfig,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("ofauth-link-backend/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            base,
            key: Arc::new(ApiKey {
                current: RwLock::new(api_key),
                source: None,
                last_read: Mutex::new(None),
            }),
        })
    }

    /// Reads the key again from `source` when OFAuth refuses it.
    pub(crate) fn with_key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.key = Arc::new(ApiKey {
            current: RwLock::new(self.key.current()),
            source: Some(source),
            last_read: Mutex::new(None),
        });
        self
    }

    /// The client for the configured base URL and timeouts, with the TLS
    /// settings from [`crate::tls::client_config`].
    pub fn for_settings(
        settings: &OfAuthSettings,
        api_key: Secret,
        tls: rustls::ClientConfig,
    ) -> Result<Self, reqwest::Error> {
        Self::new(
            settings.base_url.clone(),
            api_key,
            settings.connect_timeout,
            settings.timeout,
            tls,
        )
    }

    /// Opens a pooled connection (TCP and TLS) to OFAuth with a `HEAD` of the base
    /// URL, which needs no API key; the answer is ignored.
    pub async fn warm_up(&self) {
        let _ = self.http.head(self.base.clone()).send().await;
    }

    fn endpoint(&self, path: &str) -> Result<Url, OfAuthError> {
        self.base
            .join(path)
            .map_err(|e| OfAuthError::BadResponse(format!("bad endpoint {path}: {e}")))
    }

    /// `POST /v2/link/init`.
    pub async fn link_init(&self, body: &LinkInitRequest<'_>) -> Result<LinkSession, OfAuthError> {
        let url = self.endpoint("/v2/link/init")?;
        let resp = self
            .send("link_init", || self.http.post(url.clone()).json(body))
            .await?;
        read_json(resp).await
    }

    /// `GET /v2/access/self` with `x-connection-id`: is this connection real and
    /// authenticated? Only what OFAuth documents as being about the connection
    /// (`isAuth: false`, `SESSION_NOT_PROVIDED`, `SESSION_EXPIRED`) says it is
    /// not; anything else (a refused key, `RULES_OUTDATED`, another error shape,
    /// a 400) is an error, so the attempt is kept for a retry.
    pub(crate) async fn check_connection(
        &self,
        id: &ConnectionId,
    ) -> Result<ConnectionCheck, OfAuthError> {
        let url = self.endpoint("/v2/access/self")?;
        let sent = self
            .send("access_self", || {
                self.http
                    .get(url.clone())
                    .header("x-connection-id", id.as_str())
            })
            .await;
        match sent {
            Ok(resp) => {
                #[derive(Deserialize)]
                struct SelfBody {
                    #[serde(rename = "isAuth", default)]
                    is_auth: bool,
                    #[serde(flatten)]
                    profile: AccountProfile,
                }
                let body: SelfBody = read_json(resp).await?;
                Ok(if body.is_auth {
                    ConnectionCheck::Authenticated(body.profile)
                } else {
                    ConnectionCheck::NotAuthenticated
                })
            }
            Err(OfAuthError::Rejected {
                status: 401,
                kind: Some(kind),
                ..
            }) if kind == "SESSION_NOT_PROVIDED" => Ok(ConnectionCheck::Unknown),
            Err(OfAuthError::Rejected {
                status: 401,
                kind: Some(kind),
                ..
            }) if kind == "SESSION_EXPIRED" => Ok(ConnectionCheck::NotAuthenticated),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/account/whoami`: whose key this is.
    pub async fn whoami(&self) -> Result<KeyAccount, OfAuthError> {
        let url = self.endpoint("/v2/account/whoami")?;
        let resp = self.send("whoami", || self.http.get(url.clone())).await?;
        read_json(resp).await
    }

    /// `GET /v2/account/connections?limit=&offset=`: one page, newest first.
    pub async fn list_connections(
        &self,
        limit: u32,
        offset: u32,
    ) -> Result<ConnectionPage, OfAuthError> {
        read_json(self.list_page(limit, offset).await?).await
    }

    /// `GET /v2/account/connections?status=&limit=&offset=`: one page of the
    /// connections with this status (`expired`, …), newest first.
    pub(crate) async fn list_connections_with_status(
        &self,
        status: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ConnectionPage, OfAuthError> {
        let url = self.endpoint("/v2/account/connections")?;
        let resp = self
            .send("list_connections", || {
                self.http
                    .get(url.clone())
                    .query(&[("status", status)])
                    .query(&[("limit", limit), ("offset", offset)])
            })
            .await?;
        read_json(resp).await
    }

    async fn list_page(&self, limit: u32, offset: u32) -> Result<reqwest::Response, OfAuthError> {
        let url = self.endpoint("/v2/account/connections")?;
        self.send("list_connections", || {
            self.http
                .get(url.clone())
                .query(&[("limit", limit), ("offset", offset)])
        })
        .await
    }

    /// Searches the connections list for `id`, newest first, at most `max_pages`
    /// pages of `page_size`: never an unbounded scan inside a request.
    ///
    /// Each page is read as [`SearchPage`]: the entries stay raw JSON and only
    /// one that can be the connection sought is parsed whole. Parsing all 50 into
    /// [`ListedConnection`]s was a tenth of the callback's CPU (BENCHMARKS.md's
    /// profile).
    pub async fn find_connection(
        &self,
        id: &ConnectionId,
        page_size: u32,
        max_pages: u32,
    ) -> Result<Lookup, OfAuthError> {
        let mut pages = 0;
        while pages < max_pages {
            let resp = self.list_page(page_size, pages * page_size).await?;
            let bytes = resp.bytes().await.map_err(classify_transport)?;
            pages += 1;
            let page: SearchPage = serde_json::from_slice(&bytes).map_err(bad_response)?;
            if let Some(found) = page.find(id)? {
                return Ok(Lookup::Found(Box::new(found)));
            }
            if !page.has_more {
                break;
            }
        }
        Ok(Lookup::NotFound { pages })
    }

    /// `POST /v2/account/connections/{id}/invalidate`: OFAuth marks the connection
    /// expired (it can be reconnected). A connection OFAuth no longer knows is fine.
    pub async fn invalidate_connection(&self, id: &ConnectionId) -> Result<(), OfAuthError> {
        let url = self.endpoint(&format!(
            "/v2/account/connections/{}/invalidate",
            id.as_str()
        ))?;
        match self
            .send("invalidate", || self.http.post(url.clone()))
            .await
        {
            Ok(_) | Err(OfAuthError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /v2/account/connections/{id}`: disconnects and stops billing.
    /// A connection OFAuth does not know under this key is [`Removed::NotFound`]:
    /// already gone, if the key is this deployment's account's (the caller
    /// decides).
    pub async fn delete_connection(&self, id: &ConnectionId) -> Result<Removed, OfAuthError> {
        let url = self.endpoint(&format!("/v2/account/connections/{}", id.as_str()))?;
        match self.send("delete", || self.http.delete(url.clone())).await {
            Ok(_) => Ok(Removed::Disconnected),
            Err(OfAuthError::Rejected { status: 404, .. }) => Ok(Removed::NotFound),
            Err(e) => Err(e),
        }
    }

    /// Sends with the API key and turns every non-2xx answer into an `OfAuthError`.
    /// When OFAuth refuses the key, reads it again (at most once a minute) and, if
    /// it changed, sends once more with the new one.
    /// `endpoint` names the call in the metrics.
    async fn send(
        &self,
        endpoint: &'static str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, OfAuthError> {
        match self.send_once(endpoint, build(), &self.key.current()).await {
            Err(e) if e.is_refused_key() => match self.key.refresh().await {
                Some(fresh) => self.send_once(endpoint, build(), &fresh).await,
                None => Err(e),
            },
            other => other,
        }
    }

    async fn send_once(
        &self,
        endpoint: &'static str,
        req: reqwest::RequestBuilder,
        key: &Secret,
    ) -> Result<reqwest::Response, OfAuthError> {
        let started = std::time::Instant::now();
        let sent = req
            .header("apikey", key.expose())
            .header("accept", "application/json")
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let result = if e.is_timeout() {
                    CallResult::Timeout
                } else {
                    CallResult::Unreachable
                };
                telemetry::ofauth_call(endpoint, result, None);
                return Err(classify_transport(e));
            }
        };
        let status = resp.status();
        telemetry::ofauth_call(
            endpoint,
            CallResult::Status(status.as_u16()),
            Some(started.elapsed()),
        );
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(OfAuthError::RateLimited {
                retry_after_secs: retry_after(resp.headers()),
            });
        }
        if status.is_server_error() {
            return Err(OfAuthError::Server {
                status: status.as_u16(),
            });
        }
        let text = resp.text().await.unwrap_or_default();
        let body: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
        let message = body
            .message
            .or_else(|| body.error.as_ref().map(value_text))
            .or_else(|| body.code.as_ref().map(value_text))
            .unwrap_or_else(|| text.chars().take(200).collect());
        Err(OfAuthError::Rejected {
            status: status.as_u16(),
            // The current shape's `type`, else the older shape's `code`.
            kind: body.kind.or_else(|| {
                body.code
                    .as_ref()
                    .and_then(|c| c.as_str().map(str::to_string))
            }),
            message,
        })
    }
}

impl OfAuthError {
    /// A 401 that is not about a connection: OFAuth refusing the API key
    /// (`UNAUTHORIZED`, or no type at all, as older answers and plain ones).
    pub fn is_refused_key(&self) -> bool {
        match self {
            Self::Rejected {
                status: 401, kind, ..
            } => !matches!(
                kind.as_deref(),
                Some("SESSION_NOT_PROVIDED" | "SESSION_EXPIRED" | "RULES_OUTDATED")
            ),
            _ => false,
        }
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, OfAuthError> {
    let bytes = resp.bytes().await.map_err(classify_transport)?;
    serde_json::from_slice(&bytes).map_err(bad_response)
}

fn classify_transport(e: reqwest::Error) -> OfAuthError {
    if e.is_timeout() {
        OfAuthError::Timeout
    } else {
        // Without the URL: a path can hold a connection id, and errors are logged.
        OfAuthError::Unreachable(e.without_url().to_string())
    }
}

/// `Retry-After` in seconds, else `X-RateLimit-Reset` (seconds, or a Unix time).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if let Some(s) = num("retry-after") {
        return Some(s);
    }
    let reset = num("x-ratelimit-reset")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Some(if reset > 1_000_000_000 {
        reset.saturating_sub(now)
    } else {
        reset
    })
}

fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_session_serialises_like_the_docs() {
        let s: LinkSession = serde_json::from_str(
            r#"{"mode":"hosted","url":"https://link.ofauth.com/cs_abc","expiresAt":"2024-01-15T10:30:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"mode":"hosted","url":"https://link.ofauth.com/cs_abc","expiresAt":"2024-01-15T10:30:00Z"}"#
        );
    }

    #[test]
    fn whitelabel_and_unknown_modes() {
        let s: LinkSession = serde_json::from_str(
            r#"{"mode":"whitelabel","clientSecret":"x","expiresAt":"2024-01-15T10:30:00Z"}"#,
        )
        .unwrap();
        assert!(matches!(s, LinkSession::Whitelabel { .. }));
        assert!(serde_json::from_str::<LinkSession>(
            r#"{"mode":"other","url":"x","expiresAt":"y"}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<LinkSession>(r#"{"mode":"hosted","expiresAt":"y"}"#).is_err()
        );
    }

    #[test]
    fn init_request_omits_absent_fields() {
        let body = LinkInitRequest {
            client_app_id: None,
            redirect_url: "https://x/cb",
            client_reference_id: "la_1",
            connection_id: None,
            geolocation: None,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"redirectUrl":"https://x/cb","clientReferenceId":"la_1"}"#
        );
    }

    #[test]
    fn listed_connections_accept_both_sdk_shapes() {
        let page: ConnectionPage = serde_json::from_str(
            r#"{"list":[
                {"id":"conn_a","status":"active","userData":{"id":"1","name":"A","username":"a","avatar":"x"},"permissions":[],"expiredAt":"","createdAt":"2026-11-23T10:00:00.000Z","updatedAt":"","clientReferenceId":"la_1","imported":false,"lastCheckedAt":""},
                {"id":"conn_b","clientReferenceId":null,"imported":true},
                {"id":"conn_c","clientReferenceId":""}
            ],"hasMore":true}"#,
        )
        .unwrap();
        assert!(page.has_more);
        assert_eq!(page.list[0].client_reference_id.as_deref(), Some("la_1"));
        assert_eq!(
            page.list[0].user_data.as_ref().unwrap().username.as_deref(),
            Some("a")
        );
        assert_eq!(page.list[1].client_reference_id, None);
        assert!(page.list[1].imported);
        assert_eq!(page.list[2].client_reference_id, None);
    }

    #[test]
    fn the_search_parses_only_the_entry_it_seeks() {
        let page: SearchPage = serde_json::from_str(
            r#"{"list":[
                {"id":"conn_ab","clientReferenceId":"la_conn_abc_ref"},
                {"id":"conn_\u0061bc","clientReferenceId":"la_2","imported":true},
                {"id":"conn_xyz","userData":{"id":1}},
                {"id":"conn_bad","userData":"not an object"},
                {"id":"conn_odd","userData":"not an object","name":"\"q\""},
                {"noId":"conn_noid"}
            ],"hasMore":false}"#,
        )
        .unwrap();
        let find = |id: &str| page.find(&ConnectionId::parse(id).unwrap());
        // A prefix of another id, or an id inside another field, is not a match.
        assert_eq!(find("conn_a").unwrap(), None);
        assert_eq!(find("conn_ab").unwrap().unwrap().id, "conn_ab");
        // An id spelt with an escape is found (and parsed whole).
        let abc = find("conn_abc").unwrap().unwrap();
        assert_eq!(abc.client_reference_id.as_deref(), Some("la_2"));
        assert!(abc.imported);
        assert_eq!(
            find("conn_xyz")
                .unwrap()
                .unwrap()
                .user_data
                .unwrap()
                .id
                .as_deref(),
            Some("1")
        );
        assert_eq!(find("conn_none").unwrap(), None);
        // The entry sought must have the documented shape; the others need not
        // (conn_odd's escape makes it a candidate for every id, and its shape is
        // wrong; an entry without an id is not a match).
        assert!(matches!(find("conn_bad"), Err(OfAuthError::BadResponse(_))));
        assert!(matches!(find("conn_odd"), Err(OfAuthError::BadResponse(_))));
        assert_eq!(find("conn_noid").unwrap(), None);
        assert!(serde_json::from_str::<SearchPage>(r#"{"list":[{"id":"x"},]}"#).is_err());
    }

    #[test]
    fn retry_after_headers() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("x-ratelimit-reset", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(7));
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(3));
    }

    #[test]
    fn api_key_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("sk_live_x")), "<redacted>");
    }
}
