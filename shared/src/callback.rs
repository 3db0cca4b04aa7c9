//! callback: `GET /link/callback`, where OFAuth sends the browser back.
//!
//! Every parameter is attacker-controlled. The attempt named by
//! `client_reference_id` is consumed at most once; a reported connection is
//! confirmed with OFAuth before it is recorded; the browser only ever goes to
//! the app's configured targets.

use std::time::SystemTime;

use lambda_http::http::Method;
use lambda_http::{Body, Request, RequestExt, Response};
use url::Url;

use crate::config::AppTargets;
use crate::http;
use crate::ids::{is_token, mask, AttemptId, ConnectionId};
use crate::ofauth::{ConnectionCheck, OfAuthClient};
use crate::store::{self, AttemptEnd, AttemptStatus, Store, StoreError};

/// What the callback needs, built once per process.
#[derive(Debug, Clone)]
pub struct CallbackService {
    pub store: Store,
    pub ofauth: OfAuthClient,
    pub app: AppTargets,
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

/// Handles one request to the callback function. Always answers with a redirect
/// to one of the app's configured targets (or 405 for a non-GET).
pub async fn handle(req: Request, svc: &CallbackService) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return http::method_not_allowed("GET");
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
            tracing::info!(outcome = code, "callback refused before any lookup");
            return error_redirect(&svc.app, code);
        }
    };
    let budget = http::time_budget(&req);
    match tokio::time::timeout(budget, complete(&callback, svc)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(outcome = codes::TEMPORARILY_UNAVAILABLE, attempt = ?callback.attempt, "callback ran out of time; the attempt stays usable");
            error_redirect(&svc.app, codes::TEMPORARILY_UNAVAILABLE)
        }
    }
}

async fn complete(cb: &Callback, svc: &CallbackService) -> Response<Body> {
    let now = SystemTime::now();
    let attempt = match svc.store.get_attempt(&cb.attempt).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!(outcome = codes::INVALID_STATE, attempt = ?cb.attempt, "unknown client_reference_id");
            return error_redirect(&svc.app, codes::INVALID_STATE);
        }
        Err(e) => {
            tracing::error!(outcome = codes::TEMPORARILY_UNAVAILABLE, error = %e, "reading the attempt failed");
            return error_redirect(&svc.app, codes::TEMPORARILY_UNAVAILABLE);
        }
    };
    if attempt.status != AttemptStatus::Pending {
        tracing::warn!(outcome = codes::INVALID_STATE, attempt = ?cb.attempt, status = attempt.status.as_str(), "attempt already used");
        return error_redirect(&svc.app, codes::INVALID_STATE);
    }
    if attempt.is_expired(store::epoch(now)) {
        tracing::info!(outcome = codes::SESSION_EXPIRED, attempt = ?cb.attempt);
        return error_redirect(&svc.app, codes::SESSION_EXPIRED);
    }

    match &cb.outcome {
        CallbackOutcome::Success { connection } => {
            let account = match svc.ofauth.check_connection(connection).await {
                Ok(ConnectionCheck::Authenticated(account)) => account,
                Ok(ConnectionCheck::NotAuthenticated) => {
                    tracing::warn!(
                        outcome = codes::CONNECTION_NOT_VERIFIED,
                        attempt = ?cb.attempt,
                        connection = %connection.masked(),
                        "OFAuth does not confirm the reported connection; nothing recorded"
                    );
                    let end = AttemptEnd::Failed {
                        error_code: codes::CONNECTION_NOT_VERIFIED.into(),
                    };
                    return match svc.store.end_attempt(&attempt, &end, now).await {
                        Ok(()) | Err(StoreError::AttemptNotUsable) => {
                            error_redirect(&svc.app, codes::CONNECTION_NOT_VERIFIED)
                        }
                        Err(_) => error_redirect(&svc.app, codes::TEMPORARILY_UNAVAILABLE),
                    };
                }
                Err(e) => {
                    tracing::error!(outcome = codes::TEMPORARILY_UNAVAILABLE, error = %e, attempt = ?cb.attempt, "confirming the connection with OFAuth failed; the attempt stays usable");
                    return error_redirect(&svc.app, codes::TEMPORARILY_UNAVAILABLE);
                }
            };
            if attempt.reconnect.as_ref().is_some_and(|r| r != connection) {
                tracing::warn!(attempt = ?cb.attempt, "reconnect came back with a different connection id");
            }
            match svc
                .store
                .record_connection(&attempt, connection, &account, now)
                .await
            {
                Ok(()) => {
                    tracing::info!(
                        outcome = "connected",
                        user = %mask(&attempt.user_id),
                        attempt = ?cb.attempt,
                        connection = %connection.masked(),
                        reconnect = attempt.reconnect.is_some(),
                    );
                    target_redirect(
                        &svc.app.success,
                        &[
                            ("status", "success"),
                            ("connection_id", connection.as_str()),
                        ],
                    )
                }
                Err(StoreError::AttemptNotUsable) => {
                    tracing::warn!(outcome = codes::INVALID_STATE, attempt = ?cb.attempt, "attempt consumed concurrently");
                    error_redirect(&svc.app, codes::INVALID_STATE)
                }
                Err(StoreError::ConnectionOwnedByAnotherUser) => {
                    tracing::warn!(
                        outcome = codes::CONNECTION_CONFLICT,
                        security = true,
                        user = %mask(&attempt.user_id),
                        attempt = ?cb.attempt,
                        connection = %connection.masked(),
                        "callback names a connection recorded for another user (a replayed or leaked id?); nothing changed"
                    );
                    error_redirect(&svc.app, codes::CONNECTION_CONFLICT)
                }
                Err(e) => {
                    tracing::error!(outcome = codes::TEMPORARILY_UNAVAILABLE, error = %e, attempt = ?cb.attempt, "recording the connection failed; the attempt stays usable");
                    error_redirect(&svc.app, codes::TEMPORARILY_UNAVAILABLE)
                }
            }
        }
        CallbackOutcome::Cancelled { step } => {
            let end = AttemptEnd::Cancelled {
                step: step.as_ref().map(|s| s.as_str().to_string()),
            };
            match svc.store.end_attempt(&attempt, &end, now).await {
                Ok(()) => {
                    tracing::info!(outcome = "cancelled", attempt = ?cb.attempt, step = step.as_ref().map(CancelStep::as_str));
                    let mut params = vec![("status", "cancelled")];
                    if let Some(s) = step {
                        params.push(("step", s.as_str()));
                    }
                    target_redirect(&svc.app.cancelled, &params)
                }
                Err(e) => end_failed(&svc.app, cb, e),
            }
        }
        CallbackOutcome::Error { code } => {
            let end = AttemptEnd::Failed {
                error_code: code.as_str().to_string(),
            };
            match svc.store.end_attempt(&attempt, &end, now).await {
                Ok(()) => {
                    tracing::info!(outcome = "link_error", attempt = ?cb.attempt, error_code = code.as_str());
                    target_redirect(
                        &svc.app.error,
                        &[("status", "error"), ("error_code", code.as_str())],
                    )
                }
                Err(e) => end_failed(&svc.app, cb, e),
            }
        }
    }
}

fn end_failed(app: &AppTargets, cb: &Callback, e: StoreError) -> Response<Body> {
    let code = match e {
        StoreError::AttemptNotUsable => codes::INVALID_STATE,
        _ => codes::TEMPORARILY_UNAVAILABLE,
    };
    tracing::warn!(outcome = code, error = %e, attempt = ?cb.attempt, "ending the attempt failed");
    error_redirect(app, code)
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
