//! reconcile: a scheduled run that makes the table and OFAuth agree when webhooks
//! were lost (OFAuth gives up after 5 deliveries).
//!
//! A sweep has two passes, resumed run after run from a cursor in the table:
//! 1. **OFAuth's list** (`GET /v2/account/connections`, page by page). Only this
//!    deployment's connections are looked at: those the table has a record of, or
//!    whose `clientReferenceId` is one of its attempts. Anything else (another
//!    client app on the same OFAuth account, an imported connection) is never
//!    touched. A record whose status differs from OFAuth's is updated through the
//!    webhook's own path and order (the list's `updatedAt` is OFAuth's clock), so
//!    a newer webhook state is never overwritten. A connection of ours that nobody
//!    owns, once its attempt can no longer bind it, is reported and, after a grace
//!    period, disconnected at OFAuth so that billing stops (`RECONCILE_UNBOUND`).
//! 2. **The table** (a paged scan of the records not yet disconnected). A record
//!    the list did not show during the sweep is asked about on its own
//!    (`GET /v2/access/self`): one OFAuth no longer knows is marked disconnected,
//!    one that needs a reconnect expired. (Offsets can shift while a sweep pages,
//!    so absence from the list alone is never taken as proof.)
//!
//! Before the sweep, each run reads **what is new**: OFAuth's list from its
//! newest connection back to where the last such pass began (less
//! [`RECENT_SKEW_MS`] for the clocks), whatever the sweep's cursor. This is where
//! a user who finished while the callback's own search could not see their
//! connection (too many others connected in between) and whose webhook was lost
//! gets it: the list names the attempt (`clientReferenceId`), the same
//! attestation the webhook and the callback's search give, applied through the
//! webhook's own path, which binds only an attempt that is `verifying` for that
//! connection and can still bind. Its cost grows with the connect rate, not the
//! account: every connection is read once by it.
//!
//! Then it reads every connection OFAuth lists as `expired` (the list's
//! documented `status` filter): a lost expiry is caught in the next run however
//! large the account, not when the sweep gets to it.
//!
//! Work per run is bounded: at most `RECONCILE_MAX_PAGES` sweep pages (and
//! [`RECENT_MAX_PAGES`] new ones, [`EXPIRED_MAX_PAGES`] expired ones), and nothing new is started within
//! [`DEADLINE_MARGIN`] of the function's deadline. A lease on the cursor keeps
//! two runs from working at once.
//!
//! Three guards keep a wrong key or an OFAuth incident from marking records
//! disconnected, a state that is final:
//! - each run first asks OFAuth whose key it holds (`GET /v2/account/whoami`) and
//!   does nothing when it is not the expected account (`OFAUTH_ACCOUNT_ID`, or
//!   the one the first run saw, kept with the cursor);
//! - a record OFAuth does not know is first marked missing (`missingSweep`), and
//!   only a later sweep that finds it unknown again marks it disconnected;
//! - a table page whose records OFAuth calls unknown in an unusual share
//!   (`RECONCILE_BREAKER_PERCENT` of its live records, at least
//!   [`BREAKER_MIN_UNKNOWN`]) changes nothing, and the run stops there (the
//!   breaker; an alarm reads `ReconcileHalted`).
//!
//! A bound connection OFAuth shows with another OnlyFans account than the one
//! bound to it is refused as the webhook refuses it: the owner's record and
//! profile kept, the record marked expired, the connection invalidated at OFAuth
//! (again each sweep until OFAuth reports it expired).

use crate::telemetry;
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};
use tracing::Instrument;

use serde::Serialize;

use crate::account::AccountProfile;
use crate::config::{ReconcileSettings, UnboundAction};
use crate::ids::{AttemptId, ConnectionId};
use crate::ofauth::{ConnectionCheck, ListedConnection, OfAuthClient};
use crate::store::{
    lifecycle_rank, Applied, AttemptStatus, ConnectionEvent, ConnectionRecord, Cursor, Known,
    Lease, LinkAttempt, Phase, Store, StoreError,
};
use crate::time::{epoch, epoch_ms, parse_rfc3339_ms};

/// Nothing new starts this close to the deadline: room for one OFAuth call and
/// a few table writes at their timeouts, and the cursor's save.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(15);

/// Items one table page reads (of every kind).
const TABLE_PAGE_ITEMS: i32 = 100;

/// The breaker trips only from this many unknown records on a page up.
pub const BREAKER_MIN_UNKNOWN: usize = 3;

/// The pass over what is new reads this far past its mark: OFAuth's clock and
/// this function's may disagree.
pub const RECENT_SKEW_MS: i64 = 60_000;

