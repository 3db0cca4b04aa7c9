//! The configuration's parts, one per consumer, each read from its own
//! variables with their defaults and checks: one line a setting.

use std::time::Duration;

use url::Url;

use super::env::{is_client_app_id, is_metrics_namespace, Env, Scheme};
use super::error::ConfigError;
use super::secret::{Secret, SecretSource};
use super::vars;

/// The table (the store, built at Init).
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub table_name: String,
    /// A DynamoDB endpoint override (DynamoDB Local).
    pub endpoint: Option<String>,
    /// Each DynamoDB call, retries included.
    pub timeout: Duration,
}

impl StoreSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: env.required(vars::TABLE_NAME)?,
            endpoint: env
                .optional_url(vars::DYNAMODB_ENDPOINT, Scheme::Any)?
                .map(String::from),
            timeout: env.millis(vars::DYNAMODB_TIMEOUT_MS, 2_500)?,
        })
    }
}

/// OFAuth's API (the OFAuth client, built at Init).
#[derive(Debug, Clone)]
pub struct OfAuthSettings {
    pub(crate) base_url: Url,
    /// The OFAuth API key (init-session, callback, connections, reconcile).
    pub api_key: Option<SecretSource>,
    pub connect_timeout: Duration,
    /// Each call, from its start to its answer's end.
    pub timeout: Duration,
}

impl OfAuthSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            base_url: env.url(vars::OFAUTH_BASE_URL, "https://api.ofauth.com")?,
            api_key: env.secret(vars::OFAUTH_API_KEY, vars::OFAUTH_API_KEY_SECRET_ID)?,
            connect_timeout: env.millis(vars::OFAUTH_CONNECT_TIMEOUT_MS, 1_500)?,
            timeout: env.millis(vars::OFAUTH_TIMEOUT_MS, 4_000)?,
        })
    }
}

/// How each function's process starts (Init).
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Open the DynamoDB and OFAuth connections during Init.
    pub(crate) warm_connections: bool,
    /// A PEM bundle trusted in addition to the compiled-in roots.
    pub extra_ca_certs: Option<std::path::PathBuf>,
    /// Where the metrics go (`None`: not recorded).
    pub(crate) metrics_namespace: Option<String>,
    /// With the edge on: what `x-link-origin-verify` may hold, the current
    /// value and, while rotating, the previous one
    /// ([`crate::apigw::OriginGuard`]).
    pub(crate) edge_origin_secrets: Vec<Secret>,
}

impl RuntimeSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            warm_connections: env.flag(vars::WARM_CONNECTIONS, true)?,
            extra_ca_certs: env.get(vars::EXTRA_CA_CERTS).map(std::path::PathBuf::from),
            metrics_namespace: env.checked(
                vars::METRICS_NAMESPACE,
                is_metrics_namespace,
                "must be 1-255 letters, digits or . - _ / # : (space), not starting with AWS/",
            )?,
            edge_origin_secrets: env
                .checked(
                    vars::EDGE_ORIGIN_SECRET,
                    |v| {
                        let values: Vec<&str> = v.split(',').collect();
                        values.len() <= 2
                            && values.iter().all(|v| {
                                (32..=256).contains(&v.len())
                                    && v.bytes().all(|b| b.is_ascii_graphic())
                            })
                    },
                    "must be one or two values (current,previous) of 32-256 printable characters, no comma (the stack generates them)",
                )?
                .map(|v| v.split(',').map(Secret::new).collect())
                .unwrap_or_default(),
        })
    }
}

/// Who is calling (every route a signed-in user calls).
#[derive(Debug, Clone)]
pub struct IdentitySettings {
    /// The JWT claim that names the user.
    pub(crate) user_id_claim: String,
    /// Local development only: the `x-user-id` header names the user.
    pub(crate) dev_trust_user_header: bool,
    /// Local development only (the `dev-identity` switch on): the credentials a
    /// request to the platform's read API must be signed with, as there is no
    /// IAM authorizer locally (the process's `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`).
    #[cfg_attr(not(feature = "dev-identity"), allow(dead_code))]
    pub(crate) local_iam: Option<(String, Secret)>,
}

impl IdentitySettings {
    pub(super) fn read(
        env: &Env<impl Fn(&str) -> Option<String>>,
        dynamodb_endpoint: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let dev_trust_user_header = env.dev_trust_user_header(dynamodb_endpoint)?;
        Ok(Self {
            user_id_claim: env.text(vars::USER_ID_CLAIM, "sub"),
            local_iam: match (
                env.get("AWS_ACCESS_KEY_ID"),
                env.get("AWS_SECRET_ACCESS_KEY"),
            ) {
                (Some(key), Some(secret)) if dev_trust_user_header => Some((key, Secret(secret))),
                _ => None,
            },
            dev_trust_user_header,
        })
    }
}

