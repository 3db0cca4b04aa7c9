//! Why a Link attempt does not go on: the stable codes the app receives (as
//! `error_code` on its error page after the callback, as `error` from
//! `POST /link/complete`), with how each is logged. The callback turns a
//! [`Refusal`] into a redirect; the completion call into an [`ApiError`].

use std::borrow::Cow;

use lambda_http::http::StatusCode;

use crate::error::ApiError;
use crate::ids::AttemptId;
use crate::store::StoreError;

/// The stable codes this service (not OFAuth) refuses or fails an attempt with.
pub mod codes {
    /// Malformed or missing parameters.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// Unknown, forged or already used `client_reference_id` (or attempt).
    pub const INVALID_STATE: &str = "invalid_state";
    /// The attempt expired before the browser came back.
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// OFAuth does not confirm the reported connection, or attests that another
    /// origin (another attempt, an import) produced it.
    pub const CONNECTION_NOT_VERIFIED: &str = "connection_not_verified";
    /// The connection is recorded for another user.
    pub const CONNECTION_CONFLICT: &str = "connection_conflict";
    /// A reconnect came back with a different connection id.
    pub const CONNECTION_MISMATCH: &str = "connection_mismatch";
    /// A reconnect came back signed in to a different account.
    pub const ACCOUNT_MISMATCH: &str = "account_mismatch";
    /// The completion code is unknown, wrong, used or expired.
    pub const INVALID_CODE: &str = "invalid_code";
    /// The browser came back through the callback: only its code completes it.
    pub const CODE_REQUIRED: &str = "code_required";
    /// The signed-in user is not the one who started the attempt.
    pub const COMPLETION_REFUSED: &str = "completion_refused";
    /// OFAuth could not answer this attempt's verification too many times (or
    /// someone keeps forging its callback): the attempt ends; start again.
    pub const TOO_MANY_VERIFICATIONS: &str = "too_many_verifications";
    /// DynamoDB or OFAuth failed or was slow; retrying (reloading) may finish the job.
    pub const TEMPORARILY_UNAVAILABLE: &str = "temporarily_unavailable";
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
}

/// A refusal: the code, and what the one log line says.
#[derive(Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub severity: Severity,
    pub reason: Cow<'static, str>,
}

impl Refusal {
    pub fn new(
        code: &'static str,
        severity: Severity,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            code,
            severity,
            reason: reason.into(),
        }
    }

    /// DynamoDB or OFAuth failed or was slow: the attempt stays usable, so a retry
    /// can finish the job.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        Self::new(
            codes::TEMPORARILY_UNAVAILABLE,
            Severity::Warn,
            format!("{reason}; the attempt stays usable"),
        )
    }

    pub fn log(&self, attempt: Option<&AttemptId>) {
        let (code, reason) = (self.code, self.reason.as_ref());
        crate::telemetry::outcome(code);
        match self.severity {
            Severity::Info => tracing::info!(outcome = code, attempt = ?attempt, reason),
            Severity::Warn => tracing::warn!(outcome = code, attempt = ?attempt, reason),
            Severity::Security => {
                crate::telemetry::security_event(code);
                tracing::warn!(outcome = code, security = true, attempt = ?attempt, reason)
            }
        }
    }

    /// The HTTP status `POST /link/complete` answers this refusal with.
    pub fn status(&self) -> StatusCode {
        use codes::*;
        match self.code {
            INVALID_REQUEST | INVALID_CODE => StatusCode::BAD_REQUEST,
            COMPLETION_REFUSED => StatusCode::FORBIDDEN,
            INVALID_STATE | CODE_REQUIRED | CONNECTION_CONFLICT | TOO_MANY_VERIFICATIONS => {
                StatusCode::CONFLICT
            }
            SESSION_EXPIRED => StatusCode::GONE,
            TEMPORARILY_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn message(&self) -> &'static str {
        use codes::*;
        match self.code {
            INVALID_REQUEST => "The request is not valid.",
            INVALID_CODE => "The completion code is not valid (wrong, used or expired).",
            COMPLETION_REFUSED => {
                "This connection was started by another account; it was not added."
            }
            INVALID_STATE => "This Link attempt cannot be completed (unknown or already used).",
            CODE_REQUIRED => "Complete this attempt with the code the return page received.",
            CONNECTION_CONFLICT => "This connection belongs to another account.",
            SESSION_EXPIRED => "The Link session expired; start again.",
            CONNECTION_MISMATCH => "The reconnect came back with a different connection.",
            ACCOUNT_MISMATCH => {
                "The reconnect signed in to a different account; it was not accepted."
            }
            CONNECTION_NOT_VERIFIED => "OFAuth does not confirm this connection for this attempt.",
            TOO_MANY_VERIFICATIONS => "This Link attempt could not be checked; start again.",
            _ => "The service is temporarily unavailable; try again shortly.",
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

/// For the completion call: the refusal as a JSON error, its reason in the one
/// log line the wrapper writes.
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let mut e = ApiError::new(r.status(), r.code, r.message()).detail(&r.reason);
        if r.code == codes::TEMPORARILY_UNAVAILABLE {
            e.retry_after = Some(1);
        }
        e.security = r.severity == Severity::Security;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_status_and_a_message() {
        use codes::*;
        for code in [
            INVALID_REQUEST,
            INVALID_STATE,
            SESSION_EXPIRED,
            CONNECTION_NOT_VERIFIED,
            CONNECTION_CONFLICT,
            CONNECTION_MISMATCH,
            ACCOUNT_MISMATCH,
            INVALID_CODE,
            CODE_REQUIRED,
            COMPLETION_REFUSED,
            TOO_MANY_VERIFICATIONS,
            TEMPORARILY_UNAVAILABLE,
        ] {
            let r = Refusal::new(code, Severity::Info, "x");
            assert!(r.status().is_client_error() || r.status().is_server_error());
            assert!(!r.message().is_empty());
            let api = ApiError::from(r);
            assert_eq!(api.code, code);
        }
        assert_eq!(
            Refusal::new(codes::COMPLETION_REFUSED, Severity::Security, "x").status(),
            StatusCode::FORBIDDEN
        );
    }
}
