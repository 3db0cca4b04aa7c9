//! One run's state: its deadline, its counts, what it already decided, and
//! whether it halted; and the OFAuth list page reads every pass makes.

use std::collections::HashSet;
use std::time::Instant;

use super::report::{Counts, HaltReason};
use super::service::{ReconcileService, DEADLINE_MARGIN};
use crate::ids::AttemptId;
use crate::model::ConnectionRecord;
use crate::ofauth::ConnectionPage;
use crate::telemetry;

/// One run's state.
pub(super) struct Run<'a> {
    pub svc: &'a ReconcileService,
    pub deadline: Instant,
    pub counts: Counts,
    /// The ids the sweep's list pages showed, read once per run for the table pass.
    pub seen: Option<HashSet<String>>,
    /// Why the run stopped itself before changing records.
    pub halted: Option<HaltReason>,
    /// The listed connections this run already looked at (the pass over new
    /// ones and the sweep can both show one): each is decided once a run.
    pub(crate) handled: HashSet<String>,
    /// When the run started (Unix milliseconds): the id of a sighting that
    /// carries no time of OFAuth's.
    pub started_ms: i64,
    /// The table pass's pages this run, as the breaker weighs them: records
    /// OFAuth called unknown (not yet marked missing), and live records.
    pub table_unknown: usize,
    pub table_live: usize,
    /// Whether OFAuth showed this run any of this deployment's records (the
    /// sweep's list, or a table page's check): what makes "unknown to OFAuth"
    /// believable on a table too small for the breaker's share.
    pub sees_ours: bool,
}

impl<'a> Run<'a> {
    pub fn new(svc: &'a ReconcileService, deadline: Instant) -> Self {
        Self {
            svc,
            deadline,
            counts: Counts::default(),
            seen: None,
            halted: None,
            handled: HashSet::new(),
            started_ms: crate::time::epoch_ms(std::time::SystemTime::now()),
            table_unknown: 0,
            table_live: 0,
            sees_ours: false,
        }
    }

    pub(crate) fn time_left(&self) -> bool {
        self.deadline.saturating_duration_since(Instant::now()) > DEADLINE_MARGIN
    }

    /// The sweep's own pages within its budget (the new connections' pass has
    /// its own), and time for more.
    pub(crate) fn budget_left(&self) -> bool {
        self.counts.pages - self.counts.recent_pages - self.counts.expired_pages
            < self.svc.settings.max_pages
            && self.time_left()
    }

    /// Reads one page of OFAuth's list (of one `status`, or all), counted;
    /// `None` when OFAuth could not answer (an error counted, logged with
    /// `what`).
    pub(crate) async fn read_list_page(
        &mut self,
        status: Option<&str>,
        offset: u32,
        what: &str,
    ) -> Option<ConnectionPage> {
        let ofauth = &self.svc.ofauth;
        let page = match status {
            Some(status) => {
                ofauth
                    .list_connections_with_status(status, self.svc.page_size, offset)
                    .await
            }
            None => ofauth.list_connections(self.svc.page_size, offset).await,
        };
        match page {
            Ok(p) => {
                self.counts.pages += 1;
                Some(p)
            }
            Err(e) => {
                tracing::warn!(error = %e, offset, "{what} could not be read");
                self.counts.errors += 1;
                None
            }
        }
    }
}

/// The span of a record's work: its flow, when an attempt attested it.
pub(super) fn flow_of(r: &ConnectionRecord) -> tracing::Span {
    let flow = r.attested_attempt.as_deref().and_then(AttemptId::parse);
    telemetry::flow_span(flow.as_ref())
}
