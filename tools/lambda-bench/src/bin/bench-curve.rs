//! `bench-curve`: the memory-size curve from `lambda-bench --memory` runs
//! (`scripts/bench-curve.sh` makes them: 128, 256 and 512 MB, back to back and at
//! a steady rate). Reads their `results.json` copies and prints, per function and
//! size, Init, latency and CPU under the quota, and what a million invocations
//! cost there: requests plus GB-seconds of the billed duration, which in AWS is
//! the function's own time (measured here, under the quota) plus its waits on
//! DynamoDB and OFAuth (not measurable offline: assumed, as in the README's
//! cost section).
//!
//! Usage: `bench-curve FILE...` (markdown on stdout).

use std::collections::BTreeMap;

use serde_json::Value;

/// Lambda on arm64, us-east-1: per GB-second and per request.
const GB_SECOND_USD: f64 = 0.000_013_333_4;
const REQUEST_USD: f64 = 0.000_000_2;

/// The time a warm invocation waits on DynamoDB and OFAuth in AWS (ms): 10 ms
/// per DynamoDB request in the region, 200 ms per OFAuth call (the callback's
/// two run at the same time). The README's cost section uses the same figures.
fn assumed_downstream_ms(function: &str) -> Option<f64> {
    Some(match function {
        "init-session" => 10.0 + 200.0,
        "callback" => 10.0 + 200.0 + 10.0,
        "complete" => 10.0 + 10.0,
        "webhook" => 10.0 + 10.0,
        "connections" => 10.0,
        _ => return None,
    })
}

#[derive(Default)]
struct Point {
    seq: Option<Value>,
    rate: Option<(f64, Value)>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        return Err(
            "usage: bench-curve FILE... (results.json of lambda-bench --memory runs)".into(),
        );
    }
    // function -> memory -> the sequential and the steady-rate run.
    let mut curve: BTreeMap<String, BTreeMap<u64, Point>> = BTreeMap::new();
    for file in &files {
        let run: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
        let Some(mb) = run["memory_mb"].as_u64() else {
            return Err(format!("{file}: not a --memory run").into());
        };
        let rate = run["rate_per_s"].as_f64();
        for f in run["functions"].as_array().into_iter().flatten() {
            let name = f["function"].as_str().unwrap_or("?").to_string();
            let point = curve.entry(name).or_default().entry(mb).or_default();
            match rate {
                Some(r) => point.rate = Some((r, f.clone())),
                None => point.seq = Some(f.clone()),
            }
        }
    }
    println!("| function | memory | Init | Init + warm-up | 1st inv. | back to back: warm p50 / p99 | own p50 / p99 | at a steady rate: warm p50 / p99 | own p50 / p99 | CPU per inv. | assumed waits | cost per 10⁶ invocations |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    for (function, sizes) in &curve {
        for (mb, p) in sizes {
            let Some(seq) = &p.seq else { continue };
            let (rate_cols, own_for_cost) = match &p.rate {
                Some((r, v)) => (
                    format!(
                        "{:.2} / {:.2} ({r}/s) | {:.2} / {:.2}",
                        n(v, "warm_ms_p50"),
                        n(v, "warm_ms_p99"),
                        n(v, "own_ms_p50"),
                        n(v, "own_ms_p99")
                    ),
                    n(v, "own_ms_p50"),
                ),
                None => ("- | -".to_string(), n(seq, "own_ms_p50")),
            };
            let cost = assumed_downstream_ms(function).map(|down| {
                // Billed in whole milliseconds.
                let billed_s = (own_for_cost + down).ceil() / 1000.0;
                let gb = *mb as f64 / 1024.0;
                (down, 1e6 * (REQUEST_USD + gb * billed_s * GB_SECOND_USD))
            });
            println!(
                "| {function} | {mb} MB | {:.2} | {:.2} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {rate_cols} | {:.3} | {} | {} |",
                n(seq, "init_ms_median"),
                n(seq, "init_with_warm_up_ms_median"),
                n(seq, "first_invocation_ms_median"),
                n(seq, "warm_ms_p50"),
                n(seq, "warm_ms_p99"),
                n(seq, "own_ms_p50"),
                n(seq, "own_ms_p99"),
                n(seq, "cpu_ms_per_invocation"),
                cost.map_or("-".into(), |(d, _)| format!("{d:.0} ms")),
                cost.map_or("-".into(), |(_, c)| format!("${c:.3}")),
            );
        }
    }
    Ok(())
}
