//! The connections function's API. `GET /link/connections?limit=&cursor=` lists the signed-in user's
//! connections from DynamoDB, a page at a time (no OFAuth call on this path);
//! `DELETE /link/connections/{id}` disconnects one of them at OFAuth (which stops
//! billing) and then marks it. A connection still `verifying` (waiting for OFAuth
//! to attest its origin) is listed but cannot be disconnected.

use std::time::SystemTime;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{self, Cors};
use crate::identity::{self, IdentityRules};
use crate::ids::{mask, ConnectionId};
use crate::model::{AttemptStatus, ChangeCause, ConnectionStatus, UserConnection};
use crate::ofauth::{OfAuthClient, Removed};
use crate::platform::read_api::{self, Callers};
use crate::routes;
use crate::store::{PageKey, Store, StoreError, UserItem};

/// What the connections function needs, built once per process.
#[derive(Debug, Clone)]
pub struct ConnectionsService {
    store: Store,
    ofauth: OfAuthClient,
    identity: IdentityRules,
    cors: Cors,
    /// Who may call the platform's read API (`/platform/…`, AWS IAM).
    callers: Callers,
    /// The OFAuth account the API key must belong to (`OFAUTH_ACCOUNT_ID`;
    /// `None`: the one the reconciler pinned).
    expected_account: Option<String>,
}

impl ConnectionsService {
    pub fn new(config: &Config, store: Store, ofauth: OfAuthClient) -> Self {
        Self {
            store,
            ofauth,
            identity: IdentityRules::new(&config.identity),
            cors: Cors::for_config(config, "GET, DELETE, OPTIONS"),
            callers: Callers::new(&config.identity),
            expected_account: config.reconcile.expected_account.clone(),
        }
    }

    /// Disconnects a connection at OFAuth. OFAuth's 404 says it does not know
    /// the connection under this key: "already gone" only when the key is this
    /// deployment's account's (`OFAUTH_ACCOUNT_ID`, else the account the
    /// reconciler pinned); under any other key (a wrong or rotated key) it is
    /// an error, and the record stays as it was.
    async fn remove_at_ofauth(&self, id: &ConnectionId, what: &str) -> Result<(), ApiError> {
        let failed = |e: ApiError| {
            e.detail(format_args!(
                "{what}: OFAuth disconnect of {} failed; record unchanged",
                id.masked()
            ))
        };
        match self.ofauth.delete_connection(id).await {
            Ok(Removed::Disconnected) => Ok(()),
            Ok(Removed::NotFound) => {
                let key = self.ofauth.whoami().await.map_err(|e| failed(e.into()))?;
                let pinned = match &self.expected_account {
                    Some(a) => Some(a.clone()),
                    None => self.store.pinned_account().await?,
                };
                match (key.id, pinned) {
                    (Some(k), Some(p)) if k == p => Ok(()),
                    (k, p) => Err(ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "ofauth_rejected",
                        "OFAuth rejected the request; check the API key, client app and redirect URL configuration.",
                    )
                    .detail(format_args!(
                        "{what}: OFAuth does not know {} under this key, whose account ({}) is not this deployment's ({}): not taken as already gone; record unchanged",
                        id.masked(),
                        k.as_deref().unwrap_or("none"),
                        p.as_deref().unwrap_or("not pinned yet: set OFAUTH_ACCOUNT_ID"),
                    ))),
                }
            }
            Err(e) => Err(failed(e.into())),
        }
    }
}

/// One connection as the frontend sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionView<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub username: Option<&'a str>,
    pub name: Option<&'a str>,
    pub avatar: Option<&'a str>,
    pub(crate) connected_at: &'a str,
    pub updated_at: &'a str,
}

impl<'a> From<&'a UserConnection> for ConnectionView<'a> {
    fn from(r: &'a UserConnection) -> Self {
        Self {
            id: r.id.as_str(),
            status: r.status.as_str(),
            username: r.account.username.as_deref(),
            name: r.account.name.as_deref(),
            avatar: r.account.avatar.as_deref(),
            connected_at: &r.connected_at,
            updated_at: &r.updated_at,
        }
    }
}

/// Handles one request to the connections function: the browser's routes (JWT,
/// CORS), and the platform's read API (`/platform/…`, AWS IAM, no CORS).
pub async fn handle(req: Request, svc: &ConnectionsService) -> Response<Body> {
    if req.raw_http_path().starts_with(read_api::PREFIX) {
        return read_api::handle(&req, &svc.store, &svc.callers).await;
    }
    http::json_api(&req, &svc.cors, route(&req, svc)).await
}

