//! `make flood-model`: what a flood of junk on each public route takes away
//! from legitimate traffic, with and without the edge (docs/scale.md, "Floods").
//!
//! Neither API Gateway nor AWS WAF can run here, so this is a model, and every
//! figure it prints is modelled:
//!
//! - **API Gateway's throttle**: a token bucket per route (AWS documents HTTP
//!   API throttling as one: `burst` tokens, refilled at `rate` a second, one a
//!   request), shared by every client of the route. A request that finds no
//!   token is a 429 and reaches nothing. The limits are template.yaml's defaults:
//!   the HTTP API's `DefaultRouteSettings` for every route without its own
//!   `RouteSettings` entry (each route its own bucket; `--shared-default` puts
//!   them all in one, the reading docs/scale.md's capacity model sizes for), and
//!   the webhook's own API's stage. A request on a path no route matches (the
//!   webhook's API without the secret segment) is the gateway's 404 and takes
//!   no token. Junk without a valid token on a JWT route is refused by the
//!   authorizer, but after the throttle: it takes a token (assumed).
//! - **AWS WAF** (the edge on): edge/web-acl.yaml's rules in priority order.
//!   The signature rule blocks a request under its path prefix that has no
//!   signature header. A rate-based rule counts, per IP, the requests its scope
//!   matches over its evaluation window (blocked ones too) and, at each check
//!   (every `--waf-check-s`, AWS's "usually below 30 seconds"), blocks the IPs
//!   whose count exceeds its limit until the next check. A request blocked by a
//!   rule is not seen by the later ones. AWS's managed rule groups are left out
//!   (junk is assumed to pass them: the worst case for legitimate traffic).
//! - **Traffic**: legitimate flows arrive at random (Poisson) at `--flows` a
//!   second, each from its own IP: a session, OFAuth's webhook 15 s later, the
//!   browser's callback 15 s later, the completion 1 s after it and the list
//!   of connections 1 s after that; disconnects at a tenth and erasures at a
//!   fiftieth of the flow rate. A flood is `rate` junk requests a second (also
//!   Poisson) on one route, spread evenly over `ips` addresses. Nobody retries.
//!
//! The simulation is event by event in continuous time over `--seconds`,
//! deterministic (a fixed seed). Read the limits from template.yaml and
//! edge/web-acl.yaml at run time, so the figures follow the template.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_norway::Value;

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Parser, Debug)]
#[command(
    about = "A model of API Gateway's throttle and the edge's WAF rules under a flood of junk"
)]
struct Args {
    /// The repository (template.yaml and edge/web-acl.yaml).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Legitimate Link flows a second (docs/scale.md's planning rate).
    #[arg(long, default_value_t = 10.0)]
    flows: f64,
    /// Simulated seconds per scenario.
    #[arg(long, default_value_t = 600.0)]
    seconds: f64,
    /// The steady state is reported from this second on: once a whole WAF
    /// window (300 s) and a check have passed.
    #[arg(long, default_value_t = 330.0)]
    steady_from: f64,
    /// How often WAF's rate-based rules look at each IP's count.
    #[arg(long, default_value_t = 30.0)]
    waf_check_s: f64,
    /// All the routes without their own limits share one bucket.
    #[arg(long)]
    shared_default: bool,
    #[arg(long, default_value_t = 31)]
    seed: u64,
}

// ---------------------------------------------------------------- the throttle

/// A token bucket: `burst` tokens at first and at most, `rate` more a second.
#[derive(Clone, Debug)]
struct TokenBucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    last: f64,
}

impl TokenBucket {
    fn new(burst: f64, rate: f64) -> Self {
        Self {
            burst,
            rate,
            tokens: burst,
            last: 0.0,
        }
    }

