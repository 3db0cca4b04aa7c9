//! Step 2: every reconnect, on its own. A reconnect's Link URL can be used
//! after its attempt moved on (completed early by its own user, ended by a
//! forged cancel) by someone else signing in to another OnlyFans account; when
//! OFAuth's webhook for it is lost and that browser never comes back, nothing
//! else would look at the connection until the sweep reaches it. So each run
//! asks OFAuth (`GET /v2/access/self`) whose account is on the connection of
//! every reconnect whose Link session was open at any time since the last
//! complete check (`store::reconnects` notes each reconnect when it starts):
//! another account than the one bound to it is refused as every leg refuses
//! it. The cost is per reconnect (its session's life over the schedule
//! interval, plus one), not per connection.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use super::run::Run;
use super::service::{DEADLINE_MARGIN, RECENT_SKEW_MS};
use crate::ids::ConnectionId;
use crate::model::{ChangeCause, ConnectionStatus, LinkAttempt};
use crate::ofauth::ConnectionCheck;
use crate::store::{Lease, Sighting, StoreError, MAX_SESSION_SECS};
use crate::telemetry;
use crate::time::epoch;

/// The first check (no mark yet) looks back this far.
const FIRST_LOOKBACK_SECS: i64 = 2 * 3_600;

/// Reconnects one run reads at most (a run that cannot check them all keeps
/// the old mark, and the next run checks them again, others first).
pub(super) const RECONNECTS_PER_RUN: usize = 1_000;

impl Run<'_> {
    /// Checks the connection of every reconnect whose session was open since
    /// the last complete check; the mark moves to this run's start once all were.
    pub(super) async fn reconnects(&mut self, lease: &Lease) -> Result<(), StoreError> {
        let started = epoch(SystemTime::now());
        let skew = RECENT_SKEW_MS / 1000;
        let since = lease
            .reconnects_since
            .map_or(started - FIRST_LOOKBACK_SECS, |m| m - skew);
        // Started early enough to have been open since the mark.
        let attempts = self
            .svc
            .store
            .reconnects_started(since - MAX_SESSION_SECS, started, RECONNECTS_PER_RUN)
            .await?;
        let mut complete = attempts.len() < RECONNECTS_PER_RUN;
        // One check per connection, in a fixed order that each run resumes
        // where the last one stopped (wrapping around): when one run cannot
        // check them all, the next checks the others first, and no one's
        // reconnects keep anyone else's waiting run after run.
        let mut seen = HashSet::new();
        let mut due: Vec<(i64, &LinkAttempt, &ConnectionId)> = attempts
            .iter()
            .filter(|a| a.expires_at_epoch >= since) // open since the last check
            .filter_map(|a| Some((a, a.reconnect.as_ref()?)))
            .filter(|(_, c)| seen.insert(c.as_str()))
            .map(|(a, c)| (order_key(c), a, c))
            .collect();
        due.sort_by_key(|(k, _, _)| *k);
        let after = lease.reconnects_after.unwrap_or(-1);
        let first = due.partition_point(|(k, _, _)| *k <= after);
        due.rotate_left(first);
        // At most half the run's time: the passes after this one get the rest.
        let work = self
            .deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(DEADLINE_MARGIN);
        let until = Instant::now() + work / 2;
        let mut last = None;
        for (key, attempt, connection) in due {
            if !self.time_left() || Instant::now() >= until {
                complete = false; // the next run goes on from here
                break;
            }
            self.check_reconnect(attempt, connection).await;
            last = Some(key);
        }
        if complete {
            self.svc.store.save_reconnects_mark(lease, started).await?;
            if lease.reconnects_after.is_some_and(|a| a >= 0) {
                self.svc.store.save_reconnects_after(lease, -1).await?;
            }
        } else {
            if let Some(key) = last {
                self.svc.store.save_reconnects_after(lease, key).await?;
            }
            telemetry::reconcile_reconnects_incomplete();
            tracing::warn!(
                checked = self.counts.reconnects,
                "not every reconnect could be checked in this run (the next run goes on from here): more reconnects than half a run can ask OFAuth about"
            );
        }
        Ok(())
    }

    /// Whose account is on a reconnect's connection now.
    async fn check_reconnect(&mut self, attempt: &LinkAttempt, connection: &ConnectionId) {
        self.counts.reconnects += 1;
        let account = match self.svc.ofauth.check_connection(connection).await {
            Ok(ConnectionCheck::Authenticated(account)) => account,
            Ok(ConnectionCheck::NotAuthenticated | ConnectionCheck::Unknown) => return,
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %connection.masked(), "could not check a reconnect's connection");
                return;
            }
        };
        let record = match self.svc.store.get_connection(connection).await {
            Ok(Some(r)) if r.is_owned_by(&attempt.user_id) => r,
            Ok(_) => return, // nothing of its owner's on it any more
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %connection.masked(), "could not read a reconnect's record");
                return;
            }
        };
        let Some(seen) = account.id.as_deref() else {
            return; // nothing vouches either way: nothing is written
        };
        // This attempt's sighting of this account: the same one again is a
        // duplicate, another account (or another attempt's) a new one.
        let id = format!(
            "reconcile:reconnect:{}:{}",
            attempt.id.as_str(),
            hex_of(seen)
        );
        let sighting = Sighting {
            event_id: &id,
            event_type: "reconcile.reconnect",
            event_at_ms: None,
            rank: ConnectionStatus::Active.rank(),
            connection,
            status: Some(ConnectionStatus::Active),
            account: &account,
            attempt: Some(&attempt.id),
            cause: ChangeCause::Reconciler,
        };
        if record.shows_other_account(&account)
            || attempt
                .expected_account
                .as_deref()
                .is_some_and(|e| e != seen)
        {
            self.apply_observed(&sighting, &record, &attempt.id.masked())
                .await;
        }
    }
}

/// A connection's place in the check's order: the first 63 bits of its
/// SHA-256 (OFAuth names connections; nobody here picks where theirs falls).
fn order_key(c: &ConnectionId) -> i64 {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c.as_str().as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_ref()[..8]);
    (u64::from_be_bytes(b) >> 1) as i64
}

/// An account id as a short token for a sighting's id.
fn hex_of(account: &str) -> String {
    hex::encode(
        &aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, account.as_bytes()).as_ref()[..8],
    )
}
