//! The function's process as Lambda runs it: started with Lambda's environment,
//! and what /proc says of it (CPU time, peak RSS), its core (taskset), its answer.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::stats::mib;
use crate::{
    root, Downstream, Error, API_KEY, API_KEY_SECRET_ID, CALLBACK_URL, WEBHOOK_SECRET,
    WEBHOOK_SECRET_ID,
};
use lambda_bench::runtime_api::{lambda_environment, Outcome, RuntimeApi};

/// How a process is started for a cold-start sample.
#[derive(Clone, Copy, PartialEq)]
pub enum Start {
    /// Keys in the environment, no connection warm-up: config and clients only.
    Base,
    /// As deployed: with the DynamoDB/OFAuth connection warm-up.
    WarmUp,
    /// Keys read from the Secrets Manager stand-in, no warm-up.
    SecretFetch,
}

pub fn spawn(
    binary: &Path,
    function: &str,
    api: &RuntimeApi,
    d: &Downstream,
    start: Start,
) -> Result<Child, Error> {
    let mut cmd = Command::new(binary);
    cmd.env_clear();
    lambda_environment(
        &mut cmd,
        api.addr,
        function,
        d.quota.as_ref().map_or(128, |q| q.memory_mb),
    );
    cmd.env(
        "WARM_CONNECTIONS",
        if start == Start::WarmUp {
            "true"
        } else {
            "false"
        },
    )
    .env("PATH", std::env::var("PATH").unwrap_or_default())
    .env("TABLE_NAME", &d.table)
    .env("DYNAMODB_ENDPOINT", &d.ddb_url)
    .env("EVENTBRIDGE_ENDPOINT", &d.eventbridge_url)
    .env("OFAUTH_BASE_URL", &d.sim_url)
    .env("OFAUTH_CLIENT_APP_ID", "app_bench")
    .env("CALLBACK_URL", CALLBACK_URL)
    .env("APP_URL", "https://app.example.com")
    .env("LINK_HOSTS", "127.0.0.1")
    .env("SESSION_RATE_LIMIT", "0");
    // As deployed: the EMF metrics are written after every invocation
    // (`--no-metrics` measures without them).
    if d.metrics {
        cmd.env("METRICS_NAMESPACE", "OFAuthLink/bench");
    }
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
    if let Some(n) = crate::floor_exchanges(function) {
        cmd.env("FLOOR_EXCHANGES", n)
            .env("FLOOR_URL", format!("{}/v2/access/self", d.sim_url))
            .env("FLOOR_DYNAMODB", function.starts_with("sdk-").to_string());
    }
    if let Some(q) = &d.quota {
        q.attach_on_exec(&mut cmd)?;
    }
    Ok(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?)
}

/// `perf record` attached to the function's process (all its threads), DWARF
/// call graphs, into `<file>.<function>`.
pub fn perf_record(pid: u32, file: &Path, function: &str) -> Result<Child, Error> {
    let out = file.with_extension(format!("{function}.data"));
    let child = Command::new("perf")
        .args([
            "record",
            "-q",
            "-F",
            "2999",
            "--call-graph",
            "dwarf,65528",
            "-p",
        ])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("perf: {e}"))?;
    // perf needs a moment to attach before the first sample matters.
    std::thread::sleep(Duration::from_millis(500));
    eprintln!("perf: recording {function} into {}", out.display());
    Ok(child)
}

/// Stops a `perf record` (SIGINT, as Ctrl-C) and waits for it to write its file.
pub fn perf_stop(mut perf: Child) -> Result<(), Error> {
    // SAFETY: kill(2) on a child this process started and has not waited for.
    unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
    perf.wait()?;
    Ok(())
}

