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

mod options;
mod process;
mod proxy;
mod report;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Parser;
use lambda_bench::runtime_api::RuntimeApi;
use link_fixtures::ApiEvent;
use link_shared::config::Secret;
use link_shared::ids::{AttemptId, BrowserSecret, CompletionCode, ConnectionId};
use link_shared::model::AccountProfile;
use link_shared::model::{LinkAttempt, Returned};
use link_shared::store::Store;
use link_shared::time::{epoch, epoch_ms, rfc3339};
use ofauth_sim::{SignatureScheme, SimConfig, Simulator};
use options::Options;
use process::{answered_ok, arm64_sizes, cores, cpu_time, peak_rss_mib, spawn, taskset, Start};
use proxy::TimingProxy;
use report::FunctionReport;
use stats::{median, mib, ms, percentile, Sample};

type Error = Box<dyn std::error::Error + Send + Sync>;

const API_KEY: &str = "sk_sandbox_bench";
const WEBHOOK_SECRET: &str = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQh";
const USER: &str = "bench-user";
const CONNECTION: &str = "conn_bench";
const CALLBACK_URL: &str = "https://bench.example.com/link/callback";
/// What is measured: each function (the completion is its own, `complete`),
/// and the publisher with one change per invocation and with a batch of 50 (the
/// template's `BatchSize`), each change a connection's.
const FUNCTIONS: [&str; 7] = [
    "init-session",
    "callback",
    "complete",
    "webhook",
    "connections",
    "publisher",
    "publisher-50",
];

/// Changes per invocation of a publisher measurement.
fn publisher_batch(function: &str) -> Option<usize> {
    match function {
        "publisher" => Some(1),
        f => f.strip_prefix("publisher-")?.parse().ok(),
    }
}
/// The baseline: an empty handler on the same runtime (`src/bin/bench-empty.rs`).
const BASELINE: &str = "bench-empty";
/// The I/O floors: the empty handler plus 1 to 4 bare HTTP exchanges with the
/// simulator (`src/bin/bench-floor.rs`), as many as the functions make: the
/// connections function 1, init-session and the webhook 2, the completion 3, the
/// callback 4; and `sdk-2`, two DynamoDB reads through the functions' own client.
const FLOORS: [&str; 5] = ["floor-1", "floor-2", "floor-3", "floor-4", "sdk-2"];

/// How many exchanges a floor makes.
fn floor_exchanges(function: &str) -> Option<&str> {
    function
        .strip_prefix("floor-")
        .or_else(|| function.strip_prefix("sdk-"))
}
const API_KEY_SECRET_ID: &str = "ofauth/api-key";
const WEBHOOK_SECRET_ID: &str = "ofauth/webhook-secret";
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The binary that serves a measured function.
fn binary_of(function: &str) -> &str {
    match function {
        f if publisher_batch(f).is_some() => "publisher",
        f if floor_exchanges(f).is_some() => "bench-floor",
        other => other,
    }
}

/// One invocation: its event, and the connection OFAuth made for its attempt
/// just before (so the callback's list search finds it on the first page, as a
/// new connection is).
struct Prepared {
    payload: String,
    sim_connection: Option<(String, String)>,
}

impl From<String> for Prepared {
    fn from(payload: String) -> Self {
        Self {
            payload,
            sim_connection: None,
        }
    }
}

/// Everything downstream of the functions, shared by all runs.
struct Downstream {
    sim: Simulator,
    sim_proxy: TimingProxy,
    ddb_proxy: TimingProxy,
    /// The EventBridge stand-in the publisher sends to, behind its proxy.
    eventbridge_proxy: TimingProxy,
    eventbridge_url: String,
    /// What the functions are given: the proxies' addresses, through TLS
    /// terminators unless `--plain`.
    sim_url: String,
    ddb_url: String,
    secrets_url: String,
    ca_file: Option<PathBuf>,
    store: Store,
    table: String,
    /// The functions record and write their EMF metrics (as deployed).
    metrics: bool,
    /// Lambda's CPU share for `--memory`, which every function process runs under.
    quota: Option<process::CpuQuota>,
}

impl Downstream {
    fn take(&self) -> Duration {
        self.sim_proxy.take().0 + self.ddb_proxy.take().0 + self.eventbridge_proxy.take().0
    }
}