    /// A request at `t` (seconds, not decreasing): served if a token is left.
    fn take(&mut self, t: f64) -> bool {
        if t > self.last {
            self.tokens = (self.tokens + (t - self.last) * self.rate).min(self.burst);
            self.last = t;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

// ------------------------------------------------------------------- the edge

/// Which paths a WAF rule looks at.
#[derive(Clone, Debug, PartialEq)]
enum Scope {
    Prefix(String),
    NotPrefix(String),
}

impl Scope {
    fn matches(&self, path: &str) -> bool {
        match self {
            Scope::Prefix(p) => path.starts_with(p.as_str()),
            Scope::NotPrefix(p) => !path.starts_with(p.as_str()),
        }
    }
}

/// One IP's requests over the evaluation window, a slot a second.
#[derive(Clone, Debug)]
struct Window {
    slots: Vec<u32>,
    /// The second the slots are current to.
    sec: u64,
    sum: u64,
    blocked: bool,
}

impl Window {
    fn new(window_s: u32) -> Self {
        Self {
            slots: vec![0; window_s.max(1) as usize],
            sec: 0,
            sum: 0,
            blocked: false,
        }
    }

    fn roll(&mut self, sec: u64) {
        if sec <= self.sec {
            return;
        }
        let n = self.slots.len() as u64;
        if sec - self.sec >= n {
            self.slots.fill(0);
            self.sum = 0;
        } else {
            for s in self.sec + 1..=sec {
                let i = (s % n) as usize;
                self.sum -= u64::from(self.slots[i]);
                self.slots[i] = 0;
            }
        }
        self.sec = sec;
    }

    fn add(&mut self, sec: u64) {
        self.roll(sec);
        let n = self.slots.len() as u64;
        self.slots[(sec % n) as usize] += 1;
        self.sum += 1;
    }
}

/// A rate-based rule aggregated by IP.
#[derive(Clone, Debug)]
struct RateRule {
    limit: u64,
    window_s: u32,
    scope: Scope,
    check_every: f64,
    next_check: f64,
    ips: HashMap<u32, Window>,
}

impl RateRule {
    fn new(limit: u64, window_s: u32, scope: Scope, check_every: f64) -> Self {
        Self {
            limit,
            window_s,
            scope,
            check_every,
            next_check: check_every,
            ips: HashMap::new(),
        }
    }

    /// A request from `ip` at `t` that the rule's scope matches: counted, and
    /// whether the IP is blocked now.
    fn observe(&mut self, t: f64, ip: u32) -> bool {
        while t >= self.next_check {
            let sec = self.next_check as u64;
            for w in self.ips.values_mut() {
                w.roll(sec);
                w.blocked = w.sum > self.limit;
            }
            self.next_check += self.check_every;
        }
        let window_s = self.window_s;
        let w = self.ips.entry(ip).or_insert_with(|| Window::new(window_s));
        w.add(t as u64);
        w.blocked
    }
}

/// The web ACL: the signature rule, then the rate rules in priority order.
#[derive(Clone, Debug)]
struct Waf {
    /// Requests under this prefix without a signature header are blocked.
    signature_prefix: Option<String>,
    rules: Vec<RateRule>,
}

impl Waf {
    fn allows(&mut self, t: f64, req: &Request) -> bool {
        if let Some(prefix) = &self.signature_prefix {
            if req.path.starts_with(prefix.as_str()) && !req.signed {
                return false;
            }
        }
        for rule in &mut self.rules {
            if rule.scope.matches(req.path) && rule.observe(t, req.ip) {
                return false;
            }
        }
        true
    }
}

// ---------------------------------------------------------------- the routes

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Route {
    Session,
    Callback,
    Complete,
    List,
    Disconnect,
    Erase,
    Webhook,
}

const ROUTES: [Route; 7] = [
    Route::Session,
    Route::Callback,
    Route::Complete,
    Route::List,
    Route::Disconnect,
    Route::Erase,
    Route::Webhook,
];

impl Route {
    /// The route key, as template.yaml names it.
    fn key(self) -> &'static str {
        match self {
            Route::Session => "POST /link/session",
            Route::Callback => "GET /link/callback",
            Route::Complete => "POST /link/complete",
            Route::List => "GET /link/connections",
            Route::Disconnect => "DELETE /link/connections/{id}",
            Route::Erase => "DELETE /link/me",
            Route::Webhook => "POST /link/webhook/<segment>",
        }
    }

    /// A path a request on it has (what WAF's rules match).
    fn path(self) -> &'static str {
        match self {
            Route::Session => "/link/session",
            Route::Callback => "/link/callback",
            Route::Complete => "/link/complete",
            Route::List => "/link/connections",
            Route::Disconnect => "/link/connections/c_1",
            Route::Erase => "/link/me",
            Route::Webhook => "/link/webhook/secret-segment",
        }
    }

    /// Legitimate requests per flow, and their delay after the flow's session.
    fn per_flow(self) -> (f64, f64) {
        match self {
            Route::Session => (1.0, 0.0),
            Route::Webhook => (1.0, 15.0),
            Route::Callback => (1.0, 15.0),
            Route::Complete => (1.0, 16.0),
            Route::List => (1.0, 17.0),
            Route::Disconnect => (0.1, 0.0),
            Route::Erase => (0.02, 0.0),
        }
    }
}

/// A request as the model sees it.
#[derive(Clone, Debug)]
struct Request {
    t: f64,
    route: Route,
    path: &'static str,
    /// No route matches it (the webhook's API without the segment): a 404.
    unrouted: bool,
    signed: bool,
    junk: bool,
    ip: u32,
}

// ---------------------------------------------------------------- the limits

/// What the model reads from template.yaml and edge/web-acl.yaml.
#[derive(Clone, Debug)]
struct Limits {
    /// The HTTP API's default route limits (burst, rate).
    default: (f64, f64),
    /// Routes with limits of their own.
    routes: HashMap<String, (f64, f64)>,
    /// The webhook's own API's stage.
    webhook: (f64, f64),
    /// Rate rules: name, limit, window (s), scope; in priority order.
    rules: Vec<(String, u64, u32, Scope)>,
    signature_prefix: Option<String>,
    /// Template parameters' defaults, by name (the concurrencies, per-user limits).
    params: HashMap<String, f64>,
}

fn resolve(v: &Value, params: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        Value::Tagged(t) if t.tag == "Ref" => {
            let name = t.value.as_str()?;
            resolve(&params[name]["Default"], params)
        }
        _ => None,
    }
}

