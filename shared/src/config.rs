//! Typed configuration, read once at init from the environment.
//!
//! A missing or invalid variable stops the function at init with a message that
//! names the variable; nothing here is read again per request.

use std::time::Duration;

use url::Url;

/// Environment variable names, in one place so the template test can check them.
pub mod vars {
    pub const TABLE_NAME: &str = "TABLE_NAME";
    pub const DYNAMODB_ENDPOINT: &str = "DYNAMODB_ENDPOINT";
    pub const DYNAMODB_TIMEOUT_MS: &str = "DYNAMODB_TIMEOUT_MS";
    pub const OFAUTH_BASE_URL: &str = "OFAUTH_BASE_URL";
    pub const OFAUTH_CLIENT_APP_ID: &str = "OFAUTH_CLIENT_APP_ID";
    pub const OFAUTH_API_KEY: &str = "OFAUTH_API_KEY";
    pub const OFAUTH_API_KEY_SECRET_ID: &str = "OFAUTH_API_KEY_SECRET_ID";
    pub const OFAUTH_CONNECT_TIMEOUT_MS: &str = "OFAUTH_CONNECT_TIMEOUT_MS";
    pub const OFAUTH_TIMEOUT_MS: &str = "OFAUTH_TIMEOUT_MS";
    pub const CALLBACK_URL: &str = "CALLBACK_URL";
    pub const APP_URL: &str = "APP_URL";
    pub const APP_SUCCESS_PATH: &str = "APP_SUCCESS_PATH";
    pub const APP_CANCEL_PATH: &str = "APP_CANCEL_PATH";
    pub const APP_ERROR_PATH: &str = "APP_ERROR_PATH";
    pub const ALLOWED_ORIGINS: &str = "ALLOWED_ORIGINS";
    pub const USER_ID_CLAIM: &str = "USER_ID_CLAIM";
    pub const DEV_TRUST_USER_HEADER: &str = "DEV_TRUST_USER_HEADER";
    pub const ATTEMPT_RETENTION_SECS: &str = "ATTEMPT_RETENTION_SECS";
    pub const OFAUTH_WEBHOOK_SECRET: &str = "OFAUTH_WEBHOOK_SECRET";
    pub const OFAUTH_WEBHOOK_SECRET_ID: &str = "OFAUTH_WEBHOOK_SECRET_ID";
    pub const WARM_CONNECTIONS: &str = "WARM_CONNECTIONS";
    /// A PEM bundle trusted in addition to the compiled-in roots (see `tls`).
    pub const EXTRA_CA_CERTS: &str = "EXTRA_CA_CERTS";
    /// The connections list search that attests provenance: items per page, pages at most.
    pub const OFAUTH_LIST_PAGE_SIZE: &str = "OFAUTH_LIST_PAGE_SIZE";
    pub const OFAUTH_LIST_MAX_PAGES: &str = "OFAUTH_LIST_MAX_PAGES";
    /// How long a completion code is valid (it never outlives its attempt).
    pub const COMPLETION_CODE_TTL_SECS: &str = "COMPLETION_CODE_TTL_SECS";
    /// The hosts OFAuth's hosted Link URLs may point at.
    pub const LINK_HOSTS: &str = "LINK_HOSTS";
    /// Sessions a user may start per window, and the window.
    pub const SESSION_RATE_LIMIT: &str = "SESSION_RATE_LIMIT";
    pub const SESSION_RATE_WINDOW_SECS: &str = "SESSION_RATE_WINDOW_SECS";
    /// Apply sandbox webhook events (`live: false`), for a deployment on a sandbox key.
    pub const WEBHOOK_ACCEPT_SANDBOX: &str = "WEBHOOK_ACCEPT_SANDBOX";
    /// The reconciler: what it does with an unbound connection of this
    /// deployment's (`disconnect` or `report`), after how long, and how many
    /// pages (OFAuth's list and the table) one run reads at most.
    pub const RECONCILE_UNBOUND: &str = "RECONCILE_UNBOUND";
    pub const RECONCILE_UNBOUND_GRACE_SECS: &str = "RECONCILE_UNBOUND_GRACE_SECS";
    pub const RECONCILE_MAX_PAGES: &str = "RECONCILE_MAX_PAGES";
    /// The share (percent) of a table page's live records OFAuth may call unknown
    /// before the reconciler's breaker stops it (100: no breaker).
    pub const RECONCILE_BREAKER_PERCENT: &str = "RECONCILE_BREAKER_PERCENT";
    /// The OFAuth account the API key must belong to (`GET /v2/account/whoami`'s
    /// `id`); unset: the account the reconciler's first run saw.
    pub const OFAUTH_ACCOUNT_ID: &str = "OFAUTH_ACCOUNT_ID";
    /// Days a disconnected or expired connection keeps the account's personal
    /// fields (0: kept until erased).
    pub const PERSONAL_DATA_RETENTION_DAYS: &str = "PERSONAL_DATA_RETENTION_DAYS";
    /// The CloudWatch namespace of the functions' metrics (EMF); unset: no metrics.
    pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";
    /// The publisher: the EventBridge bus and the events' `source`, and an
    /// endpoint override (the local stand-in).
    pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
    pub const EVENT_SOURCE: &str = "EVENT_SOURCE";
    pub const EVENTBRIDGE_ENDPOINT: &str = "EVENTBRIDGE_ENDPOINT";

