//! The breaker: a page on which an unusual share of records looks gone (the
//! table pass) or shows another OnlyFans account (a list page) is more likely a
//! wrong key or an incident at OFAuth than a wave of real changes. Nothing on
//! such a page is changed, and the run stops there; the next run tries the same
//! page again.

use super::report::HaltReason;
use super::run::Run;
use super::service::BREAKER_MIN_UNKNOWN;

impl Run<'_> {
    /// Whether `odd` of a page's `live` records is an unusual share (at least
    /// [`BREAKER_MIN_UNKNOWN`] and `RECONCILE_BREAKER_PERCENT` of them); then
    /// the run halts (`what` says what was odd about them).
    pub(super) fn breaker_trips(&mut self, odd: usize, live: usize, what: &str) -> bool {
        let percent = self.svc.settings.breaker_percent as usize;
        let trips = odd >= BREAKER_MIN_UNKNOWN && percent < 100 && odd * 100 >= percent * live;
        if trips {
            self.halted = Some(HaltReason::Breaker);
            tracing::error!(
                outcome = "halted",
                reason = "breaker",
                odd,
                live,
                "an unusual share of a page's records {what} (a wrong API key, or an incident at OFAuth?); nothing on it was changed and the run stopped: check the key and OFAuth's status, then let the next run go on (RECONCILE_BREAKER_PERCENT sets the share)"
            );
        }
        trips
    }
}