fn limits_of(settings: &Value, params: &Value) -> Option<(f64, f64)> {
    Some((
        resolve(&settings["ThrottlingBurstLimit"], params)?,
        resolve(&settings["ThrottlingRateLimit"], params)?,
    ))
}

fn prefix_of(statement: &Value) -> Option<String> {
    let m = &statement["ByteMatchStatement"];
    (m["PositionalConstraint"].as_str() == Some("STARTS_WITH"))
        .then(|| m["SearchString"].as_str().map(str::to_string))
        .flatten()
}

fn load_limits(root: &Path) -> Result<Limits, BoxError> {
    let read = |rel: &str| -> Result<Value, BoxError> {
        let path = root.join(rel);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(serde_norway::from_str(&text)?)
    };
    let t = read("template.yaml")?;
    let p = &t["Parameters"];
    let resources = t["Resources"]
        .as_mapping()
        .ok_or("template.yaml: no Resources")?;
    let mut default = None;
    let mut routes = HashMap::new();
    let mut webhook = None;
    for (name, res) in resources {
        let props = &res["Properties"];
        match res["Type"].as_str() {
            Some("AWS::Serverless::HttpApi") => {
                default = limits_of(&props["DefaultRouteSettings"], p);
                if let Some(m) = props["RouteSettings"].as_mapping() {
                    for (key, settings) in m {
                        if let (Some(key), Some(l)) = (key.as_str(), limits_of(settings, p)) {
                            routes.insert(key.to_string(), l);
                        }
                    }
                }
            }
            Some("AWS::ApiGatewayV2::Stage") => {
                let api = &props["ApiId"];
                let of_webhook = matches!(api, Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("WebhookApi"));
                if of_webhook || name.as_str() == Some("WebhookApiStage") {
                    webhook = limits_of(&props["DefaultRouteSettings"], p);
                }
            }
            _ => {}
        }
    }
    let mut params = HashMap::new();
    if let Some(m) = p.as_mapping() {
        for (name, _) in m {
            if let Some(name) = name.as_str() {
                if let Some(v) = resolve(&p[name]["Default"], p) {
                    params.insert(name.to_string(), v);
                }
            }
        }
    }

    let acl = read("edge/web-acl.yaml")?;
    let ap = &acl["Parameters"];
    let web_acl = acl["Resources"]
        .as_mapping()
        .and_then(|m| {
            m.values()
                .find(|r| r["Type"].as_str() == Some("AWS::WAFv2::WebACL"))
        })
        .ok_or("edge/web-acl.yaml: no AWS::WAFv2::WebACL")?;
    let mut acl_rules: Vec<&Value> = web_acl["Properties"]["Rules"]
        .as_sequence()
        .map(|s| s.iter().collect())
        .unwrap_or_default();
    acl_rules.sort_by_key(|r| r["Priority"].as_u64().unwrap_or(u64::MAX));
    let mut rules = Vec::new();
    let mut signature_prefix = None;
    for r in acl_rules {
        if r["Action"].get("Block").is_none() {
            continue;
        }
        let name = r["Name"].as_str().unwrap_or("?").to_string();
        let st = &r["Statement"];
        if let Some(rate) = st.get("RateBasedStatement") {
            let limit = resolve(&rate["Limit"], ap).ok_or(format!("{name}: no Limit"))? as u64;
            let window = resolve(&rate["EvaluationWindowSec"], ap).unwrap_or(300.0) as u32;
            let down = &rate["ScopeDownStatement"];
            let scope = if let Some(prefix) = prefix_of(down) {
                Scope::Prefix(prefix)
            } else if let Some(prefix) = prefix_of(&down["NotStatement"]["Statement"]) {
                Scope::NotPrefix(prefix)
            } else {
                Scope::NotPrefix("\u{0}".into())
            };
            rules.push((name, limit, window, scope));
        } else if let Some(all) = st["AndStatement"]["Statements"].as_sequence() {
            // The webhook's rule: a path prefix and no signature header.
            let prefix = all.iter().find_map(prefix_of);
            let has_not = all.iter().any(|s| s.get("NotStatement").is_some());
            if let (Some(prefix), true) = (prefix, has_not) {
                signature_prefix = Some(prefix);
            }
        }
    }
    Ok(Limits {
        default: default.ok_or("template.yaml: no HttpApi DefaultRouteSettings")?,
        routes,
        webhook: webhook.ok_or("template.yaml: no webhook stage limits")?,
        rules,
        signature_prefix,
        params,
    })
}

