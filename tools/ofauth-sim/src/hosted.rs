//! The hosted Link pages: the session page and its approve, cancel and fail
//! actions, which end the session and send the browser to the redirect URL.
//!
//! Embedded (`embed=true&embed_origin=<origin>`, as OFAuth's embed library opens
//! them in an iframe), they tell the parent page instead, with
//! `postMessage({ type: "OFAUTH_LINK", event, metadata }, <origin>)`: `loaded`,
//! `success` (`successUrl`, `redirect`, `connection`), `exit` (`type`, `step`,
//! `error`) and `invalid_session`; and every page, the final ones too, answers
//! the parent's `exit_requested` (the library's `close()`, a click on its
//! overlay) with `exit`. Every page sends `Content-Security-Policy:
//! frame-ancestors 'self' <the client app's Allowed Origins>`, and
//! `embed_origin` must be one of them.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::{iso, new_account, new_connection, random_hex, set_account, Sim};
use crate::webhooks;

pub(crate) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route("/{session}", get(hosted_page))
        .route("/{session}/approve", get(approve).post(approve))
        .route("/{session}/cancel", get(cancel).post(cancel))
        .route("/{session}/fail", get(fail).post(fail))
}

#[derive(Deserialize, Default)]
struct PageQuery {
    step: Option<String>,
    error_code: Option<String>,
    username: Option<String>,
    /// A reconnect signs in to a different OnlyFans account.
    #[serde(default)]
    other_account: bool,
    /// A reconnect signs in to this OnlyFans account (its numeric id): back to
    /// the connection's own after another was signed in to it.
    account: Option<String>,
    /// A reconnect comes back with a new connection instead of the one reconnected.
    #[serde(default)]
    new_connection: bool,
    #[serde(default)]
    embed: bool,
    embed_origin: Option<String>,
    theme: Option<String>,
}

/// Where the page reports to when it is embedded.
struct Embed {
    origin: String,
    query: String,
}

/// `embed_origin` is not one of the client app's Allowed Origins.
struct NotAllowed;

impl NotAllowed {
    fn page(self, sim: &Sim) -> Response {
        page(
            sim,
            StatusCode::BAD_REQUEST,
            "<h1>This origin may not embed OFAuth Link</h1>".into(),
        )
    }
}

