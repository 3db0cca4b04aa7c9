//! Signed webhook events applied to connection records: at most once per event id
//! (an `EVENT#<id>` marker, kept for [`EVENT_RETENTION_SECS`]) and never over a
//! newer state (`lastEventAt`), in one transaction.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};

use super::item::{connection_update, n, s, state_update, ConnectionWrite, MissingProfile};
use super::{keys, schema, Store, StoreError, TransactFailure};
use crate::ids::ConnectionId;
use crate::ofauth::AccountProfile;
use crate::time::{epoch, rfc3339};

/// How long a processed webhook event id is remembered (DynamoDB TTL).
pub const EVENT_RETENTION_SECS: i64 = 30 * 86_400;

/// A signed webhook event about one connection.
#[derive(Debug, Clone)]
pub struct ConnectionEvent<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// When OFAuth says it happened (Unix milliseconds); orders deliveries.
    pub event_at_ms: i64,
    pub connection: &'a ConnectionId,
    pub change: Change<'a>,
}

/// What an event does to the record.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// `connection.created` / `connection.updated`: owner, status and profile.
    Upsert {
        user_id: &'a str,
        status: &'a str,
        account: &'a AccountProfile,
        /// The owner comes from the event's attempt (not from the existing record).
        owner_from_attempt: bool,
    },
    Expired,
    Disconnected,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// This event id was already processed.
    Duplicate,
    /// The record holds a newer state (or, for expiry/disconnect, does not exist).
    Superseded,
}

impl Store {
    /// Applies a signed webhook event to a connection record, at most once per event
    /// id and never over a newer state: one transaction writes the event marker and
    /// the change, or nothing.
    pub async fn apply_event(
        &self,
        ev: &ConnectionEvent<'_>,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        let now_s = rfc3339(now);
        let marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (
                    schema::PARTITION_KEY.to_string(),
                    s(keys::event(ev.event_id)),
                ),
                ("entity".into(), s("event")),
                ("eventType".into(), s(ev.event_type)),
                ("connectionId".into(), s(ev.connection.as_str())),
                ("receivedAt".into(), s(&now_s)),
                (
                    schema::TTL_ATTRIBUTE.into(),
                    n(epoch(now) + EVENT_RETENTION_SECS),
                ),
            ])))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;

        let (mut update, user) = match &ev.change {
            Change::Upsert {
                user_id,
                status,
                account,
                owner_from_attempt,
            } => {
                let update = connection_update(&ConnectionWrite {
                    connection: ev.connection,
                    user_id,
                    status,
                    account,
                    missing_profile: MissingProfile::Keep,
                    event_at_ms: ev.event_at_ms,
                    attempt: None,
                    now: &now_s,
                });
                (update, owner_from_attempt.then_some(*user_id))
            }
            Change::Expired => (state_update("expired", &now_s, ev.event_at_ms), None),
            Change::Disconnected => (state_update("disconnected", &now_s, ev.event_at_ms), None),
        };
        let newer = format!(
            "(attribute_not_exists({last}) OR {last} < {ts})",
            last = update.name("lastEventAt"),
            ts = update.value("eventAt", n(ev.event_at_ms)),
        );
        let condition = match (&ev.change, user) {
            // An owner named by the attempt wins over an older record's owner
            // whatever the timestamps say (the callback is forgeable, the webhook is not).
            (Change::Upsert { .. }, Some(user)) => format!(
                "{newer} OR {} <> {}",
                update.name("userId"),
                update.value("eventOwner", s(user))
            ),
            (Change::Upsert { .. }, None) => newer,
            // Expiry and disconnect change a record that exists.
            _ => format!("attribute_exists(pk) AND {newer}"),
        };
        let update = update.transact(&self.table, keys::connection(ev.connection), &condition)?;
        match self
            .transact(
                TransactWriteItem::builder().put(marker).build(),
                TransactWriteItem::builder().update(update).build(),
            )
            .await
        {
            Ok(()) => Ok(Applied::Applied),
            Err(TransactFailure::First) => Ok(Applied::Duplicate),
            Err(TransactFailure::Second) => Ok(Applied::Superseded),
            Err(TransactFailure::Other(e)) => Err(e),
        }
    }
}
