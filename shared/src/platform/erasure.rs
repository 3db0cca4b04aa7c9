//! The erasure is the last word on the bus: no event that names an erased
//! user's connection is accepted after that user's `User Data Erased`,
//! whatever redelivery, retry, bisection or shard layout happens.
//!
//! Events carry nothing of the account ([`super::events`]), so no event can
//! hand an erased profile back. What is left is order, and the stream gives
//! none across shards (the erasure's marker and a connection's record are
//! different items). So:
//! - the erasure completes its barrier (`ERASED#<digest>`: when, and each
//!   connection it erased at its version then) before it writes its marker;
//! - `User Data Erased` goes out no sooner than `grace` after that;
//! - just before every `PutEvents` call, the publisher reads the barriers of
//!   the users its events name (strongly consistent) and drops an event the
//!   erasure covers (its connection erased, at or below that version) once
//!   the call could end later than `grace` after the erasure completed. A call
//!   that goes ends within [`put_timeout`] (a quarter of the grace), so it is accepted before `User Data Erased` can
//!   be sent.
//!
//! A publisher that is behind by more than the grace therefore sends none of
//! an erased user's older events: their `User Data Erased` lists the
//! connections and versions instead. A connection bound to the user after the
//! erasure is not covered, and its events go as any others.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::events::PlatformEvent;
use crate::store::{Store, StoreError};
use crate::telemetry;
use crate::time::epoch_ms;

/// The longest a `PutEvents` call may take for an erasure grace of `grace`:
/// a quarter of it (the rest is room for the clocks).
pub fn put_timeout(grace: Duration) -> Duration {
    grace / 4
}

/// The items of `pending` (each with its event, `event`) still to send: those
/// no completed erasure covers whose grace may have run out by the end of a
/// call made now.
pub(super) async fn still_to_send<'p, T>(
    store: &Store,
    grace: Duration,
    pending: &[&'p T],
    event: impl Fn(&T) -> &PlatformEvent,
) -> Result<Vec<&'p T>, StoreError> {
    let users: BTreeSet<&str> = pending
        .iter()
        .map(|p| &event(p).detail)
        .filter(|d| d.connection_id.is_some())
        .filter_map(|d| d.user_id.as_deref())
        .collect();
    let users: Vec<&str> = users.into_iter().collect();
    let states = store.erasure_states(&users).await?;
    if states.is_empty() {
        return Ok(pending.to_vec());
    }
    let grace_ms = grace.as_millis() as i64;
    let call_ends_ms = epoch_ms(SystemTime::now()) + put_timeout(grace).as_millis() as i64;
    Ok(pending
        .iter()
        .copied()
        .filter(|p| {
            let e = event(p);
            let d = &e.detail;
            let (Some(user), Some(connection)) = (d.user_id.as_deref(), d.connection_id.as_deref())
            else {
                return true;
            };
            let covered = states.get(user).is_some_and(|s| {
                s.covers(connection, d.version) && call_ends_ms >= s.completed_ms + grace_ms
            });
            if covered {
                telemetry::event_suppressed(e.transition.metric_label());
                tracing::info!(
                    outcome = "superseded_by_erasure",
                    connection = %crate::ids::mask(connection),
                    version = d.version,
                    "an event its user's erasure covers is not sent (User Data Erased lists it)"
                );
            }
            !covered
        })
        .collect())
}
