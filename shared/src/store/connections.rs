//! `CONNECTION#<id>` items: one OFAuth connection ([`crate::model::ConnectionRecord`]),
//! what OFAuth attested about its origin (`attestedAttemptId`), and, once bound,
//! the user who owns it, listed per user through the `byUser` index. A
//! connection never changes owner.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::TransactWriteItem;

use super::attempts::transition_with;
use super::barrier::started_after_erasure;
use super::error::StoreError;
use super::item::{
    connection_update, get_s, n, read_attempt, read_record, s, unchanged_since, ConnectionWrite,
    StateWrite, Update,
};
use super::table::{is_condition_failure, unavailable, Store, TransactFailure};
use super::{keys, schema};
use crate::ids::{AttemptId, ConnectionId};
use crate::model::{
    AccountProfile, AttemptStatus, ChangeCause, ConnectionRecord, ConnectionStatus, LinkAttempt,
    ListedStatus, UserConnection,
};
use crate::time::{epoch, epoch_ms, rfc3339};

/// Where a page of a user's list ended: the item's key and its place in the
/// `byUser` index. The API hands it out as an opaque cursor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageKey {
    pub pk: String,
    pub(crate) sk: String,
}

impl Store {
    /// Reads a connection record by its id (strongly consistent).
    pub async fn get_connection(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.get(keys::connection(id))
            .await?
            .map(|item| read_record(&item))
            .transpose()
    }

    /// Reads an attempt and a connection's record in one request (both strongly
    /// consistent): what the callback needs before it may call OFAuth.
    pub async fn get_attempt_and_connection(
        &self,
        attempt: &AttemptId,
        connection: &ConnectionId,
    ) -> Result<(Option<LinkAttempt>, Option<ConnectionRecord>), StoreError> {
        let (attempt_key, record_key) = (keys::attempt(attempt), keys::connection(connection));
        let mut items = self
            .batch_get(vec![attempt_key.clone(), record_key.clone()], true)
            .await?;
        let (attempt, record) = (items.remove(&attempt_key), items.remove(&record_key));
        Ok((
            attempt.map(|i| read_attempt(&i)).transpose()?,
            record.map(|i| read_record(&i)).transpose()?,
        ))
    }

