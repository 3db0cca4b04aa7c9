//! API Gateway HTTP API events in and out of the handlers, without
//! `lambda_http`'s request builder.
//!
//! `lambda_http` 1.3 builds an `http::Request` from the event's raw path and query
//! and panics when they do not form a valid URI (a raw space, `"`, `<`, `>`, DEL or
//! a control character, or a query over about 64 KiB, all of which any client can
//! send). With `panic = "abort"` that kills the execution environment before any
//! handler code runs. Here the event is taken as `aws_lambda_events`' type through
//! `lambda_runtime`, and the request is built so that it cannot fail: the query is
//! parsed from the raw string (as `lambda_http` does), the URI gets a
//! percent-encoded copy of the path (and no query), and what `lambda_http`'s
//! extensions carry is set through its public builders, so the handlers read the
//! request exactly as before.

use std::future::Future;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::http::header::{HeaderValue, COOKIE, SET_COOKIE};
use lambda_http::http::{Request, Response, Uri};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Context, RequestExt};
use lambda_runtime::{service_fn, Error, LambdaEvent};

/// Longest raw query accepted (API Gateway allows more; nothing here needs it).
pub(crate) const MAX_QUERY_BYTES: usize = 8 * 1024;

/// Set on a request whose raw path or query is not what a URI can hold (bytes a
/// client must percent-encode, or a query over [`MAX_QUERY_BYTES`]). The handlers
/// refuse such a request with their documented error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedUri;

/// Whether the request's path or query was malformed.
pub(crate) fn is_malformed(req: &Request<Body>) -> bool {
    req.extensions().get::<MalformedUri>().is_some()
}

/// RFC 3986: what a path or a query may hold unencoded.
fn uri_bytes_ok(v: &str, query: bool) -> bool {
    v.bytes().all(|b| {
        b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b) || (query && b == b'?')
    })
}

/// The request a handler sees for an event. Never fails, never panics.
pub fn request(ev: ApiGatewayV2httpRequest, context: Context) -> Request<Body> {
    let raw_path = ev.raw_path.clone().unwrap_or_default();
    let raw_query = ev.raw_query_string.as_deref().unwrap_or("");
    let malformed = !raw_path.starts_with('/')
        || !uri_bytes_ok(&raw_path, false)
        || !uri_bytes_ok(raw_query, true)
        || raw_query.len() > MAX_QUERY_BYTES;
    let query: std::collections::HashMap<String, Vec<String>> = {
        let mut map = std::collections::HashMap::<String, Vec<String>>::new();
        for (k, v) in
            url::form_urlencoded::parse(ev.raw_query_string.as_deref().unwrap_or("").as_bytes())
        {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        map
    };
    let body = ev.body.as_deref().map_or_else(Body::default, |b| {
        Body::from_maybe_encoded(ev.is_base64_encoded, b)
    });
    let mut req = Request::new(body);
    *req.method_mut() = ev.request_context.http.method.clone();
    *req.uri_mut() = safe_uri(&raw_path);
    let mut headers = ev.headers;
    if let Some(cookies) = ev.cookies.filter(|c| !c.is_empty()) {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(COOKIE, v);
        }
    }
    *req.headers_mut() = headers;
    let mut req = req
        .with_raw_http_path(raw_path)
        .with_path_parameters(ev.path_parameters)
        .with_stage_variables(ev.stage_variables)
        .with_request_context(RequestContext::ApiGatewayV2(ev.request_context))
        .with_lambda_context(context);
    if !query.is_empty() {
        req = req.with_query_string_parameters(query);
    }
    if malformed {
        req.extensions_mut().insert(MalformedUri);
    }
    req
}

/// A URI for the path: as given when it is a valid one, otherwise with every byte
/// that a URI path cannot hold percent-encoded, otherwise `/`.
fn safe_uri(path: &str) -> Uri {
    if let Ok(uri) = path.parse::<Uri>() {
        if uri.query().is_none() && uri.scheme().is_none() && path.starts_with('/') {
            return uri;
        }
    }
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'%');
    let encoded = percent_encoding::utf8_percent_encode(path, KEEP).to_string();
    let encoded = if encoded.starts_with('/') {
        encoded
    } else {
        format!("/{encoded}")
    };
    encoded.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

/// The event's answer for a handler's response.
pub fn response(resp: Response<Body>) -> ApiGatewayV2httpResponse {
    let (parts, body) = resp.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    let mut headers = parts.headers;
    out.cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    headers.remove(SET_COOKIE);
    out.headers = headers;
    (out.is_base64_encoded, out.body) = match body {
        Body::Empty => (false, None),
        b @ Body::Text(_) => (false, Some(b)),
        b @ Body::Binary(_) => (true, Some(b)),
        _ => (false, None),
    };
    out
}

