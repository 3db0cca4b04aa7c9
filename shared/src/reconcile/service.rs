//! What the reconciler needs, built once per process, and the limits of one run.

use std::time::Duration;

use crate::config::ReconcileSettings;
use crate::ofauth::OfAuthClient;
use crate::store::Store;

/// Nothing new starts this close to the deadline: room for one OFAuth call and
/// a few table writes at their timeouts, and the cursor's save.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(15);

/// Items one table page reads (of every kind).
pub(super) const TABLE_PAGE_ITEMS: i32 = 100;

/// The breaker trips only from this many odd records on a page up.
pub(crate) const BREAKER_MIN_UNKNOWN: usize = 3;

/// The pass over what is new reads this far past its mark: OFAuth's clock and
/// this function's may disagree.
pub(crate) const RECENT_SKEW_MS: i64 = 60_000;

/// The first pass over what is new (no mark yet) reads back this far: longer
/// than any attempt can wait to be attested.
pub(crate) const RECENT_FIRST_LOOKBACK_MS: i64 = 2 * 3_600_000;

/// Pages of `status=expired` connections one run reads at most.
pub(crate) const EXPIRED_MAX_PAGES: u32 = 1000;

/// Pages of new connections one run reads at most; a run that cannot reach its
/// mark keeps the old one (the next run reads from the newest again) and says
/// so (`recentComplete: false`, the `ReconcileRecentIncomplete` metric).
pub(crate) const RECENT_MAX_PAGES: u32 = 1000;

/// What the reconciler needs, built once per process.
#[derive(Debug, Clone)]
pub struct ReconcileService {
    pub(super) store: Store,
    pub(super) ofauth: OfAuthClient,
    pub(super) settings: ReconcileSettings,
    /// Items per page of OFAuth's list.
    pub(super) page_size: u32,
}

impl ReconcileService {
    pub fn new(
        store: Store,
        ofauth: OfAuthClient,
        settings: ReconcileSettings,
        page_size: u32,
    ) -> Self {
        Self {
            store,
            ofauth,
            settings,
            page_size,
        }
    }
}
