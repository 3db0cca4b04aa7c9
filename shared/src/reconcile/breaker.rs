//! The breaker: records that look gone (the table pass) or show another
//! OnlyFans account (a list page) in an unusual share are more likely a wrong
//! key or an incident at OFAuth than a wave of real changes. It weighs only
//! what this deployment does not already know: a record whose swap is already
//! recorded, or one already marked missing, never counts. On a table too small
//! for a share (one or two connections), "unknown" is believed only when OFAuth
//! shows the run at least one of this deployment's connections. When it trips,
//! nothing on that page is changed and that pass stops (the next run reads the
//! page again, so it resumes by itself once the cause is gone); the run's other
//! passes, which do not depend on the page, go on. The line it logs names the
//! records that tripped it and why, and the `ReconcileBreakerTrips` metric
//! counts it by `Why`.

use super::report::HaltReason;
use super::run::Run;
use super::service::BREAKER_MIN_UNKNOWN;
use crate::ids::ConnectionId;
use crate::telemetry;

/// Records a trip's log line names, at most.
const NAMED: usize = 20;

/// What was odd about the records that tripped the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trip {
    /// A list page's bound connections show another OnlyFans account.
    Swapped,
    /// The table's records are unknown to OFAuth, in an unusual share.
    Unknown,
    /// Records are unknown to OFAuth, and OFAuth shows the run none of this
    /// deployment's connections.
    Unseen,
}

impl Trip {
    /// The `why` of the log line and the metric's dimension.
    fn code(self) -> &'static str {
        match self {
            Self::Swapped => "swapped",
            Self::Unknown => "unknown",
            Self::Unseen => "unseen",
        }
    }

    fn says(self) -> &'static str {
        match self {
            Self::Swapped => "an unusual share of a page's bound connections show another OnlyFans account",
            Self::Unknown => "an unusual share of the table's live records are unknown to OFAuth",
            Self::Unseen => "records are unknown to OFAuth, which shows this run none of this deployment's connections",
        }
    }
}

impl Run<'_> {
    /// Whether `odd` records of `live` are an unusual share (at least
    /// [`BREAKER_MIN_UNKNOWN`] and `RECONCILE_BREAKER_PERCENT` of them); then
    /// the pass halts. `named`: this page's odd records.
    pub(super) fn breaker_trips(
        &mut self,
        odd: usize,
        live: usize,
        trip: Trip,
        named: &[&ConnectionId],
    ) -> bool {
        let percent = self.svc.settings.breaker_percent as usize;
        let trips = odd >= BREAKER_MIN_UNKNOWN && percent < 100 && odd * 100 >= percent * live;
        if trips {
            self.trip(trip, odd, live, named);
        }
        trips
    }

    /// The breaker trips: the pass stops, and the run says why and on which
    /// records.
    pub(super) fn trip(&mut self, trip: Trip, odd: usize, live: usize, named: &[&ConnectionId]) {
        self.halted = Some(HaltReason::Breaker);
        telemetry::reconcile_breaker_trip(trip.code());
        let records: Vec<String> = named.iter().take(NAMED).map(|c| c.masked()).collect();
        tracing::error!(
            outcome = "halted",
            reason = "breaker",
            why = trip.code(),
            odd,
            live,
            records = ?records,
            "{} (a wrong API key, or an incident at OFAuth?): nothing on this page was changed and this pass stopped; the next run reads it again (docs/operations.md, reconciler-halted)",
            trip.says()
        );
    }
}