// --------------------------------------------------------------- a scenario

/// A flood: junk requests a second on one route, from `ips` addresses.
#[derive(Clone, Copy, Debug)]
struct Flood {
    rate: f64,
    ips: u32,
}

/// What the junk looks like (only the webhook's differ).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Junk {
    /// On the route's path, no signature.
    Plain,
    /// The webhook's API on a wrong path (the segment unknown).
    WrongPath,
    /// The webhook's real path (the segment leaked), with a forged signature header.
    ForgedSignature,
}

#[derive(Clone, Debug)]
struct Scenario {
    flooded: Option<Route>,
    flood: Flood,
    junk: Junk,
    edge: bool,
    shared_default: bool,
}

#[derive(Clone, Debug, Default)]
struct Tally {
    sent: u64,
    served: u64,
    late_sent: u64,
    late_served: u64,
}

impl Tally {
    fn share(&self) -> f64 {
        ratio(self.served, self.sent)
    }
    fn late_share(&self) -> f64 {
        ratio(self.late_served, self.late_sent)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

#[derive(Clone, Debug, Default)]
struct Outcome {
    legit: HashMap<Route, Tally>,
    junk_sent: u64,
    junk_blocked_at_edge: u64,
    junk_throttled: u64,
    junk_admitted: u64,
    junk_admitted_late: u64,
    /// When junk last got past the edge (or reached the gateway without it).
    last_junk_past_edge: Option<f64>,
}

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// The gap to the next arrival of a Poisson process at `rate`.
    fn gap(&mut self, rate: f64) -> f64 {
        -self.unit().ln() / rate
    }
}

const LEGIT_IP_BASE: u32 = 1 << 30;

/// The requests of a run, in time order.
fn traffic(s: &Scenario, flows: f64, seconds: f64, seed: u64) -> Vec<Request> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut ip = LEGIT_IP_BASE;
    for route in ROUTES {
        let (per_flow, delay) = route.per_flow();
        // Flows that began before 0 too: every route at its steady rate from 0.
        let mut t = -delay;
        loop {
            t += rng.gap(flows * per_flow);
            let at = t + delay;
            if at >= seconds {
                break;
            }
            ip += 1;
            if at >= 0.0 {
                out.push(Request {
                    t: at,
                    route,
                    path: route.path(),
                    unrouted: false,
                    signed: route == Route::Webhook,
                    junk: false,
                    ip,
                });
            }
        }
    }
    if let Some(route) = s.flooded {
        let mut t = 0.0;
        let mut k: u64 = 0;
        loop {
            t += rng.gap(s.flood.rate);
            if t >= seconds {
                break;
            }
            out.push(Request {
                t,
                route,
                path: if s.junk == Junk::WrongPath {
                    "/link/webhook/guessed-segment"
                } else {
                    route.path()
                },
                unrouted: s.junk == Junk::WrongPath,
                signed: s.junk == Junk::ForgedSignature,
                junk: true,
                ip: (k % u64::from(s.flood.ips.max(1))) as u32,
            });
            k += 1;
        }
    }
    out.sort_by(|a, b| a.t.total_cmp(&b.t));
    out
}

