//! The load driver (`bench-scale --load`): many concurrent whole flows through
//! the functions' binaries, each run as Lambda runs it (the loopback Runtime
//! API), in as many execution environments per function as asked, against
//! DynamoDB Local and the simulator (other users connecting at a set rate,
//! webhooks delayed, lost or reordered at set rates, delivered to the webhook
//! function's environments through a small HTTP front). A flow: the session,
//! the approval on OFAuth's page, the callback, the completion with the code.
//! Then it lets the webhooks land, runs the reconciler once when any flow still
//! waits, and checks that nothing was lost or misbound: every connection a flow
//! made is bound to that flow's user, or visibly waiting (`verifying`) with its
//! attempt, and no connection is bound to anyone else. Bounded: a fixed number
//! of flows, each step with a timeout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use link_fixtures::ApiEvent;
use serde_json::Value;
use tokio::sync::{mpsc, Mutex};

use crate::runtime_api::{lambda_environment, Outcome, RuntimeApi};

type Error = Box<dyn std::error::Error + Send + Sync>;

pub const API_KEY: &str = "sk_sandbox_load";
pub const WEBHOOK_SECRET: &str = "whsec_bG9hZC1kcml2ZXItd2ViaG9vay1zZWNyZXQ=";
pub const CALLBACK_URL: &str = "https://api.example.com/link/callback";
pub const APP: &str = "https://app.example.com";

/// Where the functions find their downstreams.
pub struct Downstreams {
    pub table: String,
    pub ddb_url: String,
    pub sim_url: String,
}

/// One function's execution environments: each a process under its own
/// Runtime API, handed out one invocation at a time.
pub struct Pool {
    free: Mutex<mpsc::Receiver<RuntimeApi>>,
    back: mpsc::Sender<RuntimeApi>,
    children: std::sync::Mutex<Vec<Child>>,
}

impl Pool {
    pub async fn start(
        binary: &PathBuf,
        name: &str,
        envs: usize,
        d: &Downstreams,
    ) -> Result<Arc<Self>, Error> {
        let (back, free) = mpsc::channel(envs.max(1));
        let mut children = Vec::new();
        for _ in 0..envs {
            let api = RuntimeApi::start(Duration::from_secs(10)).await?;
            let mut cmd = Command::new(binary);
            cmd.env_clear();
            let child = lambda_environment(&mut cmd, api.addr, name, 128)
                .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
                .env("TABLE_NAME", &d.table)
                .env("DYNAMODB_ENDPOINT", &d.ddb_url)
                .env("OFAUTH_BASE_URL", &d.sim_url)
                .env("OFAUTH_API_KEY", API_KEY)
                .env("OFAUTH_WEBHOOK_SECRET", WEBHOOK_SECRET)
                .env("LINK_HOSTS", "127.0.0.1")
                .env("APP_URL", APP)
                .env("CALLBACK_URL", CALLBACK_URL)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{}: {e}", binary.display()))?;
            api.wait_for_init(Duration::from_secs(30))
                .await
                .ok_or_else(|| format!("{name} did not finish Init: {:?}", api.init_error()))?;
            back.send(api).await.map_err(|_| "pool")?;
            children.push(child);
        }
        Ok(Arc::new(Self {
            free: Mutex::new(free),
            back,
            children: std::sync::Mutex::new(children),
        }))
    }

