//! init-session: `POST /link/session` creates an OFAuth Link session for the
//! authenticated user and records the attempt before answering. The browser
//! that asks gets the start cookie (`__Host-ofauth-link-start`, HttpOnly; only
//! its hash is on the attempt): the callback hands a completion code only to a
//! browser that carries it, so a Link URL that leaks gives whoever opens it no
//! way to finish the flow for its user.

use std::time::SystemTime;

use lambda_http::http::header::{HeaderValue, COOKIE, SET_COOKIE};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{Config, SessionSettings};
use crate::error::ApiError;
use crate::http::{self, Cors};
use crate::identity::{self, IdentityRules};
use crate::ids::{mask, AttemptId, BrowserCookie, BrowserSecret, ConnectionId};
use crate::model::{ConnectionStatus, LinkAttempt};
use crate::ofauth::{Geolocation, LinkInitRequest, LinkSession, OfAuthClient};
use crate::routes::CALLBACK_PATH;
use crate::store::{RateCheck, Store, StoreError, MAX_SESSION_SECS};
use crate::time::{epoch, parse_rfc3339};

/// Largest body accepted; the real one is well under 300 bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// What init-session needs, built once per process.
#[derive(Debug, Clone)]
pub struct SessionService {
    store: Store,
    ofauth: OfAuthClient,
    settings: SessionSettings,
    identity: IdentityRules,
    cors: Cors,
}

impl SessionService {
    pub fn new(config: &Config, store: Store, ofauth: OfAuthClient) -> Self {
        Self {
            store,
            ofauth,
            settings: config.session.clone(),
            identity: IdentityRules::new(&config.identity),
            cors: Cors::for_config(config, "POST, OPTIONS"),
        }
    }
}

/// The request body; every field optional, nothing else accepted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SessionRequest {
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub geolocation: Option<Geolocation>,
}

/// A validated request.
#[derive(Debug, PartialEq, Eq)]
pub struct ValidSessionRequest {
    pub reconnect: Option<ConnectionId>,
    pub geolocation: Option<Geolocation>,
}

/// A refused body: a stable code and a message.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest {
    pub code: &'static str,
    pub message: String,
}

impl BadRequest {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<BadRequest> for ApiError {
    fn from(bad: BadRequest) -> Self {
        ApiError::bad_request(bad.code, bad.message)
    }
}

/// Parses and validates the body.
pub fn parse_request(body: &[u8]) -> Result<ValidSessionRequest, BadRequest> {
    let req: SessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SessionRequest::default()
    } else {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| BadRequest::new("invalid_json", "The body is not valid JSON."))?;
        if !value.is_object() {
            return Err(BadRequest::new(
                "invalid_body",
                "The body must be a JSON object.",
            ));
        }
        serde_json::from_value(value).map_err(|e| {
            BadRequest::new(
                "invalid_body",
                format!("The body has a wrong field or type: {e}"),
            )
        })?
    };
    let reconnect = match req.connection_id {
        None => None,
        Some(id) => Some(ConnectionId::parse(&id).ok_or_else(|| {
            BadRequest::new(
                "invalid_connection_id",
                "connectionId is not a valid connection id.",
            )
        })?),
    };
    let geolocation = match req.geolocation {
        None => None,
        Some(g) => Some(validate_geolocation(g)?),
    };
    Ok(ValidSessionRequest {
        reconnect,
        geolocation,
    })
}

fn validate_geolocation(g: Geolocation) -> Result<Geolocation, BadRequest> {
    // Exactly as openapi.yaml says (`^[A-Za-z]{2}$`, `PlaceName`).
    let country = g.country.as_str();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(BadRequest::new(
            "invalid_geolocation",
            "geolocation.country must be an ISO 3166-1 alpha-2 code such as \"US\".",
        ));
    }
    let text_ok = |v: &str, max: usize| {
        !v.trim().is_empty()
            && v.chars().count() <= max
            && v.chars().all(|c| {
                c.is_ascii_alphanumeric()
                    || matches!(c, ' ' | '-' | '.' | '\'' | '\u{c0}'..='\u{24f}')
                        && !matches!(c, '\u{d7}' | '\u{f7}')
            })
    };
    if let Some(state) = &g.state {
        if !text_ok(state, 64) {
            return Err(BadRequest::new(
                "invalid_geolocation",
                "geolocation.state is not a valid region code.",
            ));
        }
    }
    if let Some(city) = &g.city {
        if !text_ok(city, 100) {
            return Err(BadRequest::new(
                "invalid_geolocation",
                "geolocation.city is not a valid city name.",
            ));
        }
    }
    Ok(Geolocation {
        country: country.to_ascii_uppercase(),
        state: g.state.map(|s| s.trim().to_string()),
        city: g.city.map(|s| s.trim().to_string()),
    })
}