/// Which bucket each route draws from.
fn buckets(limits: &Limits, shared_default: bool) -> (Vec<TokenBucket>, HashMap<Route, usize>) {
    let mut list = Vec::new();
    let mut of = HashMap::new();
    let mut shared = None;
    for route in ROUTES {
        let own = if route == Route::Webhook {
            Some(limits.webhook)
        } else {
            limits.routes.get(route.key()).copied()
        };
        let i = match own {
            Some((burst, rate)) => {
                list.push(TokenBucket::new(burst, rate));
                list.len() - 1
            }
            None if shared_default => *shared.get_or_insert_with(|| {
                list.push(TokenBucket::new(limits.default.0, limits.default.1));
                list.len() - 1
            }),
            None => {
                list.push(TokenBucket::new(limits.default.0, limits.default.1));
                list.len() - 1
            }
        };
        of.insert(route, i);
    }
    (list, of)
}

fn run(s: &Scenario, limits: &Limits, args: &Args) -> Outcome {
    let (mut buckets, bucket_of) = buckets(limits, s.shared_default);
    let mut waf = s.edge.then(|| Waf {
        signature_prefix: limits.signature_prefix.clone(),
        rules: limits
            .rules
            .iter()
            .map(|(_, l, w, sc)| RateRule::new(*l, *w, sc.clone(), args.waf_check_s))
            .collect(),
    });
    let late_from = args.steady_from;
    let mut out = Outcome::default();
    for req in traffic(s, args.flows, args.seconds, args.seed) {
        let late = req.t >= late_from;
        let passed_edge = waf.as_mut().is_none_or(|w| w.allows(req.t, &req));
        let served = passed_edge && !req.unrouted && buckets[bucket_of[&req.route]].take(req.t);
        if req.junk {
            out.junk_sent += 1;
            if !passed_edge {
                out.junk_blocked_at_edge += 1;
            } else if served {
                out.last_junk_past_edge = Some(req.t);
                out.junk_admitted += 1;
                out.junk_admitted_late += u64::from(late);
            } else {
                out.last_junk_past_edge = Some(req.t);
                out.junk_throttled += u64::from(!req.unrouted);
            }
        } else {
            let tally = out.legit.entry(req.route).or_default();
            tally.sent += 1;
            tally.served += u64::from(served);
            if late {
                tally.late_sent += 1;
                tally.late_served += u64::from(served);
            }
        }
    }
    out
}

