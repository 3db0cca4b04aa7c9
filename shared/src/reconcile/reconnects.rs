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
use std::time::SystemTime;

use super::run::Run;
use super::service::RECENT_SKEW_MS;
use crate::ids::ConnectionId;
use crate::model::{ChangeCause, ConnectionStatus, LinkAttempt};
use crate::ofauth::ConnectionCheck;
use crate::store::{Lease, Sighting, StoreError, MAX_SESSION_SECS};
use crate::time::epoch;

/// The first check (no mark yet) looks back this far.
const FIRST_LOOKBACK_SECS: i64 = 2 * 3_600;

/// Reconnects one run checks at most (the oldest first; a run that cannot
/// check them all keeps the old mark, and the next run checks them again).
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
        let complete = attempts.len() < RECONNECTS_PER_RUN;
        let mut checked = HashSet::new();
        for attempt in &attempts {
            let Some(connection) = attempt.reconnect.as_ref() else {
                continue;
            };
            if attempt.expires_at_epoch < since || !checked.insert(connection.clone()) {
                continue; // closed before the last check, or checked just now
            }
            if !self.time_left() {
                return Ok(()); // the next run checks them again
            }
            self.check_reconnect(attempt, connection).await;
        }
        if complete {
            self.svc.store.save_reconnects_mark(lease, started).await?;
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

/// An account id as a short token for a sighting's id.
fn hex_of(account: &str) -> String {
    hex::encode(
        &aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, account.as_bytes()).as_ref()[..8],
    )
}
