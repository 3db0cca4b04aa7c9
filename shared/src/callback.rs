//! callback: `GET /link/callback`, where OFAuth sends the browser back.
//!
//! Every parameter is attacker-controlled. The attempt named by
//! `client_reference_id` is consumed at most once; a reported connection is
//! confirmed with OFAuth before it is recorded; the browser only ever goes to
//! the app's configured targets.

use std::borrow::Cow;
use std::time::SystemTime;

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use url::Url;

use crate::config::{AppTargets, Config};
use crate::error::ApiError;
use crate::http;
use crate::ids::{is_token, mask, AttemptId, ConnectionId};
use crate::ofauth::{ConnectionCheck, OfAuthClient};
use crate::store::{AttemptEnd, AttemptStatus, LinkAttempt, Store, StoreError};
use crate::time::epoch;

/// What the callback needs, built once per process.
#[derive(Debug, Clone)]
pub struct CallbackService {
    pub store: Store,
    pub ofauth: OfAuthClient,
    pub app: AppTargets,
}

impl CallbackService {
    pub fn new(config: &Config, store: Store, ofauth: OfAuthClient) -> Self {
        Self {
            store,
            ofauth,
            app: config.app.clone(),
        }
    }
}

/// Where the user stopped, as OFAuth reports it. Unknown steps are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelStep {
    PreLogin,
    Authorization,
    Login,
    TwoFactor,
    Other(String),
}

impl CancelStep {
    fn parse(v: &str) -> Self {
        match v {
            "pre-login" => Self::PreLogin,
            "authorization" => Self::Authorization,
            "login" => Self::Login,
            "2fa" => Self::TwoFactor,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::PreLogin => "pre-login",
            Self::Authorization => "authorization",
            Self::Login => "login",
            Self::TwoFactor => "2fa",
            Self::Other(v) => v,
        }
    }
}

/// OFAuth's error codes. The list is open ("etc."), so unknown codes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkErrorCode {
    SessionExpired,
    InvalidCredentials,
    AccountLocked,
    TwoFactorFailed,
    Other(String),
}

impl LinkErrorCode {
    fn parse(v: &str) -> Self {
        match v {
            "session_expired" => Self::SessionExpired,
            "invalid_credentials" => Self::InvalidCredentials,
            "account_locked" => Self::AccountLocked,
            "2fa_failed" => Self::TwoFactorFailed,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::SessionExpired => "session_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountLocked => "account_locked",
            Self::TwoFactorFailed => "2fa_failed",
            Self::Other(v) => v,
        }
    }
}

/// A well-formed callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    Success { connection: ConnectionId },
    Cancelled { step: Option<CancelStep> },
    Error { code: LinkErrorCode },
}

/// A parsed callback: which attempt, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub attempt: AttemptId,
    pub outcome: CallbackOutcome,
}

/// The stable codes the app's error page receives as `error_code` when this
/// service (not OFAuth) refuses or cannot finish the callback.
pub mod codes {
    /// Malformed or missing parameters.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// Unknown, forged or already used `client_reference_id`.
    pub const INVALID_STATE: &str = "invalid_state";
    /// The attempt expired before the browser came back.
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// OFAuth does not confirm the reported connection.
    pub const CONNECTION_NOT_VERIFIED: &str = "connection_not_verified";
    /// The connection is recorded for another user.
    pub const CONNECTION_CONFLICT: &str = "connection_conflict";
    /// DynamoDB or OFAuth failed or was slow; reloading the page may finish the job.
    pub const TEMPORARILY_UNAVAILABLE: &str = "temporarily_unavailable";
}