/// One request through `handler`, counted in the metrics as
/// `Requests{Route, Outcome}` (see [`crate::telemetry`]).
pub async fn counted<F, Fut>(req: Request<Body>, handler: F) -> Response<Body>
where
    F: FnOnce(Request<Body>) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    use tracing::Instrument;
    let route = crate::telemetry::route_of(req.uri().path());
    let preflight = req.method() == lambda_http::http::Method::OPTIONS;
    crate::telemetry::request(route, preflight, handler(req))
        .instrument(crate::telemetry::request_span(route))
        .await
}

/// Runs a handler as a Lambda function behind an API Gateway HTTP API: each event
/// becomes a request ([`request`]) and each response the event's answer
/// ([`response`]).
pub async fn run<F, Fut>(handler: F) -> Result<(), Error>
where
    F: Fn(Request<Body>) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    serve(&OriginGuard::default(), handler).await
}

/// [`run`], with the Link routes reachable only through the edge when it is on
/// ([`OriginGuard`]).
pub async fn serve<F, Fut>(guard: &OriginGuard, handler: F) -> Result<(), Error>
where
    F: Fn(Request<Body>) -> Fut,
    Fut: Future<Output = Response<Body>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayV2httpRequest>| async move {
            let req = request(event.payload, event.context);
            let resp = match guard.refuse(&req) {
                Some(refused) => counted(req, |_| async { refused }).await,
                None => counted(req, handler).await,
            };
            crate::telemetry::flush();
            Ok::<_, Error>(response(resp))
        },
    ))
    .await
}

/// The header CloudFront adds to every request it sends the API (the edge,
/// `EnableEdge`), with the stack's generated secret.
pub const ORIGIN_VERIFY_HEADER: &str = "x-link-origin-verify";

/// With the edge on, the Link routes answer only requests that came through it:
/// one without [`ORIGIN_VERIFY_HEADER`]'s secret (sent to the API's
/// `execute-api` domain directly, around the web ACL's limits) is refused with
/// a 403 before any work (no DynamoDB, no OFAuth). The platform's read API
/// (`/platform/...`, AWS IAM, called on the `execute-api` domain by the
/// platform's own services) is not concerned. Off (the default): no check.
#[derive(Debug, Clone, Default)]
pub struct OriginGuard {
    /// The accepted values: the current one, and while rotating the previous
    /// (empty: no check).
    secrets: Vec<crate::config::Secret>,
}

