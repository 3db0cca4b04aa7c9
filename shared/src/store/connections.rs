//! `CONNECTION#<id>` items: one OFAuth connection and the user who owns it, listed
//! per user through the `byUser` index. A connection never changes owner.

use std::time::SystemTime;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attempts::{consume, AttemptStatus, LinkAttempt};
use super::item::{
    connection_update, get_s, req_s, s, state_update, ConnectionWrite, Item, MissingProfile,
};
use super::{is_condition_failure, keys, schema, unavailable, Store, StoreError, TransactFailure};
use crate::ids::ConnectionId;
use crate::ofauth::AccountProfile;
use crate::time::{epoch_ms, rfc3339};

/// A recorded OFAuth connection and the user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: ConnectionId,
    pub user_id: String,
    pub status: String,
    pub account: AccountProfile,
    pub connected_at: String,
    pub updated_at: String,
}

impl ConnectionRecord {
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let id = ConnectionId::parse(req_s(item, "connectionId")?)
            .ok_or_else(|| StoreError::Corrupt("connectionId".into()))?;
        let owned = |k: &str| get_s(item, k).map(str::to_string);
        Ok(Self {
            id,
            user_id: req_s(item, "userId")?.to_string(),
            status: req_s(item, "status")?.to_string(),
            account: AccountProfile {
                id: owned("accountId"),
                username: owned("username"),
                name: owned("name"),
                avatar: owned("avatar"),
            },
            connected_at: req_s(item, "connectedAt")?.to_string(),
            updated_at: req_s(item, "updatedAt")?.to_string(),
        })
    }
}

/// `attribute_not_exists(pk) OR userId = <user>`: the record is new or already this
/// user's. Registers its placeholders on `u`.
pub(super) fn new_or_owned_by(u: &mut super::item::Update, user_id: &str) -> String {
    let (user, value) = (u.name("userId"), u.value("owner", s(user_id)));
    format!("attribute_not_exists(pk) OR {user} = {value}")
}

impl Store {
    /// Reads a connection record by its id (strongly consistent).
    pub async fn get_connection(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.get(keys::connection(id))
            .await?
            .map(|item| ConnectionRecord::from_item(&item))
            .transpose()
    }

    /// Records the connection for the attempt's user and consumes the attempt, in
    /// one transaction: both happen or neither. The attempt must still be pending,
    /// unexpired and this user's; the connection must be new or already this user's.
    pub async fn record_connection(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        account: &AccountProfile,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (mut consumed, consume_condition) = consume(attempt, AttemptStatus::Completed, now);
        consumed.set("connectionId", s(connection.as_str()));
        let now_s = rfc3339(now);
        let mut upsert = connection_update(&ConnectionWrite {
            connection,
            user_id: &attempt.user_id,
            status: "active",
            account,
            missing_profile: MissingProfile::Remove,
            // The callback's confirmation time orders it against webhook events.
            event_at_ms: epoch_ms(now),
            attempt: Some(&attempt.id),
            now: &now_s,
        });
        let owned = new_or_owned_by(&mut upsert, &attempt.user_id);
        let consume =
            consumed.transact(&self.table, keys::attempt(&attempt.id), &consume_condition)?;
        let upsert = upsert.transact(&self.table, keys::connection(connection), &owned)?;
        match self
            .transact(
                TransactWriteItem::builder().update(consume).build(),
                TransactWriteItem::builder().update(upsert).build(),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(TransactFailure::First) => Err(StoreError::AttemptNotUsable),
            Err(TransactFailure::Second) => Err(StoreError::ConnectionOwnedByAnotherUser),
            Err(TransactFailure::Other(e)) => Err(e),
        }
    }

    /// The user's connections (not disconnected), newest first, from the `byUser` index.
    pub async fn list_connections(
        &self,
        user_id: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::USER_INDEX)
            .key_condition_expression("gsi1pk = :u")
            .expression_attribute_values(":u", s(keys::user(user_id)))
            .scan_index_forward(false)
            .limit(100)
            .send()
            .await
            .map_err(unavailable)?;
        let records: Vec<ConnectionRecord> = out
            .items
            .unwrap_or_default()
            .iter()
            .map(ConnectionRecord::from_item)
            .collect::<Result<_, _>>()?;
        Ok(records
            .into_iter()
            .filter(|r| r.status != "disconnected")
            .collect())
    }

    /// Marks the user's connection disconnected and takes it out of their list.
    /// `ConnectionOwnedByAnotherUser` when it is not theirs (nothing written).
    pub async fn mark_disconnected(
        &self,
        id: &ConnectionId,
        user_id: &str,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut update = state_update("disconnected", &rfc3339(now), epoch_ms(now));
        let condition = format!(
            "{} = {}",
            update.name("userId"),
            update.value("owner", s(user_id))
        );
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::connection(id)))
            .condition_expression(condition);
        update.apply(req).send().await.map_err(|e| {
            if is_condition_failure(&e) {
                StoreError::ConnectionOwnedByAnotherUser
            } else {
                unavailable(e)
            }
        })?;
        Ok(())
    }
}