    /// Every variable the functions read, for the template/code consistency test.
    pub const ALL: &[&str] = &[
        TABLE_NAME,
        DYNAMODB_ENDPOINT,
        DYNAMODB_TIMEOUT_MS,
        OFAUTH_BASE_URL,
        OFAUTH_CLIENT_APP_ID,
        OFAUTH_API_KEY,
        OFAUTH_API_KEY_SECRET_ID,
        OFAUTH_CONNECT_TIMEOUT_MS,
        OFAUTH_TIMEOUT_MS,
        CALLBACK_URL,
        APP_URL,
        APP_SUCCESS_PATH,
        APP_CANCEL_PATH,
        APP_ERROR_PATH,
        ALLOWED_ORIGINS,
        USER_ID_CLAIM,
        DEV_TRUST_USER_HEADER,
        ATTEMPT_RETENTION_SECS,
        OFAUTH_WEBHOOK_SECRET,
        OFAUTH_WEBHOOK_SECRET_ID,
        WARM_CONNECTIONS,
        EXTRA_CA_CERTS,
        OFAUTH_LIST_PAGE_SIZE,
        OFAUTH_LIST_MAX_PAGES,
        COMPLETION_CODE_TTL_SECS,
        LINK_HOSTS,
        SESSION_RATE_LIMIT,
        SESSION_RATE_WINDOW_SECS,
        WEBHOOK_ACCEPT_SANDBOX,
        RECONCILE_UNBOUND,
        RECONCILE_UNBOUND_GRACE_SECS,
        RECONCILE_MAX_PAGES,
        RECONCILE_BREAKER_PERCENT,
        OFAUTH_ACCOUNT_ID,
        METRICS_NAMESPACE,
        PERSONAL_DATA_RETENTION_DAYS,
        EVENT_BUS_NAME,
        EVENT_SOURCE,
        EVENTBRIDGE_ENDPOINT,
    ];
}

/// The header that identifies the user when `DEV_TRUST_USER_HEADER=true` (local
/// development only, and only in a build with the `dev-identity` feature, which
/// `make dev` enables and no deployed build has).
#[cfg(feature = "dev-identity")]
pub const DEV_USER_HEADER: &str = "x-user-id";