/// The first pass over what is new (no mark yet) reads back this far: longer
/// than any attempt can wait to be attested.
pub const RECENT_FIRST_LOOKBACK_MS: i64 = 2 * 3_600_000;

/// Pages of `status=expired` connections one run reads at most.
pub const EXPIRED_MAX_PAGES: u32 = 1000;

/// Pages of new connections one run reads at most; a run that cannot reach its
/// mark keeps the old one (the next run reads from the newest again) and says
/// so (`recentComplete: false`, the `ReconcileRecentIncomplete` metric).
pub const RECENT_MAX_PAGES: u32 = 1000;

/// What the reconciler needs, built once per process.
#[derive(Debug, Clone)]
pub struct ReconcileService {
    store: Store,
    ofauth: OfAuthClient,
    settings: ReconcileSettings,
    page_size: u32,
}

/// One run's counts (the log line and the invocation's answer).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Connections of this deployment looked at.
    pub checked: u32,
    /// Records brought in line with OFAuth.
    pub changed: u32,
    /// Connections of ours that nobody owns and nobody can bind any more.
    pub reported: u32,
    /// Of those, disconnected at OFAuth by this run.
    pub disconnected: u32,
    /// OFAuth calls or writes that failed (retried by a later run).
    pub errors: u32,
    /// Pages read (OFAuth's list and the table).
    pub pages: u32,
    /// Records whose personal fields were past their retention and taken off.
    pub scrubbed: u32,
    /// Records OFAuth did not know this sweep, marked missing (a later sweep
    /// confirms before marking them disconnected).
    pub missing: u32,
    /// Verifying attempts bound because OFAuth's list names them (their
    /// webhook was lost).
    pub attested: u32,
    /// Pages of new connections read (also counted in `pages`).
    pub recent_pages: u32,
    /// Pages of expired connections read (also counted in `pages`).
    pub expired_pages: u32,
}

