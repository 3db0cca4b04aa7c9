//! What a run changes, each through the store's own conditional writes:
//! - [`Run::observe`]: what OFAuth reports of a record, applied as a sighting
//!   through the webhook's read-decide-write and order; another OnlyFans account
//!   on a bound connection is refused there, and invalidated at OFAuth here;
//! - [`Run::attest`]: the list's attestation of a verifying attempt, which binds
//!   it to its user, as a signed webhook naming it would;
//! - [`Run::clear_missing`]: OFAuth knows a record marked missing again;
//! - [`Run::scrub_if_due`]: a record's personal fields past their retention.

use std::time::SystemTime;

use super::run::Run;
use crate::ids::ConnectionId;
use crate::model::{AccountProfile, ChangeCause, ConnectionRecord, ConnectionStatus, LinkAttempt};
use crate::ofauth::ListedConnection;
use crate::store::{holds_personal_data, Applied, Sighting};
use crate::telemetry;
use crate::time::{epoch, parse_rfc3339};

impl Run<'_> {
    /// Applies the list's attestation of a verifying attempt.
    pub(super) async fn attest(
        &mut self,
        id: &ConnectionId,
        listed: &ListedConnection,
        attempt: &LinkAttempt,
    ) {
        let status = listed.reported_status().unwrap_or(ConnectionStatus::Active);
        let account = listed.user_data.clone().unwrap_or_default();
        let sighting_id = format!("reconcile:attest:{}:{}", id.as_str(), attempt.id.as_str());
        let sighting = Sighting {
            event_id: &sighting_id,
            event_type: "reconcile.attested",
            event_at_ms: listed.updated_at_ms(),
            rank: status.rank(),
            connection: id,
            status: Some(status),
            account: &account,
            attempt: Some(&attempt.id),
            cause: ChangeCause::Reconciler,
        };
        match self
            .svc
            .store
            .apply_sighting(&sighting, SystemTime::now())
            .await
        {
            Ok(Applied::Written { bound: true }) => {
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
    pub(super) async fn observe(
        &mut self,
        record: &ConnectionRecord,
        status: &ConnectionStatus,
        at_ms: Option<i64>,
        account: &AccountProfile,
    ) {
        // The state's own time when OFAuth gave one; else this run's: a later,
        // different sighting (a second swap, a second expiry) is never taken
        // for this one, and this one applied twice in a run is a no-op.
        let sighting_id = format!(
            "reconcile:{}:{}:{}",
            record.id.as_str(),
            at_ms.map_or_else(|| format!("run{}", self.started_ms), |t| t.to_string()),
            status.as_str()
        );
        let sighting = Sighting {
            event_id: &sighting_id,
            event_type: "reconcile.observed",
            event_at_ms: at_ms,
            rank: status.rank(),
            connection: &record.id,
            status: Some(status.clone()),
            account,
            attempt: None,
            cause: ChangeCause::Reconciler,
        };
        self.apply_observed(&sighting, record, "").await;
    }

    /// Applies a sighting of a record; another OnlyFans account on it is
    /// invalidated at OFAuth here (`attempt`: the masked attempt it names).
    pub(super) async fn apply_observed(
        &mut self,
        sighting: &Sighting<'_>,
        record: &ConnectionRecord,
        attempt: &str,
    ) {
        let to = sighting
            .status
            .as_ref()
            .map_or("", ConnectionStatus::as_str);
        match self
            .svc
            .store
            .apply_sighting(sighting, SystemTime::now())
            .await
        {
            Ok(Applied::Written { .. } | Applied::ForeignAttempt) => {
                self.counts.changed += 1;
                tracing::info!(outcome = "changed", connection = %record.id.masked(), from = record.status.as_str(), to, "record brought in line with OFAuth");
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
                let connection = record.id.masked();
                telemetry::account_swap(
                    swap.first,
                    swap.live,
                    "reconciler",
                    &connection,
                    attempt,
                    invalidated,
                );
            }
            Ok(Applied::Duplicate | Applied::Superseded | Applied::Unattributed) => {
                // A swap this deployment already refused, still usable at
                // OFAuth with the other account (its invalidation failed, or
                // the other account signed in again): the remedy again, every
                // run until OFAuth shows it is not; no new security event.
                let live = sighting
                    .status
                    .as_ref()
                    .is_some_and(ConnectionStatus::is_live);
                if live && record.shows_other_account(sighting.account) {
                    let done = self.svc.ofauth.invalidate_connection(&record.id).await;
                    if done.is_err() {
                        self.counts.errors += 1;
                    }
                    tracing::warn!(
                        outcome = "invalidated_again",
                        connection = %record.id.masked(),
                        invalidated = done.is_ok(),
                        "a refused swap is still usable at OFAuth with the other account: invalidated again"
                    );
                }
            }
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %record.id.masked(), "could not update the record");
            }
        }
    }

    /// Takes the missing mark off a record OFAuth knows again.
    pub(super) async fn clear_missing(&mut self, record: &ConnectionRecord) {
        if let Err(e) = self.svc.store.clear_missing(record).await {
            self.counts.errors += 1;
            tracing::warn!(error = %e, connection = %record.id.masked(), "could not clear a record's missing mark");
        }
    }

    /// Takes the account's personal fields off a record disconnected or expired
    /// for longer than the retention (its last change, `updatedAt`, is when).
    pub(super) async fn scrub_if_due(&mut self, record: &ConnectionRecord) {
        let Some(retention) = self.svc.settings.personal_data_retention else {
            return;
        };
        if record.status.is_live() || !holds_personal_data(record) {
            return;
        }
        let now = SystemTime::now();
        let since = parse_rfc3339(&record.updated_at).unwrap_or(i64::MAX);
        if epoch(now).saturating_sub(since) < retention.as_secs() as i64 {
            return;
        }
        match self.svc.store.scrub_personal_data(record, now).await {
            Ok(true) => {
                self.counts.scrubbed += 1;
                tracing::info!(outcome = "scrubbed", connection = %record.id.masked(), status = record.status.as_str(), "personal fields past their retention removed");
            }
            Ok(false) => {} // changed meanwhile: the next sweep looks again
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %record.id.masked(), "could not scrub a record");
            }
        }
    }
}