/// The HTTP routes, as (method, path); template.yaml and the `cargo lambda watch`
/// router in Cargo.toml must use exactly these (checked by a test).
pub mod routes {
    pub const SESSION: (&str, &str) = ("POST", "/link/session");
    pub const CALLBACK: (&str, &str) = ("GET", super::CALLBACK_PATH);
    pub const WEBHOOK: (&str, &str) = ("POST", "/link/webhook");
    pub const CONNECTIONS: (&str, &str) = ("GET", "/link/connections");
    pub const DISCONNECT: (&str, &str) = ("DELETE", "/link/connections/{id}");
    pub const COMPLETE: (&str, &str) = ("POST", "/link/complete");
    /// Erases the signed-in user's data (a data-subject request).
    pub const ERASE: (&str, &str) = ("DELETE", "/link/me");
    /// The platform's read API (AWS IAM): a user's connections.
    pub const PLATFORM_USER_CONNECTIONS: (&str, &str) =
        ("GET", "/platform/users/{userId}/connections");
    /// The platform's read API (AWS IAM): one connection's owner and status.
    pub const PLATFORM_CONNECTION: (&str, &str) = ("GET", "/platform/connections/{id}");
}

/// The path of the callback route; the derived callback URL ends with it.
pub const CALLBACK_PATH: &str = "/link/callback";

/// A configuration problem found at init. The message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// A secret value (the OFAuth API key, the webhook signing secret): the one type
/// that holds one. Its `Debug` never shows it; only [`Secret::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value itself, from an environment variable (local development and tests).
    Env(Secret),
    /// A Secrets Manager secret name or ARN, read once at init.
    SecretsManager(String),
}

/// The app's fixed redirect targets. Nothing from a request chooses among other URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppTargets {
    pub success: Url,
    pub cancelled: Url,
    pub error: Url,
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

/// The reconciler's settings.
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

