//! What a return from OFAuth says, read before anything is looked up: every
//! parameter is attacker-controlled, so each is checked against the exact shape
//! OFAuth documents (a repeated parameter is refused), and OFAuth's open lists
//! (`step`, `error_code`) keep unknown values only in a safe alphabet.

use lambda_http::{Request, RequestExt};

use super::refusal::RefusalCode;
use crate::ids::{is_token, AttemptId, ConnectionId};

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

    /// For the metrics' `Step` dimension: a fixed set, `"other"` for the rest.
    pub(crate) fn metric_label(&self) -> &'static str {
        match self {
            Self::PreLogin => "pre-login",
            Self::Authorization => "authorization",
            Self::Login => "login",
            Self::TwoFactor => "2fa",
            Self::Other(_) => "other",
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

    /// For the metrics' `Code` dimension: a fixed set, `"other"` for the rest.
    pub(crate) fn metric_label(&self) -> &'static str {
        match self {
            Self::SessionExpired => "session_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountLocked => "account_locked",
            Self::TwoFactorFailed => "2fa_failed",
            Self::Other(_) => "other",
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

/// Parses the query string. Repeated parameters are refused (parameter pollution).
pub(crate) fn parse_callback(pairs: &[(String, String)]) -> Result<Callback, RefusalCode> {
    let one = |name: &str| -> Result<Option<&str>, RefusalCode> {
        let mut values = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(RefusalCode::InvalidRequest);
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
                .ok_or(RefusalCode::InvalidRequest)?,
        },
        Some("cancelled") => CallbackOutcome::Cancelled {
            step: match step {
                None | Some("") => None,
                Some(s) if is_token(s) => Some(CancelStep::parse(s)),
                Some(_) => return Err(RefusalCode::InvalidRequest),
            },
        },
        Some("error") => CallbackOutcome::Error {
            code: match error_code {
                None | Some("") => LinkErrorCode::Other("unknown_error".into()),
                Some(c) if is_token(c) => LinkErrorCode::parse(c),
                Some(_) => return Err(RefusalCode::InvalidRequest),
            },
        },
        _ => return Err(RefusalCode::InvalidRequest),
    };
    let attempt = reference
        .and_then(AttemptId::parse)
        .ok_or(RefusalCode::InvalidState)?;
    Ok(Callback { attempt, outcome })
}

/// What a request says, decided before anything is looked up: the parsed
/// callback, or the code it is refused with.
pub fn read_callback(req: &Request) -> Result<Callback, RefusalCode> {
    if crate::apigw::is_malformed(req) {
        return Err(RefusalCode::InvalidRequest);
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
    parse_callback(&pairs)
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
        assert_eq!(err(&[]), RefusalCode::InvalidRequest);
        assert_eq!(
            err(&[("status", "ok"), ("client_reference_id", REF)]),
            RefusalCode::InvalidRequest
        );
        assert_eq!(
            err(&[("status", "success"), ("client_reference_id", REF)]),
            RefusalCode::InvalidRequest
        );
        assert_eq!(
            err(&[
                ("status", "success"),
                ("connection_id", "a b"),
                ("client_reference_id", REF)
            ]),
            RefusalCode::InvalidRequest
        );
        assert_eq!(
            err(&[
                ("status", "success"),
                ("status", "error"),
                ("connection_id", "c"),
                ("client_reference_id", REF)
            ]),
            RefusalCode::InvalidRequest
        );
        assert_eq!(
            err(&[
                ("status", "cancelled"),
                ("step", "https://evil.example"),
                ("client_reference_id", REF)
            ]),
            RefusalCode::InvalidRequest
        );
        assert_eq!(
            err(&[("status", "cancelled"), ("step", "login")]),
            RefusalCode::InvalidState
        );
        assert_eq!(
            err(&[("status", "cancelled"), ("client_reference_id", "user_123")]),
            RefusalCode::InvalidState
        );
    }
}