/// Handles one request to the init-session function.
pub async fn handle(req: Request, svc: &SessionService) -> Response<Body> {
    http::json_api(&req, &svc.cors, create_session(&req, svc)).await
}

async fn create_session(req: &Request, svc: &SessionService) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed("POST, OPTIONS"));
    }
    // When the attempt starts: an erasure of its user from this moment on
    // stops it, whenever it is stored.
    let started = SystemTime::now();
    let user_id = identity::caller(req, &svc.identity)
        .ok_or_else(|| ApiError::unauthenticated("Sign in to connect an account."))?;
    let body = http::body_bytes(req, MAX_BODY_BYTES).ok_or_else(|| {
        ApiError::bad_request(
            "body_too_large",
            format!("The request body must be at most {MAX_BODY_BYTES} bytes."),
        )
    })?;
    let input = parse_request(body)?;
    let callback_url = callback_url(req, svc).ok_or_else(|| {
        ApiError::internal("CALLBACK_URL is unset and the request context has no domain name")
    })?;

    // Each session costs an OFAuth call and a write: a user gets a few per window.
    if let Some((limit, window)) = svc.settings.rate_limit {
        if let RateCheck::Limited { retry_after_secs } = svc
            .store
            .count_session(&user_id, limit, window, SystemTime::now())
            .await?
        {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many Link sessions; try again shortly.",
            )
            .detail(format_args!(
                "user {} over {limit} per window",
                mask(&user_id)
            ));
            e.retry_after = Some(retry_after_secs);
            return Err(e);
        }
    }

    // Reconnect only a connection recorded as this user's; anything else is
    // indistinguishable from "not found", so ids cannot be probed. The account
    // bound to it is the one the reconnect must come back with.
    let reconnect = match &input.reconnect {
        None => None,
        Some(target) => match svc.store.get_connection(target).await? {
            Some(rec)
                if rec.is_owned_by(&user_id) && rec.status != ConnectionStatus::Disconnected =>
            {
                // Its account is what every leg compares the reconnect with:
                // without one, nothing could vouch for it (no leg fails open).
                let Some(account) = rec.account.id else {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "reconnect_unavailable",
                        "This connection cannot be reconnected; disconnect it and connect the account again.",
                    )
                    .detail(format_args!("{} is bound to no account id", target.masked())));
                };
                Some((target.clone(), Some(account)))
            }
            _ => {
                return Err(ApiError::connection_not_found()
                    .detail(format_args!("reconnect of {}", target.masked())))
            }
        },
    };

    let attempt_id = AttemptId::generate().map_err(ApiError::internal)?;
    crate::telemetry::correlate(&attempt_id);
    // This browser's start cookie: the one it has, or a new one.
    let start = match req
        .headers()
        .get(COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| BrowserSecret::from_cookies(c, BrowserCookie::Start))
    {
        Some(known) => known,
        None => BrowserSecret::generate().map_err(ApiError::internal)?,
    };
    // A reconnect is noted for the reconciler's own check before OFAuth is
    // asked: a session OFAuth hands out is never one it misses.
    if reconnect.is_some() {
        svc.store.note_reconnect(&attempt_id, started).await?;
    }
    let init = LinkInitRequest {
        client_app_id: svc.settings.client_app_id.as_deref(),
        redirect_url: callback_url.as_str(),
        client_reference_id: attempt_id.as_str(),
        connection_id: input.reconnect.as_ref().map(ConnectionId::as_str),
        geolocation: input.geolocation.as_ref(),
    };
    let session = svc.ofauth.link_init(&init).await?;
    if let LinkSession::Hosted { url, .. } = &session {
        if !link_url_allowed(url, &svc.settings.link_hosts) {
            return Err(ApiError::ofauth_bad_response(
                "OFAuth's session url is not https on an allowed Link host (LINK_HOSTS)",
            ));
        }
    }
    if let LinkSession::Whitelabel { .. } = session {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "unsupported_session_mode",
            "OFAuth returned a whitelabel session, which this deployment is not configured for.",
        )
        .detail("OFAuth returned a whitelabel session; this backend serves hosted Link"));
    }
    let now = SystemTime::now();
    let expires_at_epoch = parse_rfc3339(session.expires_at())
        .filter(|e| *e > epoch(now))
        .ok_or_else(|| {
            ApiError::ofauth_bad_response("OFAuth's expiresAt is missing, malformed or in the past")
        })?
        // Never trusted for longer than a session can last.
        .min(epoch(started) + MAX_SESSION_SECS);

    let mut attempt = LinkAttempt::pending(
        attempt_id,
        user_id.clone(),
        reconnect,
        session.expires_at().to_string(),
        expires_at_epoch,
        started,
    );
    attempt.start_hash = Some(start.hash());
    let ttl = expires_at_epoch + svc.settings.attempt_retention.as_secs() as i64;
    match svc.store.put_attempt(&attempt, ttl).await {
        // The id is 160 fresh random bits: an item already under it can only be
        // this very write, retried by the SDK after an answer that came too late.
        Ok(()) | Err(StoreError::AlreadyExists) => {}
        // The user's data was erased while this session started: nothing of
        // it is kept, and the user starts again.
        Err(StoreError::Erased) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "invalid_state",
                "Your data was erased while this session started; start again.",
            ))
        }
        // Without the record the callback could not be trusted; the unused
        // OFAuth session simply expires.
        Err(e) => return Err(e.into()),
    }
    crate::telemetry::outcome("session_created");
    tracing::info!(
        outcome = "session_created",
        status = 200,
        user = %mask(&user_id),
        attempt = ?attempt.id,
        reconnect = input.reconnect.is_some(),
    );
    let mut resp = http::json(
        StatusCode::OK,
        &SessionAnswer {
            session: &session,
            attempt_id: attempt.id.as_str(),
        },
    );
    if let Ok(cookie) = HeaderValue::from_str(&start.set_cookie(BrowserCookie::Start)) {
        resp.headers_mut().insert(SET_COOKIE, cookie);
    }
    Ok(resp)
}

