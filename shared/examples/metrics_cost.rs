//! What one invocation's metrics cost, alone: the counters and latencies one
//! callback records, then the flush (EMF to a sink). `cargo run --release
//! --example metrics_cost -p link-shared`.
use std::time::{Duration, Instant};

use link_shared::telemetry::{self, CallResult};

fn main() {
    telemetry::install("OFAuthLink/bench", "example");
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        record_callback(true);
    }
    let record = started.elapsed();
    let started = Instant::now();
    for _ in 0..n {
        record_callback(false);
        telemetry::flush_to(std::io::sink()).unwrap();
    }
    let with_flush = started.elapsed();
    println!(
        "record (3 calls' worth): {:.2} µs; record + flush: {:.2} µs",
        record.as_secs_f64() * 1e6 / f64::from(n),
        with_flush.as_secs_f64() * 1e6 / f64::from(n)
    );
}

/// What a callback records: its OFAuth calls (`access/self`, and the list search
/// when `with_list`) and its request count.
fn record_callback(with_list: bool) {
    telemetry::ofauth_call(
        "access_self",
        CallResult::Status(200),
        Some(Duration::from_millis(3)),
    );
    if with_list {
        telemetry::ofauth_call(
            "list_connections",
            CallResult::Status(200),
            Some(Duration::from_millis(4)),
        );
    }
    metrics::counter!("Requests", "Route" => "callback", "Outcome" => "returned").increment(1);
}
