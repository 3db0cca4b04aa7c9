//! A connection as this service keeps it: what OFAuth attested about its origin,
//! the user it is bound to (never changed once bound), its status, the
//! OnlyFans account behind it, and why it last changed.
//!
//! ```text
//!  (no record) ──signed webhook naming one of our attempts──► attested, unbound
//!        └──── completion with OFAuth's attestation ────────────► active (bound)
//!  active ◄──reconnect (same user, same account)── expired ◄──expiry── active
//!  active | expired ──disconnect (the user, OFAuth, the reconciler)──► disconnected (final)
//!  active ──another OnlyFans account on it (any leg)──► expired (owner and profile kept)
//! ```

use super::account::AccountProfile;
use crate::ids::ConnectionId;

/// A connection's status: this service's three, or another OFAuth reports
/// (`awaiting_2fa`, …; only a short token, checked where it comes in).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConnectionStatus {
    Active,
    /// Needs its user's reconnect.
    Expired,
    /// Gone for good (OFAuth deletes a disconnected connection).
    Disconnected,
    /// Another status OFAuth reported, kept as it said it.
    Other(String),
}

impl ConnectionStatus {
    pub fn parse(v: &str) -> Self {
        match v {
            "active" => Self::Active,
            "expired" => Self::Expired,
            "disconnected" => Self::Disconnected,
            other => Self::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Disconnected => "disconnected",
            Self::Other(v) => v,
        }
    }

    /// Its place in the lifecycle, and the tie-break between OFAuth events of
    /// one instant: any live status, then `expired`, then `disconnected`
    /// (`created` events rank 0, below all).
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Self::Active | Self::Other(_) => 1,
            Self::Expired => 2,
            Self::Disconnected => 3,
        }
    }

    /// Neither expired nor disconnected: usable, as far as the status says.
    pub(crate) fn is_live(&self) -> bool {
        match self {
            Self::Active | Self::Other(_) => true,
            Self::Expired | Self::Disconnected => false,
        }
    }
}

/// Why a connection record last changed (`changeCause`, which the platform's
/// events carry as `cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ChangeCause {
    /// Its user completed a flow (bound or reconnected it).
    Completion,
    /// A signed OFAuth webhook.
    Webhook,
    /// The reconciler's look at OFAuth.
    Reconciler,
    /// Its user disconnected it.
    User,
    /// Its user's data was erased.
    Erasure,
    /// A completion by another user than the attempt's was refused, and the
    /// connection it made disconnected.
    Fixation,
    /// Another OnlyFans account showed on the bound connection: refused.
    AccountMismatch,
}

impl ChangeCause {
    pub const ALL: [ChangeCause; 7] = [
        Self::Completion,
        Self::Webhook,
        Self::Reconciler,
        Self::User,
        Self::Erasure,
        Self::Fixation,
        Self::AccountMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completion => "completion",
            Self::Webhook => "webhook",
            Self::Reconciler => "reconciler",
            Self::User => "user",
            Self::Erasure => "erasure",
            Self::Fixation => "fixation",
            Self::AccountMismatch => "account_mismatch",
        }
    }

    pub fn parse(v: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == v)
    }
}

/// How long a disconnect this service asked for names the cause of OFAuth's
/// report of it (its webhook, the reconciler's look).
pub(crate) const DISCONNECT_REQUEST_WINDOW_SECS: i64 = 600;

/// A connection as the table holds it: attested, bound, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    /// The user it is bound to; none while it is only attested.
    pub user_id: Option<String>,
    pub status: ConnectionStatus,
    pub account: AccountProfile,
    pub(crate) connected_at: String,
    pub updated_at: String,
    /// The attempt OFAuth attested produced it (its `clientReferenceId`).
    pub attested_attempt: Option<String>,
    /// Bumped by every write; the webhook's read-decide-write checks it.
    pub version: i64,
    /// The OFAuth event its state came from: event time (Unix milliseconds) and
    /// the tie-break within one instant ([`ConnectionStatus::rank`]). Never this
    /// service's own clock.
    pub(crate) last_event_at: Option<i64>,
    pub(crate) last_event_rank: u8,
    /// The reconciler's sweep that first found OFAuth not knowing it (missing):
    /// a later sweep that finds the same marks it disconnected.
    pub(crate) missing_sweep: Option<i64>,
    /// A disconnect this service asked OFAuth for: its cause and when (Unix
    /// seconds).
    pub(crate) disconnect_requested: Option<(ChangeCause, i64)>,
    /// Why it last changed (`changeCause`).
    pub(crate) change_cause: Option<ChangeCause>,
    /// With [`ChangeCause::AccountMismatch`]: the attempt whose reconnect
    /// showed the other account, when the leg that saw it named one
    /// (`swapAttemptId`).
    pub(crate) swap_attempt: Option<String>,
    /// The other OnlyFans account a swap showed, as [`account_digest`]
    /// (`swapAccountHash`): kept by every later write until the owner binds
    /// the connection again.
    pub(crate) swap_account: Option<String>,
    /// An invalidation at OFAuth the stream's remedy still owes (its request's
    /// id), asked for by a leg that holds no API key (the webhook).
    pub(crate) invalidate_requested: Option<String>,
}

