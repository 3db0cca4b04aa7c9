//! One connection on a page of OFAuth's list, decided once a run. Only this
//! deployment's are looked at: those the table has a record of, or whose
//! `clientReferenceId` is one of its attempts. Another client app's on the same
//! OFAuth account, an imported one, another deployment's: never touched.
//! - A verifying attempt the list names for this very connection is attested
//!   and bound, as a signed webhook naming it would be.
//! - A record whose status differs from OFAuth's, or that OFAuth shows with
//!   another OnlyFans account, is brought in line ([`Run::observe`]), ordered by
//!   the list's `updatedAt` (OFAuth's clock).
//! - A connection of ours nobody owns goes to [`super::unbound`].

use std::time::SystemTime;

use super::run::Run;
use crate::ids::ConnectionId;
use crate::model::{ConnectionStatus, LinkAttempt};
use crate::ofauth::ListedConnection;
use crate::store::Known;
use crate::time::epoch;

impl Run<'_> {
    /// One listed connection. Errors are counted and left to a later run.
    pub(super) async fn handle_listed(
        &mut self,
        id: &ConnectionId,
        listed: &ListedConnection,
        known: &Known,
    ) {
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
        if let Some(a) = attempt.filter(|a| waits_for(a, id)) {
            // A new connection nobody owns yet, or the owner's own (a reconnect).
            let open = record.is_none_or(|r| {
                (r.user_id.is_none() || r.is_owned_by(&a.user_id))
                    && r.status != ConnectionStatus::Disconnected
            });
            if open {
                self.attest(id, listed, a).await;
                return;
            }
        }
        if let Some(r) = record {
            if r.status == ConnectionStatus::Disconnected {
                return;
            }
            if r.missing_sweep.is_some() {
                self.clear_missing(r).await;
            }
            let status = listed.reported_status();
            let account = listed.user_data.clone().unwrap_or_default();
            let changed = status.as_ref().is_some_and(|s| *s != r.status);
            // A swap already recorded and refused, listed as it was left, is
            // decided: it is not sighted again every run.
            let new_swap =
                r.shows_other_account(&account) && !r.holds_swap(None, account.id.as_deref());
            if changed || new_swap {
                let status = status.unwrap_or_else(|| r.status.clone());
                self.observe(r, &status, listed.updated_at_ms(), &account)
                    .await;
            }
            if r.user_id.is_some() {
                return;
            }
        }
        self.unbound(id, listed, record, attempt).await;
    }
}

/// Whether the attempt's user completed it and waits for OFAuth's attestation
/// of exactly this connection, and it can still bind.
fn waits_for(a: &LinkAttempt, id: &ConnectionId) -> bool {
    a.status == crate::model::AttemptStatus::Verifying
        && a.connection.as_ref() == Some(id)
        && a.can_still_bind(epoch(SystemTime::now()))
}