impl PageQuery {
    /// The embed parent, when embedded in an allowed origin.
    fn embed(&self, sim: &Sim) -> Result<Option<Embed>, NotAllowed> {
        if !self.embed {
            return Ok(None);
        }
        let origin = self.embed_origin.clone().unwrap_or_default();
        if !sim.config.allowed_origins.contains(&origin) {
            return Err(NotAllowed);
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("embed", "true")
            .append_pair("embed_origin", &origin)
            .append_pair("theme", self.theme.as_deref().unwrap_or("light"))
            .finish();
        Ok(Some(Embed { origin, query }))
    }
}

/// An HTML page with the headers every hosted page sends.
fn page(sim: &Sim, status: StatusCode, html: String) -> Response {
    let mut resp = (status, Html(html)).into_response();
    // As OFAuth documents it: the page itself, and the Allowed Origins.
    let mut ancestors = String::from("'self'");
    for origin in &sim.config.allowed_origins {
        ancestors.push(' ');
        ancestors.push_str(origin);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("frame-ancestors {ancestors}")) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

async fn hosted_page(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let embed = match q.embed(&sim) {
        Ok(e) => e,
        Err(not_allowed) => return not_allowed.page(&sim),
    };
    let open = sim
        .lock()
        .sessions
        .get(&session)
        .map(|s| !s.finished && !s.invalid && SystemTime::now() < s.expires_at);
    match open {
        None => page(
            &sim,
            StatusCode::NOT_FOUND,
            "<h1>Unknown Link session</h1>".into(),
        ),
        Some(false) => finish(&sim, &session, Finish::Expired, embed.as_ref()),
        Some(true) => page(&sim, StatusCode::OK, hosted_html(&session, embed.as_ref())),
    }
}

async fn approve(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let embed = match q.embed(&sim) {
        Ok(e) => e,
        Err(not_allowed) => return not_allowed.page(&sim),
    };
    let how = Finish::Approve {
        username: q.username,
        other_account: q.other_account,
        account: q.account,
        new_connection: q.new_connection,
    };
    finish(&sim, &session, how, embed.as_ref())
}

async fn cancel(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let embed = match q.embed(&sim) {
        Ok(e) => e,
        Err(not_allowed) => return not_allowed.page(&sim),
    };
    let step = q.step.unwrap_or_else(|| "login".into());
    finish(&sim, &session, Finish::Cancel { step }, embed.as_ref())
}

async fn fail(
    State(sim): State<Arc<Sim>>,
    Path(session): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let embed = match q.embed(&sim) {
        Ok(e) => e,
        Err(not_allowed) => return not_allowed.page(&sim),
    };
    let code = q.error_code.unwrap_or_else(|| "invalid_credentials".into());
    finish(&sim, &session, Finish::Fail { code }, embed.as_ref())
}

enum Finish {
    Approve {
        username: Option<String>,
        other_account: bool,
        account: Option<String>,
        new_connection: bool,
    },
    Cancel {
        step: String,
    },
    Fail {
        code: String,
    },
    Expired,
}

/// Ends a session: redirects the browser to the redirect URL with exactly the
/// documented parameters, or, embedded, tells the parent page.
fn finish(sim: &Arc<Sim>, session_id: &str, how: Finish, embed: Option<&Embed>) -> Response {
    let mut inner = sim.lock();
    let Some(session) = inner.sessions.get(session_id).cloned() else {
        return page(
            sim,
            StatusCode::NOT_FOUND,
            "<h1>Unknown Link session</h1>".into(),
        );
    };
    let usable = !session.finished && !session.invalid && SystemTime::now() < session.expires_at;
    let how = if usable { how } else { Finish::Expired };
    if let Some(s) = inner.sessions.get_mut(session_id) {
        s.finished = true;
    }
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut event: Option<(&str, String)> = None;
    let message = match how {
        Finish::Approve {
            username,
            other_account,
            account,
            new_connection: fresh,
        } => {
            let now = iso(SystemTime::now(), true);
            let reconnected = session
                .connection_id
                .as_ref()
                .filter(|id| !fresh && inner.connections.contains_key(*id))
                .cloned();
            let id = match reconnected {
                Some(existing) => {
                    let mut conn = inner.connections[&existing].clone();
                    conn.status = "active".into();
                    conn.updated_at = now;
                    if session.client_reference_id.is_some() {
                        conn.client_reference_id = session.client_reference_id.clone();
                    }
                    if other_account {
                        new_account(&mut inner, &mut conn);
                    }
                    if let Some(a) = account.filter(|a| !a.is_empty()) {
                        set_account(&mut conn, &a);
                    }
                    inner.put_connection(conn);
                    event = Some(("connection.updated", existing.clone()));
                    existing
                }
                None => {
                    let id = format!("conn_{}", random_hex(12));
                    let mut conn =
                        new_connection(&mut inner, id.clone(), session.client_reference_id.clone());
                    if let Some(u) = username.filter(|u| !u.is_empty()) {
                        conn.name = u.clone();
                        conn.username = u;
                    }
                    inner.put_connection(conn);
                    event = Some(("connection.created", id.clone()));
                    id
                }
            };
            params.push(("status", "success".into()));
            params.push(("connection_id", id.clone()));
            let c = &inner.connections[&id];
            json!({ "event": "success", "connection": {
                "id": c.id,
                "userData": { "id": c.user_id, "name": c.name, "username": c.username, "avatar": c.avatar },
            }})
        }
        Finish::Cancel { step } => {
            params.push(("status", "cancelled".into()));
            params.push(("step", step.clone()));
            json!({ "event": "exit", "metadata": { "type": "user_exit", "step": step, "error": null } })
        }
        Finish::Fail { code } => {
            params.push(("status", "error".into()));
            params.push(("error_code", code.clone()));
            json!({ "event": "exit", "metadata": { "type": "error", "error": {
                "error_type": code, "error_message": "The account could not be connected.",
            }}})
        }
        Finish::Expired => {
            params.push(("status", "error".into()));
            params.push(("error_code", "session_expired".into()));
            json!({ "event": "invalid_session", "metadata": {} })
        }
    };
    if let Some(r) = &session.client_reference_id {
        params.push(("client_reference_id", r.clone()));
    }
    let redirect = inner.hosted_mode.embed_redirect;
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
    match embed {
        None => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Some(embed) => {
            let mut msg = message;
            if msg["event"] == "success" {
                let connection = msg["connection"].take();
                msg["metadata"] = json!({ "successUrl": location, "redirect": redirect, "connection": connection });
                if let Some(m) = msg.as_object_mut() {
                    m.remove("connection");
                }
            }
            // The step an `exit_requested` on this final page reports.
            let step = match msg["event"].as_str() {
                Some("success") => "success",
                Some("invalid_session") => "pre-login",
                _ => "error",
            };
            page(sim, StatusCode::OK, embed_html(embed, &msg, "Done", step))
        }
    }
}

/// The script of every embedded page: it answers the parent's `exit_requested`
/// with `exit` (`forced_exit` when forced, else `user_exit` at `step`).
fn exit_script(origin: &str, step: &str) -> String {
    format!(
        r#"window.addEventListener("message", (e) => {{
  if (e.origin !== {origin} || e.source !== window.parent || !e.data || e.data.type !== "OFAUTH_LINK" || e.data.event !== "exit_requested") return;
  const metadata = e.data.force ? {{ type: "forced_exit", error: null }} : {{ type: "user_exit", step: {step}, error: null }};
  window.parent.postMessage({{ type: "OFAUTH_LINK", event: "exit", metadata }}, {origin});
}});"#,
        step = serde_json::to_string(step).unwrap_or_default()
    )
}