async fn route(req: &Request, svc: &ConnectionsService) -> Result<Response<Body>, ApiError> {
    let user_id = identity::caller(req, &svc.identity)
        .ok_or_else(|| ApiError::unauthenticated("Sign in to see your connections."))?;
    if req.raw_http_path().trim_end_matches('/') == routes::ERASE.1 {
        return match *req.method() {
            Method::DELETE => erase(&user_id, svc).await,
            _ => Err(ApiError::method_not_allowed("DELETE, OPTIONS")),
        };
    }
    match (req.method(), connection_id_param(req)) {
        (&Method::GET, None) => list(req, &user_id, svc).await,
        (&Method::DELETE, Some(Ok(id))) => disconnect(&user_id, &id, svc).await,
        (&Method::DELETE, _) => Err(ApiError::connection_not_found()),
        _ => Err(ApiError::method_not_allowed("GET, DELETE, OPTIONS")),
    }
}

/// The `{id}` of `/link/connections/{id}`: API Gateway's path parameter, else the
/// last path segment (local routers). `None` for the collection itself.
pub fn connection_id_param(req: &Request) -> Option<Result<ConnectionId, ()>> {
    if let Some(id) = req.path_parameters_ref().and_then(|p| p.first("id")) {
        return Some(ConnectionId::parse(id).ok_or(()));
    }
    let path = req.raw_http_path();
    let rest = path
        .trim_end_matches('/')
        .strip_prefix("/link/connections")?;
    let id = rest.strip_prefix('/')?;
    Some(ConnectionId::parse(id).ok_or(()))
}

/// Items per page when the request names no `limit`, and the most it may name.
pub(crate) const DEFAULT_PAGE: u32 = 20;
pub(crate) const MAX_PAGE: u32 = 100;

/// A list request's `limit` and `cursor`.
#[derive(Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<PageKey>,
}

/// Parses `limit` (1 to [`MAX_PAGE`]) and `cursor` (what a previous page handed
/// out; opaque to clients).
pub fn parse_page(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_limit", format!("limit must be 1 to {MAX_PAGE}."))
            })?,
    };
    let after =
        match cursor {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "The cursor is not valid.")
            })?),
        };
    Ok(PageRequest { limit, after })
}