/// Parses the query string. Repeated parameters are refused (parameter pollution).
pub fn parse_callback(pairs: &[(String, String)]) -> Result<Callback, &'static str> {
    let one = |name: &str| -> Result<Option<&str>, &'static str> {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(codes::INVALID_REQUEST);
        }
        Ok(first)
    };
    let status = one("status")?;
    let connection_id = one("connection_id")?;
    let reference = one("client_reference_id")?;
    let step = one("step")?;
    let error_code = one("error_code")?;

    let outcome = match status {
        Some("success") => CallbackOutcome::Success {
            connection: connection_id
                .and_then(ConnectionId::parse)
                .ok_or(codes::INVALID_REQUEST)?,
        },
        Some("cancelled") => CallbackOutcome::Cancelled {
            step: match step {
                None | Some("") => None,
                Some(s) if is_token(s) => Some(CancelStep::parse(s)),
                Some(_) => return Err(codes::INVALID_REQUEST),
            },
        },
        Some("error") => CallbackOutcome::Error {
            code: match error_code {
                None | Some("") => LinkErrorCode::Other("unknown_error".into()),
                Some(c) if is_token(c) => LinkErrorCode::parse(c),
                Some(_) => return Err(codes::INVALID_REQUEST),
            },
        },
        _ => return Err(codes::INVALID_REQUEST),
    };
    let attempt = reference
        .and_then(AttemptId::parse)
        .ok_or(codes::INVALID_STATE)?;
    Ok(Callback { attempt, outcome })
}

/// Why the callback sends the browser to the app's error page: the stable code
/// the page receives, and what the one log line says.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub severity: Severity,
    pub reason: Cow<'static, str>,
}

/// How a refusal is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// An ordinary outcome (an expired attempt).
    Info,
    /// Bad or replayed input, or a dependency failing.
    Warn,
    /// Someone tried to use what is not theirs (`security = true` on the line).
    Security,
    /// This service's own fault.
    Error,
}

impl Refusal {
    fn new(code: &'static str, severity: Severity, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            severity,
            reason: reason.into(),
        }
    }

    /// DynamoDB or OFAuth failed or was slow: the attempt stays usable, so a reload
    /// can finish the job.
    fn unavailable(reason: impl std::fmt::Display) -> Self {
        Self::new(
            codes::TEMPORARILY_UNAVAILABLE,
            Severity::Warn,
            format!("{reason}; the attempt stays usable"),
        )
    }

    fn log(&self, attempt: Option<&AttemptId>) {
        let (code, reason) = (self.code, self.reason.as_ref());
        match self.severity {
            Severity::Info => tracing::info!(outcome = code, attempt = ?attempt, reason),
            Severity::Warn => tracing::warn!(outcome = code, attempt = ?attempt, reason),
            Severity::Security => {
                tracing::warn!(outcome = code, security = true, attempt = ?attempt, reason)
            }
            Severity::Error => tracing::error!(outcome = code, attempt = ?attempt, reason),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AttemptNotUsable => Self::new(
                codes::INVALID_STATE,
                Severity::Warn,
                "attempt consumed concurrently",
            ),
            other => Self::unavailable(format_args!("DynamoDB failed: {other}")),
        }
    }
}

/// Handles one request to the callback function. Always answers with a redirect
/// to one of the app's configured targets (or 405 for a non-GET).
pub async fn handle(req: Request, svc: &CallbackService) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return http::respond(Err(ApiError::method_not_allowed("GET")));
    }
    let pairs: Vec<(String, String)> = match req.query_string_parameters_ref() {
        Some(q) => q
            .iter()
            .flat_map(|(k, _)| {
                q.all(k)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |v| (k.to_string(), v.to_string()))
            })
            .collect(),
        None => Vec::new(),
    };
    let callback = match parse_callback(&pairs) {
        Ok(c) => c,
        Err(code) => {
            Refusal::new(code, Severity::Info, "callback refused before any lookup").log(None);
            return error_redirect(&svc.app, code);
        }
    };
    let result = tokio::time::timeout(http::time_budget(&req), complete(&callback, svc))
        .await
        .unwrap_or_else(|_| Err(Refusal::unavailable("callback ran out of time")));
    result.unwrap_or_else(|refusal| {
        refusal.log(Some(&callback.attempt));
        error_redirect(&svc.app, refusal.code)
    })
}

