//! `lambda-bench`: runs each function's binary exactly as Lambda does (a Runtime
//! API on loopback, Lambda's environment) against DynamoDB Local and the OFAuth
//! simulator, behind timing proxies, and reports Init, the first invocation, warm
//! latency, the function's own time (total minus downstream waits), peak RSS and
//! the arm64 package sizes. A benchmark, not a test: it asserts nothing.
//!
//! Downstreams speak TLS by default (a test CA the functions trust through
//! `EXTRA_CA_CERTS`), as the real OFAuth API and AWS do; `--plain` uses plain HTTP.
//!
//! `--pin` gives the function a core of its own during the warm invocations
//! (`taskset`; the rest of the benchmark, DynamoDB Local and the simulator share
//! the other cores), so own time is not time spent waiting for a core.
//!
//! Usage: `lambda-bench [--profile release|debug] [--runs N] [--starts N] [--functions a,b] [--plain] [--pin]`

mod proxy;
mod runtime_api;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use link_shared::ids::AttemptId;
use link_shared::store::{self, AttemptStatus, LinkAttempt, Store};
use ofauth_sim::{SignatureScheme, SimConfig, Simulator};
use proxy::TimingProxy;
use runtime_api::{Outcome, RuntimeApi};
use serde::Serialize;

type Error = Box<dyn std::error::Error + Send + Sync>;

const API_KEY: &str = "sk_sandbox_bench";
const WEBHOOK_SECRET: &str = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQh";
const USER: &str = "bench-user";
const CONNECTION: &str = "conn_bench";
const CALLBACK_URL: &str = "https://bench.example.com/link/callback";
const FUNCTIONS: [&str; 4] = ["init-session", "callback", "webhook", "connections"];
/// The baseline: an empty handler on the same runtime (`src/bin/bench-empty.rs`).
const BASELINE: &str = "bench-empty";
const API_KEY_SECRET_ID: &str = "ofauth/api-key";
const WEBHOOK_SECRET_ID: &str = "ofauth/webhook-secret";
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    profile: String,
    runs: usize,
    starts: usize,
    functions: Vec<String>,
    tls: bool,
    /// Pin the function to the last core and everything else (this process, the
    /// JVM it starts, the simulator) to the others, for the warm invocations.
    pin: bool,
}

fn options() -> Result<Options, Error> {
    let mut o = Options {
        profile: "release".into(),
        runs: 1000,
        starts: 10,
        functions: FUNCTIONS
            .iter()
            .chain([&BASELINE])
            .map(|f| f.to_string())
            .collect(),
        tls: true,
        pin: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--profile" => o.profile = val()?,
            "--runs" => o.runs = val()?.parse()?,
            "--starts" => o.starts = val()?.parse()?,
            "--functions" => o.functions = val()?.split(',').map(str::to_string).collect(),
            "--plain" => o.tls = false,
            "--pin" => o.pin = true,
            _ => return Err(format!("unknown argument {a}").into()),
        }
    }
    Ok(o)
}

/// Everything downstream of the functions, shared by all runs.
struct Downstream {
    /// Kept alive for the run.
    _sim: Simulator,
    sim_proxy: TimingProxy,
    ddb_proxy: TimingProxy,
    /// What the functions are given: the proxies' addresses, through TLS
    /// terminators unless `--plain`.
    sim_url: String,
    ddb_url: String,
    secrets_url: String,
    ca_file: Option<PathBuf>,
    store: Store,
    table: String,
}

/// How a process is started for a cold-start sample.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// Keys in the environment, no connection warm-up: config and clients only.
    Base,
    /// As deployed: with the DynamoDB/OFAuth connection warm-up.
    WarmUp,
    /// Keys read from the Secrets Manager stand-in, no warm-up.
    SecretFetch,
}

impl Downstream {
    fn take(&self) -> Duration {
        self.sim_proxy.take().0 + self.ddb_proxy.take().0
    }
}