/// A final page: posts one message to the embedding page, and answers
/// `exit_requested` (the library may still be up: after `invalid_session`, or
/// while the app's `onSuccess` runs).
fn embed_html(embed: &Embed, message: &Value, title: &str, step: &str) -> String {
    let origin = serde_json::to_string(&embed.origin).unwrap_or_default();
    let msg = serde_json::to_string(message).unwrap_or_default();
    let exit = exit_script(&origin, step);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OFAuth Link (simulator)</title></head>
<body><p id="outcome">{title}</p>
<script>
const origin = {origin};
const m = {msg};
{exit}
window.parent.postMessage({{ type: "OFAUTH_LINK", event: m.event, metadata: m.metadata || {{}} }}, origin);
</script></body></html>"#
    )
}

fn hosted_html(session: &str, embed: Option<&Embed>) -> String {
    // `session` matched a stored key, which this server generated (cs_ + hex);
    // the embed query was built here from an allowed origin.
    let q = embed.map(|e| e.query.clone()).unwrap_or_default();
    let hidden = embed
        .map(|e| {
            url::form_urlencoded::parse(e.query.as_bytes())
                .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{v}">"#))
                .collect::<String>()
        })
        .unwrap_or_default();
    let script = embed
        .map(|e| {
            let origin = serde_json::to_string(&e.origin).unwrap_or_default();
            let exit = exit_script(&origin, "pre-login");
            format!(
                r#"<script>
const origin = {origin};
{exit}
window.parent.postMessage({{ type: "OFAUTH_LINK", event: "loaded", metadata: {{}} }}, origin);
</script>"#
            )
        })
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OFAuth Link (simulator)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
fieldset{{margin:1rem 0;border:1px solid #ccc;border-radius:.5rem}}button{{padding:.5rem 1rem}}</style></head>
<body>
<h1>Connect your OnlyFans account</h1>
<p><em>Local OFAuth simulator</em>: no real credentials are asked for or sent anywhere.</p>
<form method="post" action="/{session}/approve?{q}"><fieldset><legend>Sign in</legend>
<p><button id="approve" type="submit">Approve</button></p></fieldset></form>
<form method="get" action="/{session}/cancel"><fieldset><legend>Cancel</legend>{hidden}
<select name="step" id="cancel-step"><option>pre-login</option><option>authorization</option><option>login</option><option>2fa</option></select>
<button id="cancel" type="submit">Cancel</button></fieldset></form>
<form method="get" action="/{session}/fail"><fieldset><legend>Fail</legend>{hidden}
<select name="error_code" id="fail-code"><option>invalid_credentials</option><option>account_locked</option><option>2fa_failed</option><option>session_expired</option></select>
<button id="fail" type="submit">Fail</button></fieldset></form>
{script}
</body></html>"#
    )
}
