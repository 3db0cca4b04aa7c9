//! Step 1: whose API key this run holds. Another account's key sees none of our
//! connections, and every record would look gone: such a run halts and reads
//! and changes nothing.
//!
//! The account is pinned only from evidence: `OFAUTH_ACCOUNT_ID` when it is
//! set; otherwise the key's account (`whoami`) once the key sees this
//! deployment's connections (at least half of a sample of its bound, live records are
//! ones OFAuth knows under it; a table with none has nothing to lose). The pin
//! is kept with the cursor. A key of another account than the pin is held to
//! the same evidence: a pin an earlier run took from a wrong key gives way to
//! the right one, and a wrong key never replaces a right pin. A run whose key
//! nothing vouches for changes nothing and says so (`unpinned`).

use super::report::HaltReason;
use super::run::Run;
use crate::ofauth::ConnectionCheck;
use crate::store::Lease;

/// Live records whose OFAuth connection a key must see, at most, to be pinned.
const EVIDENCE_SAMPLE: usize = 5;

/// Table pages (of every kind of item) read for that sample, at most.
const EVIDENCE_PAGES: u32 = 5;

/// What a key's view of this deployment's records says.
enum Evidence {
    /// At least half the sample is known to OFAuth under this key (or there is
    /// nothing to sample).
    Sees { known: usize, sampled: usize },
    /// It sees too few of them: another account's key, most likely.
    Blind { known: usize, sampled: usize },
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
        match self.evidence().await {
            Evidence::Sees { known, sampled } => {
                tracing::warn!(
                    outcome = "pinned",
                    key_account = %id,
                    earlier = lease.account.as_deref().unwrap_or(""),
                    known,
                    sampled,
                    "the OFAuth account is pinned from evidence: the key sees this deployment's connections (set OFAUTH_ACCOUNT_ID to pin it explicitly)"
                );
                Some(Ok(id))
            }
            Evidence::Blind { known, sampled } => match lease.account.as_deref() {
                Some(pinned) => self.halt(
                    HaltReason::WrongAccount,
                    pinned,
                    &id,
                    Some((known, sampled)),
                ),
                None => self.halt(HaltReason::Unpinned, "", &id, Some((known, sampled))),
            },
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

    /// Asks OFAuth, with this key, about a sample of this deployment's live
    /// records.
    async fn evidence(&mut self) -> Evidence {
        let store = &self.svc.store;
        let records = match store
            .sample_records(EVIDENCE_SAMPLE, EVIDENCE_PAGES, |r| {
                // Bound and live, and not already in doubt.
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
        let mut known = 0;
        for r in &records {
            match self.svc.ofauth.check_connection(&r.id).await {
                Ok(ConnectionCheck::Authenticated(_) | ConnectionCheck::NotAuthenticated) => {
                    known += 1
                }
                Ok(ConnectionCheck::Unknown) => {}
                Err(e) => {
                    self.counts.errors += 1;
                    tracing::warn!(error = %e, "OFAuth could not answer for the pin's evidence");
                    return Evidence::Unavailable;
                }
            }
        }
        if known * 2 >= sampled && (known > 0 || sampled == 0) {
            Evidence::Sees { known, sampled }
        } else {
            Evidence::Blind { known, sampled }
        }
    }
}