/// The answer: OFAuth's session exactly as documented (`mode`, `url`,
/// `expiresAt`), plus the attempt's id, which the popup flow's completion call
/// names (`POST /link/complete` with `attemptId` and the connection id).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAnswer<'a> {
    #[serde(flatten)]
    session: &'a LinkSession,
    attempt_id: &'a str,
}

/// Whether OFAuth's session `url` may be handed to the browser: `https` on one of
/// the Link hosts (`http` only on loopback, for the simulator), no credentials.
pub(crate) fn link_url_allowed(url: &str, hosts: &[String]) -> bool {
    let Ok(u) = Url::parse(url) else {
        return false;
    };
    let secure = match u.scheme() {
        "https" => true,
        "http" => crate::config::is_loopback(&u),
        _ => false,
    };
    secure
        && u.username().is_empty()
        && u.password().is_none()
        && u.host_str().is_some_and(|h| hosts.iter().any(|a| a == h))
}

/// The configured callback URL, else `https://{domainName}/link/callback` from the
/// API Gateway request context (set by API Gateway, not by the client).
fn callback_url(req: &Request, svc: &SessionService) -> Option<Url> {
    if let Some(url) = &svc.settings.callback_url {
        return Some(url.clone());
    }
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let domain = ctx.domain_name.as_deref()?;
    if domain.is_empty()
        || !domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    Url::parse(&format!("https://{domain}{CALLBACK_PATH}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_urls_must_be_https_on_an_allowed_host() {
        let hosts = vec!["link.ofauth.com".to_string(), "127.0.0.1".to_string()];
        assert!(link_url_allowed("https://link.ofauth.com/cs_abc", &hosts));
        assert!(link_url_allowed("http://127.0.0.1:8787/cs_abc", &hosts));
        for bad in [
            "http://link.ofauth.com/cs_abc",
            "https://evil.example/cs_abc",
            "https://link.ofauth.com.evil.example/cs",
            "javascript:alert(1)",
            "https://user@link.ofauth.com/cs",
            "data:text/html,x",
            "",
        ] {
            assert!(!link_url_allowed(bad, &hosts), "{bad}");
        }
    }

    #[test]
    fn empty_body_is_a_new_connection() {
        assert_eq!(
            parse_request(b"").unwrap(),
            ValidSessionRequest {
                reconnect: None,
                geolocation: None
            }
        );
        assert_eq!(parse_request(b"  \n").unwrap().reconnect, None);
        assert_eq!(parse_request(b"{}").unwrap().reconnect, None);
    }

    #[test]
    fn reconnect_and_geolocation_are_parsed() {
        let v = parse_request(br#"{"connectionId":"conn_abc","geolocation":{"country":"us","state":"CA","city":"Los Angeles"}}"#)
            .unwrap();
        assert_eq!(v.reconnect.unwrap().as_str(), "conn_abc");
        let g = v.geolocation.unwrap();
        assert_eq!(g.country, "US");
        assert_eq!(g.state.as_deref(), Some("CA"));
    }

    #[test]
    fn bad_bodies_have_stable_codes() {
        let code = |b: &[u8]| parse_request(b).unwrap_err().code;
        assert_eq!(code(b"{"), "invalid_json");
        assert_eq!(code(b"not json"), "invalid_json");
        assert_eq!(code(b"[]"), "invalid_body");
        assert_eq!(code(b"null"), "invalid_body");
        assert_eq!(code(br#"{"connectionId":5}"#), "invalid_body");
        assert_eq!(code(br#"{"userId":"someone-else"}"#), "invalid_body");
        assert_eq!(
            code(br#"{"redirectUrl":"https://evil.example"}"#),
            "invalid_body"
        );
        assert_eq!(
            code(br#"{"connectionId":"conn/../x"}"#),
            "invalid_connection_id"
        );
        assert_eq!(code(br#"{"geolocation":{}}"#), "invalid_body");
        assert_eq!(
            code(br#"{"geolocation":{"country":"USA"}}"#),
            "invalid_geolocation"
        );
        assert_eq!(
            code(br#"{"geolocation":{"country":"U1"}}"#),
            "invalid_geolocation"
        );
        assert_eq!(
            code(br#"{"geolocation":{"country":"US","state":"<script>"}}"#),
            "invalid_geolocation"
        );
        // openapi.yaml's patterns, exactly: no padding around the country, a
        // place name of the documented alphabet and length, not only spaces.
        assert_eq!(
            code(br#"{"geolocation":{"country":" US"}}"#),
            "invalid_geolocation"
        );
        for bad in ["   ", "Tokyo\u{6771}", "a\u{d7}b", &"a".repeat(65)] {
            let body = serde_json::json!({ "geolocation": { "country": "US", "state": bad } });
            assert_eq!(
                code(body.to_string().as_bytes()),
                "invalid_geolocation",
                "{bad}"
            );
        }
        let body = serde_json::json!({ "geolocation": { "country": "br", "state": " SP", "city": "São Paulo d'Oeste" } });
        let g = parse_request(body.to_string().as_bytes())
            .unwrap()
            .geolocation
            .unwrap();
        assert_eq!(
            (g.country.as_str(), g.state.as_deref(), g.city.as_deref()),
            ("BR", Some("SP"), Some("São Paulo d'Oeste"))
        );
        // `null` is the same as leaving a field out, as openapi.yaml says.
        let v = parse_request(br#"{"connectionId":null,"geolocation":null}"#).unwrap();
        assert_eq!((v.reconnect, v.geolocation), (None, None));
    }
}