async fn complete(cb: &Callback, svc: &CallbackService) -> Result<Response<Body>, Refusal> {
    let now = SystemTime::now();
    let attempt = svc.store.get_attempt(&cb.attempt).await?.ok_or_else(|| {
        Refusal::new(
            codes::INVALID_STATE,
            Severity::Warn,
            "unknown client_reference_id",
        )
    })?;
    if attempt.status != AttemptStatus::Pending {
        return Err(Refusal::new(
            codes::INVALID_STATE,
            Severity::Warn,
            format!("attempt already used ({})", attempt.status.as_str()),
        ));
    }
    if attempt.is_expired(epoch(now)) {
        return Err(Refusal::new(
            codes::SESSION_EXPIRED,
            Severity::Info,
            "attempt expired",
        ));
    }
    match &cb.outcome {
        CallbackOutcome::Success { connection } => record(&attempt, connection, svc, now).await,
        CallbackOutcome::Cancelled { step } => {
            let end = AttemptEnd::Cancelled {
                step: step.as_ref().map(|s| s.as_str().to_string()),
            };
            svc.store.end_attempt(&attempt, &end, now).await?;
            tracing::info!(outcome = "cancelled", attempt = ?cb.attempt, step = step.as_ref().map(CancelStep::as_str));
            let mut params = vec![("status", "cancelled")];
            if let Some(s) = step {
                params.push(("step", s.as_str()));
            }
            Ok(target_redirect(&svc.app.cancelled, &params))
        }
        CallbackOutcome::Error { code } => {
            let end = AttemptEnd::Failed {
                error_code: code.as_str().to_string(),
            };
            svc.store.end_attempt(&attempt, &end, now).await?;
            tracing::info!(outcome = "link_error", attempt = ?cb.attempt, error_code = code.as_str());
            Ok(target_redirect(
                &svc.app.error,
                &[("status", "error"), ("error_code", code.as_str())],
            ))
        }
    }
}