/// The OnlyFans account the benchmark's connections hold (every leg compares
/// what OFAuth names with it: an account id is never missing).
fn bench_account() -> AccountProfile {
    AccountProfile {
        id: Some("100001".into()),
        username: Some("bench".into()),
        ..AccountProfile::default()
    }
}

/// Binds `CONNECTION` to the benchmark's user, as a completed flow would.
async fn bind_bench_connection(store: &Store) -> Result<(), Error> {
    let id = AttemptId::parse(&seed_attempts(store, 1).await?[0]).ok_or("attempt id")?;
    let attempt = store.get_attempt(&id).await?.ok_or("seeded attempt")?;
    let conn = ConnectionId::parse(CONNECTION).ok_or("connection id")?;
    let from = [link_shared::model::AttemptStatus::Pending];
    store
        .bind_connection(
            &attempt,
            &from,
            &conn,
            Some(&bench_account()),
            true,
            None,
            SystemTime::now(),
        )
        .await?;
    Ok(())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
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
            let a =
                LinkAttempt::pending(id, USER.into(), None, rfc3339(expires), epoch(expires), now);
            store.put_attempt(&a, epoch(expires) + 86_400).await
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

/// An event as API Gateway would send it to the benchmarked function.
fn event(method: &str, path: &str) -> ApiEvent {
    ApiEvent::new(method, path)
        .on("bench.example.com")
        .api_id("bench")
        .source("127.0.0.1", "bench")
        .header("content-type", "application/json")
}

/// The events for `n` invocations of a function.
async fn events_for(function: &str, n: usize, d: &Downstream) -> Result<Vec<Prepared>, Error> {
    let signed_in = |method, path| event(method, path).user(USER).to_json_string();
    let each = |v: Vec<String>| v.into_iter().map(Prepared::from).collect();
    Ok(match function {
        "init-session" => each((0..n).map(|_| signed_in("POST", "/link/session")).collect()),
        // The redirect flow's callback: the record, OFAuth's access/self and its
        // connections list (first page) for a new connection of this attempt.
        "callback" => seed_attempts(&d.store, n)
            .await?
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let conn = format!("conn_cb{i}x{}", epoch(SystemTime::now()));
                let q = format!("status=success&connection_id={conn}&client_reference_id={a}");
                Prepared {
                    payload: event("GET", "/link/callback").query(&q).to_json_string(),
                    sim_connection: Some((conn, a)),
                }
            })
            .collect(),
        // The completion with the code, for an attempt the callback verified
        // (attested): one read and the binding transaction.
        "complete" => {
            let mut out = Vec::with_capacity(n);
            for (i, a) in seed_attempts(&d.store, n).await?.into_iter().enumerate() {
                let id = AttemptId::parse(&a).ok_or("attempt id")?;
                let attempt = d.store.get_attempt(&id).await?.ok_or("seeded attempt")?;
                let conn = ConnectionId::parse(&format!("conn_cp{i}x{}", epoch(SystemTime::now())))
                    .ok_or("connection id")?;
                let code = CompletionCode::generate(&id)?;
                let browser = BrowserSecret::generate()?;
                let account = bench_account();
                let returned = Returned {
                    connection: &conn,
                    account: &account,
                    attested: true,
                    code_hash: &code.hash(),
                    code_expires_epoch: epoch(SystemTime::now()) + 3600,
                    browser_hash: &browser.hash(),
                    to_starter: true,
                };
                d.store
                    .return_attempt(&attempt, &returned, SystemTime::now())
                    .await?;
                let body = serde_json::json!({ "code": code.reveal() }).to_string();
                out.push(Prepared::from(
                    event("POST", "/link/complete")
                        .user(USER)
                        .body(&body)
                        .to_json_string(),
                ));
            }
            out
        }
        "webhook" => each(
            (0..n)
                .map(|i| {
                    let now = SystemTime::now();
                    let body = serde_json::json!({
                        "id": format!("evt_bench_{}_{i}", epoch(now)), "type": "connection.updated",
                        "timestamp": epoch_ms(now) + i as i64,
                        "data": { "connection": { "id": CONNECTION, "status": "active",
                            "userData": { "id": "100001", "username": "bench" } } }
                    })
                    .to_string();
                    // Signed when built; a run is far shorter than the 5-minute tolerance.
                    let headers = ofauth_sim::sign_headers(
                        WEBHOOK_SECRET,
                        SignatureScheme::Ofauth,
                        "",
                        epoch(now),
                        body.as_bytes(),
                    );
                    headers
                        .iter()
                        .fold(event("POST", "/link/webhook").body(&body), |ev, (k, v)| {
                            ev.header(k, v)
                        })
                        .to_json_string()
                })
                .collect(),
        ),
        "connections" => each(
            (0..n)
                .map(|_| signed_in("GET", "/link/connections"))
                .collect(),
        ),
        // The table's stream as Lambda hands it over: each change a bound
        // connection expiring (one event each), `batch` connections per invocation.
        f if publisher_batch(f).is_some() => {
            let batch = publisher_batch(f).unwrap_or(1);
            let stamp = epoch_ms(SystemTime::now());
            each(
                (0..n)
                    .map(|i| {
                        let records: Vec<serde_json::Value> = (0..batch)
                            .map(|j| {
                                stream_change(&format!("conn_pub{stamp}x{i}x{j}"), i * batch + j)
                            })
                            .collect();
                        local_dynamodb::stream::lambda_event(&records).to_string()
                    })
                    .collect(),
            )
        }
        f if f == BASELINE || floor_exchanges(f).is_some() => {
            each((0..n).map(|_| event("GET", "/").to_json_string()).collect())
        }
        other => return Err(format!("unknown function {other}").into()),
    })
}

