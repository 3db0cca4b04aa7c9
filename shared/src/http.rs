//! HTTP responses: the one place that shapes JSON errors, redirects and CORS headers.

use lambda_http::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, VARY};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::error::ApiError;

/// The JSON error body: `{ "error": <stable code>, "message": <human text> }`.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub error: &'a str,
    pub message: &'a str,
}

/// A JSON response with `Cache-Control: no-store`.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    // Text, not bytes: API Gateway then passes it on as is (no base64).
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_string());
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 204 with no body.
pub(crate) fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// The response for an [`ApiError`]: its JSON body, `Retry-After` when set, and
/// `Allow` for a 405.
pub(crate) fn error_response(e: &ApiError) -> Response<Body> {
    let mut resp = json(
        e.status,
        &ErrorBody {
            error: e.code,
            message: &e.message,
        },
    );
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    if let Some(allow) = e.allow {
        resp.headers_mut()
            .insert("allow", HeaderValue::from_static(allow));
    }
    resp
}

/// A handler's result as the response: an error is logged once, here.
pub(crate) fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(|e| {
        e.log();
        error_response(&e)
    })
}

/// A redirect for the browser on the return leg: no caching, no referrer (the URL
/// it came from carries connection ids).
pub fn redirect(location: &url::Url) -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::FOUND;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location.as_str()) {
        h.insert(LOCATION, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    resp
}

/// CORS for the configured frontend origins only: never `*`, never a reflected
/// origin that is not on the list.
#[derive(Debug, Clone)]
pub(crate) struct Cors {
    origins: Vec<String>,
    allow_headers: &'static str,
    allow_methods: &'static str,
}

impl Cors {
    pub fn new(
        origins: Vec<String>,
        allow_headers: &'static str,
        allow_methods: &'static str,
    ) -> Self {
        Self {
            origins,
            allow_headers,
            allow_methods,
        }
    }

    /// CORS for the configured origins, with the headers a browser caller sends
    /// (`x-user-id` only when local development trusts it).
    pub(crate) fn for_config(config: &crate::config::Config, allow_methods: &'static str) -> Self {
        #[cfg(feature = "dev-identity")]
        let allow_headers = if config.identity.dev_trust_user_header {
            "authorization, content-type, x-user-id"
        } else {
            "authorization, content-type"
        };
        #[cfg(not(feature = "dev-identity"))]
        let allow_headers = "authorization, content-type";
        Self::new(
            config.cors.allowed_origins.clone(),
            allow_headers,
            allow_methods,
        )
    }

    fn allowed_origin<'r>(&self, req: &'r Request) -> Option<&'r HeaderValue> {
        let origin = req.headers().get("origin")?;
        let text = origin.to_str().ok()?;
        self.origins.iter().any(|o| o == text).then_some(origin)
    }

    /// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`), or `None`
    /// when the request is not one.
    pub fn preflight(&self, req: &Request) -> Option<Response<Body>> {
        if req.method() != Method::OPTIONS {
            return None;
        }
        let Some(origin) = self.allowed_origin(req) else {
            return Some(respond(Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "origin_not_allowed",
                "This origin may not call this API.",
            ))));
        };
        let mut resp = Response::new(Body::Empty);
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert("access-control-allow-origin", origin.clone());
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static(self.allow_methods),
        );
        h.insert(
            "access-control-allow-headers",
            HeaderValue::from_static(self.allow_headers),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("600"));
        // The session's answer sets the start cookie, which the browser keeps
        // only when the call was made with credentials.
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
        h.insert(VARY, HeaderValue::from_static("Origin"));
        Some(resp)
    }

    /// Adds `Access-Control-Allow-Origin` to an actual response when the origin is allowed.
    pub(crate) fn decorate(&self, req: &Request, mut resp: Response<Body>) -> Response<Body> {
        if let Some(origin) = self.allowed_origin(req) {
            let h = resp.headers_mut();
            h.insert("access-control-allow-origin", origin.clone());
            h.insert(
                "access-control-allow-credentials",
                HeaderValue::from_static("true"),
            );
        }
        resp.headers_mut()
            .insert(VARY, HeaderValue::from_static("Origin"));
        resp
    }
}

/// Runs a JSON API handler the way every browser-facing route needs it: CORS
/// preflight answered first, the handler cut short at the Lambda deadline (504),
/// its error (if any) logged once and answered, and `Access-Control-Allow-Origin`
/// added for allowed origins.
pub(crate) async fn json_api(
    req: &Request,
    cors: &Cors,
    handler: impl std::future::Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    if let Some(preflight) = cors.preflight(req) {
        return preflight;
    }
    if crate::apigw::is_malformed(req) {
        return cors.decorate(req, respond(Err(malformed_uri())));
    }
    let result = tokio::time::timeout(time_budget(req), handler)
        .await
        .unwrap_or_else(|_| Err(ApiError::timeout().detail("the handler ran out of time")));
    cors.decorate(req, respond(result))
}

/// The answer to a request whose path or query is not a valid URI.
pub(crate) fn malformed_uri() -> ApiError {
    ApiError::bad_request(
        "invalid_request",
        "The request's path or query is not a valid URI (encode it) or is too long.",
    )
}

/// How long a handler may run: the Lambda deadline less a margin, so the caller
/// always gets an answer before the runtime kills the invocation.
pub(crate) fn time_budget(req: &Request) -> std::time::Duration {
    use lambda_http::RequestExt;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    budget_for_deadline(req.lambda_context_ref().map(|c| c.deadline), now_ms)
}

/// The budget for a deadline in Unix milliseconds. Values that are not a plausible
/// Unix time (0 in tests without a context; `cargo lambda watch` sends a relative
/// 600000) mean no deadline was given.
pub(crate) fn budget_for_deadline(deadline_ms: Option<u64>, now_ms: u64) -> std::time::Duration {
    use std::time::Duration;
    const MARGIN_MS: u64 = 300;
    const DEFAULT: Duration = Duration::from_secs(8);
    const PLAUSIBLE_EPOCH_MS: u64 = 1_500_000_000_000; // 2017
    match deadline_ms {
        Some(d) if d >= PLAUSIBLE_EPOCH_MS => {
            Duration::from_millis(d.saturating_sub(now_ms).saturating_sub(MARGIN_MS).max(100))
        }
        _ => DEFAULT,
    }
}

/// The raw request body, or `None` when it is over `limit` bytes.
pub(crate) fn body_bytes(req: &Request, limit: usize) -> Option<&[u8]> {
    let bytes: &[u8] = match req.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    (bytes.len() <= limit).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn budgets() {
        let now = 1_795_000_000_000;
        assert_eq!(budget_for_deadline(None, now), Duration::from_secs(8));
        assert_eq!(budget_for_deadline(Some(0), now), Duration::from_secs(8));
        assert_eq!(
            budget_for_deadline(Some(600_000), now),
            Duration::from_secs(8)
        );
        assert_eq!(
            budget_for_deadline(Some(now + 10_000), now),
            Duration::from_millis(9_700)
        );
        assert_eq!(
            budget_for_deadline(Some(now + 200), now),
            Duration::from_millis(100)
        );
        assert_eq!(
            budget_for_deadline(Some(now - 5), now),
            Duration::from_millis(100)
        );
    }
}