    /// One invocation in a free environment: the API Gateway response as
    /// (status, headers, body, cookies).
    pub async fn invoke(&self, event: String) -> Result<Answer, Error> {
        let mut api = self
            .free
            .lock()
            .await
            .recv()
            .await
            .ok_or("no environment")?;
        let result = api.invoke(event).await;
        let _ = self.back.send(api).await;
        let (_, outcome) = result?;
        let Outcome::Response(bytes) = outcome else {
            return Err(format!("the function failed: {outcome:?}").into());
        };
        let v: Value = serde_json::from_slice(&bytes)?;
        // Payload 2.0 puts `Set-Cookie` in `cookies`; a header, otherwise.
        let mut cookies: Vec<String> = v["cookies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        cookies.extend(v["headers"]["set-cookie"].as_str().map(str::to_string));
        Ok(Answer {
            status: v["statusCode"].as_u64().unwrap_or(0) as u16,
            location: v["headers"]["location"].as_str().map(str::to_string),
            body: serde_json::from_str(v["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null),
            cookies,
        })
    }

    pub fn stop(&self) {
        for c in self
            .children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: Value,
    /// What the answer's `Set-Cookie`s set (`name=value; attributes`).
    pub cookies: Vec<String>,
}

/// The webhook route as API Gateway would hand it to the webhook function.
pub async fn webhook_front(
    listener: tokio::net::TcpListener,
    pool: Arc<Pool>,
) -> Result<(), Error> {
    async fn deliver(
        State(pool): State<Arc<Pool>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        let mut ev = ApiEvent::new("POST", "/link/webhook");
        for (k, v) in &headers {
            if let Ok(v) = v.to_str() {
                ev = ev.header(k.as_str(), v);
            }
        }
        let ev = ev.body(&String::from_utf8_lossy(&body));
        match pool.invoke(ev.to_json_string()).await {
            Ok(a) => (
                StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY),
                a.body.to_string(),
            ),
            Err(_) => (StatusCode::BAD_GATEWAY, String::new()),
        }
    }
    let app = Router::new()
        .route("/link/webhook", post(deliver))
        .with_state(pool);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

/// How one flow went, step by step.
#[derive(Debug, Default, Clone)]
pub struct Flow {
    pub user: String,
    pub attempt: Option<String>,
    pub connection: Option<String>,
    /// Milliseconds per step: session, approve, callback, complete.
    pub steps: [Option<f64>; 4],
    /// `active`, `verifying`, or what stopped it (`refused:<code>`, `failed:<why>`).
    pub outcome: String,
}

/// One whole redirect flow for `user`.
pub async fn flow(
    user: String,
    init: &Pool,
    callback: &Pool,
    complete: &Pool,
    http: &reqwest::Client,
    return_delay: Duration,
) -> Flow {
    let mut f = Flow {
        user: user.clone(),
        ..Flow::default()
    };
    let fail = |mut f: Flow, why: String| {
        f.outcome = why;
        f
    };
    // 1. The session.
    let t = Instant::now();
    let ev = ApiEvent::new("POST", "/link/session")
        .user(&user)
        .header("origin", APP)
        .header("content-type", "application/json")
        .body("{}");
    let (session, start) = match init.invoke(ev.to_json_string()).await {
        // The browser keeps the start cookie for the callback.
        Ok(a) if a.status == 200 => {
            let start = a
                .cookies
                .first()
                .and_then(|c| c.split(';').next())
                .map(str::to_string);
            (a.body, start)
        }
        Ok(a) => {
            return fail(
                f,
                format!("refused:{}", a.body["error"].as_str().unwrap_or("?")),
            )
        }
        Err(e) => return fail(f, format!("failed:session {e}")),
    };
    f.steps[0] = Some(t.elapsed().as_secs_f64() * 1000.0);
    f.attempt = session["attemptId"].as_str().map(str::to_string);
    // 2. The user approves on OFAuth's page.
    let t = Instant::now();
    let url = session["url"].as_str().unwrap_or_default();
    let back = match http.post(format!("{url}/approve")).send().await {
        Ok(r) if r.status().as_u16() == 303 => r
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string),
        Ok(r) => return fail(f, format!("failed:approve {}", r.status())),
        Err(e) => return fail(f, format!("failed:approve {e}")),
    };
    let Some(back) = back.and_then(|b| url::Url::parse(&b).ok()) else {
        return fail(f, "failed:approve without a redirect".into());
    };
    f.connection = back
        .query_pairs()
        .find(|(k, _)| k == "connection_id")
        .map(|(_, v)| v.into_owned());
    f.steps[1] = Some(t.elapsed().as_secs_f64() * 1000.0);
    // 3. The browser comes back (after its redirect takes `return_delay`): the callback.
    tokio::time::sleep(return_delay).await;
    let t = Instant::now();
    let mut ev = ApiEvent::new("GET", "/link/callback").query(back.query().unwrap_or_default());
    if let Some(cookie) = &start {
        ev = ev.cookie(cookie);
    }
    let to_app = match callback.invoke(ev.to_json_string()).await {
        Ok(a) if a.status == 302 => a.location.unwrap_or_default(),
        Ok(a) => return fail(f, format!("failed:callback {}", a.status)),
        Err(e) => return fail(f, format!("failed:callback {e}")),
    };
    f.steps[2] = Some(t.elapsed().as_secs_f64() * 1000.0);
    let to_app = url::Url::parse(&to_app).ok();
    let param = |name: &str| {
        to_app.as_ref().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
    };
    let Some(code) = param("code") else {
        return fail(
            f,
            format!("refused:{}", param("error_code").unwrap_or_default()),
        );
    };
    // 4. The app completes, as the signed-in user.
    let t = Instant::now();
    let ev = ApiEvent::new("POST", "/link/complete")
        .user(&user)
        .header("origin", APP)
        .header("content-type", "application/json")
        .body(&serde_json::json!({ "code": code }).to_string());
    match complete.invoke(ev.to_json_string()).await {
        Ok(a) if a.status == 200 || a.status == 202 => {
            f.outcome = a.body["status"].as_str().unwrap_or("?").to_string();
        }
        Ok(a) => {
            return fail(
                f,
                format!("refused:{}", a.body["error"].as_str().unwrap_or("?")),
            )
        }
        Err(e) => return fail(f, format!("failed:complete {e}")),
    }
    f.steps[3] = Some(t.elapsed().as_secs_f64() * 1000.0);
    f
}

/// p50 and p99 of what was measured.
pub fn percentiles(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

/// Outcomes by name, for the report.
pub fn tally<'a>(outcomes: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for o in outcomes {
        let key = o.split(' ').next().unwrap_or(o).to_string();
        *m.entry(key).or_insert(0) += 1;
    }
    m
}
