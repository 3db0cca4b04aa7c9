//! CloudWatch metrics in Embedded Metric Format (EMF): counters and latencies are
//! recorded through the `metrics` facade and written to stdout as EMF documents
//! after each invocation by `metrics_cloudwatch_embedded`, so CloudWatch Logs
//! extracts them with no API call and no agent (no added latency, no PutMetricData
//! permission).
//!
//! One namespace (`METRICS_NAMESPACE`; unset: metrics off, as in local runs), and
//! only low-cardinality dimensions: a route, an outcome code, an OFAuth endpoint
//! and status class, a DynamoDB error kind, a function name. Never a user,
//! attempt or connection id: codes that come from outside (OFAuth's `error_code`,
//! `step`) are mapped to a fixed set first (`"other"` for the rest).
//!
//! | metric | dimensions | one per |
//! |---|---|---|
//! | `Requests` | `Route`, `Outcome` | HTTP request (the outcome code of its one log line) |
//! | `LinkCancelled` | `Step` | callback with `status=cancelled` |
//! | `LinkErrors` | `Code` | callback with `status=error` |
//! | `SignatureFailures` | `Check` | webhook refused as `invalid_signature` |
//! | `OFAuthCalls` | `Endpoint`, `Result`; and none | OFAuth call |
//! | `OFAuthFailures` | none | OFAuth call answered 5xx or 429, or not answered |
//! | `OFAuthLatency` (ms) | `Endpoint`; and none | OFAuth call answered |
//! | `DynamoDBErrors` | `Kind`; and none | DynamoDB call that failed (not a condition) |
//! | `ReconcileRuns` | `Outcome` | reconciler run (`reconciled`, `busy`, `failed`) |
//! | `ReconcileChecked`, `…Changed`, `…Reported`, `…Disconnected`, `…Errors`, `…Pages`, `…Scrubbed`, `…Missing` | none | reconciler run |
//! | `ReconcileHalted` | `Reason`; and none | reconciler run that stopped before changing records |
//! | `SecurityEvents` | `Kind`; and none | security log line (someone tried to use what is not theirs) |
//! | `StartCookieMissing` | none | a code handed to a browser without the start cookie (a cross-site deployment, `START_COOKIE=logged`) |
//! | `EventsPublished` | `DetailType`; and none | event the publisher handed to EventBridge |
//! | `PublishFailures` | none | event not handed over after its tries (its batch is retried) |
//! | `ColdStart` | `Function` | process |
//!
//! The aggregate series (no dimension) exist for the alarms, which cannot sum
//! over a dimension's values.

use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, histogram, Unit};
use metrics_cloudwatch_embedded::Collector;

use crate::ids::AttemptId;

/// Every metric name this code emits (the template's alarms and dashboard may
/// use only these: a test holds both sides).
pub const METRICS: &[&str] = &[
    "Requests",
    "LinkCancelled",
    "LinkErrors",
    "SignatureFailures",
    "OFAuthCalls",
    "OFAuthFailures",
    "OFAuthLatency",
    "DynamoDBErrors",
    "ReconcileRuns",
    "ReconcileChecked",
    "ReconcileChanged",
    "ReconcileReported",
    "ReconcileDisconnected",
    "ReconcileErrors",
    "ReconcilePages",
    "ReconcileScrubbed",
    "ReconcileMissing",
    "ReconcileHalted",
    "ReconcileBreakerTrips",
    "ReconcileReconnectsIncomplete",
    "SecurityEvents",
    "StartCookieMissing",
    "EventsPublished",
    "EventsSuperseded",
    "PublishFailures",
    "ColdStart",
];

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

tokio::task_local! {
    /// The outcome code of the request being handled (see [`outcome`]).
    static OUTCOME: Cell<Option<&'static str>>;
}

/// Installs the EMF recorder for this process, with `namespace`, and counts the
/// cold start of `function`. Once per process; later calls do nothing.
pub fn install(namespace: &str, function: &'static str) {
    if COLLECTOR.get().is_some() {
        return;
    }
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace.to_string())
        .init()
    {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
            metrics::describe_histogram!("OFAuthLatency", Unit::Milliseconds, "OFAuth call time");
            counter!("ColdStart", "Function" => function).increment(1);
        }
        Err(e) => {
            tracing::warn!(error = %e, "metrics are off: the recorder could not be installed")
        }
    }
}

/// [`install`] with the configured namespace; nothing when none is configured.
pub(crate) fn install_for(namespace: Option<&str>, function: &'static str) {
    if let Some(ns) = namespace {
        install(ns, function);
    }
}

/// Whether metrics are being recorded in this process.
pub fn enabled() -> bool {
    COLLECTOR.get().is_some()
}

/// Writes what was recorded since the last flush as EMF documents (one JSON line
/// per dimension set) to stdout, where Lambda sends it to CloudWatch Logs.
pub fn flush() {
    if let Some(c) = COLLECTOR.get() {
        let out = std::io::stdout();
        let mut out = out.lock();
        let _ = c.flush(&mut out);
        let _ = out.flush();
    }
}

