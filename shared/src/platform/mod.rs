//! What the platform's own services get, apart from the browser's routes:
//! - events: one EventBridge event per connection change, published from the
//!   table's change stream ([`events`] decides, [`publisher`] sends, [`erasure`]
//!   keeps an erasure the last word, [`replay`] re-announces what a dead letter
//!   covers, [`lambda`] runs it as a function);
//! - the stream's remedy ([`remedy`]): the webhook's account-swap
//!   invalidation, done by the publisher, which holds the API key;
//! - a read API behind AWS IAM ([`read_api`]): a user's connections, one connection's
//!   owner and status.

pub(crate) mod erasure;
pub mod events;
pub mod lambda;
pub mod publisher;
pub mod read_api;
pub(crate) mod remedy;
pub mod replay;