/// The origins the JSON routes answer (CORS): bare origins, never `*`.
#[derive(Debug, Clone)]
pub(crate) struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    pub(super) fn read(
        env: &Env<impl Fn(&str) -> Option<String>>,
        app_url: &Url,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            allowed_origins: env.origins(vars::ALLOWED_ORIGINS, app_url)?,
        })
    }
}

/// `POST /link/session` (init-session).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The client app sessions are created for.
    pub client_app_id: Option<String>,
    /// The callback URL sent to OFAuth. `None`: derived from the API Gateway
    /// request context (`https://{domainName}/link/callback`), which API Gateway
    /// sets and the client cannot choose.
    pub(crate) callback_url: Option<Url>,
    /// How long an attempt's record is kept after its session expired (DynamoDB TTL).
    pub attempt_retention: Duration,
    /// The hosts the `url` of a Link session may have (`https`, or `http` on
    /// loopback for the simulator).
    pub(crate) link_hosts: Vec<String>,
    /// At most this many sessions per user per window (`None`: no limit).
    pub(crate) rate_limit: Option<(u32, Duration)>,
}

impl SessionSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let limit = env.number(vars::SESSION_RATE_LIMIT, 10, 0..=10_000)?;
        let window = env.secs(vars::SESSION_RATE_WINDOW_SECS, 60, 1..=86_400)?;
        Ok(Self {
            client_app_id: env.checked(
                vars::OFAUTH_CLIENT_APP_ID,
                is_client_app_id,
                "must match ^app_[a-zA-Z0-9]+$",
            )?,
            callback_url: env.optional_url(vars::CALLBACK_URL, Scheme::Https)?,
            attempt_retention: env.secs(vars::ATTEMPT_RETENTION_SECS, 86_400, 0..=30 * 86_400)?,
            link_hosts: env.hosts(vars::LINK_HOSTS, "link.ofauth.com")?,
            rate_limit: Some(limit).filter(|n| *n > 0).map(|n| (n, window)),
        })
    }
}

/// The app's fixed redirect targets. Nothing from a request chooses among other URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTargets {
    pub success: Url,
    pub cancelled: Url,
    pub error: Url,
}

/// What the callback does with a success return from a browser without the
/// start cookie of the browser that started the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartCookie {
    /// No code: only the browser that started the attempt can finish it.
    Required,
    /// The code, with a security log line and the `StartCookieMissing` metric
    /// (a deployment whose API is on another site than its app, where browsers
    /// may not keep the cookie).
    Logged,
}

/// The return leg (`GET /link/callback`, `POST /link/complete`).
#[derive(Debug, Clone)]
pub struct ReturnLegSettings {
    /// Where the callback sends the browser.
    pub app: AppTargets,
    /// How long a completion code is valid (never past its attempt).
    pub(crate) completion_code_ttl: Duration,
    /// `START_COOKIE`; `None` (`auto`): required where the callback's host and
    /// the app's are one site ([`crate::site::same_site`]), else logged.
    pub(crate) start_cookie: Option<StartCookie>,
    /// The app's host, and the callback's when configured (else the request's).
    pub(crate) app_host: String,
    pub(crate) callback_host: Option<String>,
    /// Completions a user may ask for per window (`None`: no limit).
    pub(crate) complete_rate_limit: Option<(u32, Duration)>,
}

impl ReturnLegSettings {
    pub(super) fn read(
        env: &Env<impl Fn(&str) -> Option<String>>,
        app_url: &Url,
        callback_url: Option<&Url>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            app: AppTargets {
                success: env.app_path(vars::APP_SUCCESS_PATH, "/link/success", app_url)?,
                cancelled: env.app_path(vars::APP_CANCEL_PATH, "/link/cancelled", app_url)?,
                error: env.app_path(vars::APP_ERROR_PATH, "/link/error", app_url)?,
            },
            completion_code_ttl: env.secs(vars::COMPLETION_CODE_TTL_SECS, 600, 30..=3600)?,
            complete_rate_limit: Some(env.number(vars::COMPLETE_RATE_LIMIT, 30, 0..=10_000)?)
                .filter(|n| *n > 0)
                .map(|n| {
                    Ok::<_, ConfigError>((
                        n,
                        env.secs(vars::COMPLETE_RATE_WINDOW_SECS, 60, 1..=86_400)?,
                    ))
                })
                .transpose()?,
            start_cookie: env.choice(
                vars::START_COOKIE,
                &[
                    ("auto", None),
                    ("required", Some(StartCookie::Required)),
                    ("logged", Some(StartCookie::Logged)),
                ],
            )?,
            app_host: app_url.host_str().unwrap_or_default().to_string(),
            callback_host: callback_url.and_then(Url::host_str).map(str::to_string),
        })
    }

    /// What a return without the start cookie gets, for a callback served on
    /// `request_host` (used when no callback URL is configured).
    pub(crate) fn start_cookie_for(&self, request_host: &str) -> StartCookie {
        self.start_cookie.unwrap_or_else(|| {
            let callback = self.callback_host.as_deref().unwrap_or(request_host);
            if crate::site::same_site(&self.app_host, callback) {
                StartCookie::Required
            } else {
                StartCookie::Logged
            }
        })
    }
}

