//! The hosted Link pages: the session page and its approve, cancel and fail
//! actions, which end the session and send the browser to the redirect URL.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::state::{iso, new_connection, random_hex, Sim};
use crate::webhooks;

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/{session}", get(hosted_page))
        .route("/{session}/approve", get(approve).post(approve))
        .route("/{session}/cancel", get(cancel).post(cancel))
        .route("/{session}/fail", get(fail).post(fail))
}

#[derive(Deserialize)]
struct StepQuery {
    step: Option<String>,
    error_code: Option<String>,
    username: Option<String>,
}

async fn hosted_page(State(sim): State<Arc<Sim>>, Path(session): Path<String>) -> Response {
    let open = sim
        .lock()
        .sessions
        .get(&session)
        .map(|s| !s.finished && SystemTime::now() < s.expires_at);
    match open {
        None => (
            StatusCode::NOT_FOUND,
            Html("<h1>Unknown Link session</h1>".to_string()),
        )
            .into_response(),
        Some(false) => finish(&sim, &session, Finish::Expired),
        Some(true) => Html(hosted_html(&session)).into_response(),
    }
}

async fn approve(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<StepQuery>,
) -> Response {
    finish(
        &sim,
        &session,
        Finish::Approve {
            username: q.username,
        },
    )
}

async fn cancel(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<StepQuery>,
) -> Response {
    finish(
        &sim,
        &session,
        Finish::Cancel {
            step: q.step.unwrap_or_else(|| "login".into()),
        },
    )
}

async fn fail(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<StepQuery>,
) -> Response {
    finish(
        &sim,
        &session,
        Finish::Fail {
            code: q.error_code.unwrap_or_else(|| "invalid_credentials".into()),
        },
    )
}

enum Finish {
    Approve { username: Option<String> },
    Cancel { step: String },
    Fail { code: String },
    Expired,
}

/// Ends a session and sends the browser to its redirect URL with exactly the documented parameters.
fn finish(sim: &Arc<Sim>, session_id: &str, how: Finish) -> Response {
    let mut inner = sim.lock();
    let Some(session) = inner.sessions.get(session_id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            Html("<h1>Unknown Link session</h1>".to_string()),
        )
            .into_response();
    };
    let usable = !session.finished && SystemTime::now() < session.expires_at;
    let how = if usable { how } else { Finish::Expired };
    if let Some(s) = inner.sessions.get_mut(session_id) {
        s.finished = true;
    }
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut event: Option<(&str, String)> = None;
    match how {
        Finish::Approve { username } => {
            let now = iso(SystemTime::now(), false);
            let id = match &session.connection_id {
                Some(existing) if inner.connections.contains_key(existing) => {
                    if let Some(c) = inner.connections.get_mut(existing) {
                        c.status = "active".into();
                        c.updated_at = now;
                        if session.client_reference_id.is_some() {
                            c.client_reference_id = session.client_reference_id.clone();
                        }
                    }
                    event = Some(("connection.updated", existing.clone()));
                    existing.clone()
                }
                _ => {
                    let id = format!("conn_{}", random_hex(12));
                    let mut conn =
                        new_connection(&mut inner, id.clone(), session.client_reference_id.clone());
                    if let Some(u) = username.filter(|u| !u.is_empty()) {
                        conn.name = u.clone();
                        conn.username = u;
                    }
                    inner.connections.insert(id.clone(), conn);
                    event = Some(("connection.created", id.clone()));
                    id
                }
            };
            params.push(("status", "success".into()));
            params.push(("connection_id", id));
        }
        Finish::Cancel { step } => {
            params.push(("status", "cancelled".into()));
            params.push(("step", step));
        }
        Finish::Fail { code } => {
            params.push(("status", "error".into()));
            params.push(("error_code", code));
        }
        Finish::Expired => {
            params.push(("status", "error".into()));
            params.push(("error_code", "session_expired".into()));
        }
    }
    if let Some(r) = &session.client_reference_id {
        params.push(("client_reference_id", r.clone()));
    }
    if let Some((kind, id)) = event {
        if let Some(conn) = inner.connections.get(&id).cloned() {
            drop(inner);
            webhooks::emit(sim, kind, &conn);
        }
    }
    let location = match url::Url::parse(&session.redirect_url) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            u.to_string()
        }
        Err(_) => session.redirect_url.clone(),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

fn hosted_html(session: &str) -> String {
    // `session` matched a stored key, which this server generated (cs_ + hex).
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OFAuth Link (simulator)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
fieldset{{margin:1rem 0;border:1px solid #ccc;border-radius:.5rem}}button{{padding:.5rem 1rem}}</style></head>
<body>
<h1>Connect your OnlyFans account</h1>
<p><em>Local OFAuth simulator</em>: no real credentials are asked for or sent anywhere.</p>
<form method="post" action="/{session}/approve"><fieldset><legend>Sign in</legend>
<p><button id="approve" type="submit">Approve</button></p></fieldset></form>
<form method="get" action="/{session}/cancel"><fieldset><legend>Cancel</legend>
<select name="step" id="cancel-step"><option>pre-login</option><option>authorization</option><option>login</option><option>2fa</option></select>
<button id="cancel" type="submit">Cancel</button></fieldset></form>
<form method="get" action="/{session}/fail"><fieldset><legend>Fail</legend>
<select name="error_code" id="fail-code"><option>invalid_credentials</option><option>account_locked</option><option>2fa_failed</option><option>session_expired</option></select>
<button id="fail" type="submit">Fail</button></fieldset></form>
</body></html>"#
    )
}
