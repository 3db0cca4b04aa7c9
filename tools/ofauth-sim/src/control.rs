//! Control routes for tests and the demo (`/__sim/...`): faults, reset,
//! connections, recorded requests, webhook modes and deliveries.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::state::{expire, new_connection, Inner, Sim};
use crate::{webhooks, Delivery, Faults, HostedMode, RecordedRequest, SimConnection, WebhookMode};

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/__sim/faults", post(set_faults).get(get_faults))
        .route("/__sim/reset", post(reset))
        .route("/__sim/connections/bulk", post(control_bulk))
        .route("/__sim/traffic", post(control_traffic))
        .route(
            "/__sim/connections",
            get(control_connections).post(control_insert),
        )
        .route("/__sim/connections/{id}/expire", post(control_expire))
        .route("/__sim/requests", get(control_requests))
        .route(
            "/__sim/webhooks",
            get(control_deliveries).post(control_webhook_mode),
        )
        .route("/__sim/webhooks/release", post(control_release))
        .route("/__sim/hosted", get(get_hosted).post(set_hosted))
        .route("/health", get(|| async { "ok" }))
}

async fn set_faults(State(sim): State<Arc<Sim>>, Json(f): Json<Faults>) -> Json<Faults> {
    sim.lock().faults = f.clone();
    Json(f)
}

async fn get_faults(State(sim): State<Arc<Sim>>) -> Json<Faults> {
    Json(sim.lock().faults.clone())
}

async fn reset(State(sim): State<Arc<Sim>>) -> StatusCode {
    *sim.lock() = Inner::default();
    StatusCode::NO_CONTENT
}

async fn control_connections(State(sim): State<Arc<Sim>>) -> Json<Vec<SimConnection>> {
    Json(sim.lock().connections.values().cloned().collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InsertConnection {
    id: String,
    client_reference_id: Option<String>,
}

async fn control_insert(
    State(sim): State<Arc<Sim>>,
    Json(req): Json<InsertConnection>,
) -> Json<SimConnection> {
    let mut inner = sim.lock();
    let imported = req.client_reference_id.is_none();
    let mut conn = new_connection(&mut inner, req.id.clone(), req.client_reference_id);
    conn.imported = imported;
    inner.put_connection(conn.clone());
    Json(conn)
}

#[derive(Deserialize)]
struct Bulk {
    count: u64,
}

/// `{ "count": n }`: n imported connections at once (at most a million).
async fn control_bulk(State(sim): State<Arc<Sim>>, Json(req): Json<Bulk>) -> StatusCode {
    if req.count > 1_000_000 {
        return StatusCode::BAD_REQUEST;
    }
    crate::state::preload(&sim, req.count);
    StatusCode::NO_CONTENT
}

/// `{ "connectsPerSecond": r, "webhooks": bool }`: other users connecting.
async fn control_traffic(
    State(sim): State<Arc<Sim>>,
    Json(traffic): Json<crate::Traffic>,
) -> StatusCode {
    crate::state::start_traffic(sim, traffic);
    StatusCode::NO_CONTENT
}

async fn control_expire(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> StatusCode {
    if expire(&sim, &id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn control_deliveries(State(sim): State<Arc<Sim>>) -> Json<Vec<Delivery>> {
    Json(sim.lock().deliveries.clone())
}

async fn control_webhook_mode(
    State(sim): State<Arc<Sim>>,
    Json(mode): Json<WebhookMode>,
) -> Json<WebhookMode> {
    sim.lock().webhook_mode = mode.clone();
    Json(mode)
}

#[derive(Deserialize)]
struct ReleaseQuery {
    #[serde(default)]
    reverse: bool,
}

async fn control_release(State(sim): State<Arc<Sim>>, Query(q): Query<ReleaseQuery>) -> StatusCode {
    webhooks::release(&sim, q.reverse);
    StatusCode::NO_CONTENT
}

async fn control_requests(State(sim): State<Arc<Sim>>) -> Json<Vec<RecordedRequest>> {
    Json(sim.lock().requests.clone())
}

async fn get_hosted(State(sim): State<Arc<Sim>>) -> Json<HostedMode> {
    Json(sim.lock().hosted_mode.clone())
}

async fn set_hosted(State(sim): State<Arc<Sim>>, Json(mode): Json<HostedMode>) -> Json<HostedMode> {
    sim.lock().hosted_mode = mode.clone();
    Json(mode)
}