impl ConnectionRecord {
    /// Whether an account swap seen now (by a leg naming `attempt`, if any,
    /// showing `account`, if known) is one this record already holds: a swap
    /// is marked and not undone since, the leg names no attempt, or the one
    /// that marked it, or the mark names none, and it shows the same other
    /// account (or one side does not say). Such a sighting (OFAuth's report of
    /// the invalidation, the reconciler's look, the other leg of the same
    /// reconnect, whatever other writes came between) repeats the swap: it is
    /// not a new security event. A new attempt, or another account, is one.
    pub(crate) fn holds_swap(&self, attempt: Option<&str>, account: Option<&str>) -> bool {
        self.has_swap_mark()
            && match (attempt, self.swap_attempt.as_deref()) {
                (Some(seen), Some(marked)) => seen == marked,
                _ => true,
            }
            && match (account.map(account_digest), self.swap_account.as_deref()) {
                (Some(seen), Some(marked)) => seen == marked,
                _ => true,
            }
    }

    /// Whether a swap is recorded on the record and not undone since (the
    /// owner's binding takes the mark off). A record an earlier release marked
    /// has only its cause.
    pub(crate) fn has_swap_mark(&self) -> bool {
        self.swap_account.is_some() || self.change_cause == Some(ChangeCause::AccountMismatch)
    }

    /// The cause of a disconnect this service asked OFAuth for in the last
    /// [`DISCONNECT_REQUEST_WINDOW_SECS`]: OFAuth's report of a disconnect
    /// within that time is this one.
    pub(crate) fn requested_disconnect(&self, now_epoch: i64) -> Option<ChangeCause> {
        self.disconnect_requested
            .filter(|(_, at)| (now_epoch - at).abs() <= DISCONNECT_REQUEST_WINDOW_SECS)
            .map(|(cause, _)| cause)
    }

    /// Bound to this user.
    pub(crate) fn is_owned_by(&self, user_id: &str) -> bool {
        self.user_id.as_deref() == Some(user_id)
    }

    /// Bound to a user other than this one.
    pub(crate) fn is_owned_by_another(&self, user_id: &str) -> bool {
        self.user_id.as_deref().is_some_and(|u| u != user_id)
    }

    /// Bound to someone and not disconnected.
    pub(crate) fn is_bound_and_live(&self) -> bool {
        self.user_id.is_some() && self.status != ConnectionStatus::Disconnected
    }

    /// Whether `seen` shows another OnlyFans account than the one bound to it.
    pub(crate) fn shows_other_account(&self, seen: &AccountProfile) -> bool {
        self.user_id.is_some()
            && matches!((self.account.id.as_deref(), seen.id.as_deref()), (Some(a), Some(b)) if a != b)
    }
}

/// How a swap's other account is kept on the owner's record: its SHA-256, in
/// hex (an id of someone else's account, not needed in clear to tell a repeat).
pub(crate) fn account_digest(account: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        account.as_bytes(),
    ))
}

/// Another OnlyFans account on a bound connection, as one sighting shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Swap {
    /// The sighting says the connection is usable (with that account).
    pub live: bool,
    /// The record did not hold this swap yet
    /// ([`ConnectionRecord::holds_swap`]): this is the first leg to see it, a
    /// security event. A later one (OFAuth's report of the invalidation, the
    /// reconciler's look, the other leg of the same reconnect) repeats it.
    pub first: bool,
}

/// A status as a user's list shows it: a bound record's, or a completion that
/// waits for OFAuth's attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListedStatus {
    Connection(ConnectionStatus),
    /// Completed by its user, waiting for OFAuth's attestation.
    Verifying,
    /// Its attempt expired without an attestation: never bound.
    Unverified,
}

impl ListedStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Connection(s) => s.as_str(),
            Self::Verifying => "verifying",
            Self::Unverified => "unverified",
        }
    }
}

/// A connection as its user's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConnection {
    pub id: ConnectionId,
    pub status: ListedStatus,
    pub account: AccountProfile,
    pub(crate) connected_at: String,
    pub updated_at: String,
}
