//! The one error type of the JSON routes: every refusal and failure a handler can
//! answer is an [`ApiError`], and every lower-level error (validation, DynamoDB,
//! OFAuth) becomes one through `From`, so handlers use `?` and the wrapper
//! ([`crate::http::json_api`]) logs the outcome once and shapes the response.

use std::borrow::Cow;
use std::fmt;

use lambda_http::http::StatusCode;

use crate::ofauth::OfAuthError;
use crate::store::StoreError;

/// An answer other than success: `{ "error": code, "message": message }` with
/// `status`. `detail` goes to the log line only, never to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The stable code clients match on; also the log line's `outcome`.
    pub code: &'static str,
    /// For people.
    pub message: Cow<'static, str>,
    /// For the logs: the underlying error or context (masked ids only).
    pub detail: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    /// `Allow`, for a 405.
    pub allow: Option<&'static str>,
    /// Someone tried to use what is not theirs: the log line says `security = true`.
    pub security: bool,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            retry_after: None,
            allow: None,
            security: false,
        }
    }

    /// Adds context for the log line (before any detail already there).
    pub fn detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(match self.detail.take() {
            Some(inner) if !inner.is_empty() => format!("{detail}: {inner}"),
            _ => detail.to_string(),
        });
        self
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(message: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// What every "not this user's" or "does not exist" answer is: the two are
    /// indistinguishable, so ids cannot be probed.
    pub fn connection_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "connection_not_found",
            "No such connection for this user.",
        )
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This method is not allowed here.",
        );
        e.allow = Some(allow);
        e
    }

    pub(crate) fn internal(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong.",
        )
        .detail(detail)
    }

    pub fn storage_unavailable(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "The service is temporarily unavailable; try again shortly.",
        )
        .detail(detail)
    }

    /// OFAuth answered something this service cannot use.
    pub fn ofauth_bad_response(detail: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "ofauth_bad_response",
            "OFAuth sent an answer this service could not read.",
        )
        .detail(detail)
    }

    pub fn timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "The request took too long; try again.",
        )
    }

    /// Writes the one log line for this request's outcome: `error` for this
    /// service's own faults, `warn` for a dependency's, `info` for a refused request.
    pub fn log(&self) {
        let (status, code) = (self.status.as_u16(), self.code);
        crate::telemetry::outcome(code);
        let detail = self.detail.as_deref().unwrap_or("");
        if self.security {
            crate::telemetry::security_event(code);
            tracing::warn!(outcome = code, status, security = true, detail);
            return;
        }
        match self.status {
            StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE
                if code != "ofauth_rate_limited" =>
            {
                tracing::error!(outcome = code, status, detail)
            }
            s if s.is_server_error() => tracing::warn!(outcome = code, status, detail),
            _ => tracing::info!(outcome = code, status, detail),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ConnectionOwnedByAnotherUser => Self::connection_not_found(),
            StoreError::InvalidPageKey => {
                Self::bad_request("invalid_cursor", "The cursor is not valid.")
            }
            other => Self::storage_unavailable(other),
        }
    }
}

/// A failed OFAuth call as the frontend sees it. OFAuth's own message goes to the
/// logs only.
impl From<OfAuthError> for ApiError {
    fn from(e: OfAuthError) -> Self {
        use OfAuthError as E;
        let err = match &e {
            E::Rejected { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "ofauth_rejected",
                "OFAuth rejected the request; check the API key, client app and redirect URL configuration.",
            ),
            E::RateLimited { retry_after_secs } => {
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ofauth_rate_limited",
                    "OFAuth is rate limiting requests; try again shortly.",
                );
                err.retry_after = Some(retry_after_secs.unwrap_or(1).clamp(1, 120));
                err
            }
            E::Server { .. } | E::Unreachable(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                "ofauth_unavailable",
                "OFAuth is unavailable; try again shortly.",
            ),
            E::Timeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "ofauth_timeout",
                "OFAuth did not answer in time.",
            ),
            E::BadResponse(_) => Self::ofauth_bad_response(""),
        };
        err.detail(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ofauth_errors_map_to_stable_answers() {
        let cases = [
            (
                OfAuthError::Rejected {
                    status: 401,
                    kind: None,
                    message: "bad key sk_live_x".into(),
                },
                502,
                "ofauth_rejected",
            ),
            (
                OfAuthError::Server { status: 503 },
                502,
                "ofauth_unavailable",
            ),
            (OfAuthError::Timeout, 504, "ofauth_timeout"),
            (
                OfAuthError::BadResponse("x".into()),
                502,
                "ofauth_bad_response",
            ),
            (
                OfAuthError::RateLimited {
                    retry_after_secs: Some(500),
                },
                503,
                "ofauth_rate_limited",
            ),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
            assert!(!api.message.contains("sk_live"));
        }
        let limited = ApiError::from(OfAuthError::RateLimited {
            retry_after_secs: Some(500),
        });
        assert_eq!(limited.retry_after, Some(120));
    }

    #[test]
    fn store_errors() {
        assert_eq!(
            ApiError::from(StoreError::ConnectionOwnedByAnotherUser).status,
            StatusCode::NOT_FOUND
        );
        let e = ApiError::from(StoreError::Unavailable("timeout".into()));
        assert_eq!((e.status.as_u16(), e.code), (503, "storage_unavailable"));
        assert_eq!(
            e.detail.as_deref(),
            Some("DynamoDB is unavailable: timeout")
        );
    }
}