/// OFAuth's connections list as the return leg searches it for an attestation
/// (bounded: newest first, at most `max_pages` pages of `page_size`); the
/// reconciler reads pages of the same size.
#[derive(Debug, Clone, Copy)]
pub struct ListSearch {
    pub page_size: u32,
    pub max_pages: u32,
}

impl ListSearch {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            page_size: env.number(vars::OFAUTH_LIST_PAGE_SIZE, 50, 1..=100)?,
            max_pages: env.number(vars::OFAUTH_LIST_MAX_PAGES, 2, 1..=10)?,
        })
    }
}

/// `POST /link/webhook`.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The signing secret.
    pub secret: Option<SecretSource>,
    /// Apply sandbox events (`live: false`).
    pub accept_sandbox: bool,
}

impl WebhookSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            secret: env.secret(vars::OFAUTH_WEBHOOK_SECRET, vars::OFAUTH_WEBHOOK_SECRET_ID)?,
            accept_sandbox: env.flag(vars::WEBHOOK_ACCEPT_SANDBOX, false)?,
        })
    }
}

/// What the reconciler does with a connection this deployment made that nobody
/// owns once its attempt can no longer bind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnboundAction {
    /// Report it, then disconnect it at OFAuth after the grace period (billing stops).
    Disconnect,
    /// Only report it.
    Report,
}

/// The reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileSettings {
    pub unbound: UnboundAction,
    /// How long after its attempt stopped being able to bind it an unbound
    /// connection is left before it is disconnected.
    pub unbound_grace: Duration,
    /// Pages (of OFAuth's list, then of the table) one run reads at most.
    pub max_pages: u32,
    /// How long a disconnected or expired connection keeps the account's
    /// personal fields before the reconciler takes them off (`None`: kept).
    pub personal_data_retention: Option<Duration>,
    /// The share (percent) of a table page's live records OFAuth may call
    /// unknown before a run stops changing records (100: never stops).
    pub breaker_percent: u32,
    /// The OFAuth account the API key must belong to (`None`: the one the first
    /// run saw).
    pub expected_account: Option<String>,
}

impl ReconcileSettings {
    /// `attempt_retention`: how long attempts are kept, which bounds the grace.
    pub(super) fn read(
        env: &Env<impl Fn(&str) -> Option<String>>,
        attempt_retention: Duration,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            unbound: env.choice(
                vars::RECONCILE_UNBOUND,
                &[
                    ("disconnect", UnboundAction::Disconnect),
                    ("report", UnboundAction::Report),
                ],
            )?,
            // An unbound connection with no record is known to be this
            // deployment's only through its attempt: the grace must end before
            // the attempt is removed.
            unbound_grace: env.secs(
                vars::RECONCILE_UNBOUND_GRACE_SECS,
                21_600,
                0..=attempt_retention.as_secs(),
            )?,
            max_pages: env.number(vars::RECONCILE_MAX_PAGES, 250, 1..=1_000)?,
            personal_data_retention: Some(env.number::<u64>(
                vars::PERSONAL_DATA_RETENTION_DAYS,
                30,
                0..=3_650,
            )?)
            .filter(|days| *days > 0)
            .map(|days| Duration::from_secs(days * 86_400)),
            breaker_percent: env.number(vars::RECONCILE_BREAKER_PERCENT, 20, 1..=100)?,
            expected_account: env.checked(
                vars::OFAUTH_ACCOUNT_ID,
                |v| v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()),
                "must be the id GET /v2/account/whoami answers (printable, at most 128 characters)",
            )?,
        })
    }
}

/// The publisher: where the platform's events go.
#[derive(Debug, Clone)]
pub struct PublisherSettings {
    /// The EventBridge bus (name or ARN).
    pub event_bus: String,
    /// The events' `source`.
    pub event_source: String,
    /// An EventBridge endpoint override (the local stand-in).
    pub endpoint: Option<String>,
    /// How long after an erasure completed its `User Data Erased` goes out.
    pub erasure_grace: Duration,
}

impl PublisherSettings {
    pub(super) fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            event_bus: env.checked_text(
                vars::EVENT_BUS_NAME,
                "default",
                |v| v.len() <= 1600 && v.bytes().all(|b| b.is_ascii_graphic()),
                "must be an EventBridge bus name or ARN",
            )?,
            event_source: env.checked_text(
                vars::EVENT_SOURCE,
                "ofauth.link",
                |v| {
                    v.len() <= 256
                        && !v.starts_with("aws.")
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".-_/".contains(&b))
                },
                "must be 1-256 letters, digits or . - _ /, not starting with aws.",
            )?,
            endpoint: env
                .optional_url(vars::EVENTBRIDGE_ENDPOINT, Scheme::Any)?
                .map(String::from),
            erasure_grace: env.millis(vars::EVENT_ERASURE_GRACE_MS, 10_000)?,
        })
    }
}