/// One sample: (total, downstream).
type Sample = (Duration, Duration);

#[derive(Debug, Default, Serialize)]
struct FunctionReport {
    function: String,
    /// Init without the connection warm-up: config, clients, key.
    init_ms_median: f64,
    init_ms_samples: Vec<f64>,
    /// Init including the connection warm-up (DynamoDB, OFAuth).
    init_with_warm_up_ms_median: f64,
    /// The first invocation after an Init with the warm-up.
    first_invocation_ms_median: f64,
    /// Its downstream part (waiting on DynamoDB and OFAuth) and the rest, the
    /// function's own time (medians of the per-start values).
    first_invocation_downstream_ms_median: f64,
    first_invocation_own_ms_median: f64,
    /// The first invocation after an Init without it.
    first_invocation_cold_connections_ms_median: f64,
    /// Init reading the key (or webhook secret) from the Secrets Manager stand-in,
    /// without the warm-up.
    init_with_secret_fetch_ms_median: f64,
    /// Whether the downstreams spoke TLS.
    tls_downstreams: bool,
    warm_ms_p50: f64,
    warm_ms_p99: f64,
    own_ms_p50: f64,
    own_ms_p99: f64,
    downstream_ms_p50: f64,
    /// CPU time the process used per warm invocation (mean; all threads, user and
    /// system): the function's work without the time it waited for a core.
    cpu_ms_per_invocation: f64,
    warm_invocations: usize,
    errors: usize,
    peak_rss_mib: f64,
    host_binary_mib: f64,
    arm64_bootstrap_mib: Option<f64>,
    arm64_zip_mib: Option<f64>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    percentile(v, 0.5)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An API Gateway HTTP API (2.0) event.
fn event(
    method: &str,
    path: &str,
    query: &str,
    user: Option<&str>,
    headers: &[(String, String)],
    body: &str,
) -> String {
    let mut h =
        serde_json::json!({ "host": "bench.example.com", "content-type": "application/json" });
    for (k, v) in headers {
        h[k.to_ascii_lowercase()] = serde_json::Value::String(v.clone());
    }
    let mut ctx = serde_json::json!({
        "accountId": "123456789012", "apiId": "bench", "domainName": "bench.example.com", "domainPrefix": "bench",
        "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
        "requestId": "bench", "routeKey": format!("{method} {path}"), "stage": "$default",
        "time": "23/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_428_000_000i64
    });
    if let Some(u) = user {
        ctx["authorizer"] =
            serde_json::json!({ "jwt": { "claims": { "sub": u }, "scopes": null } });
    }
    let mut ev = serde_json::json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": query,
        "headers": h, "requestContext": ctx, "isBase64Encoded": false
    });
    if !body.is_empty() {
        ev["body"] = serde_json::Value::String(body.to_string());
    }
    ev.to_string()
}

