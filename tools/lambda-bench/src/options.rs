//! Command-line options.

use clap::Parser;

use crate::{BASELINE, FLOORS, FUNCTIONS};

/// Runs each function's binary as Lambda does and reports Init, latency, own
/// time, CPU, memory and sizes (see BENCHMARKS.md).
#[derive(Parser, Debug)]
#[command(name = "lambda-bench")]
pub struct Options {
    /// The Cargo profile whose binaries are run (target/<profile>/<function>).
    #[arg(long, default_value = "release")]
    pub profile: String,
    /// Warm invocations per function.
    #[arg(long, default_value_t = 1000)]
    pub runs: usize,
    /// Cold starts per function and kind of start.
    #[arg(long, default_value_t = 10)]
    pub starts: usize,
    /// The functions to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = FUNCTIONS.iter().chain([&BASELINE]).chain(FLOORS.iter()).map(|f| f.to_string()))]
    pub functions: Vec<String>,
    /// Plain-HTTP downstreams instead of TLS.
    #[arg(long)]
    pub plain: bool,
    /// Pin the function to the last core and everything else (this process, the
    /// JVM it starts, the simulator) to the others, for the warm invocations.
    #[arg(long)]
    pub pin: bool,
    /// Run the functions without METRICS_NAMESPACE (no EMF metrics), to measure
    /// what the metrics cost.
    #[arg(long)]
    pub no_metrics: bool,
    /// Run each function under Lambda's CPU share for this memory size (MB):
    /// `memory / 1769` of a core, through a cgroup (v1) CPU quota, and with
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` set to it. Without it the function has
    /// the machine's cores.
    #[arg(long, value_parser = clap::value_parser!(u32).range(128..=10240))]
    pub memory: Option<u32>,
    /// Send the warm invocations at this steady rate (per second) instead of
    /// back to back: a quota is a budget per 100 ms period, and an instance
    /// serving a steady trickle meets it with the budget refilled.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Record the warm invocations with `perf record -g` (DWARF call graphs)
    /// into this file; use `--profile profiling` for symbols.
    #[arg(long)]
    pub perf: Option<std::path::PathBuf>,
}

impl Options {
    pub fn tls(&self) -> bool {
        !self.plain
    }
}
