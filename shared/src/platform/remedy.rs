//! The stream's remedy: a connection the webhook found usable with another
//! OnlyFans account is invalidated at OFAuth here, from the table's stream, by
//! the publisher, and not by the webhook function, which is internet-facing
//! and holds no API key. The webhook's write marks the record
//! (`invalidateRequested`: the delivery's id); the publisher, on that change,
//! reads the record again and, while it still asks for that same
//! invalidation, invalidates the connection at OFAuth and takes the mark off
//! (a conditional write). So it is done once: a redelivered batch finds the
//! mark gone. It has the stream's guarantees: a failure is retried with the
//! batch (Lambda, then the on-failure queue, alarmed), and the reconciler
//! invalidates again any swap still usable at OFAuth.

use std::time::SystemTime;

use super::events::Image;
use crate::ids::ConnectionId;
use crate::ofauth::Invalidator;
use crate::store::{Store, StoreError};
use crate::telemetry;

/// What a stream record asks of the remedy: the connection, and the request's id.
pub(super) fn requested<I: Image>(old: Option<&I>, new: &I) -> Option<(ConnectionId, String)> {
    let id = new.text("invalidateRequested")?;
    if old.and_then(|o| o.text("invalidateRequested")) == Some(id) {
        return None; // asked already, by an earlier change
    }
    Some((
        ConnectionId::parse(new.text("connectionId")?)?,
        id.to_string(),
    ))
}

/// Why a remedy failed (the batch is retried from its record).
#[derive(Debug, thiserror::Error)]
pub(super) enum RemedyError {
    #[error("the table could not be read or written: {0}")]
    Store(#[from] StoreError),
    #[error("OFAuth could not invalidate it: {0}")]
    OfAuth(String),
}

/// Does what `request` asks, once.
pub(super) async fn apply(
    store: &Store,
    invalidator: &dyn Invalidator,
    connection: &ConnectionId,
    request: &str,
) -> Result<(), RemedyError> {
    let Some(record) = store.get_connection(connection).await? else {
        return Ok(());
    };
    if record.invalidate_requested.as_deref() != Some(request) {
        return Ok(()); // done already (a redelivery), or asked again since
    }
    invalidator
        .invalidate(connection)
        .await
        .map_err(RemedyError::OfAuth)?;
    store
        .clear_invalidation(connection, request, SystemTime::now())
        .await?;
    telemetry::outcome("invalidated");
    tracing::info!(
        outcome = "invalidated",
        connection = %connection.masked(),
        "a connection usable with another OnlyFans account was invalidated at OFAuth (the webhook's request, from the stream)"
    );
    Ok(())
}