impl Counts {
    /// The counts as the reconciler's metrics (see [`crate::telemetry`]).
    fn as_metrics(&self) -> [(&'static str, u64); 9] {
        [
            ("ReconcileAttested", self.attested.into()),
            ("ReconcileChecked", self.checked.into()),
            ("ReconcileChanged", self.changed.into()),
            ("ReconcileReported", self.reported.into()),
            ("ReconcileDisconnected", self.disconnected.into()),
            ("ReconcileErrors", self.errors.into()),
            ("ReconcilePages", self.pages.into()),
            ("ReconcileScrubbed", self.scrubbed.into()),
            ("ReconcileMissing", self.missing.into()),
        ]
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    #[serde(flatten)]
    pub counts: Counts,
    /// Another run holds the lease: nothing was done.
    pub busy: bool,
    /// This run finished a sweep.
    pub sweep_done: bool,
    /// Where the next run starts (`listing`, `table`, `done`).
    pub phase: &'static str,
    /// The pass over what is new reached its mark (or the list's end).
    pub recent_complete: bool,
    /// Why the run stopped itself before changing records, if it did:
    /// `wrong_account` or `breaker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<&'static str>,
}

/// A run that could not read or save its cursor.
#[derive(Debug, thiserror::Error)]
#[error("reconcile run failed: {0}")]
pub struct RunError(#[from] StoreError);

impl ReconcileService {
    pub fn new(
        store: Store,
        ofauth: OfAuthClient,
        settings: ReconcileSettings,
        page_size: u32,
    ) -> Self {
        Self {
            store,
            ofauth,
            settings,
            page_size,
        }
    }

    /// One run, ending before `deadline`.
    pub async fn run(&self, deadline: Instant) -> Result<RunReport, RunError> {
        let now = SystemTime::now();
        let run_id = AttemptId::generate()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|_| epoch_ms(now).to_string());
        let left = deadline.saturating_duration_since(Instant::now());
        let until_ms =
            epoch_ms(now) + i64::try_from(left.as_millis()).unwrap_or(i64::MAX / 2) + 5_000;
        let lease = self
            .store
            .acquire_reconcile_lease(&run_id, epoch_ms(now), until_ms)
            .await
            .inspect_err(|_| telemetry::reconcile_run("failed", &[]))?;
        let Some(lease) = lease else {
            telemetry::reconcile_run("busy", &[]);
            tracing::info!(outcome = "busy", "another reconcile run holds the lease");
            return Ok(RunReport {
                counts: Counts::default(),
                busy: true,
                sweep_done: false,
                phase: "busy",
                recent_complete: false,
                halted: None,
            });
        };
        let mut cursor = match &lease.cursor {
            Some(c) if c.phase != Phase::Done => c.clone(),
            _ => Cursor {
                sweep: epoch_ms(now),
                phase: Phase::Listing {
                    offset: 0,
                    chunks: 0,
                },
            },
        };
        let mut run = Run {
            svc: self,
            deadline,
            counts: Counts::default(),
            seen: None,
            halted: None,
            handled: HashSet::new(),
        };
        // Whose key this is, before anything else: another account's key sees
        // none of our connections, and every record would look gone.
        let account = run.account(&lease).await;
        let mut recent_complete = false;
        let outcome = match &account {
            Some(Ok(_)) => {
                let recent = run.recent(&lease, epoch_ms(now)).await;
                recent_complete = matches!(recent, Ok(true));
                let expired = match recent {
                    Ok(_) if run.halted.is_none() => run.expired().await,
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                };
                match expired {
                    Ok(()) if run.halted.is_none() => run.sweep(&mut cursor).await,
                    other => other,
                }
            }
            _ => Ok(()),
        };
        if !recent_complete && matches!(&account, Some(Ok(_))) && run.halted.is_none() {
            telemetry::reconcile_recent_incomplete();
        }
        let sweep_done = cursor.phase == Phase::Done;
        // The cursor is saved whatever happened: the pages done stay done. The
        // first run's account is kept with it.
        let pin = match (&account, &lease.account) {
            (Some(Ok(id)), None) => Some(id.as_str()),
            _ => None,
        };
        let saved = self
            .store
            .save_reconcile_cursor(&lease, &cursor, pin, true, SystemTime::now())
            .await;
        let halted = run.halted;
        let counts = run.counts;
        let phase = match cursor.phase {
            Phase::Listing { .. } => "listing",
            Phase::Table { .. } => "table",
            Phase::Done => "done",
        };
        let failed = outcome.and(saved).err();
        telemetry::reconcile_run(
            match (&failed, halted) {
                (Some(_), _) => "failed",
                (None, Some(_)) => "halted",
                (None, None) => "reconciled",
            },
            &counts.as_metrics(),
        );
        if let Some(reason) = halted {
            telemetry::reconcile_halted(reason);
        }
        if let Some(e) = failed {
            tracing::error!(outcome = "failed", error = %e, checked = counts.checked, changed = counts.changed, reported = counts.reported, disconnected = counts.disconnected, errors = counts.errors, pages = counts.pages, phase, "reconcile run failed");
            return Err(RunError(e));
        }
        tracing::info!(
            outcome = "reconciled",
            checked = counts.checked,
            changed = counts.changed,
            reported = counts.reported,
            disconnected = counts.disconnected,
            errors = counts.errors,
            pages = counts.pages,
            scrubbed = counts.scrubbed,
            missing = counts.missing,
            attested = counts.attested,
            recent_pages = counts.recent_pages,
            expired_pages = counts.expired_pages,
            recent_complete,
            sweep_done,
            phase,
            halted,
        );
        Ok(RunReport {
            counts,
            busy: false,
            sweep_done,
            phase,
            recent_complete,
            halted,
        })
    }
}

/// Runs the service as a Lambda function: each invocation (a scheduled event,
/// or any JSON object from `cargo lambda invoke`) is one run, ended well before
/// the invocation's deadline; it answers the run's counts.
pub async fn serve(svc: &ReconcileService) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let left_ms = event
                .context
                .deadline
                .saturating_sub(u64::try_from(epoch_ms(SystemTime::now())).unwrap_or(0));
            let deadline = Instant::now() + Duration::from_millis(left_ms);
            let report = svc.run(deadline).await;
            telemetry::flush();
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(report?)?)
        },
    ))
    .await
}

/// One run's state.
struct Run<'a> {
    svc: &'a ReconcileService,
    deadline: Instant,
    counts: Counts,
    /// The ids the sweep's list pages showed, read once per run for the table pass.
    seen: Option<HashSet<String>>,
    /// Why the run stopped itself before changing records.
    halted: Option<&'static str>,
    /// The listed connections this run already looked at (the pass over new
    /// ones and the sweep can both show one): each is decided once a run.
    handled: HashSet<String>,
}

/// What OFAuth said of a record the sweep's list did not show.
struct Verdict<'r> {
    record: &'r ConnectionRecord,
    check: ConnectionCheck,
}