/// Everything the functions need, read once.
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub dynamodb_endpoint: Option<String>,
    pub dynamodb_timeout: Duration,
    pub ofauth_base_url: Url,
    pub ofauth_client_app_id: Option<String>,
    /// The OFAuth API key (init-session, callback, connections).
    pub api_key: Option<SecretSource>,
    /// The webhook signing secret (webhook).
    pub webhook_secret: Option<SecretSource>,
    pub ofauth_connect_timeout: Duration,
    pub ofauth_timeout: Duration,
    /// The callback URL sent to OFAuth. `None`: derived from the API Gateway
    /// request context (`https://{domainName}/link/callback`), which API Gateway
    /// sets and the client cannot choose.
    pub callback_url: Option<Url>,
    pub app: AppTargets,
    pub allowed_origins: Vec<String>,
    pub user_id_claim: String,
    pub dev_trust_user_header: bool,
    /// How long an attempt's record is kept after its session expired (DynamoDB TTL).
    pub attempt_retention: Duration,
    /// Open the DynamoDB and OFAuth connections during Init (`WARM_CONNECTIONS`).
    pub warm_connections: bool,
    /// A PEM bundle trusted in addition to the compiled-in roots (`EXTRA_CA_CERTS`).
    pub extra_ca_certs: Option<std::path::PathBuf>,
    /// The connections list search that attests provenance (bounded: newest
    /// first, at most `list_max_pages` pages of `list_page_size`).
    pub list_page_size: u32,
    pub list_max_pages: u32,
    /// How long a completion code is valid.
    pub completion_code_ttl: Duration,
    /// The hosts the `url` of a Link session may have (`https`, or `http` on
    /// loopback for the simulator).
    pub link_hosts: Vec<String>,
    /// At most this many sessions per user per window (`None`: no limit).
    pub session_rate_limit: Option<u32>,
    pub session_rate_window: Duration,
    /// Apply sandbox webhook events (`live: false`).
    pub accept_sandbox_webhooks: bool,
    pub reconcile: ReconcileSettings,
    /// Where the metrics go (`None`: not recorded).
    pub metrics_namespace: Option<String>,
    /// The publisher's EventBridge bus (name or ARN) and the events' `source`.
    pub event_bus: String,
    pub event_source: String,
    /// An EventBridge endpoint override (the local stand-in).
    pub eventbridge_endpoint: Option<String>,
    /// Local development only (the `dev-identity` switch on): the credentials a
    /// request to the platform's read API must be signed with, as there is no
    /// IAM authorizer locally (the process's `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`).
    pub local_iam: Option<(String, Secret)>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process
    /// environment. One line per setting: its variable, its default, its check.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let table_name = env.required(vars::TABLE_NAME)?;
        let dynamodb_endpoint = env
            .optional_url(vars::DYNAMODB_ENDPOINT, Scheme::Any)?
            .map(String::from);
        let app_url = env.required_url(vars::APP_URL)?;
        let attempt_retention = env.secs(vars::ATTEMPT_RETENTION_SECS, 86_400, 0..=30 * 86_400)?;
        let dev_trust_user_header = env.dev_trust_user_header(dynamodb_endpoint.as_deref())?;
        Ok(Self {
            dynamodb_timeout: env.millis(vars::DYNAMODB_TIMEOUT_MS, 2_500)?,
            ofauth_base_url: env.url(vars::OFAUTH_BASE_URL, "https://api.ofauth.com")?,
            ofauth_client_app_id: env.checked(
                vars::OFAUTH_CLIENT_APP_ID,
                is_client_app_id,
                "must match ^app_[a-zA-Z0-9]+$",
            )?,
            api_key: env.secret(vars::OFAUTH_API_KEY, vars::OFAUTH_API_KEY_SECRET_ID)?,
            webhook_secret: env
                .secret(vars::OFAUTH_WEBHOOK_SECRET, vars::OFAUTH_WEBHOOK_SECRET_ID)?,
            ofauth_connect_timeout: env.millis(vars::OFAUTH_CONNECT_TIMEOUT_MS, 1_500)?,
            ofauth_timeout: env.millis(vars::OFAUTH_TIMEOUT_MS, 4_000)?,
            callback_url: env.optional_url(vars::CALLBACK_URL, Scheme::Https)?,
            app: AppTargets {
                success: env.app_path(vars::APP_SUCCESS_PATH, "/link/success", &app_url)?,
                cancelled: env.app_path(vars::APP_CANCEL_PATH, "/link/cancelled", &app_url)?,
                error: env.app_path(vars::APP_ERROR_PATH, "/link/error", &app_url)?,
            },
            allowed_origins: env.origins(vars::ALLOWED_ORIGINS, &app_url)?,
            user_id_claim: env.text(vars::USER_ID_CLAIM, "sub"),

            attempt_retention,
            warm_connections: env.flag(vars::WARM_CONNECTIONS, true)?,
            extra_ca_certs: env.get(vars::EXTRA_CA_CERTS).map(std::path::PathBuf::from),
            list_page_size: env.number(vars::OFAUTH_LIST_PAGE_SIZE, 50, 1..=100)?,
            list_max_pages: env.number(vars::OFAUTH_LIST_MAX_PAGES, 2, 1..=10)?,
            completion_code_ttl: env.secs(vars::COMPLETION_CODE_TTL_SECS, 600, 30..=3600)?,
            link_hosts: env.hosts(vars::LINK_HOSTS, "link.ofauth.com")?,
            session_rate_limit: Some(env.number(vars::SESSION_RATE_LIMIT, 10, 0..=10_000)?)
                .filter(|n| *n > 0),
            session_rate_window: env.secs(vars::SESSION_RATE_WINDOW_SECS, 60, 1..=86_400)?,
            accept_sandbox_webhooks: env.flag(vars::WEBHOOK_ACCEPT_SANDBOX, false)?,
            reconcile: ReconcileSettings {
                unbound: env.choice(
                    vars::RECONCILE_UNBOUND,
                    &[
                        ("disconnect", UnboundAction::Disconnect),
                        ("report", UnboundAction::Report),
                    ],
                )?,
                // An unbound connection with no record is known to be this
                // deployment's only through its attempt: the grace must end
                // before the attempt is removed.
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
            },
            metrics_namespace: env.checked(
                vars::METRICS_NAMESPACE,
                is_metrics_namespace,
                "must be 1-255 letters, digits or . - _ / # : (space), not starting with AWS/",
            )?,
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
                        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_/".contains(&b))
                },
                "must be 1-256 letters, digits or . - _ /, not starting with aws.",
            )?,
            eventbridge_endpoint: env
                .optional_url(vars::EVENTBRIDGE_ENDPOINT, Scheme::Any)?
                .map(String::from),
            local_iam: match (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
                (Some(key), Some(secret)) if dev_trust_user_header => Some((key, Secret(secret))),
                _ => None,
            },
            dev_trust_user_header,
            table_name,
            dynamodb_endpoint,
        })
    }
}

