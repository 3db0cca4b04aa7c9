//! The partition keys of each kind of item.

use crate::ids::{AttemptId, ConnectionId};

pub fn attempt(id: &AttemptId) -> String {
    format!("ATTEMPT#{}", id.as_str())
}

pub fn connection(id: &ConnectionId) -> String {
    format!("CONNECTION#{}", id.as_str())
}

pub fn event(id: &str) -> String {
    format!("EVENT#{id}")
}

/// The marker of one erasure (its stream record is the platform's event).
pub fn erasure(id: &str) -> String {
    format!("ERASURE#{id}")
}

/// The reconnect attempts started in the ten minutes from `bucket_start`.
pub fn reconnects(bucket_start: i64) -> String {
    format!("RECONNECTS#{bucket_start}")
}

/// The SHA-256 of a user id, in hex: what a key that outlives the user's
/// erasure holds instead of the id itself.
fn user_digest(user_id: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        user_id.as_bytes(),
    ))
}

/// A user's erasure barrier (see `barrier`), under a digest of the user id.
pub fn erasure_barrier(user_id: &str) -> String {
    format!("ERASED#{}", user_digest(user_id))
}

/// A user's requests of `kind` (`session`, `complete`) in the window starting
/// at `window_start`, under a digest of the user id: the window is left to its
/// TTL after an erasure, and names nobody meanwhile.
pub(crate) fn rate(kind: &str, user_id: &str, window_start: i64) -> String {
    format!("RATE#{kind}#{}#{window_start}", user_digest(user_id))
}

/// The `byUser` index's partition key.
pub fn user(user_id: &str) -> String {
    format!("USER#{user_id}")
}

/// A user's `byUser` entries sort in three ranges: `!<time>` an attempt
/// (not listed), `<time>` an entry of their list (a bound connection, a
/// verifying attempt), `~<time>` a disconnected connection (not listed). The
/// list reads from [`LISTED_FROM`] to [`GONE`]; an erasure reads them all.
pub(crate) const UNLISTED: &str = "!";

/// Sort keys at or after this are a user's disconnected connections: not in
/// the list (timestamps sort before it), found by an erasure.
pub const GONE: &str = "~";

/// The lowest sort key of the list's range (timestamps start with a digit).
pub(crate) const LISTED_FROM: &str = "0";

/// The `byUser` sort key of a connection disconnected at `now`.
pub fn gone(now: &str) -> String {
    format!("{GONE}{now}")
}

/// The `byUser` sort key of an attempt created at `created_at` and not
/// listed.
pub(crate) fn unlisted(created_at: &str) -> String {
    format!("{UNLISTED}{created_at}")
}
