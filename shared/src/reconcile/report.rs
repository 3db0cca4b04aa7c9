//! What a run says of itself: its counts (the log line, the metrics and the
//! invocation's answer), where it stopped, and why it halted if it did.

use serde::Serialize;

use crate::store::{Phase, StoreError};

/// One run's counts.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Connections of this deployment looked at.
    pub checked: u32,
    /// Records brought in line with OFAuth.
    pub changed: u32,
    /// Connections of ours that nobody owns and nobody can bind any more.
    pub reported: u32,
    /// Of those, disconnected at OFAuth by this run.
    pub disconnected: u32,
    /// OFAuth calls or writes that failed (retried by a later run).
    pub errors: u32,
    /// Pages read (OFAuth's list and the table).
    pub pages: u32,
    /// Records whose personal fields were past their retention and taken off.
    pub scrubbed: u32,
    /// Records OFAuth did not know this sweep, marked missing (a later sweep
    /// confirms before marking them disconnected).
    pub missing: u32,
    /// Verifying attempts bound because OFAuth's list names them (their
    /// webhook was lost).
    pub attested: u32,
    /// Pages of new connections read (also counted in `pages`).
    pub recent_pages: u32,
    /// Pages of expired connections read (also counted in `pages`).
    pub expired_pages: u32,
    /// Reconnects' connections checked on their own.
    pub reconnects: u32,
}

impl Counts {
    /// The counts as the reconciler's metrics (see [`crate::telemetry`]).
    pub(super) fn as_metrics(&self) -> [(&'static str, u64); 9] {
        [
            ("ReconcileAttested", self.attested.into()),
            ("ReconcileChecked", self.checked.into()),
            ("ReconcileChanged", self.changed.into()),
            ("ReconcileReported", self.reported.into()),
            ("ReconcileDisconnected", self.disconnected.into()),
            ("ReconcileErrors", self.errors.into()),
            ("ReconcilePages", self.pages.into()),
            ("ReconcileScrubbed", self.scrubbed.into()),
            ("ReconcileMissing", self.missing.into()),
        ]
    }
}

/// Why a run stopped itself (all of it, or a pass) before changing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltReason {
    /// The API key belongs to another OFAuth account than this deployment's:
    /// nothing was read or changed.
    WrongAccount,
    /// Nothing established whose key this is (no `OFAUTH_ACCOUNT_ID`, and the
    /// key does not see this deployment's connections): nothing was changed.
    Unpinned,
    /// An unusual share of a page's records looked gone or swapped: that page
    /// was not changed and its pass stopped; the other passes went on.
    Breaker,
}

impl HaltReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongAccount => "wrong_account",
            Self::Unpinned => "unpinned",
            Self::Breaker => "breaker",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    #[serde(flatten)]
    pub counts: Counts,
    /// Another run holds the lease: nothing was done.
    pub busy: bool,
    /// This run finished a sweep.
    pub sweep_done: bool,
    /// Where the next run starts (`listing`, `table`, `done`; `busy`).
    pub phase: &'static str,
    /// The pass over what is new reached its mark (or the list's end).
    pub recent_complete: bool,
    /// Why the run stopped itself before changing records, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<HaltReason>,
}

impl RunReport {
    /// Another run holds the lease.
    pub(super) fn busy() -> Self {
        Self {
            counts: Counts::default(),
            busy: true,
            sweep_done: false,
            phase: "busy",
            recent_complete: false,
            halted: None,
        }
    }
}

/// The name of a sweep's phase, as the report gives it.
pub(super) fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Listing { .. } => "listing",
        Phase::Table { .. } => "table",
        Phase::Done => "done",
    }
}

/// A run that could not read or save its cursor.
#[derive(Debug, thiserror::Error)]
#[error("reconcile run failed: {0}")]
pub struct RunError(#[from] StoreError);