/// One stream record: a bound connection going from active to expired (OFAuth's
/// webhook), as DynamoDB Streams carries it (old and new images).
fn stream_change(connection: &str, sequence: usize) -> serde_json::Value {
    let image = |status: &str, version: u32| {
        serde_json::json!({
            "pk": { "S": format!("CONN#{connection}") }, "entity": { "S": "connection" },
            "connectionId": { "S": connection }, "userId": { "S": USER },
            "status": { "S": status }, "version": { "N": version.to_string() },
            "accountId": { "S": "300001" }, "username": { "S": "benchcreator" },
            "name": { "S": "Bench Creator" }, "connectedAt": { "S": "2026-11-29T10:00:00Z" },
            "updatedAt": { "S": "2026-11-29T11:00:00Z" }, "changeCause": { "S": "webhook" }
        })
    };
    serde_json::json!({
        "eventID": format!("bench{sequence}"), "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-11-29T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_795_950_000,
            "Keys": { "pk": { "S": format!("CONN#{connection}") } },
            "OldImage": image("active", 3), "NewImage": image("expired", 4),
            "SequenceNumber": format!("{:021}", sequence), "SizeBytes": 512,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        }
    })
}

impl Downstream {
    /// Makes what an invocation needs exist at OFAuth.
    fn prepare(&self, p: &Prepared) {
        if let Some((conn, attempt)) = &p.sim_connection {
            self.sim.insert_connection(conn, Some(attempt));
        }
    }
}

/// OFAuth's connections list searched the way provenance searches it (pages of
/// 50, newest first) for an id it does not hold, in this process: the time per
/// page, with the part spent waiting on the simulator.
async fn list_lookup_per_page(d: &Downstream, runs: usize) -> Result<report::ListLookup, Error> {
    use link_shared::ofauth::OfAuthClient;
    let roots = link_shared::tls::ExtraRoots::load(d.ca_file.as_deref())?;
    let client = OfAuthClient::new(
        url::Url::parse(&d.sim_url)?,
        Secret::new(API_KEY),
        Duration::from_secs(2),
        Duration::from_secs(5),
        link_shared::tls::client_config(&roots)?,
    )?;
    let missing = ConnectionId::parse("conn_notlisted").ok_or("id")?;
    // Open the connection first, as the functions' Init does.
    client.find_connection(&missing, 50, 1).await?;
    let mut out = report::ListLookup::default();
    for pages in [1u32, 2] {
        let mut totals = Vec::with_capacity(runs);
        let mut owns = Vec::with_capacity(runs);
        for _ in 0..runs {
            d.take();
            let started = std::time::Instant::now();
            client.find_connection(&missing, 50, pages).await?;
            let total = started.elapsed();
            let down = d.take();
            totals.push(total / pages);
            owns.push(total.saturating_sub(down) / pages);
        }
        let (t, o) = (ms(median(&mut totals)), ms(median(&mut owns)));
        if pages == 1 {
            (out.one_page_ms_per_page, out.one_page_own_ms_per_page) = (t, o);
        } else {
            (out.two_pages_ms_per_page, out.two_pages_own_ms_per_page) = (t, o);
        }
    }
    Ok(out)
}

