//! A minimal AWS Lambda Runtime API on loopback: the function binary polls
//! `/2018-06-01/runtime/invocation/next` exactly as it does on Lambda, and posts
//! its answer to `.../{id}/response` or `.../{id}/error`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot};

/// What the function answered.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    /// The error document the runtime posted (shown through `Debug`).
    #[allow(dead_code)]
    Error(Bytes),
}

struct Invocation {
    id: String,
    payload: String,
    done: oneshot::Sender<(Outcome, Instant)>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<(Outcome, Instant)>>>,
    /// When the function first asked for work (the end of its Init).
    first_next: Mutex<Option<Instant>>,
    init_error: Mutex<Option<String>>,
    function_timeout: Duration,
}

/// The environment Lambda gives a function's process (its Runtime API, name,
/// memory, log settings, region and credentials), on `cmd`, for `function`
/// under the Runtime API at `api` with `memory_mb`.
pub fn lambda_environment<'a>(
    cmd: &'a mut std::process::Command,
    api: SocketAddr,
    function: &str,
    memory_mb: u32,
) -> &'a mut std::process::Command {
    cmd.env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("_HANDLER", "bootstrap")
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Invocation>,
    seq: u64,
    task: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start(function_timeout: Duration) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            pending: Mutex::new(HashMap::new()),
            first_next: Mutex::new(None),
            init_error: Mutex::new(None),
            function_timeout,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            tx,
            seq: 0,
            task,
        })
    }

    /// Waits for the function's first `next` request; `None` on timeout or init error.
    pub async fn wait_for_init(&self, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = *self
                .shared
                .first_next
                .lock()
                .unwrap_or_else(|p| p.into_inner())
            {
                return Some(t);
            }
            if self
                .shared
                .init_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
                || Instant::now() > deadline
            {
                return None;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared
            .init_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends one event and waits for the answer: (time from handing the event
    /// over to the answer arriving, the answer).
    pub async fn invoke(&mut self, payload: String) -> Result<(Duration, Outcome), String> {
        self.seq += 1;
        let (done, rx) = oneshot::channel();
        let start = Instant::now();
        self.tx
            .send(Invocation {
                id: format!("bench-{:08}", self.seq),
                payload,
                done,
            })
            .await
            .map_err(|_| "the runtime API stopped".to_string())?;
        let (outcome, at) = tokio::time::timeout(self.shared.function_timeout, rx)
            .await
            .map_err(|_| "the function timed out".to_string())?
            .map_err(|_| "the invocation was dropped".to_string())?;
        Ok((at.duration_since(start), outcome))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    {
        let mut first = s.first_next.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(Instant::now());
        }
    }
    let Some(inv) = s.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    s.pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(inv.id.clone(), inv.done);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + s.function_timeout.as_millis();
    let mut h = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", inv.id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (h, inv.payload).into_response()
}

fn finish(s: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    let at = Instant::now();
    match s
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(id)
    {
        Some(done) => {
            let _ = done.send((outcome, at));
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Outcome::Response(body))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Outcome::Error(body))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *s.init_error.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
