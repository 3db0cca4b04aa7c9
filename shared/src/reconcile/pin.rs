//! Step 1: whose API key this run holds. Another account's key sees none of our
//! connections, and every record would look gone: such a run halts and reads
//! and changes nothing.

use super::report::HaltReason;
use super::run::Run;
use crate::store::Lease;

impl Run<'_> {
    /// The key's account id when it is the expected one (configured, else the
    /// one the first run saw), an error when it is not (the run halts), `None`
    /// when OFAuth could not say (the run does nothing).
    pub(super) async fn pin(&mut self, lease: &Lease) -> Option<Result<String, ()>> {
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
                self.halted = Some(HaltReason::WrongAccount);
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
