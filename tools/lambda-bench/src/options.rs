//! Command-line options.

use clap::Parser;

use crate::{BASELINE, FUNCTIONS};

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
    #[arg(long, value_delimiter = ',', default_values_t = FUNCTIONS.iter().chain([&BASELINE]).map(|f| f.to_string()))]
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
}

impl Options {
    pub fn tls(&self) -> bool {
        !self.plain
    }
}