/// A reported success: confirmed with OFAuth, then recorded with the attempt
/// consumed, in one transaction.
async fn record(
    attempt: &LinkAttempt,
    connection: &ConnectionId,
    svc: &CallbackService,
    now: SystemTime,
) -> Result<Response<Body>, Refusal> {
    let account = match svc.ofauth.check_connection(connection).await {
        Ok(ConnectionCheck::Authenticated(account)) => account,
        Ok(ConnectionCheck::NotAuthenticated) => {
            let end = AttemptEnd::Failed {
                error_code: codes::CONNECTION_NOT_VERIFIED.into(),
            };
            return Err(match svc.store.end_attempt(attempt, &end, now).await {
                Ok(()) | Err(StoreError::AttemptNotUsable) => Refusal::new(
                    codes::CONNECTION_NOT_VERIFIED,
                    Severity::Warn,
                    format!(
                        "OFAuth does not confirm {}; nothing recorded",
                        connection.masked()
                    ),
                ),
                Err(e) => e.into(),
            });
        }
        Err(e) => {
            return Err(Refusal::unavailable(format_args!(
                "confirming the connection with OFAuth failed: {e}"
            )))
        }
    };
    if attempt.reconnect.as_ref().is_some_and(|r| r != connection) {
        tracing::warn!(attempt = ?attempt.id, "reconnect came back with a different connection id");
    }
    match svc
        .store
        .record_connection(attempt, connection, &account, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConnectionOwnedByAnotherUser) => {
            return Err(Refusal::new(
                codes::CONNECTION_CONFLICT,
                Severity::Security,
                format!(
                "{} is recorded for another user (a replayed or leaked id?); user {} got nothing",
                connection.masked(),
                mask(&attempt.user_id)
            ),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(
        outcome = "connected",
        user = %mask(&attempt.user_id),
        attempt = ?attempt.id,
        connection = %connection.masked(),
        reconnect = attempt.reconnect.is_some(),
    );
    Ok(target_redirect(
        &svc.app.success,
        &[
            ("status", "success"),
            ("connection_id", connection.as_str()),
        ],
    ))
}

fn error_redirect(app: &AppTargets, code: &str) -> Response<Body> {
    target_redirect(&app.error, &[("status", "error"), ("error_code", code)])
}

/// A redirect to a configured target with only the given (non-sensitive) parameters.
fn target_redirect(target: &Url, params: &[(&str, &str)]) -> Response<Body> {
    let mut url = target.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    http::redirect(&url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "la_0123456789abcdef0123456789abcdef01234567";

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn success_is_parsed() {
        let cb = parse_callback(&q(&[
            ("status", "success"),
            ("connection_id", "conn_1"),
            ("client_reference_id", REF),
        ]))
        .unwrap();
        assert_eq!(cb.attempt.as_str(), REF);
        assert_eq!(
            cb.outcome,
            CallbackOutcome::Success {
                connection: ConnectionId::parse("conn_1").unwrap()
            }
        );
    }

    #[test]
    fn steps_and_codes_known_and_unknown() {
        for (raw, step) in [
            ("pre-login", CancelStep::PreLogin),
            ("authorization", CancelStep::Authorization),
            ("login", CancelStep::Login),
            ("2fa", CancelStep::TwoFactor),
            ("captcha", CancelStep::Other("captcha".into())),
        ] {
            let cb = parse_callback(&q(&[
                ("status", "cancelled"),
                ("step", raw),
                ("client_reference_id", REF),
            ]))
            .unwrap();
            assert_eq!(
                cb.outcome,
                CallbackOutcome::Cancelled {
                    step: Some(step.clone())
                }
            );
            assert_eq!(step.as_str(), raw);
        }
        for (raw, code) in [
            ("session_expired", LinkErrorCode::SessionExpired),
            ("invalid_credentials", LinkErrorCode::InvalidCredentials),
            ("account_locked", LinkErrorCode::AccountLocked),
            ("2fa_failed", LinkErrorCode::TwoFactorFailed),
            (
                "proxy_failure",
                LinkErrorCode::Other("proxy_failure".into()),
            ),
        ] {
            let cb = parse_callback(&q(&[
                ("status", "error"),
                ("error_code", raw),
                ("client_reference_id", REF),
            ]))
            .unwrap();
            assert_eq!(cb.outcome, CallbackOutcome::Error { code: code.clone() });
            assert_eq!(code.as_str(), raw);
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let err = |p: &[(&str, &str)]| parse_callback(&q(p)).unwrap_err();
        assert_eq!(err(&[]), codes::INVALID_REQUEST);
        assert_eq!(
            err(&[("status", "ok"), ("client_reference_id", REF)]),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            err(&[("status", "success"), ("client_reference_id", REF)]),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            err(&[
                ("status", "success"),
                ("connection_id", "a b"),
                ("client_reference_id", REF)
            ]),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            err(&[
                ("status", "success"),
                ("status", "error"),
                ("connection_id", "c"),
                ("client_reference_id", REF)
            ]),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            err(&[
                ("status", "cancelled"),
                ("step", "https://evil.example"),
                ("client_reference_id", REF)
            ]),
            codes::INVALID_REQUEST
        );
        assert_eq!(
            err(&[("status", "cancelled"), ("step", "login")]),
            codes::INVALID_STATE
        );
        assert_eq!(
            err(&[("status", "cancelled"), ("client_reference_id", "user_123")]),
            codes::INVALID_STATE
        );
    }

    #[test]
    fn redirects_keep_the_target_and_encode_values() {
        let target = Url::parse("https://app.example.com/link/error?from=link").unwrap();
        let resp = target_redirect(&target, &[("status", "error"), ("error_code", "a&b=c")]);
        assert_eq!(resp.status(), 302);
        assert_eq!(
            resp.headers()["location"],
            "https://app.example.com/link/error?from=link&status=error&error_code=a%26b%3Dc"
        );
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    }
}