    /// Binds the connection to the attempt's user and completes the attempt, in
    /// one transaction: both happen or neither. The attempt must be in one of
    /// `from`, unexpired, this user's, and not have come back with another
    /// connection; the connection must be unbound or already this user's, and
    /// still be `seen` (the record read just before, or none): a newer state it
    /// holds (a webhook's) is kept, only the owner is added. `account`: the
    /// whole profile as OFAuth gave it, when known (`None` keeps the record's).
    /// `attested`: provenance was just proven (recorded on the connection). The
    /// attempt stays under its user in the `byUser` index, out of the list.
    #[allow(clippy::too_many_arguments)]
    pub async fn bind_connection(
        &self,
        attempt: &LinkAttempt,
        from: &[AttemptStatus],
        connection: &ConnectionId,
        account: Option<&AccountProfile>,
        attested: bool,
        seen: Option<&ConnectionRecord>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (mut done, done_condition) =
            transition_with(attempt, from, AttemptStatus::Completed, connection, now);
        done.set(
            schema::USER_INDEX_SORT_KEY,
            s(keys::unlisted(&attempt.created_at)),
        );
        // OFAuth's `access/self` just confirmed it live. A state OFAuth reported
        // at or after this moment wins over that confirmation; the confirmation
        // never enters OFAuth's order (`lastEventAt`), so it never makes a later
        // OFAuth event look old.
        let now_ms = epoch_ms(now);
        let newer_there = seen
            .and_then(|r| r.last_event_at)
            .is_some_and(|t| t >= now_ms);
        let mut bind = connection_update(
            connection,
            &ConnectionWrite {
                owner: Some(&attempt.user_id),
                state: (!newer_there).then_some(StateWrite::confirmed(ConnectionStatus::Active)),
                account: account.filter(|_| !newer_there).map(|a| (a, true)),
                attested_by: attested.then_some(&attempt.id),
                last_attempt: Some(&attempt.id),
                cause: Some(ChangeCause::Completion),
                swap_attempt: None,
                swap_account: None,
                invalidate: None,
            },
            &rfc3339(now),
        );
        let mut unchanged = unchanged_since(&mut bind, seen);
        if seen.is_some() {
            let (user, owner) = (
                bind.name("userId"),
                bind.value("owner", s(&attempt.user_id)),
            );
            unchanged.push_str(&format!(
                " AND (attribute_not_exists({user}) OR {user} = {owner})"
            ));
        }
        let done = done.transact(&self.table, keys::attempt(&attempt.id), &done_condition)?;
        let bind = bind.transact(&self.table, keys::connection(connection), &unchanged)?;
        match self
            .transact(vec![
                TransactWriteItem::builder().update(done).build(),
                TransactWriteItem::builder().update(bind).build(),
                started_after_erasure(&self.table, attempt)?,
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(TransactFailure::Condition(2)) => Err(StoreError::Erased),
            Err(TransactFailure::Condition(0)) => {
                // A retried write that had committed fails its own condition.
                match self.get_attempt(&attempt.id).await {
                    Ok(Some(a))
                        if a.status == AttemptStatus::Completed
                            && a.connection.as_ref() == Some(connection) =>
                    {
                        Ok(())
                    }
                    _ => Err(StoreError::AttemptNotUsable),
                }
            }
            Err(TransactFailure::Condition(_)) => match self.get_connection(connection).await? {
                Some(r) if r.is_owned_by_another(&attempt.user_id) => {
                    Err(StoreError::ConnectionOwnedByAnotherUser)
                }
                _ => Err(StoreError::ConnectionChanged),
            },
            Err(TransactFailure::Other(e)) => Err(e),
        }
    }

    /// A page of the user's connections, newest first, from the `byUser` index:
    /// bound records (a disconnected one leaves the index) and completions still
    /// waiting for attestation. At most `limit`, after `after` (the previous
    /// page's [`PageKey`]); the page's last key when there may be more.
    pub async fn list_connections(
        &self,
        user_id: &str,
        now: SystemTime,
        limit: u32,
        after: Option<&PageKey>,
    ) -> Result<(Vec<UserConnection>, Option<PageKey>), StoreError> {
        let start = after.map(|k| {
            HashMap::from([
                (schema::PARTITION_KEY.to_string(), s(&k.pk)),
                (
                    schema::USER_INDEX_PARTITION_KEY.to_string(),
                    s(keys::user(user_id)),
                ),
                (schema::USER_INDEX_SORT_KEY.to_string(), s(&k.sk)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(schema::USER_INDEX)
            // Attempts sort before the list's range, disconnected connections
            // after it: neither is read here.
            .key_condition_expression("gsi1pk = :u AND gsi1sk BETWEEN :from AND :gone")
            .expression_attribute_values(":u", s(keys::user(user_id)))
            .expression_attribute_values(":from", s(keys::LISTED_FROM))
            .expression_attribute_values(":gone", s(keys::GONE))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                // A start key that is not one of this user's index entries.
                use aws_sdk_dynamodb::error::ProvideErrorMetadata;
                if e.as_service_error().and_then(|se| se.code()) == Some("ValidationException")
                    && after.is_some()
                {
                    StoreError::InvalidPageKey
                } else {
                    unavailable(e)
                }
            })?;
        let next = out.last_evaluated_key.as_ref().and_then(|k| {
            Some(PageKey {
                pk: get_s(k, schema::PARTITION_KEY)?.to_string(),
                sk: get_s(k, schema::USER_INDEX_SORT_KEY)?.to_string(),
            })
        });
        let mut listed = Vec::new();
        for item in out.items.unwrap_or_default() {
            if get_s(&item, "entity") == Some("attempt") {
                let a = read_attempt(&item)?;
                let (Some(id), AttemptStatus::Verifying) = (a.connection.clone(), a.status) else {
                    continue;
                };
                let since = a.verifying_at.as_deref().unwrap_or(&a.created_at);
                listed.push(UserConnection {
                    id,
                    status: if a.is_expired(epoch(now)) {
                        ListedStatus::Unverified
                    } else {
                        ListedStatus::Verifying
                    },
                    account: a.account.clone(),
                    connected_at: since.to_string(),
                    updated_at: since.to_string(),
                });
                continue;
            }
            let r = read_record(&item)?;
            if r.status != ConnectionStatus::Disconnected {
                listed.push(UserConnection {
                    id: r.id,
                    status: ListedStatus::Connection(r.status),
                    account: r.account,
                    connected_at: r.connected_at,
                    updated_at: r.updated_at,
                });
            }
        }
        Ok((listed, next))
    }

    /// Marks the owner's connection expired: it came back holding another
    /// OnlyFans account than the one bound to it, through `attempt`, and was
    /// invalidated (the owner and the account's profile stay as they were).
    /// Nothing when it is disconnected or not the owner's. Whether this swap is
    /// new to the record ([`ConnectionRecord::holds_swap`]): a swap another leg
    /// of the same attempt recorded first is not.
    pub(crate) async fn expire_swapped(
        &self,
        id: &ConnectionId,
        owner: &str,
        attempt: &AttemptId,
        account: Option<&str>,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let write = ConnectionWrite {
            state: Some(StateWrite::confirmed(ConnectionStatus::Expired)),
            cause: Some(ChangeCause::AccountMismatch),
            swap_attempt: Some(attempt.as_str()),
            swap_account: account,
            ..ConnectionWrite::default()
        };
        let mut update = connection_update(id, &write, &rfc3339(now));
        let (status, cause, marked) = (
            update.name("status"),
            update.name("changeCause"),
            update.name("swapAttemptId"),
        );
        let condition = format!(
            "{} = {} AND ({status} = {} OR ({status} = {} AND NOT ({cause} = {} AND (attribute_not_exists({marked}) OR {marked} = {}))))",
            update.name("userId"),
            update.value("owner", s(owner)),
            update.value("active", s(ConnectionStatus::Active.as_str())),
            update.value("expired", s(ConnectionStatus::Expired.as_str())),
            update.value("mismatch", s(ChangeCause::AccountMismatch.as_str())),
            update.value("attempt", s(attempt.as_str())),
        );
        if self.update_connection_if(id, update, condition).await? {
            return Ok(true);
        }
        Ok(self.get_connection(id).await?.is_some_and(|r| {
            r.is_owned_by(owner)
                && r.status != ConnectionStatus::Disconnected
                && !r.holds_swap(Some(attempt.as_str()), account)
        }))
    }

    /// Marks the user's connection disconnected and takes it out of their list.
    /// `ConnectionOwnedByAnotherUser` when it is not theirs (nothing written).
    pub(crate) async fn mark_disconnected(
        &self,
        id: &ConnectionId,
        user_id: &str,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let write = ConnectionWrite {
            state: Some(StateWrite::confirmed(ConnectionStatus::Disconnected)),
            cause: Some(ChangeCause::User),
            ..ConnectionWrite::default()
        };
        self.write_connection_if(id, &write, now, |u| {
            format!("{} = {}", u.name("userId"), u.value("owner", s(user_id)))
        })
        .await
    }

    /// Records that this service is about to disconnect a connection at OFAuth,
    /// the user's (`owner`) or, with `None`, one nobody owns, for `cause`
    /// (the user, an erasure, a fixation, the reconciler): OFAuth's report of it (its
    /// webhook, which may land before this service's own write; or, after a
    /// timeout that did disconnect it, the reconciler's look) then carries the
    /// same cause, for [`DISCONNECT_REQUEST_WINDOW_SECS`]. Changes nothing a
    /// reader sees (no `updatedAt`, no event) but the version;
    /// `ConnectionOwnedByAnotherUser` when there is no such record.
    pub(crate) async fn request_disconnect(
        &self,
        id: &ConnectionId,
        owner: Option<&str>,
        cause: ChangeCause,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.set("disconnectRequestedBy", s(cause.as_str()))
            .set("disconnectRequestedAt", n(epoch(now)))
            .increment("version");
        let user = u.name("userId");
        let condition = match owner {
            Some(owner) => format!("{user} = {}", u.value("owner", s(owner))),
            None => format!(
                "attribute_exists({}) AND attribute_not_exists({user})",
                u.name("pk")
            ),
        };
        if self.update_connection_if(id, u, condition).await? {
            Ok(())
        } else {
            Err(StoreError::ConnectionOwnedByAnotherUser)
        }
    }

    /// Records an unbound connection disconnected at OFAuth (created when the
    /// table had no record), by the reconciler or a refused fixation (`cause`).
    /// Never touches a record someone owns.
    pub(crate) async fn record_unbound_disconnected(
        &self,
        id: &ConnectionId,
        attested_by: Option<&AttemptId>,
        cause: ChangeCause,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let write = ConnectionWrite {
            state: Some(StateWrite::confirmed(ConnectionStatus::Disconnected)),
            attested_by,
            cause: Some(cause),
            ..ConnectionWrite::default()
        };
        self.write_connection_if(id, &write, now, |u| {
            format!("attribute_not_exists({})", u.name("userId"))
        })
        .await
    }

    /// One [`ConnectionWrite`] to a connection's item, on a condition built
    /// with the update's placeholders; `ConnectionOwnedByAnotherUser` when the
    /// condition fails (nothing written).
    pub(super) async fn write_connection_if(
        &self,
        id: &ConnectionId,
        write: &ConnectionWrite<'_>,
        now: SystemTime,
        condition: impl FnOnce(&mut Update) -> String,
    ) -> Result<(), StoreError> {
        let mut update = connection_update(id, write, &rfc3339(now));
        let condition = condition(&mut update);
        if self.update_connection_if(id, update, condition).await? {
            Ok(())
        } else {
            Err(StoreError::ConnectionOwnedByAnotherUser)
        }
    }

    /// One conditional update of a connection item: false when the condition
    /// failed (nothing written).
    pub(super) async fn update_connection_if(
        &self,
        id: &ConnectionId,
        update: Update,
        condition: String,
    ) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::connection(id)))
            .condition_expression(condition);
        match update.apply(req).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Takes the remedy's mark off a record once its invalidation is done,
    /// while it still asks for that same one (`invalidatedAt` says when).
    pub(crate) async fn clear_invalidation(
        &self,
        id: &ConnectionId,
        request: &str,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut u = Update::default();
        u.remove("invalidateRequested")
            .set("invalidatedAt", s(rfc3339(now)))
            .increment("version");
        let condition = format!(
            "{} = {}",
            u.name("invalidateRequested"),
            u.value("request", s(request))
        );
        self.update_connection_if(id, u, condition).await
    }
}
