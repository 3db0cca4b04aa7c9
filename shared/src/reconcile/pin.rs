//! Step 1: whose API key this run holds. Another account's key sees none of our
//! connections, and every record would look gone: such a run halts and reads
//! and changes nothing.
//!
//! The account is pinned only from evidence: `OFAUTH_ACCOUNT_ID` when it is
//! set; otherwise the key's account (`whoami`) once the key shows it can see
//! this deployment's connections. A connection belongs to one OFAuth account,
//! so one of ours that OFAuth knows under the key is proof: a bound, live
//! record of a sample (up to 5) that `access/self` knows, or, when none does
//! (their connections may be gone at OFAuth, their webhooks lost), a
//! connection on the key's first list page that is one of our records or
//! names one of our attempts. The pin is kept with the cursor. A key that shows
//! none of ours changes nothing: `unpinned` while nothing is pinned,
//! `wrong_account` when another account is. Only positive evidence replaces a
//! pin (a pin an earlier run took from a wrong key gives way to the right
//! one; a right pin never gives way to a key that merely has nothing to show),
//! and only a fresh deployment with nothing to sample and nothing of ours
//! listed is pinned without it (nothing there to lose).

use super::report::HaltReason;
use super::run::Run;
use crate::ids::{AttemptId, ConnectionId};
use crate::ofauth::ConnectionCheck;
use crate::store::Lease;

/// Bound, live records a key is asked about, at most, to be pinned.
const EVIDENCE_SAMPLE: usize = 5;

/// Table pages (of every kind of item) read for that sample, at most.
const EVIDENCE_PAGES: u32 = 5;

/// What a key shows of this deployment's connections.
enum Evidence {
    /// One of ours is known to OFAuth under it.
    Sees { known: usize, sampled: usize },
    /// None of the sample, and nothing of ours on its list.
    Blind { sampled: usize },
    /// Nothing to sample, and nothing of ours on its list.
    Nothing,
    /// OFAuth or the table could not answer: decide on the next run.
    Unavailable,
}

impl Run<'_> {
    /// The key's account id when it is pinned (configured, kept from an
    /// earlier run, or pinned now from evidence), an error when it may not be
    /// (the run halts), `None` when OFAuth or the table could not say (the run
    /// does nothing).
    pub(super) async fn pin(&mut self, lease: &Lease) -> Option<Result<String, ()>> {
        let id = match self.svc.ofauth.whoami().await {
            Ok(account) => account.id.unwrap_or_default(),
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, "OFAuth could not say whose API key this is; nothing done, the next run tries again");
                return None;
            }
        };
        if id.is_empty() {
            return None;
        }
        if let Some(configured) = self.svc.settings.expected_account.as_deref() {
            if configured == id {
                return Some(Ok(id));
            }
            return self.halt(HaltReason::WrongAccount, configured, &id, None);
        }
        if lease.account.as_deref() == Some(id.as_str()) {
            return Some(Ok(id));
        }
        let pinned = lease.account.as_deref();
        match self.evidence().await {
            Evidence::Sees { known, sampled } => {
                tracing::warn!(
                    outcome = "pinned",
                    key_account = %id,
                    earlier = pinned.unwrap_or(""),
                    known,
                    sampled,
                    "the OFAuth account is pinned from evidence: the key sees this deployment's connections (set OFAUTH_ACCOUNT_ID to pin it explicitly)"
                );
                Some(Ok(id))
            }
            Evidence::Nothing if pinned.is_none() => {
                tracing::warn!(
                    outcome = "pinned",
                    key_account = %id,
                    "the OFAuth account is pinned on a deployment with nothing to lose yet (no bound connection): set OFAUTH_ACCOUNT_ID to pin it explicitly"
                );
                Some(Ok(id))
            }
            Evidence::Blind { sampled } => match pinned {
                Some(p) => self.halt(HaltReason::WrongAccount, p, &id, Some((0, sampled))),
                None => self.halt(HaltReason::Unpinned, "", &id, Some((0, sampled))),
            },
            Evidence::Nothing => self.halt(
                HaltReason::WrongAccount,
                pinned.unwrap_or(""),
                &id,
                Some((0, 0)),
            ),
            Evidence::Unavailable => None,
        }
    }

    fn halt(
        &mut self,
        reason: HaltReason,
        expected: &str,
        key_account: &str,
        evidence: Option<(usize, usize)>,
    ) -> Option<Result<String, ()>> {
        self.halted = Some(reason);
        let (known, sampled) = evidence.unwrap_or((0, 0));
        tracing::error!(
            outcome = "halted",
            reason = reason.as_str(),
            expected,
            key_account,
            known,
            sampled,
            "the OFAuth API key is not this deployment's (or nothing shows it is): nothing was changed; check the key in Secrets Manager, or set OFAUTH_ACCOUNT_ID"
        );
        Some(Err(()))
    }

    /// Asks OFAuth, with this key, about a sample of this deployment's bound,
    /// live records, then, if it knows none of them, reads its first list page.
    async fn evidence(&mut self) -> Evidence {
        let records = match self
            .svc
            .store
            .sample_records(EVIDENCE_SAMPLE, EVIDENCE_PAGES, |r| {
                r.is_bound_and_live() && r.missing_sweep.is_none()
            })
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, "could not sample the table to pin the account");
                return Evidence::Unavailable;
            }
        };
        let sampled = records.len();
        for (i, r) in records.iter().enumerate() {
            match self.svc.ofauth.check_connection(&r.id).await {
                Ok(ConnectionCheck::Authenticated(_) | ConnectionCheck::NotAuthenticated) => {
                    return Evidence::Sees {
                        known: 1,
                        sampled: i + 1,
                    }
                }
                Ok(ConnectionCheck::Unknown) => {}
                Err(e) => {
                    self.counts.errors += 1;
                    tracing::warn!(error = %e, "OFAuth could not answer for the pin's evidence");
                    return Evidence::Unavailable;
                }
            }
        }
        // None of the sample (gone at OFAuth, their webhooks lost?): anything
        // of ours on the key's list is proof as good.
        let Some(page) = self
            .read_list_page(None, 0, "the pin's evidence (OFAuth's list)")
            .await
        else {
            return Evidence::Unavailable;
        };
        let ids: Vec<ConnectionId> = page
            .list
            .iter()
            .filter_map(|c| ConnectionId::parse(&c.id))
            .collect();
        let refs: Vec<AttemptId> = page
            .list
            .iter()
            .filter_map(|c| c.client_reference_id.as_deref().and_then(AttemptId::parse))
            .collect();
        match self.svc.store.known(&ids, &refs).await {
            Ok(k) if !k.records.is_empty() || !k.attempts.is_empty() => Evidence::Sees {
                known: k.records.len() + k.attempts.len(),
                sampled,
            },
            Ok(_) if sampled == 0 => Evidence::Nothing,
            Ok(_) => Evidence::Blind { sampled },
            Err(e) => {
                self.counts.errors += 1;
                tracing::warn!(error = %e, "could not read the table for the pin's evidence");
                Evidence::Unavailable
            }
        }
    }
}
