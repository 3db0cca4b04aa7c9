//! Step 5: a connection this deployment made that nobody owns. It is left
//! alone while its attempt can still bind it; then reported (a warning line per
//! connection), and once `RECONCILE_UNBOUND_GRACE_SECS` have passed since
//! nobody could bind it, disconnected at OFAuth (billing stops) and recorded as
//! such, unless `RECONCILE_UNBOUND=report`. The record and the attempt are read
//! again, strongly consistent, right before acting.

use std::time::SystemTime;

use super::run::Run;
use crate::config::UnboundAction;
use crate::ids::ConnectionId;
use crate::model::{AttemptStatus, ChangeCause, ConnectionRecord, ConnectionStatus, LinkAttempt};
use crate::ofauth::ListedConnection;
use crate::time::{epoch, parse_rfc3339_ms};

impl Run<'_> {
    pub(super) async fn unbound(
        &mut self,
        id: &ConnectionId,
        listed: &ListedConnection,
        record: Option<&ConnectionRecord>,
        attempt: Option<&LinkAttempt>,
    ) {
        let now = SystemTime::now();
        let now_epoch = epoch(now);
        if attempt.is_some_and(|a| a.can_still_bind(now_epoch)) {
            return;
        }
        let age = now_epoch.saturating_sub(unbindable_since(listed, record, attempt, now_epoch));
        self.counts.reported += 1;
        // An erased user's attempt (its sign-in finished after the erasure):
        // nobody will ever bind it, and nobody is owed the grace.
        let erased = attempt.is_some_and(|a| a.status == AttemptStatus::Erased);
        let due = erased
            || i64::try_from(self.svc.settings.unbound_grace.as_secs()).unwrap_or(i64::MAX) <= age;
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
        if disconnect && self.still_unbound(id, attempt, now_epoch).await {
            self.disconnect_unbound(id, attempt, now).await;
        }
    }

    /// Read again, strongly consistent, right before acting: still nobody's,
    /// and its attempt still unable to bind it.
    async fn still_unbound(
        &mut self,
        id: &ConnectionId,
        attempt: Option<&LinkAttempt>,
        now_epoch: i64,
    ) -> bool {
        let again = match attempt {
            Some(a) => self.svc.store.get_attempt(&a.id).await.map(Some),
            None => Ok(None),
        };
        match (self.svc.store.get_connection(id).await, again) {
            (Ok(r), Ok(a)) => {
                r.is_none_or(|r| r.user_id.is_none() && r.status != ConnectionStatus::Disconnected)
                    && !a.flatten().is_some_and(|a| a.can_still_bind(now_epoch))
            }
            (Err(e), _) | (_, Err(e)) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, connection = %id.masked(), "could not read the record again");
                false
            }
        }
    }

    /// Disconnects it at OFAuth, then records it as disconnected.
    async fn disconnect_unbound(
        &mut self,
        id: &ConnectionId,
        attempt: Option<&LinkAttempt>,
        now: SystemTime,
    ) {
        let store = &self.svc.store;
        // Its cause first (OFAuth's webhook may land before the write below);
        // a connection with no record yet has none to carry it.
        let _ = store
            .request_disconnect(id, None, ChangeCause::Reconciler, now)
            .await;
        // (The run's key is the pinned account's: a 404 is "already gone".)
        if let Err(e) = self.svc.ofauth.delete_connection(id).await {
            self.counts.errors += 1;
            tracing::warn!(error = %e, connection = %id.masked(), "could not disconnect an unbound connection at OFAuth");
            return;
        }
        self.counts.disconnected += 1;
        let attested = attempt.map(|a| &a.id);
        if let Err(e) = store
            .record_unbound_disconnected(id, attested, ChangeCause::Reconciler, now)
            .await
        {
            // OFAuth no longer has it: the table pass finds the record and marks it.
            self.counts.errors += 1;
            tracing::warn!(error = %e, connection = %id.masked(), "disconnected at OFAuth but not recorded");
        }
    }
}

/// Since when nobody can bind it: the latest of its attempt's end, its creation
/// at OFAuth and the record's last change.
fn unbindable_since(
    listed: &ListedConnection,
    record: Option<&ConnectionRecord>,
    attempt: Option<&LinkAttempt>,
    now_epoch: i64,
) -> i64 {
    [
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
    .unwrap_or(now_epoch)
}
