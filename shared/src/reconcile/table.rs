//! The sweep's table pass: each record the sweep's list pages did not show (it
//! may also be newer than the pages read) is asked about on its own
//! (`GET /v2/access/self`), and what the answers change is decided for the page
//! as a whole:
//! - one that needs a reconnect is marked expired;
//! - one OFAuth does not know (`SESSION_NOT_PROVIDED`) is marked *missing*
//!   (`missingSweep`, its status unchanged), and only a later sweep, begun at
//!   least [`MISSING_CONFIRM_MS`] after, that finds it unknown again marks it
//!   disconnected; one OFAuth knows again loses the mark;
//! - one OFAuth shows with another OnlyFans account is refused as the webhook
//!   refuses it.
//!
//! A page whose records OFAuth calls unknown in an unusual share changes
//! nothing ([`super::breaker`]).

use std::time::SystemTime;

use tracing::Instrument;

use super::breaker::Trip;
use super::run::{flow_of, Run};
use crate::ids::ConnectionId;
use crate::model::{AccountProfile, ConnectionRecord, ConnectionStatus};
use crate::ofauth::ConnectionCheck;

/// How long after the sweep that marked a record missing a later sweep may
/// mark it disconnected (final): two schedule intervals.
pub(crate) const MISSING_CONFIRM_MS: i64 = 30 * 60_000;

/// What OFAuth said of a record the sweep's list did not show.
struct Verdict<'r> {
    record: &'r ConnectionRecord,
    check: ConnectionCheck,
}

impl Run<'_> {
    /// One page of records: each asked about, then all changed unless the
    /// breaker trips. `false` when the page must be read again next run (out of
    /// time, or the breaker).
    pub(super) async fn handle_table_page(
        &mut self,
        records: &[ConnectionRecord],
        sweep: i64,
    ) -> bool {
        let mut verdicts = Vec::new();
        for r in records {
            if !self.time_left() {
                // What was done is idempotent (and those records are no longer
                // in doubt).
                return false;
            }
            if let Some(v) = self.check_record(r).instrument(flow_of(r)).await {
                verdicts.push(v);
            }
        }
        // Weighed over the run's table pages, not one page's (a page reads
        // items of every kind: a table's records may be one or two a page),
        // over bound records only (unbound ones, an abandoned flow's, are
        // anyone's to make: they must not dilute the share), and only what is
        // new: a record marked missing already is being confirmed, not found
        // out.
        let unknown: Vec<&ConnectionId> = verdicts
            .iter()
            .filter(|v| matches!(v.check, ConnectionCheck::Unknown))
            .filter(|v| v.record.user_id.is_some() && v.record.missing_sweep.is_none())
            .map(|v| &v.record.id)
            .collect();
        let live = records.iter().filter(|r| r.is_bound_and_live()).count();
        let (odd, all) = (self.table_unknown + unknown.len(), self.table_live + live);
        if self.breaker_trips(odd, all, Trip::Unknown, &unknown) {
            return false;
        }
        // A table too small for that share (one or two connections): "unknown"
        // is believed only once OFAuth shows this run at least one of this
        // deployment's bound records (an incident that hides them all, or a
        // key the pin let through, never disconnects one): on the sweep's
        // list, asked on its own on this page, or, failing those, a sample of
        // the others asked now.
        let seen = self.seen.as_ref();
        self.sees_ours |= records
            .iter()
            .any(|r| r.is_bound_and_live() && seen.is_some_and(|s| s.contains(r.id.as_str())))
            || verdicts.iter().any(|v| {
                v.record.user_id.is_some() && !matches!(v.check, ConnectionCheck::Unknown)
            });
        let doubted: Vec<&ConnectionId> = verdicts
            .iter()
            .filter(|v| matches!(v.check, ConnectionCheck::Unknown))
            .map(|v| &v.record.id)
            .collect();
        if !doubted.is_empty() && !self.sees_ours && self.svc.settings.breaker_percent < 100 {
            self.sees_ours = self.others_visible(&doubted).await;
            if !self.sees_ours {
                self.trip(Trip::Unseen, doubted.len(), all, &doubted);
                return false;
            }
        }
        (self.table_unknown, self.table_live) = (odd, all);
        for v in verdicts {
            let span = flow_of(v.record);
            self.apply_verdict(v, sweep).instrument(span).await;
        }
        true
    }

    /// Whether OFAuth knows, under this key, any of a few bound, live records
    /// of ours other than `doubted` (not marked missing either).
    async fn others_visible(&mut self, doubted: &[&ConnectionId]) -> bool {
        let sample = self
            .svc
            .store
            .sample_records(3, 5, |r| {
                r.is_bound_and_live() && r.missing_sweep.is_none() && !doubted.contains(&&r.id)
            })
            .await;
        let Ok(sample) = sample else {
            self.counts.errors += 1;
            return false;
        };
        for r in &sample {
            match self.svc.ofauth.check_connection(&r.id).await {
                Ok(ConnectionCheck::Authenticated(_) | ConnectionCheck::NotAuthenticated) => {
                    return true
                }
                Ok(ConnectionCheck::Unknown) => {}
                Err(_) => {
                    self.counts.errors += 1;
                    return false;
                }
            }
        }
        false
    }

    /// One record: scrubbed when its retention is over; asked about when the
    /// sweep's list did not show it. What OFAuth said, or nothing to decide.
    async fn check_record<'r>(&mut self, record: &'r ConnectionRecord) -> Option<Verdict<'r>> {
        self.scrub_if_due(record).await;
        if record.status == ConnectionStatus::Disconnected {
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

    /// Applies what OFAuth said of a record the list did not show. Unknown:
    /// marked missing, and disconnected only when an earlier sweep marked it so.
    async fn apply_verdict(&mut self, v: Verdict<'_>, sweep: i64) {
        let record = v.record;
        let status = match v.check {
            ConnectionCheck::Unknown => match record.missing_sweep {
                // Missing in an earlier sweep that began long enough ago: a
                // blip at OFAuth (or two runs seconds apart) never makes it
                // final.
                Some(first) if first != sweep && sweep - first >= MISSING_CONFIRM_MS => {
                    ConnectionStatus::Disconnected
                }
                Some(_) => return,
                None => return self.mark_missing(record, sweep).await,
            },
            ConnectionCheck::NotAuthenticated => ConnectionStatus::Expired,
            ConnectionCheck::Authenticated(account) => {
                if record.missing_sweep.is_some() {
                    self.clear_missing(record).await;
                }
                if record.shows_other_account(&account) {
                    self.observe(record, &ConnectionStatus::Active, None, &account)
                        .await;
                }
                return;
            }
        };
        if record.missing_sweep.is_some() && status == ConnectionStatus::Expired {
            self.clear_missing(record).await;
        }
        if status != record.status {
            // No time of OFAuth's: an untimed sighting only moves forward.
            self.observe(record, &status, None, &AccountProfile::default())
                .await;
        }
    }

    /// Marks a record OFAuth does not know missing (a later sweep confirms).
    async fn mark_missing(&mut self, record: &ConnectionRecord, sweep: i64) {
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
    }
}
