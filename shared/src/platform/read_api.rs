//! The read API for the platform's own services, behind AWS IAM (SigV4), apart
//! from the JWT routes the browser uses (the connections function serves both):
//! - `GET /platform/users/{userId}/connections`: a user's connections, active and
//!   expired, with the account's id and username;
//! - `GET /platform/connections/{id}`: one connection's owner and status.
//!
//! API Gateway checks the signature and the caller's `execute-api:Invoke`
//! permission; the handler answers only a request that came through that
//! authorizer (`requestContext.authorizer.iam`), so a browser's JWT never reaches
//! these routes, and the JWT routes never answer a signed request (they need
//! the JWT's claims). A user's erased data is not served: an erased record has
//! no user.
//!
//! Locally (`make dev`, a build with the `dev-identity` feature and
//! `DEV_TRUST_USER_HEADER`), there is no authorizer: a request signed with SigV4
//! for `execute-api` with the local credentials (`AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` of `.env.local`) over `host` and `x-amz-date` is
//! accepted when its signature is right and its time within 5 minutes, as the
//! deployed authorizer would; IAM policies are not evaluated locally.

use lambda_http::http::header::{HeaderName, HeaderValue};
use lambda_http::http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::http;
use crate::ids::{mask, ConnectionId};
use crate::model::{ConnectionRecord, ConnectionStatus};
use crate::store::{Store, UserItem};

/// The routes' prefix.
pub const PREFIX: &str = "/platform/";

/// The header every answer of the read API carries: the service's version
/// ([`crate::VERSION`]), so a calling service sees which release answered.
pub const VERSION_HEADER: &str = "x-ofauth-link-version";

/// One connection as the platform's services see it (the events' fields).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlatformConnection<'a> {
    pub connection_id: &'a str,
    pub user_id: Option<&'a str>,
    pub status: &'a str,
    pub account_id: Option<&'a str>,
    pub username: Option<&'a str>,
    pub(crate) connected_at: &'a str,
    pub updated_at: &'a str,
}

impl<'a> From<&'a ConnectionRecord> for PlatformConnection<'a> {
    fn from(r: &'a ConnectionRecord) -> Self {
        Self {
            connection_id: r.id.as_str(),
            user_id: r.user_id.as_deref(),
            status: r.status.as_str(),
            account_id: r.account.id.as_deref(),
            username: r.account.username.as_deref(),
            connected_at: &r.connected_at,
            updated_at: &r.updated_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserConnections<'a> {
    user_id: &'a str,
    connections: Vec<PlatformConnection<'a>>,
}

/// Who may call: the IAM authorizer's caller, or (locally) a request signed with
/// the local credentials.
#[derive(Debug, Clone, Default)]
pub struct Callers {
    #[cfg(feature = "dev-identity")]
    local: Option<(String, crate::config::Secret)>,
}

impl Callers {
    /// From the identity settings: locally, the development switch turns on
    /// the local SigV4 check with the process's AWS credentials.
    pub fn new(identity: &crate::config::IdentitySettings) -> Self {
        #[cfg(feature = "dev-identity")]
        {
            Self {
                local: identity.local_iam.clone(),
            }
        }
        #[cfg(not(feature = "dev-identity"))]
        {
            let _ = identity;
            Self::default()
        }
    }

    /// The caller, when the request came through the IAM authorizer (or,
    /// locally, carries a right signature).
    pub fn caller(&self, req: &Request) -> Option<String> {
        if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
            if let Some(iam) = ctx.authorizer.as_ref().and_then(|a| a.iam.as_ref()) {
                return iam
                    .user_arn
                    .clone()
                    .or_else(|| iam.caller_id.clone())
                    .or_else(|| iam.access_key.clone());
            }
        }
        #[cfg(feature = "dev-identity")]
        if let Some((key, secret)) = &self.local {
            return local_sigv4(req, key, secret).then(|| format!("local:{key}"));
        }
        None
    }
}

