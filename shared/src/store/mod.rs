//! The DynamoDB store: one table, its items mapped to and from the model
//! ([`crate::model`]) here and nowhere else.
//!
//! Items (partition key `pk` only; [`keys`] builds them):
//! - `ATTEMPT#<attempt id>` ([`attempts`]): one Link attempt, consumed at most once
//!   by a conditional write, removed by TTL (`ttl`) some time after it expired.
//! - `CONNECTION#<connection id>` ([`connections`]): one OFAuth connection and the
//!   user who owns it, also indexed by user in the `byUser` index (`gsi1pk` =
//!   `USER#<user>`, `gsi1sk` = the time it was first connected), newest first.
//! - `EVENT#<id>` ([`sightings`]): a sighting of OFAuth's already applied (a
//!   signed webhook event, or the reconciler's look at OFAuth's list), for
//!   idempotency.
//! - `RATE#session#<user>#<window>` ([`limits`]): sessions a user started in a window.
//! - `ERASURE#<id>` ([`privacy`]): one erasure (the platform's `User Data Erased`).
//! - `ERASED#<digest of a user id>` ([`barrier`]): the user's last erasure, which
//!   no attempt started before it gets past.
//! - `RECONNECTS#<bucket>` ([`reconnects`]): the reconnect attempts started in
//!   ten minutes, which the reconciler checks on their own.
//! - `RECONCILE#cursor` and `RECONCILE#seen#<sweep>#<chunk>` ([`cursor`]): the
//!   reconciler's place in its sweep, its lease, and what the sweep saw (TTL).
//!
//! Attempt and connection items carry their format (`fmt`,
//! [`schema::ITEM_FORMAT`]; absent on items written before it, which read as
//! format 1); `shared/tests/api/upgrade.rs` runs the current code on the items
//! an earlier release wrote (`shared/tests/fixtures/items-*.json`).
//!
//! The conditional expressions here are the security boundary (an attempt is used
//! once, a connection never changes owner), so they are tested against DynamoDB
//! Local. [`table`] holds the client and the calls every module builds on;
//! [`item`] maps items and writes a connection's attributes in one place.

mod attempts;
mod barrier;
mod connections;
mod cursor;
mod error;
mod item;
pub mod keys;
mod limits;
mod privacy;
mod reconnects;
pub mod schema;
mod sightings;
mod table;

pub use barrier::ErasureState;
pub use connections::PageKey;
pub use cursor::Known;
pub(crate) use cursor::{Cursor, Lease, Phase};
pub use error::StoreError;
pub(crate) use limits::RateCheck;
pub(crate) use privacy::{holds_personal_data, UserItem};
pub use reconnects::{MAX_RECONNECT_CHECKS, MAX_SESSION_SECS};
pub(crate) use sightings::{Applied, Sighting};
pub use table::{timeouts, Store};
