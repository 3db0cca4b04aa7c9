//! The domain: what the functions reason about, apart from how it is stored or
//! fetched. A Link attempt ([`LinkAttempt`], its [`AttemptStatus`]), a
//! connection as this service keeps it ([`ConnectionRecord`], its
//! [`ConnectionStatus`] and why it last changed, [`ChangeCause`]), the
//! connected OnlyFans account ([`AccountProfile`]) and another account seen on
//! a bound connection ([`Swap`]).
//!
//! This module imports nothing of the store, the OFAuth client or telemetry:
//! the store maps these types to items (`store::item`), the OFAuth client reads
//! OFAuth's answers into them, telemetry takes plain values. Statuses and
//! causes are enums with one spelling each (`as_str`, `parse`): strings exist
//! only where an item is read or written, a JSON body or redirect is built, or
//! a metric is labelled.

mod account;
mod attempt;
mod connection;

pub(crate) use account::string_or_number;
pub use account::AccountProfile;
pub(crate) use attempt::AttemptEnd;
pub use attempt::{AttemptStatus, LinkAttempt, Returned};
pub use connection::ConnectionRecord;
pub use connection::ConnectionStatus;
pub use connection::ListedStatus;
pub use connection::UserConnection;
pub(crate) use connection::{account_digest, ChangeCause, Swap};