impl OriginGuard {
    /// The guard the configuration asks for (`EDGE_ORIGIN_SECRET`).
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            secrets: config.runtime.edge_origin_secrets.clone(),
        }
    }

    /// The answer for a request that did not come through the edge, if it did not.
    pub fn refuse(&self, req: &Request<Body>) -> Option<Response<Body>> {
        if self.secrets.is_empty() || req.uri().path().starts_with("/platform/") {
            return None;
        }
        let sent = req
            .headers()
            .get(ORIGIN_VERIFY_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        // Each value compared in constant time, all of them whatever matched.
        let matched = self.secrets.iter().fold(false, |found, secret| {
            found
                | aws_lc_rs::constant_time::verify_slices_are_equal(
                    sent,
                    secret.expose().as_bytes(),
                )
                .is_ok()
        });
        if matched {
            return None;
        }
        crate::telemetry::origin_refused();
        // The error body every route answers (`http::error_response`'s shape,
        // written here: http.rs reads this module).
        let mut resp = Response::new(Body::from(
            r#"{"error":"forbidden","message":"this API is served through its edge; call it on its domain"}"#,
        ));
        *resp.status_mut() = lambda_http::http::StatusCode::FORBIDDEN;
        resp.headers_mut().insert(
            lambda_http::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // No log line: a flood of these would cost more in logs than it is
        // worth; the metric counts them.
        Some(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(raw_path: &str, raw_query: &str) -> ApiGatewayV2httpRequest {
        let mut ev = ApiGatewayV2httpRequest::default();
        ev.raw_path = Some(raw_path.into());
        ev.raw_query_string = Some(raw_query.into());
        ev
    }

    #[test]
    fn requests_are_built_from_any_path_and_query() {
        let long = format!("status=error&error_code={}", "a".repeat(70_000));
        for (path, query) in [
            ("/link/callback", "status=error&error_code=a b"),
            ("/link/callback", "x=\"<script>\"&y=\u{7f}\u{1}"),
            ("/link/callback", long.as_str()),
            ("/link/connections/a b\"<>", ""),
            ("", "="),
            ("no-slash", "%ZZ&&=&"),
        ] {
            let req = request(event(path, query), Context::default());
            assert!(req.uri().path().starts_with('/'), "{path}");
            assert_eq!(req.raw_http_path(), path);
            assert!(is_malformed(&req), "{path}?{query}");
        }
        for (path, query) in [
            ("/link/callback", "status=error&error_code=a%20b&x=%22"),
            ("/link/connections/conn_1", ""),
            ("/link/callback", "a=b?c=d&e=f/g:h@i"),
        ] {
            assert!(!is_malformed(&request(
                event(path, query),
                Context::default()
            )));
        }
        let req = request(
            event("/link/callback", "status=error&error_code=a b&error_code=c"),
            Context::default(),
        );
        let q = req.query_string_parameters_ref().unwrap();
        assert_eq!(q.all("error_code").unwrap(), vec!["a b", "c"]);
        assert_eq!(q.first("status"), Some("error"));
        let req = request(event("/link/connections/conn_1", ""), Context::default());
        assert_eq!(req.uri().path(), "/link/connections/conn_1");
        assert!(req.query_string_parameters_ref().is_none());
    }

    #[test]
    fn responses_carry_status_headers_and_body() {
        let mut resp = Response::new(Body::from("{}"));
        *resp.status_mut() = lambda_http::http::StatusCode::FOUND;
        resp.headers_mut().insert(
            "location",
            HeaderValue::from_static("https://app.example.com/x"),
        );
        let out = response(resp);
        assert_eq!(out.status_code, 302);
        assert_eq!(out.headers["location"], "https://app.example.com/x");
        assert!(matches!(out.body, Some(Body::Text(ref t)) if t == "{}"));
        assert!(!out.is_base64_encoded);
    }

    fn with_header(path: &str, value: Option<&str>) -> Request<Body> {
        let mut ev = event(path, "");
        if let Some(v) = value {
            ev.headers
                .insert(ORIGIN_VERIFY_HEADER, HeaderValue::from_str(v).unwrap());
        }
        request(ev, Context::default())
    }

    #[test]
    fn behind_the_edge_only_its_secret_reaches_the_link_routes() {
        let secret = "s".repeat(40);
        let guard = OriginGuard {
            secrets: vec![crate::config::Secret::new(secret.clone())],
        };
        for path in [
            "/link/session",
            "/link/callback",
            "/link/complete",
            "/link/connections",
            "/link/me",
            "/anything",
        ] {
            for sent in [None, Some(""), Some("wrong"), Some(&secret[1..])] {
                let refused = guard
                    .refuse(&with_header(path, sent))
                    .unwrap_or_else(|| panic!("{path} {sent:?} went through"));
                assert_eq!(refused.status(), 403, "{path}");
                let body: serde_json::Value = match refused.body() {
                    Body::Text(t) => serde_json::from_str(t).unwrap(),
                    other => panic!("{other:?}"),
                };
                assert_eq!(body["error"], "forbidden");
                assert!(!body.to_string().contains(&secret));
            }
            assert!(guard.refuse(&with_header(path, Some(&secret))).is_none());
        }
        // The platform's read API (AWS IAM, on execute-api) is not the edge's.
        assert!(guard
            .refuse(&with_header("/platform/connections/conn_1", None))
            .is_none());
        // Off: no check at all.
        assert!(OriginGuard::default()
            .refuse(&with_header("/link/session", None))
            .is_none());
    }

    #[test]
    fn the_secret_is_read_from_the_environment_and_checked() {
        let base = |extra: Option<&'static str>| {
            move |k: &str| match k {
                "TABLE_NAME" => Some("t".to_string()),
                "APP_URL" => Some("https://app.example.com".to_string()),
                "EDGE_ORIGIN_SECRET" => extra.map(str::to_string),
                _ => None,
            }
        };
        let off = crate::config::Config::from_lookup(base(Some(""))).unwrap();
        assert!(OriginGuard::from_config(&off).secrets.is_empty());
        let (new, old) = (
            "0123456789abcdefghij0123456789abcdefghij",
            "ZYXWVUTSRQPONMLKJIHGZYXWVUTSRQPONMLKJIHG",
        );
        let on = crate::config::Config::from_lookup(base(Some(new))).unwrap();
        let guard = OriginGuard::from_config(&on);
        assert!(guard
            .refuse(&with_header("/link/session", Some(new)))
            .is_none());
        assert!(guard
            .refuse(&with_header("/link/session", Some(old)))
            .is_some());
        // While rotating: the current value and the previous one, nothing else.
        let both: &'static str =
            "0123456789abcdefghij0123456789abcdefghij,ZYXWVUTSRQPONMLKJIHGZYXWVUTSRQPONMLKJIHG";
        let rotating = crate::config::Config::from_lookup(base(Some(both))).unwrap();
        let guard = OriginGuard::from_config(&rotating);
        for ok in [new, old] {
            assert!(guard
                .refuse(&with_header("/link/session", Some(ok)))
                .is_none());
        }
        for bad in [
            both,
            "",
            &new[1..],
            "0123456789abcdefghij0123456789abcdefghiX",
        ] {
            assert!(
                guard
                    .refuse(&with_header("/link/session", Some(bad)))
                    .is_some(),
                "{bad}"
            );
        }
        for invalid in [
            "short",
            "0123456789abcdefghij0123456789abcdefghij,",
            "a,b,c",
        ] {
            let err = crate::config::Config::from_lookup(base(Some(invalid))).unwrap_err();
            assert!(err.to_string().contains("EDGE_ORIGIN_SECRET"), "{err}");
            assert!(!err.to_string().contains(invalid), "{err}");
        }
    }
}