/// Full reconciler sweeps, in this process, through the timing proxies, over
/// what the function benchmarks left: OFAuth's list holds every connection the
/// callback runs made (this deployment's, their attempts still in flight) and the
/// table every attempt and record. One sweep first (it settles the records
/// OFAuth never had), then `sweeps` measured.
async fn reconcile_per_page(
    d: &Downstream,
    sweeps: usize,
) -> Result<report::ReconcilePerPage, Error> {
    use link_shared::config::{ReconcileSettings, UnboundAction};
    use link_shared::ofauth::OfAuthClient;
    use link_shared::reconcile::ReconcileService;
    let ofauth = OfAuthClient::new(
        url::Url::parse(&format!("http://{}", d.sim_proxy.addr))?,
        Secret::new(API_KEY),
        Duration::from_secs(2),
        Duration::from_secs(5),
        link_shared::tls::client_config(&Default::default())?,
    )?;
    let store = Store::new(
        local_dynamodb::client(
            &format!("http://{}", d.ddb_proxy.addr),
            Duration::from_secs(5),
        ),
        &d.table,
    );
    let settings = ReconcileSettings {
        unbound: UnboundAction::Report,
        unbound_grace: Duration::from_secs(3600),
        max_pages: 100_000,
        personal_data_retention: None,
        breaker_percent: 100,
        expected_account: None,
    };
    let svc = ReconcileService::new(store, ofauth, settings, 50);
    let deadline = || std::time::Instant::now() + Duration::from_secs(600);
    svc.run(deadline()).await?;
    let mut per_page = Vec::with_capacity(sweeps);
    let mut own_per_page = Vec::with_capacity(sweeps);
    let mut out = report::ReconcilePerPage {
        sweeps,
        ..Default::default()
    };
    for _ in 0..sweeps {
        d.take();
        let started = std::time::Instant::now();
        let run = svc.run(deadline()).await?;
        let total = started.elapsed();
        let down = d.take();
        if !run.sweep_done || run.counts.errors > 0 {
            return Err(format!("a reconcile sweep did not finish cleanly: {run:?}").into());
        }
        let pages = run.counts.pages.max(1);
        (out.pages_per_sweep, out.connections_checked_per_sweep) = (pages, run.counts.checked);
        per_page.push(total / pages);
        own_per_page.push(total.saturating_sub(down) / pages);
    }
    out.ms_per_page = ms(median(&mut per_page));
    out.own_ms_per_page = ms(median(&mut own_per_page));
    Ok(out)
}