/// Fresh pending attempts for callback invocations.
async fn seed_attempts(store: &Store, n: usize) -> Result<Vec<String>, Error> {
    let mut ids = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let id = AttemptId::generate()?;
        ids.push(id.as_str().to_string());
        let store = store.clone();
        let now = SystemTime::now();
        let expires = now + Duration::from_secs(3600);
        set.spawn(async move {
            let a = LinkAttempt {
                id,
                user_id: USER.into(),
                reconnect: None,
                created_at: store::rfc3339(now),
                expires_at: store::rfc3339(expires),
                expires_at_epoch: store::epoch(expires),
                status: AttemptStatus::Pending,
            };
            store.put_attempt(&a, store::epoch(expires) + 86_400).await
        });
        if set.len() >= 16 {
            if let Some(r) = set.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(ids)
}

/// The events for `n` invocations of a function.
async fn events_for(function: &str, n: usize, d: &Downstream) -> Result<Vec<String>, Error> {
    Ok(match function {
        "init-session" => (0..n).map(|_| event("POST", "/link/session", "", Some(USER), &[], "")).collect(),
        "callback" => seed_attempts(&d.store, n)
            .await?
            .into_iter()
            .map(|a| {
                let q = format!("status=success&connection_id={CONNECTION}&client_reference_id={a}");
                event("GET", "/link/callback", &q, None, &[], "")
            })
            .collect(),
        "webhook" => (0..n)
            .map(|i| {
                let body = serde_json::json!({
                    "id": format!("evt_bench_{}_{i}", now_secs()), "type": "connection.updated",
                    "timestamp": (SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64) + i as i64,
                    "data": { "connection": { "id": CONNECTION, "status": "active" } }
                })
                .to_string();
                // Signed when built; a run is far shorter than the 5-minute tolerance.
                let headers = ofauth_sim::sign_headers(WEBHOOK_SECRET, SignatureScheme::Ofauth, "", now_secs(), body.as_bytes());
                event("POST", "/link/webhook", "", None, &headers, &body)
            })
            .collect(),
        "connections" => (0..n).map(|_| event("GET", "/link/connections", "", Some(USER), &[], "")).collect(),
        BASELINE => (0..n).map(|_| event("GET", "/", "", None, &[], "")).collect(),
        other => return Err(format!("unknown function {other}").into()),
    })
}

fn spawn(
    binary: &Path,
    function: &str,
    api: &RuntimeApi,
    d: &Downstream,
    start: Start,
) -> Result<Child, Error> {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env(
            "WARM_CONNECTIONS",
            if start == Start::WarmUp {
                "true"
            } else {
                "false"
            },
        )
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("_HANDLER", "bootstrap")
        .env("TABLE_NAME", &d.table)
        .env("DYNAMODB_ENDPOINT", &d.ddb_url)
        .env("OFAUTH_BASE_URL", &d.sim_url)
        .env("OFAUTH_CLIENT_APP_ID", "app_bench")
        .env("CALLBACK_URL", CALLBACK_URL)
        .env("APP_URL", "https://app.example.com");
    if let Some(ca) = &d.ca_file {
        cmd.env("EXTRA_CA_CERTS", ca);
    }
    if start == Start::SecretFetch {
        cmd.env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &d.secrets_url)
            .env("OFAUTH_API_KEY_SECRET_ID", API_KEY_SECRET_ID)
            .env("OFAUTH_WEBHOOK_SECRET_ID", WEBHOOK_SECRET_ID);
    } else {
        cmd.env("OFAUTH_API_KEY", API_KEY)
            .env("OFAUTH_WEBHOOK_SECRET", WEBHOOK_SECRET);
    }
    Ok(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?)
}

/// The function answered with a 2xx or 3xx HTTP response (a callback success is a
/// 302 to the app's success page, not its error page).
fn answered_ok(outcome: &Outcome) -> bool {
    let Outcome::Response(body) = outcome else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let status = v["statusCode"].as_u64().unwrap_or(0);
    let location = v["headers"]["location"].as_str().unwrap_or("");
    (200..400).contains(&status) && !location.contains("status=error")
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| (kb / 1024.0 * 100.0).round() / 100.0)
        .unwrap_or(0.0)
}

/// The machine's cores, read once (before `--pin` narrows what this process sees).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Sets the CPU affinity of every thread of `pid`.
fn taskset(cpus: &str, pid: u32) -> Result<(), Error> {
    if cores() < 2 {
        return Err("--pin needs at least two cores".into());
    }
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("taskset -c {cpus} {pid} failed").into());
    }
    Ok(())
}

/// CPU time (user + system, all threads) a process has used, from
/// `/proc/<pid>/stat` (clock ticks of 10 ms, the Linux default `CLK_TCK` of 100).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0
}