/// Which URL schemes a URL setting takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// `https`, or `http` only on loopback (so local development works while a
    /// deployed configuration cannot send secrets in clear).
    Https,
    /// `http` or `https` (an endpoint override).
    Any,
}

/// The environment as settings: each reader takes the variable's name, its
/// default and its check, and a failure names the variable. A value is trimmed;
/// an empty one is unset.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, var: &'static str) -> Result<String, ConfigError> {
        self.get(var)
            .ok_or_else(|| ConfigError::new(var, "is required"))
    }

    fn text(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_string())
    }

    /// An optional value that must pass `valid`.
    fn checked(
        &self,
        var: &'static str,
        valid: fn(&str) -> bool,
        problem: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        match self.get(var) {
            Some(v) if !valid(&v) => Err(ConfigError::new(var, problem)),
            v => Ok(v),
        }
    }

    /// A value (or the default) that must pass `valid`.
    fn checked_text(
        &self,
        var: &'static str,
        default: &str,
        valid: fn(&str) -> bool,
        problem: &'static str,
    ) -> Result<String, ConfigError> {
        let v = self.text(var, default);
        valid(&v)
            .then_some(v)
            .ok_or_else(|| ConfigError::new(var, problem))
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).as_deref() {
            None => Ok(default),
            Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(_) => Err(ConfigError::new(var, "must be true or false")),
        }
    }

    /// One of a fixed set of words; the first is the default.
    fn choice<T: Copy>(&self, var: &'static str, words: &[(&str, T)]) -> Result<T, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(words[0].1);
        };
        words
            .iter()
            .find(|(w, _)| *w == v)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
                ConfigError::new(var, format!("must be {}", names.join(" or ")))
            })
    }

    fn number<T: TryFrom<u64>>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<T, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        v.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                ConfigError::new(
                    var,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    fn secs(
        &self,
        var: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(var, default, range).map(Duration::from_secs)
    }

    fn millis(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.get(var) {
            None => Ok(Duration::from_millis(default)),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=60_000).contains(&n) => Ok(Duration::from_millis(n)),
                _ => Err(ConfigError::new(
                    var,
                    "must be a whole number of milliseconds, 1 to 60000",
                )),
            },
        }
    }

    /// An absolute URL with a host and no credentials, when set.
    fn optional_url(&self, var: &'static str, scheme: Scheme) -> Result<Option<Url>, ConfigError> {
        self.get(var)
            .map(|v| parse_url(var, &v, scheme == Scheme::Https))
            .transpose()
    }

    /// An `https` URL (`http` on loopback), or the default.
    fn url(&self, var: &'static str, default: &str) -> Result<Url, ConfigError> {
        parse_url(var, &self.text(var, default), true)
    }

    fn required_url(&self, var: &'static str) -> Result<Url, ConfigError> {
        parse_url(var, &self.required(var)?, true)
    }

    /// A path on the app's origin, which a request can never change.
    fn app_path(&self, var: &'static str, default: &str, app: &Url) -> Result<Url, ConfigError> {
        let path = self.text(var, default);
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return Err(ConfigError::new(
                var,
                "must be a path starting with a single '/'",
            ));
        }
        let url = app
            .join(&path)
            .map_err(|e| ConfigError::new(var, format!("does not form a URL with APP_URL: {e}")))?;
        if url.origin() != app.origin() {
            return Err(ConfigError::new(var, "must stay on APP_URL's origin"));
        }
        Ok(url)
    }

    /// Bare origins, comma-separated (never `*`); by default the app's.
    fn origins(&self, var: &'static str, app: &Url) -> Result<Vec<String>, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(vec![app.origin().ascii_serialization()]);
        };
        v.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|o| {
                let origin = parse_url(var, o, true)?.origin().ascii_serialization();
                if origin != o.trim_end_matches('/') {
                    return Err(ConfigError::new(
                        var,
                        format!(
                            "{o:?} is not a bare origin (scheme://host[:port]); '*' is not allowed"
                        ),
                    ));
                }
                Ok(origin)
            })
            .collect()
    }

    /// Host names, comma-separated, lower-cased.
    fn hosts(&self, var: &'static str, default: &str) -> Result<Vec<String>, ConfigError> {
        let hosts: Vec<String> = self
            .text(var, default)
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let name = |h: &String| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
        if hosts.is_empty() || !hosts.iter().all(name) {
            return Err(ConfigError::new(
                var,
                "must be a comma-separated list of host names",
            ));
        }
        Ok(hosts)
    }

    /// A secret given as its value (local) or as a Secrets Manager id (AWS),
    /// never both.
    fn secret(
        &self,
        value_var: &'static str,
        id_var: &'static str,
    ) -> Result<Option<SecretSource>, ConfigError> {
        match (self.get(value_var), self.get(id_var)) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                value_var,
                format!("set either {value_var} (local) or {id_var} (AWS), not both"),
            )),
            (Some(v), None) => Ok(Some(SecretSource::Env(Secret(v)))),
            (None, Some(id)) => Ok(Some(SecretSource::SecretsManager(id))),
            (None, None) => Ok(None),
        }
    }

    /// The development identity switch trusts a header anyone can send: it must
    /// not be able to take effect in a deployment. A deployment uses DynamoDB
    /// itself; the switch is accepted only with DynamoDB Local on loopback.
    /// A build without the `dev-identity` feature (every deployed build) has no
    /// switch to turn on: asking for it stops the function at Init.
    fn dev_trust_user_header(&self, dynamodb_endpoint: Option<&str>) -> Result<bool, ConfigError> {
        let on = self.flag(vars::DEV_TRUST_USER_HEADER, false)?;
        if on && !cfg!(feature = "dev-identity") {
            return Err(ConfigError::new(
                vars::DEV_TRUST_USER_HEADER,
                "this build has no development identity switch (it is compiled in only with the dev-identity feature, which make dev enables)",
            ));
        }
        let local_dynamodb = dynamodb_endpoint
            .and_then(|e| Url::parse(e).ok())
            .is_some_and(|u| is_loopback(&u));
        if on && !local_dynamodb {
            return Err(ConfigError::new(
                vars::DEV_TRUST_USER_HEADER,
                "is only for local development: it needs DYNAMODB_ENDPOINT on localhost (DynamoDB Local)",
            ));
        }
        Ok(on)
    }
}