/// Writes what was recorded since the last flush to `w` (tests read the documents).
pub fn flush_to(w: impl Write) -> std::io::Result<()> {
    match COLLECTOR.get() {
        Some(c) => c.flush(w),
        None => Ok(()),
    }
}

/// Records the outcome code of the request being handled: the code its one log
/// line carries. The last one recorded counts. Outside [`request`] it does nothing.
pub fn outcome(code: &'static str) {
    let _ = OUTCOME.try_with(|c| c.set(Some(code)));
}

/// Runs one request's handler and counts it as `Requests{Route, Outcome}`.
pub async fn request<R>(
    route: &'static str,
    preflight: bool,
    handler: impl Future<Output = R>,
) -> R {
    // Boxed: a handler's future is large (in debug builds, deep enough to
    // overflow a test thread's stack when held inline); one allocation a request.
    let (result, code) = OUTCOME
        .scope(
            Cell::new(None),
            Box::pin(async {
                let r = handler.await;
                (r, OUTCOME.with(Cell::get))
            }),
        )
        .await;
    let code = code.unwrap_or(if preflight { "preflight" } else { "unrecorded" });
    counter!("Requests", "Route" => route, "Outcome" => code).increment(1);
    result
}

/// The span each request runs in: its route, and the flow it belongs to once
/// known ([`correlate`]). Every log line inside carries them (`span.flow`).
pub(crate) fn request_span(route: &'static str) -> tracing::Span {
    tracing::info_span!("request", route, flow = tracing::field::Empty)
}

/// Marks the current request as part of `attempt`'s flow: its log lines from
/// here on carry the masked attempt id as `span.flow`, the one correlation id
/// of a user's flow across every function.
pub(crate) fn correlate(attempt: &AttemptId) {
    tracing::Span::current().record("flow", attempt.masked().as_str());
}

/// A span for work on one flow outside a request (the reconciler's look at one
/// connection).
pub(crate) fn flow_span(attempt: Option<&AttemptId>) -> tracing::Span {
    let span = tracing::info_span!("connection", flow = tracing::field::Empty);
    if let Some(a) = attempt {
        span.record("flow", a.masked().as_str());
    }
    span
}

/// The route a path belongs to, for the `Route` dimension: one of a fixed set.
pub(crate) fn route_of(path: &str) -> &'static str {
    match path {
        "/link/session" => "session",
        "/link/callback" => "callback",
        "/link/complete" => "complete",
        p if p == "/link/webhook" || p.starts_with("/link/webhook/") => "webhook",
        p if p == "/link/connections" || p.starts_with("/link/connections/") => "connections",
        p if p.starts_with("/platform/") => "platform",
        _ => "other",
    }
}

/// A callback cancelled at `step` (already one of a fixed set, or `"other"`).
pub(crate) fn link_cancelled(step: &'static str) {
    counter!("LinkCancelled", "Step" => step).increment(1);
}

/// A callback with OFAuth's `error_code` (one of a fixed set, or `"other"`).
pub fn link_error(code: &'static str) {
    counter!("LinkErrors", "Code" => code).increment(1);
}

/// Someone tried to use what is not theirs (the security log line's event):
/// `Kind` is a refusal code or an event name from a fixed set
/// (`account_mismatch`, `completion_refused`, `connection_conflict`, …).
pub(crate) fn security_event(kind: &'static str) {
    counter!("SecurityEvents", "Kind" => kind).increment(1);
    counter!("SecurityEvents").increment(1);
}

/// Another OnlyFans account on a bound connection, as a webhook or the
/// reconciler (`leg`) saw it: the first sighting of the swap (`first`) is a
/// security event (`SecurityEvents{Kind=account_mismatch}`, a `security = true`
/// warning); a repeat of one the record already holds (OFAuth's report of its
/// invalidation, the reconciler's look, the other leg of the same reconnect) is
/// an info line. `live`: the sighting says the connection is usable.
pub(crate) fn account_swap(
    first: bool,
    live: bool,
    leg: &'static str,
    connection: &str,
    attempt: &str,
    invalidated: bool,
) {
    let kind = "account_mismatch";
    if first {
        security_event(kind);
        tracing::warn!(
            outcome = kind, security = true, leg, connection, attempt, live, invalidated,
            "another OnlyFans account on a bound connection; the owner's record and profile are kept"
        );
    } else {
        tracing::info!(
            outcome = kind,
            leg,
            connection,
            attempt,
            live,
            invalidated,
            "a repeat of an account swap the record already holds"
        );
    }
}

/// A completion code handed to a browser without the attempt's start cookie,
/// on a deployment where browsers may not keep it (`START_COOKIE=logged`).
/// A request to the Link routes that did not come through the edge
/// ([`crate::apigw::OriginGuard`]).
pub(crate) fn origin_refused() {
    counter!("OriginRefused").increment(1);
}