async fn bench_function(
    function: &str,
    o: &Options,
    d: &Downstream,
) -> Result<FunctionReport, Error> {
    let binary = root()
        .join("target")
        .join(&o.profile)
        .join(binary_of(function));
    if !binary.exists() {
        let package = match binary_of(function) {
            b @ ("bench-empty" | "bench-floor") => format!("lambda-bench --bin {b}"),
            b => b.to_string(),
        };
        return Err(format!(
            "{} is missing: cargo build --profile {} -p {package}",
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
    api.wait_for_init(init_limit(d))
        .await
        .ok_or_else(|| format!("{function} did not finish Init"))?;
    if o.pin {
        taskset(&(cores() - 1).to_string(), child.id())?;
    }
    let payloads = events_for(function, o.runs + 1, d).await?;
    let mut samples: Vec<Sample> = Vec::with_capacity(o.runs);
    let mut cpu_before = None;
    let mut perf = None;
    let mut schedule = None;
    for (i, p) in payloads.into_iter().enumerate() {
        if i == 1 {
            if let Some(file) = &o.perf {
                perf = Some(process::perf_record(child.id(), file, function)?);
            }
            cpu_before = cpu_time(child.id());
            schedule = Some(tokio::time::Instant::now());
        }
        // A steady rate: invocation i (from the second) is sent at its slot, or
        // at once when the previous one ran past it.
        if let (Some(rate), Some(start)) = (o.rate, schedule) {
            let slot = Duration::from_secs_f64((i - 1) as f64 / rate);
            tokio::time::sleep_until(start + slot).await;
        }
        d.prepare(&p);
        d.take();
        let (total, outcome) = api.invoke(p.payload).await?;
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
    if let (Some(start), Some(_)) = (schedule, o.rate) {
        report.achieved_rate = Some(samples.len() as f64 / start.elapsed().as_secs_f64());
    }
    if let Some(perf) = perf {
        process::perf_stop(perf)?;
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
            let Some(ready) = api.wait_for_init(init_limit(d)).await else {
                let _ = child.kill();
                return Err(
                    format!("{function} did not finish Init: {:?}", api.init_error()).into(),
                );
            };
            inits.push(ready.duration_since(started));
            let p = events_for(function, 1, d).await?.remove(0);
            d.prepare(&p);
            d.take();
            let (total, outcome) = api.invoke(p.payload).await?;
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

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = Options::parse();
    if o.pin {
        // Before DynamoDB Local is started, so the JVM inherits the affinity.
        let others = format!("0-{}", cores().saturating_sub(2));
        taskset(&others, std::process::id())?;
    }

    // DynamoDB Local and the simulator, each behind a timing proxy.
    let (client, table) = local_dynamodb::process_table("bench", Duration::from_secs(10)).await?;
    let endpoint = local_dynamodb::endpoint();
    let store = Store::new(client, &table);
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
    // The webhook's events update a bound connection (as in production).
    bind_bench_connection(&store).await?;
    let sim_proxy = TimingProxy::start(sim.addr()).await?;
    let ddb_proxy = TimingProxy::start(ddb_addr).await?;
    let eventbridge = ofauth_sim::eventbridge::EventBridge::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    )
    .await?;
    let eventbridge_proxy = TimingProxy::start(eventbridge.addr).await?;
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
    let (sim_url, ddb_url, secrets_url, eventbridge_url, ca_file) = if o.tls() {
        let ca = ofauth_sim::tls::TestCa::generate()?;
        let ca_file = root().join(".local/bench/test-ca.pem");
        ca.write_ca(&ca_file)?;
        let tls = |a| ofauth_sim::tls::terminate(&ca, a);
        (
            format!("https://{}", tls(sim_proxy.addr).await?),
            format!("https://{}", tls(ddb_proxy.addr).await?),
            format!("https://{}", tls(secrets).await?),
            format!("https://{}", tls(eventbridge_proxy.addr).await?),
            Some(ca_file),
        )
    } else {
        (
            format!("http://{}", sim_proxy.addr),
            format!("http://{}", ddb_proxy.addr),
            format!("http://{secrets}"),
            format!("http://{}", eventbridge_proxy.addr),
            None,
        )
    };
    let d = Downstream {
        sim_proxy,
        ddb_proxy,
        eventbridge_proxy,
        eventbridge_url,
        sim_url,
        ddb_url,
        secrets_url,
        ca_file,
        sim,
        store,
        table,
        metrics: !o.no_metrics,
        quota: match o.memory {
            None => None,
            Some(mb) => match process::CpuQuota::create(mb) {
                Ok(q) => Some(q),
                Err(e) => {
                    // The machine does not allow it: say so and skip.
                    println!("lambda-bench: --memory {mb} skipped: {e}");
                    return Ok(());
                }
            },
        },
    };

    let mut reports = Vec::new();
    for f in &o.functions {
        eprintln!(
            "benchmarking {f} ({} starts, {} warm invocations)…",
            o.starts, o.runs
        );
        reports.push(bench_function(f, &o, &d).await?);
    }

    let lookup = list_lookup_per_page(&d, o.runs.min(200)).await?;
    let reconcile = reconcile_per_page(&d, 5).await?;
    report::write(&o, &reports, &lookup, &reconcile)?;
    if reports.iter().any(|r| r.errors > 0) {
        std::process::exit(1);
    }
    Ok(())
}

/// How long a function may take to finish Init before the run gives up: 20 s
/// on a full core; under a CPU quota (Lambda's share at 128 MB is 7% of a
/// core) a debug build's Init, on a machine busy with a release build, can take
/// several seconds of that, so 60 s (timings are reported, not asserted: this
/// only tells a hang from a slow start).
fn init_limit(d: &Downstream) -> Duration {
    Duration::from_secs(if d.quota.is_some() { 60 } else { 20 })
}