/// A CloudWatch namespace: 1-255 of `[A-Za-z0-9.\-_/#: ]`, not in `AWS/`.
fn is_metrics_namespace(v: &str) -> bool {
    (1..=255).contains(&v.len())
        && !v.starts_with("AWS/")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b))
}

/// `^app_[a-zA-Z0-9]+$`, OFAuth's client app id pattern.
pub fn is_client_app_id(v: &str) -> bool {
    v.strip_prefix("app_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Parses an absolute http(s) URL. `https` is required unless the host is loopback,
/// so local development works while a deployed config cannot send secrets in clear.
fn parse_url(var: &'static str, v: &str, https_unless_local: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(v).map_err(|e| ConfigError::new(var, format!("not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if !https_unless_local || is_loopback(&url) => {}
        _ => {
            return Err(ConfigError::new(
                var,
                "must be an https URL (http only for localhost)",
            ))
        }
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(var, "must have a host and no credentials"));
    }
    Ok(url)
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("TABLE_NAME", "links"),
            ("APP_URL", "https://app.example.com"),
            ("OFAUTH_API_KEY", "sk_test_1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_applied() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.ofauth_base_url.as_str(), "https://api.ofauth.com/");
        assert_eq!(
            c.app.success.as_str(),
            "https://app.example.com/link/success"
        );
        assert_eq!(
            c.app.cancelled.as_str(),
            "https://app.example.com/link/cancelled"
        );
        assert_eq!(c.app.error.as_str(), "https://app.example.com/link/error");
        assert_eq!(c.allowed_origins, vec!["https://app.example.com"]);
        assert_eq!(c.user_id_claim, "sub");
        assert!(!c.dev_trust_user_header);
        assert_eq!(c.ofauth_timeout, Duration::from_millis(4000));
        assert!(c.callback_url.is_none());
        assert!(c.warm_connections);
        assert!(c.extra_ca_certs.is_none());
        assert!(
            !cfg(&[("WARM_CONNECTIONS", "false")])
                .unwrap()
                .warm_connections
        );
    }

    #[test]
    fn missing_required_variable_is_named() {
        let err =
            Config::from_lookup(|k| (k == "APP_URL").then(|| "https://a.example".to_string()))
                .unwrap_err();
        assert_eq!(err.var, "TABLE_NAME");
        assert!(cfg(&[("OFAUTH_API_KEY", "")]).unwrap().api_key.is_none());
    }

    #[test]
    fn invalid_values_are_rejected_with_their_name() {
        assert_eq!(
            cfg(&[("OFAUTH_CLIENT_APP_ID", "app-1")]).unwrap_err().var,
            "OFAUTH_CLIENT_APP_ID"
        );
        assert_eq!(
            cfg(&[("APP_URL", "http://app.example.com")])
                .unwrap_err()
                .var,
            "APP_URL"
        );
        assert_eq!(
            cfg(&[("APP_SUCCESS_PATH", "//evil.example")])
                .unwrap_err()
                .var,
            "APP_SUCCESS_PATH"
        );
        assert_eq!(
            cfg(&[("APP_ERROR_PATH", "https://evil.example/")])
                .unwrap_err()
                .var,
            "APP_ERROR_PATH"
        );
        assert_eq!(
            cfg(&[("ALLOWED_ORIGINS", "*")]).unwrap_err().var,
            "ALLOWED_ORIGINS"
        );
        assert_eq!(
            cfg(&[("ALLOWED_ORIGINS", "https://a.example/path")])
                .unwrap_err()
                .var,
            "ALLOWED_ORIGINS"
        );
        assert_eq!(
            cfg(&[("OFAUTH_TIMEOUT_MS", "0")]).unwrap_err().var,
            "OFAUTH_TIMEOUT_MS"
        );
        assert_eq!(
            cfg(&[("DEV_TRUST_USER_HEADER", "yes")]).unwrap_err().var,
            "DEV_TRUST_USER_HEADER"
        );
        assert_eq!(
            cfg(&[("OFAUTH_API_KEY_SECRET_ID", "arn:x")])
                .unwrap_err()
                .var,
            "OFAUTH_API_KEY"
        );
    }

    #[test]
    fn reconciler_and_sandbox_settings() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.reconcile.unbound, UnboundAction::Disconnect);
        assert_eq!(c.reconcile.unbound_grace, Duration::from_secs(21_600));
        assert_eq!(c.reconcile.max_pages, 250);
        assert!(!c.accept_sandbox_webhooks);
        assert_eq!(c.metrics_namespace, None);
        assert_eq!(
            c.reconcile.personal_data_retention,
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(
            cfg(&[("PERSONAL_DATA_RETENTION_DAYS", "0")])
                .unwrap()
                .reconcile
                .personal_data_retention,
            None
        );
        assert_eq!(
            cfg(&[("METRICS_NAMESPACE", "OFAuthLink/prod")])
                .unwrap()
                .metrics_namespace
                .as_deref(),
            Some("OFAuthLink/prod")
        );
        for bad in ["AWS/Lambda", "a{b}", &"x".repeat(256)] {
            assert_eq!(
                cfg(&[("METRICS_NAMESPACE", bad)]).unwrap_err().var,
                "METRICS_NAMESPACE"
            );
        }
        let c = cfg(&[
            ("RECONCILE_UNBOUND", "report"),
            ("RECONCILE_UNBOUND_GRACE_SECS", "0"),
            ("WEBHOOK_ACCEPT_SANDBOX", "true"),
        ])
        .unwrap();
        assert_eq!(c.reconcile.unbound, UnboundAction::Report);
        assert!(c.accept_sandbox_webhooks);
        assert_eq!(
            cfg(&[("RECONCILE_UNBOUND", "delete")]).unwrap_err().var,
            "RECONCILE_UNBOUND"
        );
        // Past the attempts' retention an unrecorded connection can no longer be
        // proven ours: such a grace is refused.
        assert_eq!(
            cfg(&[("RECONCILE_UNBOUND_GRACE_SECS", "86401")])
                .unwrap_err()
                .var,
            "RECONCILE_UNBOUND_GRACE_SECS"
        );
        assert!(cfg(&[
            ("RECONCILE_UNBOUND_GRACE_SECS", "100000"),
            ("ATTEMPT_RETENTION_SECS", "200000")
        ])
        .is_ok());
    }

    /// A deployed build has no switch: it refuses the variable whatever else is set.
    #[cfg(not(feature = "dev-identity"))]
    #[test]
    fn the_dev_identity_switch_is_not_in_a_deployed_build() {
        assert_eq!(
            cfg(&[
                ("DEV_TRUST_USER_HEADER", "true"),
                ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")
            ])
            .unwrap_err()
            .var,
            "DEV_TRUST_USER_HEADER"
        );
    }

    #[cfg(feature = "dev-identity")]
    #[test]
    fn the_dev_identity_switch_needs_dynamodb_local() {
        assert_eq!(
            cfg(&[("DEV_TRUST_USER_HEADER", "true")]).unwrap_err().var,
            "DEV_TRUST_USER_HEADER"
        );
        assert_eq!(
            cfg(&[
                ("DEV_TRUST_USER_HEADER", "true"),
                (
                    "DYNAMODB_ENDPOINT",
                    "https://dynamodb.us-east-1.amazonaws.com"
                )
            ])
            .unwrap_err()
            .var,
            "DEV_TRUST_USER_HEADER"
        );
        assert!(
            cfg(&[
                ("DEV_TRUST_USER_HEADER", "true"),
                ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")
            ])
            .unwrap()
            .dev_trust_user_header
        );
    }

    #[test]
    fn link_hosts_and_rate_limits() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.link_hosts, vec!["link.ofauth.com"]);
        assert_eq!(c.session_rate_limit, Some(10));
        assert_eq!(c.session_rate_window, Duration::from_secs(60));
        assert_eq!(
            cfg(&[("SESSION_RATE_LIMIT", "0")])
                .unwrap()
                .session_rate_limit,
            None
        );
        assert_eq!(
            cfg(&[("LINK_HOSTS", "link.ofauth.com, https://x")])
                .unwrap_err()
                .var,
            "LINK_HOSTS"
        );
    }

    #[test]
    fn http_is_allowed_only_on_loopback() {
        let c = cfg(&[
            ("APP_URL", "http://localhost:8080"),
            ("OFAUTH_BASE_URL", "http://127.0.0.1:9"),
        ])
        .unwrap();
        assert_eq!(c.allowed_origins, vec!["http://localhost:8080"]);
        assert!(cfg(&[("OFAUTH_BASE_URL", "http://api.ofauth.com")]).is_err());
    }

    #[test]
    fn api_key_is_never_printed() {
        let c = cfg(&[
            ("OFAUTH_API_KEY", "sk_live_very_secret"),
            ("OFAUTH_WEBHOOK_SECRET", "whsec_also_secret"),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("very_secret"));
        assert!(!format!("{c:?}").contains("also_secret"));
        assert_eq!(
            cfg(&[
                ("OFAUTH_WEBHOOK_SECRET", "a"),
                ("OFAUTH_WEBHOOK_SECRET_ID", "b")
            ])
            .unwrap_err()
            .var,
            "OFAUTH_WEBHOOK_SECRET"
        );
    }

    #[test]
    fn client_app_id_pattern() {
        assert!(is_client_app_id("app_abc123"));
        assert!(!is_client_app_id("app_"));
        assert!(!is_client_app_id("app_a-b"));
        assert!(!is_client_app_id("xapp_a"));
    }
}