impl Run<'_> {
    fn time_left(&self) -> bool {
        self.deadline.saturating_duration_since(Instant::now()) > DEADLINE_MARGIN
    }

    /// The sweep's own pages within its budget (the new connections' pass has
    /// its own), and time for more.
    fn budget_left(&self) -> bool {
        self.counts.pages - self.counts.recent_pages - self.counts.expired_pages
            < self.svc.settings.max_pages
            && self.time_left()
    }

    /// Reads every connection OFAuth lists as `expired` (`?status=expired`),
    /// each page as the sweep reads one: a lost expiry of ours is caught in the
    /// next run, however deep in the whole list the connection is and however
    /// far the sweep is from it.
    async fn expired(&mut self) -> Result<(), StoreError> {
        let mut offset = 0u32;
        while self.counts.expired_pages < EXPIRED_MAX_PAGES && self.time_left() {
            let Some(page) = self
                .list_page(Some("expired"), offset, "OFAuth's expired connections")
                .await
            else {
                return Ok(());
            };
            self.counts.expired_pages += 1;
            let Some((done, _)) = self.listing_page(&page.list).await? else {
                return Ok(()); // the breaker
            };
            if done < page.list.len() || !page.has_more || page.list.is_empty() {
                return Ok(());
            }
            offset += u32::try_from(page.list.len()).unwrap_or(u32::MAX);
        }
        Ok(())
    }

    /// One page of OFAuth's list (of one `status`, or all), counted; `None`
    /// when OFAuth could not answer (an error counted, logged with `what`).
    async fn list_page(
        &mut self,
        status: Option<&str>,
        offset: u32,
        what: &str,
    ) -> Option<crate::ofauth::ConnectionPage> {
        let ofauth = &self.svc.ofauth;
        let page = match status {
            Some(status) => {
                ofauth
                    .list_connections_with_status(status, self.svc.page_size, offset)
                    .await
            }
            None => ofauth.list_connections(self.svc.page_size, offset).await,
        };
        match page {
            Ok(p) => {
                self.counts.pages += 1;
                Some(p)
            }
            Err(e) => {
                tracing::warn!(error = %e, offset, "{what} could not be read");
                self.counts.errors += 1;
                None
            }
        }
    }

    /// Reads OFAuth's list from the newest connection back to the last pass's
    /// mark, each page as the sweep reads one (attesting what it names). `true`:
    /// it got there (and the mark moved to this run's start).
    async fn recent(&mut self, lease: &Lease, started_ms: i64) -> Result<bool, StoreError> {
        let back_to = lease
            .recent_since
            .map_or(started_ms - RECENT_FIRST_LOOKBACK_MS, |m| {
                m - RECENT_SKEW_MS
            });
        let mut offset = 0u32;
        let mut read = 0u32;
        loop {
            if read >= RECENT_MAX_PAGES || !self.time_left() {
                tracing::warn!(outcome = "recent_incomplete", pages = read, "the pass over new connections did not reach its mark; the next run reads from the newest again");
                return Ok(false);
            }
            let Some(page) = self
                .list_page(None, offset, "OFAuth's newest connections")
                .await
            else {
                return Ok(false);
            };
            read += 1;
            self.counts.recent_pages += 1;
            let Some((done, _)) = self.listing_page(&page.list).await? else {
                return Ok(false); // the breaker
            };
            if done < page.list.len() {
                return Ok(false); // out of time within the page
            }
            let reached = page.list.iter().any(|c| {
                c.created_at
                    .as_deref()
                    .and_then(parse_rfc3339_ms)
                    .is_some_and(|ms| ms < back_to)
            });
            if reached || !page.has_more || page.list.is_empty() {
                self.svc.store.save_recent_mark(lease, started_ms).await?;
                return Ok(true);
            }
            offset += u32::try_from(page.list.len()).unwrap_or(u32::MAX);
        }
    }

    /// Pages through the sweep until it is done or the run's budget is spent,
    /// keeping `cursor` at the first thing not done.
    async fn sweep(&mut self, cursor: &mut Cursor) -> Result<(), StoreError> {
        while self.budget_left() {
            match cursor.phase.clone() {
                Phase::Listing { offset, chunks } => {
                    let Some(page) = self
                        .list_page(
                            None,
                            offset,
                            "OFAuth's connections list (the next run resumes here)",
                        )
                        .await
                    else {
                        return Ok(());
                    };
                    let Some((done, seen)) = self.listing_page(&page.list).await? else {
                        return Ok(()); // the breaker: nothing on the page changed
                    };
                    self.svc
                        .store
                        .put_seen(cursor.sweep, chunks, &seen, SystemTime::now())
                        .await?;
                    let offset = offset + u32::try_from(done).unwrap_or(u32::MAX);
                    cursor.phase =
                        if done < page.list.len() || (page.has_more && !page.list.is_empty()) {
                            Phase::Listing {
                                offset,
                                chunks: chunks + 1,
                            }
                        } else {
                            Phase::Table {
                                after: None,
                                chunks: chunks + 1,
                            }
                        };
                }
                Phase::Table { after, chunks } => {
                    if self.seen.is_none() {
                        self.seen = Some(self.svc.store.load_seen(cursor.sweep, chunks).await?);
                    }
                    let (records, next) = self
                        .svc
                        .store
                        .scan_connections(after.as_deref(), TABLE_PAGE_ITEMS)
                        .await?;
                    self.counts.pages += 1;
                    // Each record the list did not show is asked about first; what
                    // the answers change is decided for the page as a whole.
                    let mut verdicts = Vec::new();
                    for r in &records {
                        if !self.time_left() {
                            // The page is read again next run: what was done is
                            // idempotent (and those records are no longer in doubt).
                            return Ok(());
                        }
                        if let Some(v) = self.table_record(r).instrument(flow_of(r)).await {
                            verdicts.push(v);
                        }
                    }
                    let unknown = verdicts
                        .iter()
                        .filter(|v| matches!(v.check, ConnectionCheck::Unknown))
                        .count();
                    let live = records
                        .iter()
                        .filter(|r| r.status != "disconnected")
                        .count();
                    if self.breaker_trips(unknown, live, "are unknown to OFAuth") {
                        return Ok(());
                    }
                    for v in verdicts {
                        let span = flow_of(v.record);
                        self.apply(v, cursor.sweep).instrument(span).await;
                    }
                    let Some(k) = next else {
                        cursor.phase = Phase::Done;
                        return Ok(());
                    };
                    cursor.phase = Phase::Table {
                        after: Some(k),
                        chunks,
                    };
                }
                Phase::Done => return Ok(()),
            }
        }
        Ok(())
    }

    /// One page of OFAuth's list: how many items were done (all, unless time ran
    /// out) and the ids of this deployment's records among them.
    /// `None`: the page shows an unusual share of our bound connections with
    /// another OnlyFans account (a change in how OFAuth names accounts, or an
    /// incident, rather than a wave of swaps): nothing on it is changed and the
    /// run stops, as the table pass's breaker does.
    async fn listing_page(
        &mut self,
        list: &[ListedConnection],
    ) -> Result<Option<(usize, Vec<String>)>, StoreError> {
        let ids: Vec<ConnectionId> = list
            .iter()
            .filter_map(|c| ConnectionId::parse(&c.id))
            .collect();
        let refs: Vec<AttemptId> = list
            .iter()
            .filter_map(|c| c.client_reference_id.as_deref().and_then(AttemptId::parse))
            .collect();
        let known = self.svc.store.known(&ids, &refs).await?;
        let bound: Vec<(&ConnectionRecord, &ListedConnection)> = list
            .iter()
            .filter_map(|c| Some((known.records.get(c.id.as_str())?, c)))
            .filter(|(r, _)| r.user_id.is_some() && r.status != "disconnected")
            .collect();
        let swapped = bound
            .iter()
            .filter(|(r, c)| other_account(r, &c.user_data.clone().unwrap_or_default()))
            .count();
        if self.breaker_trips(swapped, bound.len(), "show another OnlyFans account") {
            return Ok(None);
        }
        let mut seen = Vec::new();
        for (i, listed) in list.iter().enumerate() {
            if !self.time_left() {
                return Ok(Some((i, seen)));
            }
            let Some(id) = ConnectionId::parse(&listed.id) else {
                continue;
            };
            if known.records.contains_key(id.as_str()) {
                seen.push(id.as_str().to_string());
            }
            let flow = listed
                .client_reference_id
                .as_deref()
                .and_then(AttemptId::parse);
            self.listed(&id, listed, &known)
                .instrument(telemetry::flow_span(flow.as_ref()))
                .await;
        }
        Ok(Some((list.len(), seen)))
    }

    /// One listed connection. Errors are counted and left to a later run.
    async fn listed(&mut self, id: &ConnectionId, listed: &ListedConnection, known: &Known) {
        let record = known.records.get(id.as_str());
        let attempt = listed
            .client_reference_id
            .as_deref()
            .and_then(|r| known.attempts.get(r));
        if record.is_none() && attempt.is_none() {
            return; // Not this deployment's.
        }
        if !self.handled.insert(id.as_str().to_string()) {
            return; // Decided earlier in this run.
        }
        self.counts.checked += 1;
        // OFAuth's list names one of our attempts as this connection's origin,
        // and that attempt's user finished and waits for exactly this (their
        // webhook lost, the callback's search too short): the webhook's own
        // attestation, which binds only such an attempt.
        if let Some(a) = attempt.filter(|a| {
            a.status == AttemptStatus::Verifying
                && a.connection.as_ref() == Some(id)
                && can_still_bind(a, epoch(SystemTime::now()))
                && record.is_none_or(|r| r.user_id.is_none() && r.status != "disconnected")
        }) {
            self.attest(id, listed, a).await;
            return;
        }
        if let Some(r) = record {
            if r.status == "disconnected" {
                return;
            }
            if r.missing_sweep.is_some() {
                self.clear_missing(r).await;
            }
            let status = listed.status.as_deref().filter(|s| crate::ids::is_token(s));
            let account = listed.user_data.clone().unwrap_or_default();
            let changed = status.filter(|s| *s != r.status);
            if changed.is_some() || other_account(r, &account) {
                let at = listed.updated_at.as_deref().and_then(parse_rfc3339_ms);
                let status = changed.or(status).unwrap_or(&r.status);
                self.observe(r, status, at, &account).await;
            }
            if r.user_id.is_some() {
                return;
            }
        }
        self.unbound(id, listed, record, attempt).await;
    }

    /// Applies the list's attestation of a verifying attempt, as a signed
    /// webhook naming it would be applied.
    async fn attest(
        &mut self,
        id: &ConnectionId,
        listed: &ListedConnection,
        attempt: &LinkAttempt,
    ) {
        let status = listed
            .status
            .as_deref()
            .filter(|s| crate::ids::is_token(s))
            .unwrap_or("active");
        let at_ms = listed.updated_at.as_deref().and_then(parse_rfc3339_ms);
        let account = listed.user_data.clone().unwrap_or_default();
        let event_id = format!("reconcile:attest:{}:{}", id.as_str(), attempt.id.as_str());
        let event = ConnectionEvent {
            event_id: &event_id,
            event_type: "reconcile.attested",
            event_at_ms: at_ms,
            rank: lifecycle_rank(status),
            connection: id,
            status: Some(status),
            account: &account,
            attempt: Some(&attempt.id),
            cause: "reconciler",
        };
        match self.svc.store.apply_event(&event, SystemTime::now()).await {
            Ok(Applied::Applied { bound: true }) => {
                self.counts.attested += 1;
                tracing::info!(outcome = "attested", connection = %id.masked(), attempt = %attempt.id.masked(), "OFAuth's list attests a verifying attempt: bound to its user");
            }
            Ok(other) => {
                tracing::info!(outcome = "not_attested", connection = %id.masked(), attempt = %attempt.id.masked(), applied = ?other, "the list names a verifying attempt that could not be bound");
            }
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %id.masked(), "could not apply the list's attestation");
            }
        }
    }

    /// Applies what OFAuth reports of a record, in the webhook's order.
    async fn observe(
        &mut self,
        record: &ConnectionRecord,
        status: &str,
        at_ms: Option<i64>,
        account: &AccountProfile,
    ) {
        let event_id = format!(
            "reconcile:{}:{}:{status}",
            record.id.as_str(),
            at_ms.map_or_else(|| "untimed".to_string(), |t| t.to_string())
        );
        let event = ConnectionEvent {
            event_id: &event_id,
            event_type: "reconcile.observed",
            event_at_ms: at_ms,
            rank: lifecycle_rank(status),
            connection: &record.id,
            status: Some(status),
            account,
            attempt: None,
            cause: "reconciler",
        };
        match self.svc.store.apply_event(&event, SystemTime::now()).await {
            Ok(Applied::Applied { .. } | Applied::ForeignAttempt) => {
                self.counts.changed += 1;
                tracing::info!(outcome = "changed", connection = %record.id.masked(), from = %record.status, to = status, "record brought in line with OFAuth");
            }
            Ok(Applied::AccountSwapped(swap)) => {
                let invalidated = match swap.live {
                    true => self.svc.ofauth.invalidate_connection(&record.id).await,
                    false => Ok(()),
                };
                if invalidated.is_err() {
                    self.counts.errors += 1;
                }
                let invalidated = swap.live && invalidated.is_ok();
                telemetry::account_swap(swap, "reconciler", &record.id.masked(), "", invalidated);
            }
            Ok(_) => {}
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %record.id.masked(), "could not update the record");
            }
        }
    }

    /// A connection of ours nobody owns: left alone while its attempt can still
    /// bind it; then reported, and after the grace period disconnected at OFAuth
    /// (when so configured) and recorded as disconnected.
    async fn unbound(
        &mut self,
        id: &ConnectionId,
        listed: &ListedConnection,
        record: Option<&ConnectionRecord>,
        attempt: Option<&LinkAttempt>,
    ) {
        let now = SystemTime::now();
        let now_epoch = epoch(now);
        if attempt.is_some_and(|a| can_still_bind(a, now_epoch)) {
            return;
        }
        // Since when nobody can bind it: the latest of its attempt's end, its
        // creation at OFAuth and the record's last change.
        let since = [
            attempt.map(|a| a.expires_at_epoch),
            listed
                .created_at
                .as_deref()
                .and_then(parse_rfc3339_ms)
                .map(|ms| ms / 1000),
            record
                .and_then(|r| parse_rfc3339_ms(&r.updated_at))
                .map(|ms| ms / 1000),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(now_epoch);
        let age = now_epoch.saturating_sub(since);
        self.counts.reported += 1;
        let due =
            i64::try_from(self.svc.settings.unbound_grace.as_secs()).unwrap_or(i64::MAX) <= age;
        let disconnect = due && self.svc.settings.unbound == UnboundAction::Disconnect;
        tracing::warn!(
            outcome = "unbound",
            connection = %id.masked(),
            attempt = %attempt.map(|a| a.id.masked()).unwrap_or_default(),
            attempt_status = attempt.map(|a| a.status.as_str()).unwrap_or("none"),
            unbindable_for_secs = age,
            action = if disconnect { "disconnect" } else { "report" },
            "a connection this deployment made is bound to no user and can no longer be"
        );
        if !disconnect {
            return;
        }
        // Read again, strongly consistent, right before acting: still nobody's,
        // and its attempt still unable to bind it.
        let still_unbound = match (
            self.svc.store.get_connection(id).await,
            match attempt {
                Some(a) => self.svc.store.get_attempt(&a.id).await.map(Some),
                None => Ok(None),
            },
        ) {
            (Ok(r), Ok(a)) => {
                r.is_none_or(|r| r.user_id.is_none() && r.status != "disconnected")
                    && !a.flatten().is_some_and(|a| can_still_bind(&a, now_epoch))
            }
            (Err(e), _) | (_, Err(e)) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %id.masked(), "could not read the record again");
                return;
            }
        };
        if !still_unbound {
            return;
        }
        // Its cause first (OFAuth's webhook may land before the write below);
        // a connection with no record yet has none to carry it.
        let _ = self
            .svc
            .store
            .request_disconnect(id, None, "reconciler", now)
            .await;
        if let Err(e) = self.svc.ofauth.delete_connection(id).await {
            self.counts.errors += 1;
            tracing::warn!(error = %e, connection = %id.masked(), "could not disconnect an unbound connection at OFAuth");
            return;
        }
        self.counts.disconnected += 1;
        let attested = attempt.map(|a| &a.id);
        if let Err(e) = self
            .svc
            .store
            .record_unbound_disconnected(id, attested, "reconciler", now)
            .await
        {
            // OFAuth no longer has it: the table pass finds the record and marks it.
            self.counts.errors += 1;
            tracing::warn!(error = %e, connection = %id.masked(), "disconnected at OFAuth but not recorded");
        }
    }

    /// One record in the table pass: asked about on its own when the sweep's
    /// list did not show it (it may also be newer than the list pages read).
    /// What OFAuth said, or nothing to decide.
    async fn table_record<'r>(&mut self, record: &'r ConnectionRecord) -> Option<Verdict<'r>> {
        self.scrub_if_due(record).await;
        if record.status == "disconnected" {
            return None; // final: read only for the scrub
        }
        if self
            .seen
            .as_ref()
            .is_some_and(|s| s.contains(record.id.as_str()))
        {
            return None;
        }
        self.counts.checked += 1;
        match self.svc.ofauth.check_connection(&record.id).await {
            Ok(check) => Some(Verdict { record, check }),
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %record.id.masked(), "could not check a record OFAuth did not list");
                None
            }
        }
    }

    /// The breaker: whether `odd` of a page's `live` records is an unusual share
    /// (at least [`BREAKER_MIN_UNKNOWN`] and `RECONCILE_BREAKER_PERCENT` of
    /// them). Then nothing on the page is changed, and the run stops there.
    fn breaker_trips(&mut self, odd: usize, live: usize, what: &str) -> bool {
        let percent = self.svc.settings.breaker_percent as usize;
        let trips = odd >= BREAKER_MIN_UNKNOWN && percent < 100 && odd * 100 >= percent * live;
        if trips {
            self.halted = Some("breaker");
            tracing::error!(
                outcome = "halted",
                reason = "breaker",
                odd,
                live,
                "an unusual share of a page's records {what} (a wrong API key, or an incident at OFAuth?); nothing on it was changed and the run stopped: check the key and OFAuth's status, then let the next run go on (RECONCILE_BREAKER_PERCENT sets the share)"
            );
        }
        trips
    }

    /// Applies what OFAuth said of a record the list did not show. Unknown: marked
    /// missing, and disconnected only when an earlier sweep marked it so.
    async fn apply(&mut self, v: Verdict<'_>, sweep: i64) {
        let record = v.record;
        let status = match v.check {
            ConnectionCheck::Unknown => match record.missing_sweep {
                Some(first) if first != sweep => "disconnected",
                Some(_) => return,
                None => {
                    match self
                        .svc
                        .store
                        .mark_missing(record, sweep, SystemTime::now())
                        .await
                    {
                        Ok(true) => {
                            self.counts.missing += 1;
                            tracing::warn!(outcome = "missing", connection = %record.id.masked(), "OFAuth does not know a record; a later sweep confirms before it is marked disconnected");
                        }
                        Ok(false) => {} // changed meanwhile: the next sweep looks again
                        Err(e) => {
                            self.counts.errors += 1;
                            tracing::warn!(error = %e, connection = %record.id.masked(), "could not mark a record missing");
                        }
                    }
                    return;
                }
            },
            ConnectionCheck::NotAuthenticated => "expired",
            ConnectionCheck::Authenticated(account) => {
                if record.missing_sweep.is_some() {
                    self.clear_missing(record).await;
                }
                if other_account(record, &account) {
                    self.observe(record, "active", None, &account).await;
                }
                return;
            }
        };
        if record.missing_sweep.is_some() && status == "expired" {
            self.clear_missing(record).await;
        }
        if status != record.status {
            // No time of OFAuth's: an untimed observation only moves forward.
            self.observe(record, status, None, &AccountProfile::default())
                .await;
        }
    }

    /// Takes the missing mark off a record OFAuth knows again.
    async fn clear_missing(&mut self, record: &ConnectionRecord) {
        if let Err(e) = self.svc.store.clear_missing(record).await {
            self.counts.errors += 1;
            tracing::warn!(error = %e, connection = %record.id.masked(), "could not clear a record's missing mark");
        }
    }

    /// Whose key this run holds: the account's id when it is the expected one
    /// (configured, else the one the first run saw), an error when it is not
    /// (the run halts), `None` when OFAuth could not say (the run does nothing).
    async fn account(&mut self, lease: &Lease) -> Option<Result<String, ()>> {
        let id = match self.svc.ofauth.whoami().await {
            Ok(account) => account.id.unwrap_or_default(),
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, "OFAuth could not say whose API key this is; nothing done, the next run tries again");
                return None;
            }
        };
        let expected = self
            .svc
            .settings
            .expected_account
            .as_deref()
            .or(lease.account.as_deref());
        match expected {
            Some(e) if e != id => {
                self.halted = Some("wrong_account");
                tracing::error!(
                    outcome = "halted",
                    reason = "wrong_account",
                    expected = %e,
                    key_account = %id,
                    "the OFAuth API key belongs to another account than this deployment's: nothing was read or changed (check the key in Secrets Manager, or OFAUTH_ACCOUNT_ID)"
                );
                Some(Err(()))
            }
            _ if id.is_empty() => None,
            _ => Some(Ok(id)),
        }
    }
}