// ---------------------------------------------------------------- the report

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p >= 99.95 {
        "100%".into()
    } else if p >= 10.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn flood_name(f: Flood) -> String {
    let ips = match f.ips {
        1 => "1 IP".to_string(),
        n => format!("{} IPs", thousands(u64::from(n))),
    };
    format!("{}/s from {ips}", thousands(f.rate as u64))
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

const FLOODS: [Flood; 3] = [
    Flood {
        rate: 1000.0,
        ips: 1,
    },
    Flood {
        rate: 1000.0,
        ips: 100,
    },
    Flood {
        rate: 10_000.0,
        ips: 10_000,
    },
];

/// Junk refused by the callback function (before any lookup, or after one
/// DynamoDB read: 10 ms, docs/operations.md's assumption), and a legitimate
/// callback (0.223 s, docs/scale.md): the callback's concurrency (Little's law).
const CALLBACK_JUNK_S: f64 = 0.010;
const CALLBACK_LEGIT_S: f64 = 0.223;

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let root = args
        .root
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let limits = load_limits(&root)?;
    let mode = if args.shared_default {
        "one bucket for every route without limits of its own (--shared-default)"
    } else {
        "a bucket per route"
    };
    println!("Modelled (not measured): API Gateway's throttle and AWS WAF cannot run here.");
    println!(
        "Limits from template.yaml: default route {:.0} burst / {:.0} per s ({mode}); {}; webhook API {:.0} / {:.0}.",
        limits.default.0,
        limits.default.1,
        {
            let mut r: Vec<String> = limits
                .routes
                .iter()
                .map(|(k, (b, rate))| format!("{k} {b:.0} / {rate:.0}"))
                .collect();
            r.sort();
            r.join("; ")
        },
        limits.webhook.0,
        limits.webhook.1
    );
    println!(
        "From edge/web-acl.yaml: {}{}; checked every {:.0} s.",
        limits
            .signature_prefix
            .as_ref()
            .map(|p| format!("no signature header under {p} blocked; "))
            .unwrap_or_default(),
        limits
            .rules
            .iter()
            .map(|(n, l, w, _)| format!("{n} {l} per {w} s"))
            .collect::<Vec<_>>()
            .join(", "),
        args.waf_check_s
    );
    println!(
        "Legitimate: {} flows/s; {:.0} s a run; the shares are of the legitimate requests served from {:.0} s on (the steady state); seed {}.\n",
        args.flows, args.seconds, args.steady_from, args.seed
    );

    // No flood: the baseline.
    let base = Scenario {
        flooded: None,
        flood: FLOODS[0],
        junk: Junk::Plain,
        edge: false,
        shared_default: args.shared_default,
    };
    let b = run(&base, &limits, &args);
    let worst = ROUTES
        .iter()
        .map(|r| b.legit.get(r).map(Tally::share).unwrap_or(1.0))
        .fold(1.0, f64::min);
    println!(
        "No flood: every route serves {} of its legitimate requests.\n",
        pct(worst)
    );

    println!("| route (burst / rate) | flood | without the edge | with the edge: the junk cut | with the edge | the other default routes, if one bucket |");
    println!("|---|---|---|---|---|---|");
    let callback_concurrency = limits.params.get("CallbackConcurrency").copied();
    let mut callback_peak: f64 = 0.0;
    let steady = args.seconds - args.steady_from;
    for route in ROUTES {
        let junks: &[Junk] = if route == Route::Webhook {
            &[Junk::WrongPath, Junk::Plain, Junk::ForgedSignature]
        } else {
            &[Junk::Plain]
        };
        let (burst, rate) = if route == Route::Webhook {
            limits.webhook
        } else {
            limits
                .routes
                .get(route.key())
                .copied()
                .unwrap_or(limits.default)
        };
        for &junk in junks {
            for flood in FLOODS {
                let mut cells = Vec::new();
                for edge in [false, true] {
                    let s = Scenario {
                        flooded: Some(route),
                        flood,
                        junk,
                        edge,
                        shared_default: args.shared_default,
                    };
                    let o = run(&s, &limits, &args);
                    let t = o.legit.get(&route).cloned().unwrap_or_default();
                    if edge {
                        cells.push(if o.junk_blocked_at_edge == o.junk_sent {
                            "at once".to_string()
                        } else {
                            match o.last_junk_past_edge {
                                Some(last) if last < args.seconds - 1.0 => {
                                    format!("after {:.0} s", last.ceil())
                                }
                                _ => "never".to_string(),
                            }
                        });
                    }
                    cells.push(pct(t.late_share()));
                    if route == Route::Callback {
                        let junk_rate = o.junk_admitted_late as f64 / steady;
                        let legit_rate = t.late_served as f64 / steady;
                        callback_peak = callback_peak
                            .max(junk_rate * CALLBACK_JUNK_S + legit_rate * CALLBACK_LEGIT_S);
                    }
                }
                // The other default routes, if the default limit were one bucket.
                let others = if limits.routes.contains_key(route.key()) || route == Route::Webhook {
                    "apart".to_string()
                } else {
                    let s = Scenario {
                        flooded: Some(route),
                        flood,
                        junk,
                        edge: false,
                        shared_default: true,
                    };
                    let o = run(&s, &limits, &args);
                    let (mut sent, mut served) = (0, 0);
                    for (r, t) in &o.legit {
                        if *r != route
                            && !limits.routes.contains_key(r.key())
                            && *r != Route::Webhook
                        {
                            sent += t.late_sent;
                            served += t.late_served;
                        }
                    }
                    format!("{} without the edge", pct(ratio(served, sent)))
                };
                let what = match junk {
                    Junk::Plain if route == Route::Webhook => " on the real path, unsigned",
                    Junk::WrongPath => " on a wrong path",
                    Junk::ForgedSignature => " on the real path, a forged signature header",
                    Junk::Plain => "",
                };
                println!(
                    "| `{}` ({burst:.0} / {rate:.0}) | {}{what} | {} | {} | {} | {others} |",
                    route.key(),
                    flood_name(flood),
                    cells[0],
                    cells[1],
                    cells[2]
                );
            }
        }
    }
    if let Some(c) = callback_concurrency {
        println!(
            "\nThe callback function's concurrency in the worst steady state (Little's law: junk admitted x {:.0} ms + callbacks served x {:.0} ms): {callback_peak:.1} of CallbackConcurrency {c:.0}.",
            CALLBACK_JUNK_S * 1000.0,
            CALLBACK_LEGIT_S * 1000.0
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- the tests

#[cfg(test)]
mod tests {
    use super::*;

    /// The default route's and the webhook's limits as the template's
    /// defaults have them, no per-route limits, no edge.
    fn template_defaults() -> Limits {
        Limits {
            default: (80.0, 40.0),
            routes: HashMap::new(),
            webhook: (100.0, 50.0),
            rules: Vec::new(),
            signature_prefix: None,
            params: HashMap::new(),
        }
    }

    /// Requests of one client at a steady `rate` for `seconds`: how many served.
    fn steady(bucket: &mut TokenBucket, rate: f64, seconds: f64) -> (u64, u64) {
        let (mut sent, mut served) = (0, 0);
        let mut t = 0.0;
        while t < seconds {
            sent += 1;
            served += u64::from(bucket.take(t));
            t += 1.0 / rate;
        }
        (sent, served)
    }

    #[test]
    fn a_lone_client_below_the_rate_is_never_throttled() {
        let mut b = TokenBucket::new(80.0, 40.0);
        let (sent, served) = steady(&mut b, 39.0, 600.0);
        assert_eq!(sent, served);
    }

    #[test]
    fn the_burst_is_served_at_once_and_then_only_the_rate() {
        let mut b = TokenBucket::new(80.0, 40.0);
        let at_once = (0..200).filter(|_| b.take(0.0)).count();
        assert_eq!(at_once, 80);
        // Then 10 s at 1,000/s: the rate's 400, give or take one.
        let mut served = 0;
        for i in 1..=10_000 {
            served += u64::from(b.take(f64::from(i) / 1000.0));
        }
        assert!((399..=401).contains(&served), "{served}");
    }

    #[test]
    fn a_flood_at_ten_times_the_rate_leaves_about_a_tenth_to_legitimate_traffic() {
        // Default route limits, 10 legitimate requests/s, junk at 10x the rate.
        let limits = template_defaults();
        let args = Args::parse_from(["flood-model", "--seconds", "300", "--steady-from", "60"]);
        let s = Scenario {
            flooded: Some(Route::Session),
            flood: Flood {
                rate: 400.0,
                ips: 1,
            },
            junk: Junk::Plain,
            edge: false,
            shared_default: false,
        };
        let o = run(&s, &limits, &args);
        let t = &o.legit[&Route::Session];
        // 40 tokens/s shared by 410 requests/s: 40/410 = 9.8% of each.
        let share = t.late_share();
        assert!((0.07..0.13).contains(&share), "{share}");
        // And the routes with their own buckets are untouched.
        assert_eq!(o.legit[&Route::Complete].share(), 1.0);
    }

    #[test]
    fn one_bucket_for_the_default_routes_spreads_the_flood_to_all_of_them() {
        let limits = template_defaults();
        let args = Args::parse_from(["flood-model"]);
        let s = Scenario {
            flooded: Some(Route::Session),
            flood: Flood {
                rate: 1000.0,
                ips: 1,
            },
            junk: Junk::Plain,
            edge: false,
            shared_default: true,
        };
        let o = run(&s, &limits, &args);
        assert!(o.legit[&Route::Complete].late_share() < 0.1);
        assert_eq!(o.legit[&Route::Webhook].share(), 1.0);
    }

    fn rule(check_every: f64) -> RateRule {
        RateRule::new(300, 300, Scope::Prefix("/link/session".into()), check_every)
    }

    #[test]
    fn a_single_ip_flood_is_blocked_from_the_first_check_after_it_exceeds_the_limit() {
        let mut r = rule(30.0);
        let mut blocked_before = 0;
        let mut passed_after = 0;
        for i in 0..60_000 {
            let t = f64::from(i) / 1000.0;
            let blocked = r.observe(t, 7);
            if t < 30.0 {
                blocked_before += u32::from(blocked);
            } else {
                passed_after += u32::from(!blocked);
            }
        }
        assert_eq!(blocked_before, 0, "blocked before the first check");
        assert_eq!(passed_after, 0, "passed after the check");
    }

    #[test]
    fn the_block_lasts_while_the_count_over_the_window_exceeds_the_limit() {
        let mut r = rule(10.0);
        // 400 requests in the first 4 s, then one every 10 s.
        for i in 0..400 {
            r.observe(f64::from(i) / 100.0, 7);
        }
        let mut unblocked_at = None;
        for k in 1..60 {
            let t = 10.0 * f64::from(k) + 5.0;
            if !r.observe(t, 7) && unblocked_at.is_none() {
                unblocked_at = Some(t);
            }
        }
        // Blocked from the check at 10 s until the first check after the burst
        // left the 300 s window (at 310 s).
        assert_eq!(unblocked_at, Some(315.0));
    }

    #[test]
    fn an_ip_at_the_limit_and_other_ips_are_never_blocked() {
        let mut r = rule(1.0);
        // IP 1 at exactly 1/s (300 in 300 s); IP 2 flooding.
        for i in 0..600_000u32 {
            let t = f64::from(i) / 1000.0;
            if i.is_multiple_of(1000) {
                assert!(!r.observe(t, 1), "IP 1 blocked at {t}");
            }
            r.observe(t, 2);
        }
        assert!(r.ips[&2].blocked);
        // Out of scope: not counted.
        assert!(!r.scope.matches("/link/complete"));
    }

    #[test]
    fn the_edge_cuts_a_single_ip_flood_but_not_a_distributed_one() {
        let limits = Limits {
            rules: vec![(
                "session-per-ip".into(),
                300,
                300,
                Scope::Prefix("/link/session".into()),
            )],
            signature_prefix: Some("/link/webhook/".into()),
            ..template_defaults()
        };
        let args = Args::parse_from(["flood-model"]);
        let mut s = Scenario {
            flooded: Some(Route::Session),
            flood: Flood {
                rate: 1000.0,
                ips: 1,
            },
            junk: Junk::Plain,
            edge: true,
            shared_default: false,
        };
        let o = run(&s, &limits, &args);
        assert_eq!(o.legit[&Route::Session].late_share(), 1.0);
        s.flood = Flood {
            rate: 1000.0,
            ips: 1000,
        };
        let o = run(&s, &limits, &args);
        assert!(o.legit[&Route::Session].late_share() < 0.1);
        // Unsigned junk on the webhook's path never reaches its API.
        s.flooded = Some(Route::Webhook);
        let o = run(&s, &limits, &args);
        assert_eq!(o.junk_blocked_at_edge, o.junk_sent);
        assert_eq!(o.legit[&Route::Webhook].share(), 1.0);
    }

    #[test]
    fn junk_on_a_wrong_webhook_path_spends_nothing() {
        let limits = load_limits(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
        let args = Args::parse_from(["flood-model"]);
        let s = Scenario {
            flooded: Some(Route::Webhook),
            flood: Flood {
                rate: 10_000.0,
                ips: 1,
            },
            junk: Junk::WrongPath,
            edge: false,
            shared_default: false,
        };
        let o = run(&s, &limits, &args);
        assert_eq!(o.junk_admitted + o.junk_throttled, 0);
        assert_eq!(o.legit[&Route::Webhook].share(), 1.0);
    }

    #[test]
    fn the_limits_are_read_from_the_template_and_the_web_acl() {
        let limits = load_limits(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
        assert!(limits.routes.contains_key("GET /link/callback"));
        assert!(limits.default.0 >= 1.0 && limits.default.1 >= 1.0);
        assert!(limits.webhook.1 >= 1.0);
        assert_eq!(limits.signature_prefix.as_deref(), Some("/link/webhook/"));
        let scopes: Vec<&Scope> = limits.rules.iter().map(|r| &r.3).collect();
        for p in ["/link/callback", "/link/complete", "/link/session"] {
            assert!(scopes.contains(&&Scope::Prefix(p.into())), "{p}");
        }
        assert!(scopes.contains(&&Scope::NotPrefix("/link/webhook/".into())));
        assert!(limits.params.contains_key("CompleteConcurrency"));
    }
}
