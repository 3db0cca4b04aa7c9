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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalCode {
    /// Malformed or missing parameters.
    InvalidRequest,
    /// Unknown, forged or already used `client_reference_id` (or attempt).
    InvalidState,
    /// The attempt expired before the browser came back.
    SessionExpired,
    /// OFAuth does not confirm the reported connection, or attests that another
    /// origin (another attempt, an import) produced it.
    ConnectionNotVerified,
    /// The connection is recorded for another user.
    ConnectionConflict,
    /// A reconnect came back with a different connection id.
    ConnectionMismatch,
    /// A reconnect came back signed in to a different account.
    AccountMismatch,
    /// The completion code is unknown, wrong, used or expired.
    InvalidCode,
    /// The browser came back through the callback: only its code completes it.
    CodeRequired,
    /// The signed-in user is not the one who started the attempt.
    CompletionRefused,
    /// The browser came back without the start cookie of the browser that
    /// started the attempt (its Link URL was opened elsewhere).
    BrowserMismatch,
    /// OFAuth could not answer this attempt's verification too many times (or
    /// someone keeps forging its callback): the attempt ends; start again.
    TooManyVerifications,
    /// DynamoDB or OFAuth failed or was slow; retrying (reloading) may finish the job.
    TemporarilyUnavailable,
}

impl RefusalCode {
    pub const ALL: [RefusalCode; 13] = [
        Self::InvalidRequest,
        Self::InvalidState,
        Self::SessionExpired,
        Self::ConnectionNotVerified,
        Self::ConnectionConflict,
        Self::ConnectionMismatch,
        Self::AccountMismatch,
        Self::InvalidCode,
        Self::CodeRequired,
        Self::CompletionRefused,
        Self::BrowserMismatch,
        Self::TooManyVerifications,
        Self::TemporarilyUnavailable,
    ];

    /// The code as the app receives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidState => "invalid_state",
            Self::SessionExpired => "session_expired",
            Self::ConnectionNotVerified => "connection_not_verified",
            Self::ConnectionConflict => "connection_conflict",
            Self::ConnectionMismatch => "connection_mismatch",
            Self::AccountMismatch => "account_mismatch",
            Self::InvalidCode => "invalid_code",
            Self::CodeRequired => "code_required",
            Self::CompletionRefused => "completion_refused",
            Self::BrowserMismatch => "browser_mismatch",
            Self::TooManyVerifications => "too_many_verifications",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status `POST /link/complete` answers it with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::InvalidCode => StatusCode::BAD_REQUEST,
            Self::CompletionRefused => StatusCode::FORBIDDEN,
            Self::InvalidState
            | Self::BrowserMismatch
            | Self::CodeRequired
            | Self::ConnectionConflict
            | Self::TooManyVerifications => StatusCode::CONFLICT,
            Self::SessionExpired => StatusCode::GONE,
            Self::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::ConnectionNotVerified | Self::ConnectionMismatch | Self::AccountMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
        }
    }

    /// What the completion's JSON error tells people.
    fn message(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is not valid.",
            Self::InvalidCode => "The completion code is not valid (wrong, used or expired).",
            Self::CompletionRefused => {
                "This connection was started by another account; it was not added."
            }
            Self::InvalidState => {
                "This Link attempt cannot be completed (unknown or already used)."
            }
            Self::CodeRequired => "Complete this attempt with the code the return page received.",
            Self::BrowserMismatch => {
                "This Link attempt was started in another browser; start again in this one."
            }
            Self::ConnectionConflict => "This connection belongs to another account.",
            Self::SessionExpired => "The Link session expired; start again.",
            Self::ConnectionMismatch => "The reconnect came back with a different connection.",
            Self::AccountMismatch => {
                "The reconnect signed in to a different account; it was not accepted."
            }
            Self::ConnectionNotVerified => {
                "OFAuth does not confirm this connection for this attempt."
            }
            Self::TooManyVerifications => "This Link attempt could not be checked; start again.",
            Self::TemporarilyUnavailable => {
                "The service is temporarily unavailable; try again shortly."
            }
        }
    }
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
    pub code: RefusalCode,
    pub(crate) severity: Severity,
    pub reason: Cow<'static, str>,
}

impl Refusal {
    pub fn new(
        code: RefusalCode,
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
    pub(crate) fn unavailable(reason: impl std::fmt::Display) -> Self {
        Self::new(
            RefusalCode::TemporarilyUnavailable,
            Severity::Warn,
            format!("{reason}; the attempt stays usable"),
        )
    }

    pub fn log(&self, attempt: Option<&AttemptId>) {
        let (code, reason) = (self.code.as_str(), self.reason.as_ref());
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
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AttemptNotUsable => Self::new(
                RefusalCode::InvalidState,
                Severity::Warn,
                "attempt consumed concurrently",
            ),
            StoreError::Erased => Self::new(
                RefusalCode::InvalidState,
                Severity::Info,
                "the attempt's user erased their data after it started; it binds nothing",
            ),
            other => Self::unavailable(format_args!("DynamoDB failed: {other}")),
        }
    }
}

/// For the completion call: the refusal as a JSON error, its reason in the one
/// log line the wrapper writes.
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let mut e =
            ApiError::new(r.code.status(), r.code.as_str(), r.code.message()).detail(&r.reason);
        if r.code == RefusalCode::TemporarilyUnavailable {
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
        for code in RefusalCode::ALL {
            let r = Refusal::new(code, Severity::Info, "x");
            assert!(r.code.status().is_client_error() || r.code.status().is_server_error());
            assert!(!code.message().is_empty());
            let api = ApiError::from(r);
            assert_eq!(api.code, code.as_str());
        }
        assert_eq!(
            RefusalCode::CompletionRefused.status(),
            StatusCode::FORBIDDEN
        );
    }
}
