//! A static server for the demo frontend (demo/): `/` and the app's `/link/*`
//! pages are `index.html`; `/client/*` is the browser client's source
//! (client/src, beside demo/), which the page imports as is; `/config.js` tells
//! the page where the API is;
//! `/platform-events` relays what the EventBridge stand-in received (the events
//! a platform's services would get), for the page's live list.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[derive(Clone)]
struct Demo {
    dir: PathBuf,
    api_base: String,
    events_url: Option<String>,
    http: reqwest::Client,
}

pub async fn serve(
    dir: PathBuf,
    port: u16,
    api_base: String,
    events_url: Option<String>,
) -> Result<(), crate::Error> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    let app = Router::new()
        .route("/", get(index))
        .route("/link/{*page}", get(index))
        .route("/config.js", get(config))
        .route("/platform-events", get(platform_events))
        .route("/client/{file}", get(client_file))
        .route("/{file}", get(file))
        .with_state(Demo {
            dir,
            api_base,
            events_url,
            http,
        });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| {
            format!("cannot listen on port {port}: {e} (set DEMO_PORT to another port)")
        })?;
    axum::serve(listener, app).await?;
    Ok(())
}

fn send(dir: &std::path::Path, name: &str) -> Response {
    let kind = match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    match std::fs::read(dir.join(name)) {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn index(State(d): State<Demo>) -> Response {
    send(&d.dir, "index.html")
}

async fn platform_events(State(d): State<Demo>) -> Response {
    let Some(url) = &d.events_url else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match d.http.get(format!("{url}/events")).send().await {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(body) => (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                body,
            )
                .into_response(),
            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
        },
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}

async fn config(State(d): State<Demo>) -> Response {
    let body = format!(
        "window.DEMO_CONFIG = {};\n",
        serde_json::json!({ "apiBase": d.api_base, "platformEvents": d.events_url.is_some() })
    );
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn file(State(d): State<Demo>, Path(name): Path<String>) -> Response {
    if !plain(&name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    send(&d.dir, &name)
}

async fn client_file(State(d): State<Demo>, Path(name): Path<String>) -> Response {
    if !plain(&name) || !name.ends_with(".js") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let client = d.dir.parent().unwrap_or(&d.dir).join("client").join("src");
    send(&client, &name)
}

/// Only plain file names from the folder.
fn plain(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\'])
}