pub fn start_cookie_missing() {
    counter!("StartCookieMissing").increment(1);
}

/// An event the publisher handed to EventBridge, by its kind.
pub(crate) fn event_published(kind: &'static str) {
    counter!("EventsPublished", "DetailType" => kind).increment(1);
    counter!("EventsPublished").increment(1);
}

/// An event the publisher did not send: its user's completed erasure covers
/// it (`User Data Erased` lists its connection).
pub(crate) fn event_suppressed(kind: &'static str) {
    counter!("EventsSuperseded", "DetailType" => kind).increment(1);
}

/// Events the publisher could not hand over after its tries (the batch is
/// retried from the first of them).
pub(crate) fn publish_failures(n: u64) {
    counter!("PublishFailures").increment(n);
}

/// The reconciler stopped itself before changing records: `wrong_account`
/// (the API key is another OFAuth account's) or `breaker` (an unusual share of
/// records unknown to OFAuth).
pub(crate) fn reconcile_halted(reason: &'static str) {
    counter!("ReconcileHalted", "Reason" => reason).increment(1);
    counter!("ReconcileHalted").increment(1);
}

/// The reconciler's breaker tripped, for `why` (`swapped`, `unknown`,
/// `unseen`); the log line names the records.
pub(crate) fn reconcile_breaker_trip(why: &'static str) {
    counter!("ReconcileBreakerTrips", "Why" => why).increment(1);
}

/// A reconcile run that could not check every reconnect (within half its
/// time): the next run checks the rest.
pub(crate) fn reconcile_reconnects_incomplete() {
    counter!("ReconcileReconnectsIncomplete").increment(1);
}

/// A reconcile run whose pass over new connections did not reach its mark (the
/// connect rate outruns the schedule: shorten it).
pub(crate) fn reconcile_recent_incomplete() {
    counter!("ReconcileRecentIncomplete").increment(1);
}

/// A webhook delivery refused at signature check `check`.
pub(crate) fn signature_failure(check: &'static str) {
    counter!("SignatureFailures", "Check" => check).increment(1);
}

/// How an OFAuth call ended, for the `Result` dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// Answered with this status.
    Status(u16),
    Timeout,
    Unreachable,
}

impl CallResult {
    fn label(self) -> &'static str {
        match self {
            Self::Status(s) if (200..300).contains(&s) => "2xx",
            Self::Status(429) => "429",
            Self::Status(s) if (400..500).contains(&s) => "4xx",
            Self::Status(s) if (500..600).contains(&s) => "5xx",
            Self::Status(_) => "other",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
        }
    }

    /// OFAuth failing or refusing to serve, as opposed to an answer about a request.
    fn is_failure(self) -> bool {
        !matches!(self.label(), "2xx" | "4xx")
    }
}

/// One OFAuth call to `endpoint`, with how long it took when it was answered.
pub fn ofauth_call(endpoint: &'static str, result: CallResult, took: Option<Duration>) {
    counter!("OFAuthCalls", "Endpoint" => endpoint, "Result" => result.label()).increment(1);
    counter!("OFAuthCalls").increment(1);
    if result.is_failure() {
        counter!("OFAuthFailures").increment(1);
    }
    if let Some(took) = took {
        let ms = took.as_secs_f64() * 1000.0;
        histogram!("OFAuthLatency", "Endpoint" => endpoint).record(ms);
        histogram!("OFAuthLatency").record(ms);
    }
}

/// A DynamoDB call that failed, by kind (`throttled`, `timeout`, `unreachable`,
/// `service`, `other`).
pub(crate) fn dynamodb_error(kind: &'static str) {
    counter!("DynamoDBErrors", "Kind" => kind).increment(1);
    counter!("DynamoDBErrors").increment(1);
}

/// The reconciler's run.
pub(crate) fn reconcile_run(outcome: &'static str, counts: &[(&'static str, u64)]) {
    counter!("ReconcileRuns", "Outcome" => outcome).increment(1);
    for (name, value) in counts {
        counter!(*name).increment(*value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_results_are_a_fixed_set() {
        assert_eq!(route_of("/link/connections/lc_x"), "connections");
        assert_eq!(route_of("/link/connectionsX"), "other");
        assert_eq!(route_of("/link/session"), "session");
        assert_eq!(route_of("/anything/else"), "other");
        assert_eq!(CallResult::Status(201).label(), "2xx");
        assert_eq!(CallResult::Status(404).label(), "4xx");
        assert_eq!(CallResult::Status(429).label(), "429");
        assert_eq!(CallResult::Status(503).label(), "5xx");
        assert!(CallResult::Status(429).is_failure());
        assert!(CallResult::Timeout.is_failure());
        assert!(!CallResult::Status(401).is_failure());
    }
}
