//! `make bench-scale`: what provenance's list search sees at a platform's
//! connect rate. The return leg attests a connection by finding it in OFAuth's
//! account-wide connections list, newest first, within `OFAUTH_LIST_PAGE_SIZE`
//! x `OFAUTH_LIST_MAX_PAGES` (50 x 2 = 100 by default). Every other user of the
//! platform who connects between a user's approval and their browser's return
//! pushes that user's connection one place down. Past the window, the callback
//! does not find it: the user waits `verifying` for the webhook.
//!
//! This measures it with the simulator over HTTP and the functions' own search
//! (`OfAuthClient::find_connection`): an account preloaded with connections,
//! other users connecting at a steady rate (the simulator's background traffic),
//! and for each trial a connection made, then searched for after the callback's
//! delay. It prints, per rate and delay, the measured share found, what a
//! Poisson model of the others' connects predicts, and the list pages read.
//! Bounded: every cell has a fixed number of trials and a fixed duration.

use std::error::Error;
use std::time::{Duration, Instant};

use std::sync::Arc;

use clap::Parser;
use link_shared::config::Secret;
use link_shared::ids::ConnectionId;
use link_shared::ofauth::{Lookup, OfAuthClient};
use ofauth_sim::{SimConfig, Simulator, Traffic};

const KEY: &str = "sk_sandbox_bench_scale";

type BoxError = Box<dyn Error + Send + Sync>;

const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};

#[derive(Parser, Debug)]
#[command(about = "Provenance's list search against the platform-wide connect rate")]
struct Args {
    /// Other users' connects per second (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,10,25,50,100")]
    rates: Vec<f64>,
    /// Seconds from a user's approval to their callback's list search.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    delays: Vec<f64>,
    /// Trials per rate and delay.
    #[arg(long, default_value_t = 20)]
    trials: u32,
    /// Connections the account holds before the run.
    #[arg(long, default_value_t = 10_000)]
    preload: u64,
    /// The search's page size and pages (the functions' defaults).
    #[arg(long, default_value_t = 50)]
    page_size: u32,
    #[arg(long, default_value_t = 2)]
    max_pages: u32,
    /// Instead: the reconciler's sweep of this many bound connections (the
    /// account and the table both hold them), on DynamoDB Local.
    #[arg(long)]
    sweep: Option<u64>,
    /// The reconciler's list page size in the sweep.
    #[arg(long, default_value_t = 100)]
    sweep_page_size: u32,
    /// Instead: the load driver, this many whole flows through the functions'
    /// binaries.
    #[arg(long)]
    load: Option<usize>,
    /// Execution environments per function (the load driver).
    #[arg(long, default_value_t = 4)]
    envs: usize,
    /// Flows in flight at once (the load driver).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Webhooks: added delay, random jitter (reorders), and the share lost.
    #[arg(long, default_value_t = 0)]
    webhook_delay_ms: u64,
    #[arg(long, default_value_t = 0)]
    webhook_jitter_ms: u64,
    #[arg(long, default_value_t = 0)]
    webhook_loss_percent: u8,
    /// Other users' connects per second during the load run.
    #[arg(long, default_value_t = 0.0)]
    traffic: f64,
    /// Leave out the other users' webhooks (by default they reach the webhook
    /// function too, as they would).
    #[arg(long)]
    no_traffic_webhooks: bool,
    /// Milliseconds from the approval to the browser's callback (the load driver).
    #[arg(long, default_value_t = 1000)]
    return_delay_ms: u64,
    /// Which build of the functions the load driver runs (target/<profile>/):
    /// by default, the one this tool is.
    #[arg(long, default_value = PROFILE)]
    profile: String,
}

/// P(X < window) for X ~ Poisson(lambda): the chance that fewer than `window`
/// others connected in between, so the search still finds it.
fn poisson_below(lambda: f64, window: u32) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    // Terms in log space: lambda up to thousands.
    let mut log_term = -lambda; // k = 0
    let mut sum = log_term.exp();
    for k in 1..window {
        log_term += lambda.ln() - f64::from(k).ln();
        sum += log_term.exp();
    }
    sum.min(1.0)
}

/// The simulator, on a free loopback port.
async fn simulator() -> Result<Simulator, BoxError> {
    Ok(Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        SimConfig {
            api_key: KEY.into(),
            allowed_redirects: vec!["https://api.example.com/link/callback".into()],
            ..SimConfig::default()
        },
    )
    .await?)
}