/// A page key as the opaque cursor clients pass back.
pub(crate) fn encode_cursor(k: &PageKey) -> String {
    use base64::Engine;
    let json = serde_json::to_vec(k).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(c: &str) -> Option<PageKey> {
    use base64::Engine;
    if c.len() > 512 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let k: PageKey = serde_json::from_slice(&bytes).ok()?;
    // Only the shape this service hands out: an attempt's or a connection's key,
    // and a sort key that is a timestamp.
    let id_ok = |prefix: &str| {
        k.pk.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 128
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    };
    let sk_ok = !k.sk.is_empty()
        && k.sk.len() <= 40
        && k.sk
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-:.TZ+".contains(&b));
    ((id_ok("CONNECTION#") || id_ok("ATTEMPT#")) && sk_ok).then_some(k)
}

async fn list(
    req: &Request,
    user_id: &str,
    svc: &ConnectionsService,
) -> Result<Response<Body>, ApiError> {
    let q = req.query_string_parameters_ref();
    let one = |name: &str| -> Result<Option<&str>, ApiError> {
        match q.and_then(|q| q.all(name)) {
            None => Ok(None),
            Some(v) if v.len() == 1 => Ok(Some(v[0])),
            Some(_) => Err(ApiError::bad_request(
                "invalid_request",
                format!("{name} is given more than once."),
            )),
        }
    };
    let page = parse_page(one("limit")?, one("cursor")?)?;
    let (records, next) = svc
        .store
        .list_connections(user_id, SystemTime::now(), page.limit, page.after.as_ref())
        .await?;
    crate::telemetry::outcome("listed");
    tracing::info!(outcome = "listed", user = %mask(user_id), count = records.len(), more = next.is_some());
    let body = ConnectionsPage {
        connections: records.iter().map(ConnectionView::from).collect(),
        next_cursor: next.map(|k| encode_cursor(&k)),
    };
    Ok(http::json(StatusCode::OK, &body))
}

/// `GET /link/connections`' answer, serialized as it is (no `serde_json::Value`
/// in between: for a page of 50 that was a map of owned strings per connection).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionsPage<'a> {
    connections: Vec<ConnectionView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

async fn disconnect(
    user_id: &str,
    id: &ConnectionId,
    svc: &ConnectionsService,
) -> Result<Response<Body>, ApiError> {
    match svc.store.get_connection(id).await? {
        Some(rec) if rec.is_owned_by(user_id) && rec.status != ConnectionStatus::Disconnected => {}
        _ => {
            return Err(ApiError::connection_not_found()
                .detail(format_args!("disconnect of {}", id.masked())))
        }
    }
    let now = SystemTime::now();
    // The cause first, so that OFAuth's webhook for it carries it even when it
    // lands before this function's own write; only while the user owns it.
    match svc
        .store
        .request_disconnect(id, Some(user_id), ChangeCause::User, now)
        .await
    {
        Err(StoreError::ConnectionOwnedByAnotherUser) => {
            return Err(ApiError::connection_not_found()
                .detail(format_args!("disconnect of {}", id.masked())))
        }
        other => other?,
    }
    // OFAuth next: if it fails, the record stays as it was and the user can retry.
    svc.remove_at_ofauth(id, "disconnect").await?;
    // If this fails, OFAuth has disconnected it already; a retry finds it gone there
    // (404 under this deployment's key counts as done) and marks the record.
    svc.store.mark_disconnected(id, user_id, now).await?;
    crate::telemetry::outcome("disconnected");
    tracing::info!(outcome = "disconnected", user = %mask(user_id), connection = %id.masked());
    Ok(http::no_content())
}

/// `DELETE /link/me`: erases the signed-in user's data, for a data-subject
/// request, and is a barrier: nothing of theirs is bound after it.
/// 0. The erasure barrier (`store::barrier`) is raised first: every write that
///    binds checks it, so an attempt that started before now, even one the
///    index does not show yet (a session in flight), never binds.
/// 1. Every attempt of theirs still in flight (the `byUser` index holds them
///    all) ends as `erased`, by a write conditional on the status it was read
///    in: a completion, webhook or reload that comes later binds nothing, and
///    one that won the race shows as a completed attempt, whose connection is
///    erased with the others.
/// 2. Each live connection of theirs is disconnected at OFAuth first (a failure
///    stops here: a retry finishes the job), then its record keeps only what an
///    audit needs (the connection id, times, status `disconnected`, the attempt
///    that produced it, `erasedAt`): no user id, no account fields.
/// 3. A connection one of the ended attempts produced is disconnected only when
///    OFAuth attested that attempt as its origin and nobody owns it: never one a
///    forged claim names.
/// 4. Every attempt loses the user's and the account's fields and leaves the
///    index (its id, status and times stay until its TTL, for an audit and for
///    the reconciler, which disconnects a connection nobody can bind any more).
/// 5. The barrier is completed with the connections erased and their versions,
///    and the erasure marker (the platform's `User Data Erased`) lists them.
async fn erase(user_id: &str, svc: &ConnectionsService) -> Result<Response<Body>, ApiError> {
    let now = SystemTime::now();
    let (mut erased, mut disconnected) = (0u32, 0u32);
    let mut erased_connections: Vec<(ConnectionId, i64)> = Vec::new();
    let changed = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The data changed while it was being erased; try again.",
        )
    };
    // 0. The barrier first: whatever the index (eventually consistent) shows
    // below, no attempt of theirs that started before now binds anything.
    svc.store.raise_erasure_barrier(user_id, now).await?;
    let mut bound = Vec::new();
    let mut attempts = Vec::new();
    for item in svc.store.user_items(user_id).await? {
        match item {
            UserItem::Connection(r) => bound.push(r.id),
            UserItem::Attempt(a) => attempts.push(a),
        }
    }
    // 1. The barrier.
    for a in &mut attempts {
        let mut tries = 0;
        while a.status.in_flight() {
            if svc.store.end_for_erasure(a).await? {
                a.status = AttemptStatus::Erased;
                break;
            }
            tries += 1;
            match svc.store.get_attempt(&a.id).await? {
                Some(fresh) if fresh.user_id == user_id && tries < 3 => *a = fresh,
                Some(_) if tries >= 3 => return Err(changed()),
                _ => break,
            }
        }
        if a.status == AttemptStatus::Completed {
            bound.extend(a.connection.clone());
        }
    }
    // 2. The user's connections.
    bound.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    bound.dedup();
    for id in &bound {
        // Read, (once) disconnect at OFAuth, read again, erase on the version
        // read: OFAuth's webhook for the disconnect may land in between.
        let mut asked = false;
        let mut done = false;
        for _ in 0..4 {
            let Some(r) = svc
                .store
                .get_connection(id)
                .await?
                .filter(|r| r.is_owned_by(user_id))
            else {
                done = true;
                break;
            };
            if r.status != ConnectionStatus::Disconnected && !asked {
                // Its cause first (see `disconnect`), then OFAuth.
                match svc
                    .store
                    .request_disconnect(id, Some(user_id), ChangeCause::Erasure, now)
                    .await
                {
                    Err(StoreError::ConnectionOwnedByAnotherUser) => continue,
                    other => other?,
                }
                svc.remove_at_ofauth(id, "erasure").await?;
                (asked, disconnected) = (true, disconnected + 1);
                continue;
            }
            if let Some(version) = svc.store.erase_connection(&r, now).await? {
                (done, erased) = (true, erased + 1);
                erased_connections.push((id.clone(), version));
                break;
            }
        }
        if !done {
            return Err(changed());
        }
    }
    // 3. What the ended attempts produced, when OFAuth attested it and nobody
    // owns it.
    for a in attempts
        .iter()
        .filter(|a| a.status == AttemptStatus::Erased)
    {
        let Some(c) = &a.connection else {
            continue;
        };
        let produced = svc.store.get_connection(c).await?.filter(|r| {
            r.user_id.is_none()
                && r.attested_attempt.as_deref() == Some(a.id.as_str())
                && r.status != ConnectionStatus::Disconnected
        });
        if let Some(r) = produced {
            svc.remove_at_ofauth(c, "erasure").await?;
            disconnected += 1;
            match svc.store.erase_connection(&r, now).await? {
                Some(version) => erased_connections.push((c.clone(), version)),
                None => return Err(changed()),
            }
        }
    }
    // 4. The attempts' personal fields.
    for a in &attempts {
        svc.store.strip_attempt(&a.id, now).await?;
        erased += 1;
    }
    // 4b. The index once more, now that the work above gave it time: an
    // attempt stored just before the barrier that the first read did not show
    // yet (it can never bind, nor take the account's profile: the barrier) is
    // ended and stripped as well.
    for item in svc.store.user_items(user_id).await? {
        let UserItem::Attempt(a) = item else {
            continue;
        };
        if attempts
            .iter()
            .any(|seen| seen.id.as_str() == a.id.as_str())
        {
            continue;
        }
        if a.status.in_flight() {
            svc.store.end_for_erasure(&a).await?;
        }
        svc.store.strip_attempt(&a.id, now).await?;
        erased += 1;
    }
    // 5. Done: the barrier says which connections the erasure covers (the
    // publisher sends none of their older events once `User Data Erased` may
    // have gone), then the platform hears of it (its `User Data Erased`
    // event, listing them).
    svc.store
        .complete_erasure_barrier(user_id, &erased_connections, now)
        .await?;
    if erased > 0 {
        svc.store
            .put_erasure_marker(user_id, erased, &erased_connections, now)
            .await?;
    }
    crate::telemetry::outcome("erased");
    tracing::info!(outcome = "erased", user = %mask(user_id), erased, disconnected);
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "erased": erased, "disconnected": disconnected }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_cursors() {
        assert_eq!(parse_page(None, None).unwrap().limit, DEFAULT_PAGE);
        assert_eq!(parse_page(Some("100"), None).unwrap().limit, 100);
        for bad in ["0", "101", "-1", "x", "1e3", ""] {
            assert_eq!(
                parse_page(Some(bad), None).unwrap_err().code,
                "invalid_limit"
            );
        }
        let k = PageKey {
            pk: "CONNECTION#conn_abc".into(),
            sk: "2026-11-23T10:00:00Z".into(),
        };
        let c = encode_cursor(&k);
        assert_eq!(parse_page(None, Some(&c)).unwrap().after, Some(k));
        for bad in [
            "x".to_string(),
            encode_cursor(&PageKey {
                pk: "USER#bob".into(),
                sk: "2026".into(),
            }),
            encode_cursor(&PageKey {
                pk: "CONNECTION#a b".into(),
                sk: "2026".into(),
            }),
            encode_cursor(&PageKey {
                pk: "ATTEMPT#la_1".into(),
                sk: "drop table".into(),
            }),
            "a".repeat(600),
        ] {
            assert_eq!(
                parse_page(None, Some(&bad)).unwrap_err().code,
                "invalid_cursor",
                "{bad}"
            );
        }
    }
}