/// Handles a request to a `/platform/` route.
pub async fn handle(req: &Request, store: &Store, callers: &Callers) -> Response<Body> {
    let result = async {
        if crate::apigw::is_malformed(req) {
            return Err(http::malformed_uri());
        }
        let Some(caller) = callers.caller(req) else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This route takes a SigV4-signed request from an authorized AWS principal.",
            ));
        };
        if req.method() != Method::GET {
            return Err(ApiError::method_not_allowed("GET"));
        }
        let path = req.raw_http_path();
        let parts: Vec<&str> = path
            .trim_start_matches(PREFIX)
            .trim_end_matches('/')
            .split('/')
            .collect();
        let param = |name: &str, raw: &str| {
            req.path_parameters_ref()
                .and_then(|p| p.first(name))
                .map(str::to_string)
                .unwrap_or_else(|| {
                    percent_encoding::percent_decode_str(raw)
                        .decode_utf8_lossy()
                        .into_owned()
                })
        };
        match parts.as_slice() {
            ["users", user, "connections"] => {
                user_connections(&param("userId", user), store, &caller).await
            }
            ["connections", id] => connection(&param("id", id), store, &caller).await,
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "No such route.",
            )),
        }
    };
    let result = tokio::time::timeout(http::time_budget(req), result)
        .await
        .unwrap_or_else(|_| Err(ApiError::timeout()));
    let mut resp = http::respond(result);
    resp.headers_mut().insert(
        HeaderName::from_static(VERSION_HEADER),
        HeaderValue::from_static(crate::VERSION),
    );
    resp
}

async fn user_connections(
    user: &str,
    store: &Store,
    caller: &str,
) -> Result<Response<Body>, ApiError> {
    if !crate::identity::valid_user_id(user) {
        return Err(ApiError::bad_request(
            "invalid_user_id",
            "The user id is not valid.",
        ));
    }
    let mut records = Vec::new();
    for item in store.user_items(user).await? {
        if let UserItem::Connection(r) = item {
            if matches!(
                r.status,
                ConnectionStatus::Active | ConnectionStatus::Expired
            ) {
                records.push(r);
            }
        }
    }
    records.sort_by(|a, b| b.connected_at.cmp(&a.connected_at));
    crate::telemetry::outcome("platform_listed");
    tracing::info!(outcome = "platform_listed", user = %mask(user), count = records.len(), caller = %mask(caller));
    Ok(http::json(
        StatusCode::OK,
        &UserConnections {
            user_id: user,
            connections: records.iter().map(PlatformConnection::from).collect(),
        },
    ))
}

async fn connection(id: &str, store: &Store, caller: &str) -> Result<Response<Body>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "connection_not_found",
            "No connection bound to a user has this id.",
        )
    };
    let id = ConnectionId::parse(id).ok_or_else(not_found)?;
    // Bound to a user (an erased record has none): never a connection nobody
    // owns, nor erased data.
    let record = store
        .get_connection(&id)
        .await?
        .filter(|r| r.user_id.is_some())
        .ok_or_else(not_found)?;
    crate::telemetry::outcome("platform_read");
    tracing::info!(outcome = "platform_read", connection = %id.masked(), caller = %mask(caller));
    Ok(http::json(
        StatusCode::OK,
        &PlatformConnection::from(&record),
    ))
}

/// Locally: whether the request carries a SigV4 signature for `execute-api`, made
/// with `key`/`secret` over `host` and `x-amz-date`, within 5 minutes of now.
#[cfg(feature = "dev-identity")]
fn local_sigv4(req: &Request, key: &str, secret: &crate::config::Secret) -> bool {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use std::time::SystemTime;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (Some(auth), Some(date), Some(host)) = (
        header("authorization"),
        header("x-amz-date"),
        header("host"),
    ) else {
        return false;
    };
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return false;
    };
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name))
    };
    let (Some(credential), Some(signed), Some(signature)) = (
        field("Credential="),
        field("SignedHeaders="),
        field("Signature="),
    ) else {
        return false;
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let (Some(time), [akid, _, region, "execute-api", "aws4_request"]) =
        (crate::time::parse_amz_date(date), scope.as_slice())
    else {
        return false;
    };
    let now = SystemTime::now();
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if *akid != key || signed != "host;x-amz-date" || skew.as_secs() > 300 {
        return false;
    }
    let identity =
        aws_credential_types::Credentials::new(key, secret.expose(), None, None, "local").into();
    let Ok(params) = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
    else {
        return false;
    };
    let body = http::body_bytes(req, 64 * 1024).unwrap_or_default();
    let uri = match req.uri().query() {
        Some(q) => format!("https://{host}{}?{q}", req.raw_http_path()),
        None => format!("https://{host}{}", req.raw_http_path()),
    };
    let Ok(signable) = SignableRequest::new(
        req.method().as_str(),
        uri,
        [("host", host)].into_iter(),
        SignableBody::Bytes(body),
    ) else {
        return false;
    };
    match sign(signable, &params.into()) {
        Ok(out) => {
            let (_, expected) = out.into_parts();
            aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                signature.as_bytes(),
            )
            .is_ok()
        }
        Err(_) => false,
    }
}