/// The functions' OFAuth client, pointed at the simulator.
fn ofauth_client(sim: &Simulator) -> Result<OfAuthClient, BoxError> {
    let roots = link_shared::tls::ExtraRoots::load(None)?;
    Ok(OfAuthClient::new(
        url::Url::parse(&sim.url())?,
        Secret::new(KEY),
        Duration::from_secs(2),
        Duration::from_secs(10),
        link_shared::tls::client_config(&roots)?,
    )?)
}

/// The list requests OFAuth has answered so far.
fn list_reads(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path == "/v2/account/connections")
        .count()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if let Some(n) = args.sweep {
        return sweep(n, args.sweep_page_size).await;
    }
    if let Some(n) = args.load {
        return load(n, &args).await;
    }
    let sim = simulator().await?;
    let sim = std::sync::Arc::new(sim);
    let started = Instant::now();
    sim.preload(args.preload);
    eprintln!(
        "account preloaded with {} connections in {:.2} s",
        args.preload,
        started.elapsed().as_secs_f64()
    );
    let client = ofauth_client(&sim)?;
    let window = args.page_size * args.max_pages;
    println!(
        "list search window: {} x {} = {window} connections, newest first; {} trials per row",
        args.page_size, args.max_pages, args.trials
    );
    println!(
        "{:>10} {:>7} {:>12} {:>7} {:>13} {:>14} {:>11} {:>8}",
        "connects/s",
        "delay s",
        "others/delay",
        "found",
        "model steady",
        "model Poisson",
        "pages/look",
        "p50 ms"
    );
    for &rate in &args.rates {
        for &delay in &args.delays {
            // The trials are flows too: spaced so that theirs add little to the rate.
            let spacing = (delay / f64::from(args.trials)).max(0.25);
            let platform_rate = rate + 1.0 / spacing;
            sim.set_traffic(Traffic {
                connects_per_second: rate,
                webhooks: false,
            });
            let reads_before = list_reads(&sim);
            let mut tasks = Vec::new();
            for i in 0..args.trials {
                let (sim, client) = (sim.clone(), client.clone());
                let (page_size, max_pages) = (args.page_size, args.max_pages);
                let id = format!("conn_trial_{}_{}_{i}", rate as u64, (delay * 1000.0) as u64);
                let start_after = Duration::from_secs_f64(spacing * f64::from(i));
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(start_after).await;
                    // The user approves: their connection, made by their attempt.
                    sim.insert_connection(&id, Some(&format!("la_{:040}", i)));
                    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                    // Their browser comes back: the callback's search.
                    let wanted = ConnectionId::parse(&id).expect("a valid id");
                    let t = Instant::now();
                    let found = client.find_connection(&wanted, page_size, max_pages).await;
                    (found, t.elapsed())
                }));
            }
            let mut found = 0u32;
            let mut millis = Vec::new();
            for task in tasks {
                let (lookup, took) = task.await?;
                if matches!(lookup?, Lookup::Found(_)) {
                    found += 1;
                }
                millis.push(took.as_secs_f64() * 1000.0);
            }
            let pages = list_reads(&sim) - reads_before;
            sim.set_traffic(Traffic::default());
            millis.sort_by(f64::total_cmp);
            let p50 = millis[millis.len() / 2];
            println!(
                "{:>10.0} {:>7.1} {:>12.0} {:>6.0}% {:>12.0}% {:>13.0}% {:>11.2} {:>8.1}",
                rate,
                delay,
                platform_rate * delay,
                100.0 * f64::from(found) / f64::from(args.trials),
                // The simulator's traffic is steady: found while fewer than the
                // window connected in between.
                if platform_rate * delay < f64::from(window) {
                    100.0
                } else {
                    0.0
                },
                // Real users arrive at random: Poisson arrivals at the same rate.
                100.0 * poisson_below(platform_rate * delay, window),
                pages as f64 / f64::from(args.trials),
                p50
            );
        }
    }
    eprintln!(
        "account at the end: {} connections; {:.0} s in all",
        sim.connection_count(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The reconciler's whole sweep of `n` bound connections: the table filled
/// with copies of one record bound through the store, the account preloaded
/// with the same ids, then runs (each with a 15-minute deadline, as the
/// function's timeout allows) until the sweep is done. Prints the runs, time,
/// pages, and the OFAuth and DynamoDB requests it took.
async fn sweep(n: u64, page_size: u32) -> Result<(), BoxError> {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    use link_shared::config::{ReconcileSettings, UnboundAction};
    use link_shared::ids::AttemptId;
    use link_shared::model::{AttemptStatus, LinkAttempt};
    use link_shared::reconcile::ReconcileService;
    use link_shared::store::Store;
    use link_shared::time::{epoch, rfc3339};
    use std::time::SystemTime;

    let (client, table) = local_dynamodb::process_table("scale", Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let store = Store::new(client.clone(), &table);
    let sim = simulator().await?;
    let started = Instant::now();
    sim.preload(n);
    let ids: Vec<String> = sim.connections().into_iter().map(|c| c.id).collect();

    // One record bound the way the functions bind, then copied to every id.
    let template_id = ConnectionId::parse(&ids[0]).ok_or("id")?;
    let attempt_id = AttemptId::generate()?;
    let now = SystemTime::now();
    let expires = now + Duration::from_secs(3600);
    let attempt = LinkAttempt::pending(
        attempt_id,
        "scale-user".into(),
        None,
        rfc3339(expires),
        epoch(expires),
        now,
    );
    store.put_attempt(&attempt, epoch(expires) + 86_400).await?;
    store
        .bind_connection(
            &attempt,
            &[AttemptStatus::Pending],
            &template_id,
            Some(&link_shared::model::AccountProfile::default()),
            true,
            None,
            now,
        )
        .await?;
    let item = client
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(format!("CONNECTION#{}", ids[0])))
        .send()
        .await?
        .item
        .ok_or("the bound record")?;
    let copy = |id: &str| {
        item.iter()
            .map(|(k, v)| {
                let v = match v {
                    AttributeValue::S(s) => AttributeValue::S(s.replace(&ids[0], id)),
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect::<std::collections::HashMap<_, _>>()
    };
    let mut writes = tokio::task::JoinSet::new();
    for chunk in ids[1..].chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|id| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(copy(id)))
                            .build()
                            .expect("an item"),
                    )
                    .build()
            })
            .collect();
        let (client, table) = (client.clone(), table.clone());
        writes.spawn(async move {
            let mut pending = Some(requests);
            while let Some(batch) = pending.take() {
                let out = client
                    .batch_write_item()
                    .request_items(&table, batch)
                    .send()
                    .await?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut m| m.remove(&table))
                    .filter(|v| !v.is_empty());
            }
            Ok::<_, aws_sdk_dynamodb::Error>(())
        });
        while writes.len() >= 8 {
            if let Some(r) = writes.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = writes.join_next().await {
        r??;
    }
    eprintln!(
        "{n} connections at OFAuth and bound in the table in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let ofauth = ofauth_client(&sim)?;
    let settings = ReconcileSettings {
        unbound: UnboundAction::Report,
        unbound_grace: Duration::from_secs(6 * 3600),
        max_pages: u32::MAX,
        personal_data_retention: None,
        breaker_percent: 20,
        expected_account: None,
    };
    let svc = ReconcileService::new(store, ofauth, settings, page_size);
    let requests_before = sim.requests().len();
    let sweep_started = Instant::now();
    let mut runs = 0;
    let mut pages = 0;
    let mut checked = 0;
    loop {
        runs += 1;
        let run_started = Instant::now();
        let report = svc.run(Instant::now() + Duration::from_secs(900)).await?;
        pages += report.counts.pages;
        checked += report.counts.checked;
        eprintln!(
            "run {runs}: {} pages ({} new, {} expired) in {:.1} s, {} checked, {} changed, {} errors, phase {}",
            report.counts.pages,
            report.counts.recent_pages,
            report.counts.expired_pages,
            run_started.elapsed().as_secs_f64(),
            report.counts.checked,
            report.counts.changed,
            report.counts.errors,
            report.phase
        );
        if report.sweep_done || runs >= 20 {
            break;
        }
    }
    let took = sweep_started.elapsed().as_secs_f64();
    let requests = sim.requests();
    let ofauth_calls = requests.len() - requests_before;
    let list_calls = requests[requests_before..]
        .iter()
        .filter(|r| r.path == "/v2/account/connections")
        .count();
    println!(
        "reconciler sweep of {n} bound connections (list pages of {page_size}, table pages of 100)"
    );
    println!(
        "  runs: {runs}; wall time: {took:.1} s; pages: {pages} ({:.0} pages/s)",
        f64::from(pages) / took
    );
    println!("  OFAuth requests: {ofauth_calls} ({list_calls} list pages; the rest access/self and whoami)");
    println!(
        "  connections looked at: {checked} ({:.0} per second)",
        f64::from(checked) / took
    );
    Ok(())
}

/// The load driver (`--load N`): see `lambda_bench::load`.
async fn load(n: usize, args: &Args) -> Result<(), BoxError> {
    use lambda_bench::load::{self as driver, Downstreams, Pool};
    use link_shared::ids::AttemptId;
    use link_shared::model::{AttemptStatus, ConnectionStatus};
    use link_shared::store::Store;
    use ofauth_sim::{SignatureScheme, WebhookConfig, WebhookMode};

    let (client, table) = local_dynamodb::process_table("load", Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())?;
    let store = Store::new(client, &table);
    let front = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim = Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        SimConfig {
            api_key: driver::API_KEY.into(),
            allowed_redirects: vec![driver::CALLBACK_URL.into()],
            webhook: Some(WebhookConfig {
                url: format!("http://{}/link/webhook", front.local_addr()?),
                secret: driver::WEBHOOK_SECRET.into(),
                scheme: SignatureScheme::Ofauth,
                retry_base: Duration::from_millis(500),
            }),
            ..SimConfig::default()
        },
    )
    .await?;
    sim.set_webhook_mode(WebhookMode {
        delay_ms: args.webhook_delay_ms,
        jitter_ms: args.webhook_jitter_ms,
        loss_percent: args.webhook_loss_percent,
        ..WebhookMode::default()
    });
    let d = Downstreams {
        table: table.clone(),
        ddb_url: local_dynamodb::endpoint(),
        sim_url: sim.url(),
    };
    let bin = |name: &str| {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target")
            .join(&args.profile)
            .join(name)
    };
    let started = Instant::now();
    let init = Pool::start(&bin("init-session"), "init-session", args.envs, &d).await?;
    let callback = Pool::start(&bin("callback"), "callback", args.envs, &d).await?;
    let complete = Pool::start(&bin("complete"), "complete", args.envs, &d).await?;
    let webhook = Pool::start(&bin("webhook"), "webhook", args.envs, &d).await?;
    driver::webhook_front(front, webhook.clone()).await?;
    eprintln!(
        "{} environments per function up in {:.1} s",
        args.envs,
        started.elapsed().as_secs_f64()
    );
    sim.set_traffic(Traffic {
        connects_per_second: args.traffic,
        webhooks: !args.no_traffic_webhooks,
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()?;
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let return_delay = Duration::from_millis(args.return_delay_ms);
    let requests_before = sim.requests().len();
    let run_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (gate, init, callback, complete, http) = (
            gate.clone(),
            init.clone(),
            callback.clone(),
            complete.clone(),
            http.clone(),
        );
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            driver::flow(
                format!("load-user-{i}"),
                &init,
                &callback,
                &complete,
                &http,
                return_delay,
            )
            .await
        });
    }
    let mut flows = Vec::with_capacity(n);
    while let Some(f) = tasks.join_next().await {
        flows.push(f?);
    }
    let took = run_started.elapsed().as_secs_f64();
    sim.set_traffic(Traffic::default());
    let ofauth_requests = sim.requests().len() - requests_before;
    let at_the_end = driver::tally(flows.iter().map(|f| f.outcome.as_str()));

    let state = |flows: &Vec<driver::Flow>, store: &Store| {
        let flows = flows.clone();
        let store = store.clone();
        async move {
            let mut bound = 0;
            let mut waiting = 0;
            let mut unbound = 0;
            let mut misbound = Vec::new();
            for f in &flows {
                let Some(id) = f.connection.as_deref().and_then(ConnectionId::parse) else {
                    continue;
                };
                let record = store.get_connection(&id).await.ok().flatten();
                match record.as_ref().and_then(|r| r.user_id.clone()) {
                    Some(u)
                        if u == f.user
                            && record
                                .as_ref()
                                .is_some_and(|r| r.status == ConnectionStatus::Active) =>
                    {
                        bound += 1
                    }
                    Some(u) if u != f.user => {
                        misbound.push(format!("{} -> {u} (flow of {})", id.as_str(), f.user))
                    }
                    _ => {
                        let attempt = match f.attempt.as_deref().and_then(AttemptId::parse) {
                            Some(a) => store.get_attempt(&a).await.ok().flatten(),
                            None => None,
                        };
                        if attempt.is_some_and(|a| a.status == AttemptStatus::Verifying) {
                            waiting += 1;
                        } else if matches!(f.outcome.as_str(), "active" | "verifying") {
                            // Answered as done or waiting, and now neither: lost.
                            misbound.push(format!("{} lost (flow of {})", id.as_str(), f.user));
                        } else {
                            unbound += 1;
                        }
                    }
                }
            }
            (bound, waiting, unbound, misbound)
        }
    };
    // Let the webhooks land (delayed, jittered, retried with OFAuth's
    // backoff): until nobody waits, or no delivery for 10 s (at most a minute
    // past the configured delay).
    let limit = Instant::now()
        + Duration::from_millis(args.webhook_delay_ms + args.webhook_jitter_ms)
        + Duration::from_secs(60);
    let (mut last, mut quiet_since) = (usize::MAX, Instant::now());
    let settle_started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, waiting, _, _) = state(&flows, &store).await;
        let delivered = sim.deliveries().len();
        if delivered != last {
            (last, quiet_since) = (delivered, Instant::now());
        }
        if waiting == 0 || quiet_since.elapsed() > Duration::from_secs(10) || Instant::now() > limit
        {
            break;
        }
    }
    let settled = settle_started.elapsed().as_secs_f64();
    let (bound, waiting, unbound, misbound) = state(&flows, &store).await;
    let mut after_reconcile = None;
    if waiting > 0 {
        let settings = link_shared::config::ReconcileSettings {
            unbound: link_shared::config::UnboundAction::Report,
            unbound_grace: Duration::from_secs(6 * 3600),
            max_pages: 250,
            personal_data_retention: None,
            breaker_percent: 20,
            expected_account: None,
        };
        let roots = link_shared::tls::ExtraRoots::load(None)?;
        let ofauth = OfAuthClient::new(
            url::Url::parse(&sim.url())?,
            Secret::new(driver::API_KEY),
            Duration::from_secs(2),
            Duration::from_secs(10),
            link_shared::tls::client_config(&roots)?,
        )?;
        let svc =
            link_shared::reconcile::ReconcileService::new(store.clone(), ofauth, settings, 50);
        let report = svc.run(Instant::now() + Duration::from_secs(120)).await?;
        after_reconcile = Some((report.counts.attested, state(&flows, &store).await));
    }
    init.stop();
    callback.stop();
    complete.stop();
    webhook.stop();

    println!(
        "load: {n} flows, {} in flight at once, {} environments per function ({} build); the browser back {} ms after the approval; webhooks +{} ms, jitter {} ms, {}% lost; others connecting at {}/s",
        args.concurrency, args.envs, args.profile, args.return_delay_ms, args.webhook_delay_ms, args.webhook_jitter_ms, args.webhook_loss_percent, args.traffic
    );
    println!(
        "  {:.1} flows/s ({n} in {took:.1} s); OFAuth requests per flow: {:.2}",
        n as f64 / took,
        ofauth_requests as f64 / n as f64
    );
    for (i, step) in [
        "session",
        "approve (OFAuth's page)",
        "callback",
        "completion",
    ]
    .iter()
    .enumerate()
    {
        let (p50, p99) = driver::percentiles(flows.iter().filter_map(|f| f.steps[i]).collect());
        println!("  {step:<24} p50 {p50:>7.1} ms   p99 {p99:>7.1} ms");
    }
    println!("  answered: {at_the_end:?}");
    println!("  after the webhooks ({settled:.0} s): {bound} bound to their user, {waiting} verifying, {unbound} not bound (flows refused or failed), {} bound to someone else or lost", misbound.len());
    if let Some((attested, (b, w, u, m))) = &after_reconcile {
        println!("  after one reconciler run ({attested} attested from the list): {b} bound, {w} verifying, {u} not bound, {} bound to someone else or lost", m.len());
    }
    let misbound_any = !misbound.is_empty()
        || after_reconcile
            .as_ref()
            .is_some_and(|(_, (_, _, _, m))| !m.is_empty());
    if misbound_any {
        return Err(format!("connections bound to someone else, or lost: {misbound:?}").into());
    }
    Ok(())
}