/// The function answered with a 2xx or 3xx HTTP response (a callback success is a
/// 302 to the app's success page, not its error page).
pub fn answered_ok(outcome: &Outcome) -> bool {
    let Outcome::Response(body) = outcome else {
        return false;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    // A stream batch's answer: every record published.
    if let Some(failures) = v.get("batchItemFailures") {
        return failures.as_array().is_some_and(Vec::is_empty);
    }
    let status = v["statusCode"].as_u64().unwrap_or(0);
    let location = v["headers"]["location"].as_str().unwrap_or("");
    (200..400).contains(&status) && !location.contains("status=error")
}

pub fn peak_rss_mib(pid: u32) -> f64 {
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
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Sets the CPU affinity of every thread of `pid`.
pub fn taskset(cpus: &str, pid: u32) -> Result<(), Error> {
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

/// The clock tick `/proc/<pid>/stat` counts CPU time in: 10 ms, the Linux
/// default `CLK_TCK` of 100.
pub const CPU_TICK_MS: f64 = 10.0;

/// CPU time (user + system, all threads) a process has used, from
/// `/proc/<pid>/stat`, in clock ticks of [`CPU_TICK_MS`].
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 * CPU_TICK_MS / 1000.0))
}

/// The arm64 bootstrap from `sam build`, and its deflated zip size.
pub fn arm64_sizes(function: &str) -> (Option<f64>, Option<f64>) {
    let dir = match function {
        "init-session" => "InitSessionFunction",
        "callback" => "CallbackFunction",
        "complete" => "CompleteFunction",
        "webhook" => "WebhookFunction",
        "connections" => "ConnectionsFunction",
        f if f.starts_with("publisher") => "PublisherFunction",
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

pub fn machine() -> String {
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

/// Lambda's CPU share for a memory size, as a cgroup (v1) CPU quota: one vCPU at
/// 1,769 MB, in proportion below it (128 MB: 7.2 ms of CPU per 100 ms). Each
/// function process gets a cgroup of its own, as each Lambda execution
/// environment has its own share: a new process never inherits a period whose
/// budget the previous one spent.
#[derive(Debug)]
pub struct CpuQuota {
    pub memory_mb: u32,
    quota_us: u64,
    created: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl CpuQuota {
    const ROOT: &'static str = "/sys/fs/cgroup/cpu";
    const PERIOD_US: u64 = 100_000;

    /// The fraction of one core Lambda gives `memory_mb`: one vCPU at 1,769 MB.
    pub fn share(memory_mb: u32) -> f64 {
        f64::from(memory_mb) / 1769.0
    }

    /// The quota for `memory_mb`, once the machine is known to allow it (a
    /// first cgroup is made; every cgroup made is removed when the quota is
    /// dropped).
    pub fn create(memory_mb: u32) -> Result<Self, Error> {
        if !Path::new(Self::ROOT).join("cpu.cfs_quota_us").exists() {
            return Err(format!("no cgroup v1 cpu controller at {}", Self::ROOT).into());
        }
        let share = Self::share(memory_mb);
        let q = Self {
            memory_mb,
            quota_us: ((Self::PERIOD_US as f64) * share).round().max(1000.0) as u64,
            created: Default::default(),
        };
        q.new_cgroup()?;
        Ok(q)
    }

    /// A new cgroup with the quota: the path of its `cgroup.procs`.
    fn new_cgroup(&self) -> Result<std::ffi::CString, Error> {
        let mut created = self.created.lock().unwrap();
        let dir = Path::new(Self::ROOT).join(format!(
            "lambda-bench-{}-{}-{}",
            std::process::id(),
            self.memory_mb,
            created.len()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        created.push(dir.clone());
        std::fs::write(dir.join("cpu.cfs_period_us"), Self::PERIOD_US.to_string())?;
        std::fs::write(dir.join("cpu.cfs_quota_us"), self.quota_us.to_string())
            .map_err(|e| format!("cannot set the quota in {}: {e}", dir.display()))?;
        Ok(std::ffi::CString::new(
            dir.join("cgroup.procs").to_string_lossy().as_bytes(),
        )?)
    }

    /// Puts the process `cmd` starts into a new cgroup of its own before it
    /// runs a single instruction of the function (so Init is under the quota).
    pub fn attach_on_exec(&self, cmd: &mut Command) -> Result<(), Error> {
        use std::os::unix::process::CommandExt;
        let path = self.new_cgroup()?;
        // SAFETY: between fork and exec only async-signal-safe calls (open,
        // write, close) on memory prepared before the fork. Writing "0" to
        // cgroup.procs moves the writing process (cgroup v1).
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                libc::close(fd);
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(())
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // Empty by now (every function process was waited for); a cgroup
        // directory is removed with rmdir.
        for dir in self.created.lock().unwrap().iter() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
