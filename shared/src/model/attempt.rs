//! A Link attempt: a user asked for a session and was sent to OFAuth. Moved on
//! at most once per step:
//!
//! ```text
//! pending ──callback──► returned ──completion──► completed
//!    │                     │    └──completion──► verifying ──attestation──► completed
//!    └──────── popup completion ─────────────────┘
//! pending | returned ──► cancelled | failed | refused
//! pending | returned | verifying ──► erased (`DELETE /link/me`)
//! ```

use std::time::SystemTime;

use super::account::AccountProfile;
use crate::ids::{AttemptId, ConnectionId};
use crate::time::{epoch_ms, rfc3339};

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    Pending,
    /// The browser came back through the callback with a verified connection and
    /// was given a completion code.
    Returned,
    /// Completed by its user, waiting for OFAuth to attest the connection.
    Verifying,
    Completed,
    Cancelled,
    Failed,
    /// Completed by someone other than its user (a fixation attempt), or a
    /// reconnect that came back with another account.
    Refused,
    /// Ended by its user's erasure: nothing completes it any more.
    Erased,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Returned => "returned",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Erased => "erased",
        }
    }

    pub fn parse(v: &str) -> Option<Self> {
        Some(match v {
            "pending" => Self::Pending,
            "returned" => Self::Returned,
            "verifying" => Self::Verifying,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            "refused" => Self::Refused,
            "erased" => Self::Erased,
            _ => return None,
        })
    }

    /// Still in flight: something may yet bind a connection through it.
    pub(crate) fn in_flight(self) -> bool {
        match self {
            Self::Pending | Self::Returned | Self::Verifying => true,
            Self::Completed | Self::Cancelled | Self::Failed | Self::Refused | Self::Erased => {
                false
            }
        }
    }
}

/// One Link attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAttempt {
    pub id: AttemptId,
    pub user_id: String,
    /// The connection being re-authenticated, for a reconnect.
    pub reconnect: Option<ConnectionId>,
    /// For a reconnect: the OnlyFans account the connection is bound to, which
    /// it must come back with.
    pub expected_account: Option<String>,
    pub created_at: String,
    /// When it started (Unix milliseconds): an erasure of its user at or after
    /// this stops it.
    pub(crate) created_ms: i64,
    /// OFAuth's `expiresAt`, as OFAuth sent it.
    pub expires_at: String,
    pub(crate) expires_at_epoch: i64,
    pub status: AttemptStatus,
    /// The connection the attempt came back with (returned, verifying, completed).
    pub connection: Option<ConnectionId>,
    /// The connected account as OFAuth reported it when the attempt came back:
    /// kept only once OFAuth attested the connection (a forged claim never
    /// stores or lists someone else's profile).
    pub account: AccountProfile,
    /// OFAuth attested that this attempt produced the connection.
    pub attested: bool,
    /// SHA-256 (hex) of the completion code's secret, and when the code expires.
    pub code_hash: Option<String>,
    pub code_expires_epoch: Option<i64>,
    /// SHA-256 (hex) of the start cookie of the browser that started it: only
    /// that browser is given a code (`None`: an attempt an earlier release
    /// started).
    pub start_hash: Option<String>,
    /// SHA-256 (hex) of the binding cookie of the browser that first came back:
    /// only that browser is given a new code.
    pub browser_hash: Option<String>,
    /// The code went to the browser that started the attempt (its start cookie
    /// matched): another signed-in user completing it is someone at that
    /// browser (an account switch), not a Link URL finished elsewhere.
    pub(crate) returned_to_starter: bool,
    /// Verifications of a returned connection that OFAuth could not answer
    /// (bounded: each costs OFAuth calls, and a forger can repeat them).
    pub(crate) failed_verifications: u32,
    /// For a reconnect: the returns checked against OFAuth after it was no
    /// longer pending (bounded for the same reason).
    pub(crate) reconnect_checks: u32,
    /// When it started verifying (listed as `verifying` since then).
    pub(crate) verifying_at: Option<String>,
}

impl LinkAttempt {
    /// A new pending attempt, started at `now` (when its request came in); a
    /// reconnect names its connection and the account bound to it.
    pub fn pending(
        id: AttemptId,
        user_id: String,
        reconnect: Option<(ConnectionId, Option<String>)>,
        expires_at: String,
        expires_at_epoch: i64,
        now: SystemTime,
    ) -> Self {
        let (reconnect, expected_account) = reconnect.unzip();
        Self {
            id,
            user_id,
            reconnect,
            expected_account: expected_account.flatten(),
            created_at: rfc3339(now),
            created_ms: epoch_ms(now),
            expires_at,
            expires_at_epoch,
            status: AttemptStatus::Pending,
            connection: None,
            account: AccountProfile::default(),
            attested: false,
            code_hash: None,
            code_expires_epoch: None,
            start_hash: None,
            browser_hash: None,
            returned_to_starter: false,
            failed_verifications: 0,
            reconnect_checks: 0,
            verifying_at: None,
        }
    }

    pub(crate) fn is_expired(&self, now_epoch: i64) -> bool {
        now_epoch >= self.expires_at_epoch
    }

    /// Whether it may still bind its connection: in flight and not expired.
    pub(crate) fn can_still_bind(&self, now_epoch: i64) -> bool {
        self.status.in_flight() && !self.is_expired(now_epoch)
    }
}

/// How an attempt ended without a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AttemptEnd {
    Cancelled { step: Option<String> },
    Failed { error_code: String },
    Refused { error_code: String },
}

/// What the callback verified, stored on the attempt with the code's hash and
/// the returning browser's.
#[derive(Debug, Clone)]
pub struct Returned<'a> {
    pub connection: &'a ConnectionId,
    /// Stored only when `attested`.
    pub account: &'a AccountProfile,
    pub attested: bool,
    pub code_hash: &'a str,
    pub code_expires_epoch: i64,
    /// The binding cookie's hash: a pending attempt takes it, a returned one
    /// must already have it.
    pub browser_hash: &'a str,
    /// The returning browser carried the start cookie.
    pub to_starter: bool,
}
