//! The reconciler: a scheduled run that makes the table and OFAuth agree when
//! webhooks were lost (OFAuth gives up after 5 deliveries). It only ever looks
//! at this deployment's connections (a record in its table, or a
//! `clientReferenceId` that is one of its attempts), and it changes records only
//! through the webhook's own read-decide-write ([`crate::store::Sighting`]), in
//! OFAuth's order.
//!
//! A run, one at a time (a lease on the cursor keeps two apart):
//! 1. **Pin the account** ([`pin`]): whose API key is this (`whoami`)? Another
//!    account's key sees none of our connections, and every record would look
//!    gone: the run halts and changes nothing.
//! 2. **The reconnects** ([`reconnects`]): the connection of every reconnect
//!    whose Link session was open since the last run is asked about on its own:
//!    a swap whose webhook and browser return were both lost is found here.
//! 3. **The new connections** ([`recent`]): OFAuth's list from its newest
//!    connection back to where the last such pass began. A verifying attempt the
//!    list names gets its attestation here (its webhook was lost).
//! 4. **The expired ones** ([`expired`]): every connection OFAuth lists as
//!    `expired`, so a lost expiry is caught by the next run however large the
//!    account.
//! 5. **The sweep** ([`sweep`]), resumed run after run from a cursor: OFAuth's
//!    whole list page by page, then the table, where a record the list did not
//!    show is asked about on its own ([`table`]: missing, then disconnected a
//!    sweep later; expired).
//! 6. **The unbound ones** ([`unbound`]): a connection of ours that nobody owns
//!    and nobody can bind any more, met in any pass above, is reported and,
//!    after a grace period, disconnected at OFAuth so that billing stops.
//!
//! Each page of OFAuth's list is handled alike ([`list_page`]: each listed
//! connection decided once a run, [`listed`]); what a run changes is done by
//! the [`actions`]. The [`breaker`] stops a page that shows an unusual share of
//! records gone or swapped (a wrong key, an incident). Work per run is bounded
//! by pages and the function's deadline; what a run did is its report
//! ([`report`]).

mod actions;
mod breaker;
mod expired;
mod list_page;
mod listed;
mod pin;
mod recent;
mod reconnects;
mod report;
mod run;
mod service;
mod sweep;
mod table;
mod unbound;

use std::time::{Duration, Instant, SystemTime};

use crate::ids::AttemptId;
use crate::store::{Cursor, Lease, Phase, StoreError};
use crate::telemetry;
use crate::time::epoch_ms;
use report::{phase_name, Counts};
use run::Run;

pub use report::RunError;
pub use report::{HaltReason, RunReport};
pub use service::{ReconcileService, DEADLINE_MARGIN};

impl ReconcileService {
    /// One run, ending before `deadline`.
    pub async fn run(&self, deadline: Instant) -> Result<RunReport, RunError> {
        let now = SystemTime::now();
        let Some(lease) = self.lease(now, deadline).await? else {
            telemetry::reconcile_run("busy", &[]);
            tracing::info!(outcome = "busy", "another reconcile run holds the lease");
            return Ok(RunReport::busy());
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
        let mut run = Run::new(self, deadline);
        // 1. Whose key this is, before anything else.
        let account = run.pin(&lease).await;
        let (outcome, recent_complete) = match &account {
            Some(Ok(_)) => run.passes(&lease, &mut cursor, epoch_ms(now)).await,
            _ => (Ok(()), false),
        };
        if !recent_complete && matches!(&account, Some(Ok(_))) && run.halted.is_none() {
            telemetry::reconcile_recent_incomplete();
        }
        if self.settings.expected_account.is_none() {
            tracing::warn!("OFAUTH_ACCOUNT_ID is not set: the reconciler pins the account from evidence (set it: docs/deploy.md)");
        }
        // The cursor is saved whatever happened: the pages done stay done. The
        // account pinned from evidence is kept with it.
        let pin = match &account {
            Some(Ok(id)) if lease.account.as_deref() != Some(id.as_str()) => Some(id.as_str()),
            _ => None,
        };
        let saved = self
            .store
            .save_reconcile_cursor(&lease, &cursor, pin, true, SystemTime::now())
            .await;
        run.report(outcome.and(saved), &cursor, recent_complete)
    }

    /// Takes the lease for this run (until a little after `deadline`); `None`
    /// while another run holds it.
    async fn lease(&self, now: SystemTime, deadline: Instant) -> Result<Option<Lease>, RunError> {
        let run_id = AttemptId::generate()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|_| epoch_ms(now).to_string());
        let left = deadline.saturating_duration_since(Instant::now());
        let until_ms =
            epoch_ms(now) + i64::try_from(left.as_millis()).unwrap_or(i64::MAX / 2) + 5_000;
        Ok(self
            .store
            .acquire_reconcile_lease(&run_id, epoch_ms(now), until_ms)
            .await
            .inspect_err(|_| telemetry::reconcile_run("failed", &[]))?)
    }
}

