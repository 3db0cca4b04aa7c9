//! What the platform's own services get, apart from the browser's routes:
//! - events: one EventBridge event per connection change, published from the
//!   table's change stream ([`events`] decides, [`publisher`] sends);
//! - a read API behind AWS IAM ([`read_api`]): a user's connections, one connection's
//!   owner and status.

pub mod events;
pub mod publisher;
pub mod read_api;