/// The span of a record's work: its flow, when an attempt attested it.
fn flow_of(r: &ConnectionRecord) -> tracing::Span {
    let flow = r.attested_attempt.as_deref().and_then(AttemptId::parse);
    telemetry::flow_span(flow.as_ref())
}

/// Whether OFAuth shows another OnlyFans account on a bound record.
fn other_account(r: &ConnectionRecord, seen: &AccountProfile) -> bool {
    r.user_id.is_some()
        && matches!((r.account.id.as_deref(), seen.id.as_deref()), (Some(a), Some(b)) if a != b)
}

impl Run<'_> {
    /// Takes the account's personal fields off a record disconnected or expired
    /// for longer than the retention (its last change, `updatedAt`, is when).
    async fn scrub_if_due(&mut self, record: &ConnectionRecord) {
        let Some(retention) = self.svc.settings.personal_data_retention else {
            return;
        };
        if !matches!(record.status.as_str(), "disconnected" | "expired")
            || !crate::store::holds_personal_data(record)
        {
            return;
        }
        let now = SystemTime::now();
        let since = crate::time::parse_rfc3339(&record.updated_at).unwrap_or(i64::MAX);
        if crate::time::epoch(now).saturating_sub(since) < retention.as_secs() as i64 {
            return;
        }
        match self.svc.store.scrub_personal_data(record, now).await {
            Ok(true) => {
                self.counts.scrubbed += 1;
                tracing::info!(outcome = "scrubbed", connection = %record.id.masked(), status = %record.status, "personal fields past their retention removed");
            }
            Ok(false) => {} // changed meanwhile: the next sweep looks again
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %record.id.masked(), "could not scrub a record");
            }
        }
    }
}

/// Whether an attempt may still bind its connection: in flight and not expired.
fn can_still_bind(a: &LinkAttempt, now_epoch: i64) -> bool {
    matches!(
        a.status,
        AttemptStatus::Pending | AttemptStatus::Returned | AttemptStatus::Verifying
    ) && !a.is_expired(now_epoch)
}