impl Run<'_> {
    /// Steps 2 to 5; whether the pass over new connections reached its mark. A
    /// breaker stops only the pass whose page tripped it: the others do not
    /// depend on that page and go on.
    async fn passes(
        &mut self,
        lease: &Lease,
        cursor: &mut Cursor,
        started_ms: i64,
    ) -> (Result<(), StoreError>, bool) {
        // 2. The reconnects.
        if let Err(e) = self.reconnects(lease).await {
            return (Err(e), false);
        }
        // 3. The new connections.
        let recent_complete = match self.recent(lease, started_ms).await {
            Ok(complete) => complete,
            Err(e) => return (Err(e), false),
        };
        // 4. The expired ones.
        if let Err(e) = self.expired().await {
            return (Err(e), recent_complete);
        }
        // 5. The sweep.
        if let Err(e) = self.sweep(cursor).await {
            return (Err(e), recent_complete);
        }
        (Ok(()), recent_complete)
    }

    /// The run's one log line, its metrics and its answer.
    fn report(
        self,
        outcome: Result<(), StoreError>,
        cursor: &Cursor,
        recent_complete: bool,
    ) -> Result<RunReport, RunError> {
        let (counts, halted) = (self.counts, self.halted);
        let sweep_done = cursor.phase == Phase::Done;
        let phase = phase_name(&cursor.phase);
        telemetry::reconcile_run(
            match (&outcome, halted) {
                (Err(_), _) => "failed",
                (Ok(()), Some(_)) => "halted",
                (Ok(()), None) => "reconciled",
            },
            &counts.as_metrics(),
        );
        if let Some(reason) = halted {
            telemetry::reconcile_halted(reason.as_str());
        }
        let Counts {
            checked,
            changed,
            reported,
            disconnected,
            errors,
            pages,
            scrubbed,
            missing,
            attested,
            recent_pages,
            expired_pages,
            reconnects,
        } = counts;
        if let Err(e) = outcome {
            tracing::error!(outcome = "failed", error = %e, checked, changed, reported, disconnected, errors, pages, phase, "reconcile run failed");
            return Err(RunError::from(e));
        }
        tracing::info!(
            outcome = "reconciled",
            checked,
            changed,
            reported,
            disconnected,
            errors,
            pages,
            scrubbed,
            missing,
            attested,
            recent_pages,
            expired_pages,
            reconnects,
            recent_complete,
            sweep_done,
            phase,
            halted = halted.map(HaltReason::as_str),
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
/// How long a run may take, from the invocation's deadline (Unix ms). A
/// deadline that is no time since 2001 is a duration: `cargo lambda watch`
/// sends its timeout there (600000), which read as a time has long passed and
/// would leave a local run (`make reconcile`) no time at all.
pub(crate) fn run_budget(deadline_ms: u64, now_ms: u64) -> Duration {
    /// 2001-09-09 in Unix ms: every real deadline is later.
    const EPOCH_2001_MS: u64 = 1_000_000_000_000;
    if deadline_ms < EPOCH_2001_MS {
        Duration::from_millis(deadline_ms.min(900_000))
    } else {
        Duration::from_millis(deadline_ms.saturating_sub(now_ms))
    }
}

pub async fn serve(svc: &ReconcileService) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            let now_ms = u64::try_from(epoch_ms(SystemTime::now())).unwrap_or(0);
            let deadline = Instant::now() + run_budget(event.context.deadline, now_ms);
            let report = svc.run(deadline).await;
            telemetry::flush();
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(report?)?)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_budget_is_its_deadline_or_cargo_lambdas_timeout() {
        let now = 1_800_000_000_000;
        assert_eq!(run_budget(now + 120_000, now), Duration::from_secs(120));
        assert_eq!(run_budget(now - 5, now), Duration::ZERO, "already past");
        // cargo lambda watch: its timeout, not a time.
        assert_eq!(run_budget(600_000, now), Duration::from_secs(600));
        assert_eq!(run_budget(5_000_000_000, now), Duration::from_secs(900));
    }
}
