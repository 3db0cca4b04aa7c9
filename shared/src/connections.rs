//! connections: `GET /link/connections` lists the signed-in user's connections from
//! DynamoDB (no OFAuth call on this path); `DELETE /link/connections/{id}`
//! disconnects one of them at OFAuth (which stops billing) and then marks it.

use std::time::SystemTime;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{self, Cors};
use crate::identity::{self, IdentityRules};
use crate::ids::{mask, ConnectionId};
use crate::ofauth::OfAuthClient;
use crate::store::{Store, UserConnection};

/// What the connections function needs, built once per process.
#[derive(Debug, Clone)]
pub struct ConnectionsService {
    pub store: Store,
    pub ofauth: OfAuthClient,
    pub identity: IdentityRules,
    pub cors: Cors,
}

impl ConnectionsService {
    pub fn new(config: &Config, store: Store, ofauth: OfAuthClient) -> Self {
        Self {
            store,
            ofauth,
            identity: IdentityRules::from_config(config),
            cors: Cors::for_config(config, "GET, DELETE, OPTIONS"),
        }
    }
}

/// One connection as the frontend sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub username: Option<&'a str>,
    pub name: Option<&'a str>,
    pub avatar: Option<&'a str>,
    pub connected_at: &'a str,
    pub updated_at: &'a str,
}

impl<'a> From<&'a UserConnection> for ConnectionView<'a> {
    fn from(r: &'a UserConnection) -> Self {
        Self {
            id: r.id.as_str(),
            status: &r.status,
            username: r.account.username.as_deref(),
            name: r.account.name.as_deref(),
            avatar: r.account.avatar.as_deref(),
            connected_at: &r.connected_at,
            updated_at: &r.updated_at,
        }
    }
}

/// Handles one request to the connections function.
pub async fn handle(req: Request, svc: &ConnectionsService) -> Response<Body> {
    http::json_api(&req, &svc.cors, route(&req, svc)).await
}

async fn route(req: &Request, svc: &ConnectionsService) -> Result<Response<Body>, ApiError> {
    let user_id = identity::caller(req, &svc.identity)
        .ok_or_else(|| ApiError::unauthenticated("Sign in to see your connections."))?;
    match (req.method(), connection_id_param(req)) {
        (&Method::GET, None) => list(&user_id, svc).await,
        (&Method::DELETE, Some(Ok(id))) => disconnect(&user_id, &id, svc).await,
        (&Method::DELETE, _) => Err(ApiError::connection_not_found()),
        _ => Err(ApiError::method_not_allowed("GET, DELETE, OPTIONS")),
    }
}

/// The `{id}` of `/link/connections/{id}`: API Gateway's path parameter, else the
/// last path segment (local routers). `None` for the collection itself.
fn connection_id_param(req: &Request) -> Option<Result<ConnectionId, ()>> {
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

async fn list(user_id: &str, svc: &ConnectionsService) -> Result<Response<Body>, ApiError> {
    let records = svc
        .store
        .list_connections(user_id, SystemTime::now())
        .await?;
    tracing::info!(outcome = "listed", user = %mask(user_id), count = records.len());
    let views: Vec<ConnectionView> = records.iter().map(ConnectionView::from).collect();
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({ "connections": views }),
    ))
}

async fn disconnect(
    user_id: &str,
    id: &ConnectionId,
    svc: &ConnectionsService,
) -> Result<Response<Body>, ApiError> {
    match svc.store.get_connection(id).await? {
        Some(rec) if rec.is_owned_by(user_id) && rec.status != "disconnected" => {}
        _ => {
            return Err(ApiError::connection_not_found()
                .detail(format_args!("disconnect of {}", id.masked())))
        }
    }
    // OFAuth first: if it fails, the record stays as it was and the user can retry.
    svc.ofauth.delete_connection(id).await.map_err(|e| {
        ApiError::from(e).detail(format_args!(
            "OFAuth disconnect of {} failed; record unchanged",
            id.masked()
        ))
    })?;
    // If this fails, OFAuth has disconnected it already; a retry finds it gone there
    // (404 counts as done) and marks the record.
    svc.store
        .mark_disconnected(id, user_id, SystemTime::now())
        .await?;
    tracing::info!(outcome = "disconnected", user = %mask(user_id), connection = %id.masked());
    Ok(http::no_content())
}