/// The arm64 bootstrap from `sam build`, and its deflated zip size.
fn arm64_sizes(function: &str) -> (Option<f64>, Option<f64>) {
    let dir = match function {
        "init-session" => "InitSessionFunction",
        "callback" => "CallbackFunction",
        "webhook" => "WebhookFunction",
        "connections" => "ConnectionsFunction",
        _ => return (None, None),
    };
    let path = root().join(".aws-sam/build").join(dir).join("bootstrap");
    let Ok(meta) = std::fs::metadata(&path) else {
        return (None, None);
    };
    let zip = Command::new("python3")
        .args([
            "-c",
            "import io,sys,zipfile; b=io.BytesIO(); z=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED); z.write(sys.argv[1],'bootstrap'); z.close(); print(len(b.getvalue()))",
        ])
        .arg(&path)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok());
    (Some(mib(meta.len())), zip.map(mib))
}

async fn bench_function(
    function: &str,
    o: &Options,
    d: &Downstream,
) -> Result<FunctionReport, Error> {
    let binary = root().join("target").join(&o.profile).join(function);
    if !binary.exists() {
        return Err(format!(
            "{} is missing: cargo build --profile {} -p {function}",
            binary.display(),
            o.profile
        )
        .into());
    }
    let mut report = FunctionReport {
        function: function.to_string(),
        tls_downstreams: d.ca_file.is_some(),
        host_binary_mib: mib(std::fs::metadata(&binary)?.len()),
        ..FunctionReport::default()
    };
    (report.arm64_bootstrap_mib, report.arm64_zip_mib) = arm64_sizes(function);

    // Warm: one process, many invocations. First, so that DynamoDB Local's JVM has
    // compiled its paths for this function's requests before the cold starts are
    // timed (otherwise their first invocations measure the stand-in warming up).
    let mut api = RuntimeApi::start(FUNCTION_TIMEOUT).await?;
    let mut child = spawn(&binary, function, &api, d, Start::WarmUp)?;
    api.wait_for_init(Duration::from_secs(20))
        .await
        .ok_or_else(|| format!("{function} did not finish Init"))?;
    if o.pin {
        taskset(&(cores() - 1).to_string(), child.id())?;
    }
    let payloads = events_for(function, o.runs + 1, d).await?;
    let mut samples: Vec<Sample> = Vec::with_capacity(o.runs);
    let mut cpu_before = None;
    for (i, p) in payloads.into_iter().enumerate() {
        if i == 1 {
            cpu_before = cpu_time(child.id());
        }
        d.take();
        let (total, outcome) = api.invoke(p).await?;
        let downstream = d.take();
        if !answered_ok(&outcome) {
            report.errors += 1;
        }
        if i > 0 {
            samples.push((total, downstream));
        }
    }
    report.peak_rss_mib = peak_rss_mib(child.id());
    if let (Some(before), Some(after)) = (cpu_before, cpu_time(child.id())) {
        report.cpu_ms_per_invocation =
            ms(after.saturating_sub(before)) / samples.len().max(1) as f64;
    }
    let _ = child.kill();
    let _ = child.wait();

    // Cold starts: a new process each time, Init and the first invocation, with
    // and without the connection warm-up.
    for start in [Start::Base, Start::WarmUp, Start::SecretFetch] {
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        let mut firsts_down = Vec::new();
        let mut firsts_own = Vec::new();
        for _ in 0..o.starts {
            let mut api = RuntimeApi::start(FUNCTION_TIMEOUT).await?;
            let started = std::time::Instant::now();
            let mut child = spawn(&binary, function, &api, d, start)?;
            let Some(ready) = api.wait_for_init(Duration::from_secs(20)).await else {
                let _ = child.kill();
                return Err(
                    format!("{function} did not finish Init: {:?}", api.init_error()).into(),
                );
            };
            inits.push(ready.duration_since(started));
            let payload = events_for(function, 1, d).await?.remove(0);
            d.take();
            let (total, outcome) = api.invoke(payload).await?;
            let down = d.take();
            firsts_down.push(down);
            firsts_own.push(total.saturating_sub(down));
            if !answered_ok(&outcome) {
                return Err(format!("{function} did not answer as expected: {outcome:?}").into());
            }
            firsts.push(total);
            let _ = child.kill();
            let _ = child.wait();
        }
        match start {
            Start::WarmUp => {
                report.init_with_warm_up_ms_median = ms(median(&mut inits));
                report.first_invocation_ms_median = ms(median(&mut firsts));
                report.first_invocation_downstream_ms_median = ms(median(&mut firsts_down));
                report.first_invocation_own_ms_median = ms(median(&mut firsts_own));
            }
            Start::Base => {
                report.init_ms_samples = inits.iter().map(|d| ms(*d)).collect();
                report.init_ms_median = ms(median(&mut inits));
                report.first_invocation_cold_connections_ms_median = ms(median(&mut firsts));
            }
            Start::SecretFetch => {
                report.init_with_secret_fetch_ms_median = ms(median(&mut inits));
            }
        }
    }

    let mut totals: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut own: Vec<Duration> = samples.iter().map(|s| s.0.saturating_sub(s.1)).collect();
    let mut down: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    totals.sort();
    own.sort();
    down.sort();
    report.warm_invocations = samples.len();
    report.warm_ms_p50 = ms(percentile(&totals, 0.5));
    report.warm_ms_p99 = ms(percentile(&totals, 0.99));
    report.own_ms_p50 = ms(percentile(&own, 0.5));
    report.own_ms_p99 = ms(percentile(&own, 0.99));
    report.downstream_ms_p50 = ms(percentile(&down, 0.5));
    Ok(report)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = cores();
    format!("{cores} cores, {cpu}, {}", std::env::consts::ARCH)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = options()?;
    if o.pin {
        // Before DynamoDB Local is started, so the JVM inherits the affinity.
        let others = format!("0-{}", cores().saturating_sub(2));
        taskset(&others, std::process::id())?;
    }

    // DynamoDB Local and the simulator, each behind a timing proxy.
    let endpoint = local_dynamodb::endpoint();
    let table = format!("bench-{}", std::process::id());
    let store = Store::new(
        local_dynamodb::client(&endpoint, Duration::from_secs(10)),
        &table,
    );
    local_dynamodb::create_table(store.client(), &table).await?;
    let ddb_addr = endpoint.trim_start_matches("http://").parse()?;
    let sim = Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        SimConfig {
            api_key: API_KEY.into(),
            allowed_redirects: vec![CALLBACK_URL.into()],
            ..SimConfig::default()
        },
    )
    .await?;
    sim.insert_connection(CONNECTION, None);
    let sim_proxy = TimingProxy::start(sim.addr()).await?;
    let ddb_proxy = TimingProxy::start(ddb_addr).await?;
    let secrets = ofauth_sim::secrets_manager::serve(BTreeMap::from([
        (
            API_KEY_SECRET_ID.to_string(),
            format!(r#"{{"apiKey":"{API_KEY}"}}"#),
        ),
        (WEBHOOK_SECRET_ID.to_string(), WEBHOOK_SECRET.to_string()),
    ]))
    .await?;
    // TLS terminators in front of the timing proxies: the proxies time the
    // plaintext exchanges, so handshakes count as the function's own time.
    let (sim_url, ddb_url, secrets_url, ca_file) = if o.tls {
        let ca = ofauth_sim::tls::TestCa::generate()?;
        let ca_file = root().join(".local/bench/test-ca.pem");
        ca.write_ca(&ca_file)?;
        let tls = |a| ofauth_sim::tls::terminate(&ca, a);
        (
            format!("https://{}", tls(sim_proxy.addr).await?),
            format!("https://{}", tls(ddb_proxy.addr).await?),
            format!("https://{}", tls(secrets).await?),
            Some(ca_file),
        )
    } else {
        (
            format!("http://{}", sim_proxy.addr),
            format!("http://{}", ddb_proxy.addr),
            format!("http://{secrets}"),
            None,
        )
    };
    let d = Downstream {
        sim_proxy,
        ddb_proxy,
        sim_url,
        ddb_url,
        secrets_url,
        ca_file,
        _sim: sim,
        store,
        table,
    };

    let mut reports = Vec::new();
    for f in &o.functions {
        eprintln!(
            "benchmarking {f} ({} starts, {} warm invocations)…",
            o.starts, o.runs
        );
        reports.push(bench_function(f, &o, &d).await?);
    }

    println!(
        "lambda-bench: profile {}, {} starts, {} warm invocations, {} downstreams{}; {}",
        o.profile,
        o.starts,
        o.runs,
        if o.tls { "TLS" } else { "plain HTTP" },
        if o.pin {
            ", function pinned to its own core"
        } else {
            ""
        },
        machine()
    );
    println!(
        "{:<13} {:>8} {:>10} {:>11} {:>10} {:>9} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>11} {:>8} {:>8} {:>9} {:>8}",
        "function",
        "init",
        "init+warm",
        "init+secret",
        "1st (warm)",
        "1st down",
        "1st own",
        "1st (cold)",
        "warm p50",
        "warm p99",
        "own p50",
        "own p99",
        "downstr p50",
        "CPU/inv",
        "RSS MiB",
        "arm64 MiB",
        "zip MiB"
    );
    for r in &reports {
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        println!(
            "{:<13} {:>8.2} {:>10.2} {:>11.2} {:>10.2} {:>9.2} {:>8.2} {:>10.2} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>11.3} {:>8.3} {:>8.1} {:>9} {:>8}",
            r.function,
            r.init_ms_median,
            r.init_with_warm_up_ms_median,
            r.init_with_secret_fetch_ms_median,
            r.first_invocation_ms_median,
            r.first_invocation_downstream_ms_median,
            r.first_invocation_own_ms_median,
            r.first_invocation_cold_connections_ms_median,
            r.warm_ms_p50,
            r.warm_ms_p99,
            r.own_ms_p50,
            r.own_ms_p99,
            r.downstream_ms_p50,
            r.cpu_ms_per_invocation,
            r.peak_rss_mib,
            opt(r.arm64_bootstrap_mib),
            opt(r.arm64_zip_mib),
        );
        if r.errors > 0 {
            println!(
                "  {} invocations of {} answered with an error",
                r.errors, r.function
            );
        }
    }
    println!("(times in ms, medians unless marked; init = process start to its first `next`; init+warm = with the");
    println!(" DynamoDB/OFAuth connection warm-up; init+secret = reading the key from a Secrets Manager stand-in;");
    println!(" 1st = first invocation after an Init with (warm) or without (cold) the warm-up; 1st down/own = its parts;");
    println!(" own = total minus time waiting on DynamoDB Local and the simulator, measured by loopback proxies;");
    println!(" CPU/inv = CPU time the function's process used per warm invocation (mean, /proc/<pid>/stat);");
    println!(" {BASELINE} = an empty handler on the same runtime: the Runtime API and runtime's share of every figure)");

    let out_dir = root().join(".local/bench");
    std::fs::create_dir_all(&out_dir)?;
    let results: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
        ("machine", serde_json::json!(machine())),
        ("profile", serde_json::json!(o.profile)),
        ("runs", serde_json::json!(o.runs)),
        ("starts", serde_json::json!(o.starts)),
        ("tls_downstreams", serde_json::json!(o.tls)),
        ("pinned", serde_json::json!(o.pin)),
        ("functions", serde_json::to_value(&reports)?),
    ]);
    std::fs::write(
        out_dir.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    eprintln!("wrote .local/bench/results.json");
    if reports.iter().any(|r| r.errors > 0) {
        std::process::exit(1);
    }
    Ok(())
}
