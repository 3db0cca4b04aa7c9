//! Personal data's lifecycle: what an erasure finds under a user, and the
//! writes that take the personal fields (the OnlyFans account's id, username,
//! name and avatar; for an erasure also the user's id) off an item while keeping
//! what an audit needs (the connection id, times, status, the attempt that
//! produced it, and when and why the fields went).

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;

use super::error::StoreError;
use super::item::{self, get_s, n, read_attempt, read_record, s, unchanged_since, Update};
use super::table::{unavailable, Store};
use super::{keys, schema};
use crate::ids::{AttemptId, ConnectionId};
use crate::model::{AttemptStatus, ChangeCause, ConnectionRecord, ConnectionStatus, LinkAttempt};
use crate::time::{epoch, epoch_ms, rfc3339};

/// The connected account's fields (on connections and attempts).
const PROFILE: [&str; 4] = ["accountId", "username", "name", "avatar"];

/// What the `byUser` index holds for a user.
#[derive(Debug)]
pub(crate) enum UserItem {
    /// A connection bound to the user (live or disconnected).
    Connection(ConnectionRecord),
    /// An attempt of the user's, whatever its status (every attempt is indexed
    /// under its user until it is removed by TTL).
    Attempt(LinkAttempt),
}

impl Store {
    /// Everything the `byUser` index holds under `user_id`, each read again
    /// (strongly consistent) from the table.
    pub(crate) async fn user_items(&self, user_id: &str) -> Result<Vec<UserItem>, StoreError> {
        let mut keys_found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(schema::USER_INDEX)
                .key_condition_expression("gsi1pk = :u")
                .expression_attribute_values(":u", s(keys::user(user_id)))
                .projection_expression("pk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items() {
                if let Some(pk) = get_s(item, schema::PARTITION_KEY) {
                    keys_found.push(pk.to_string());
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        // Read again strongly consistent, up to 100 in one request; in the
        // index's order.
        let mut found = self.batch_get(keys_found.clone(), true).await?;
        let mut items = Vec::new();
        for pk in keys_found {
            let Some(item) = found.remove(&pk) else {
                continue;
            };
            match get_s(&item, "entity") {
                Some("connection") => {
                    let r = read_record(&item)?;
                    if r.is_owned_by(user_id) {
                        items.push(UserItem::Connection(r));
                    }
                }
                Some("attempt") => {
                    let a = read_attempt(&item)?;
                    if a.user_id == user_id {
                        items.push(UserItem::Attempt(a));
                    }
                }
                _ => {}
            }
        }
        Ok(items)
    }

    /// Erases a user's connection record: disconnected (the caller disconnected
    /// it at OFAuth first), with no user, no account fields and no index keys;
    /// `erasedAt` (and `updatedAt`, the platform's event's time) say when. The
    /// record's version after it, or `None` when it changed since it was read.
    pub(crate) async fn erase_connection(
        &self,
        record: &ConnectionRecord,
        now: SystemTime,
    ) -> Result<Option<i64>, StoreError> {
        let mut u = Update::default();
        for attr in PROFILE.iter().chain(&[
            "userId",
            schema::USER_INDEX_PARTITION_KEY,
            schema::USER_INDEX_SORT_KEY,
        ]) {
            u.remove(attr);
        }
        u.set("status", s(ConnectionStatus::Disconnected.as_str()))
            .set("erasedAt", s(rfc3339(now)))
            .set("updatedAt", s(rfc3339(now)))
            .set("changeCause", s(ChangeCause::Erasure.as_str()))
            .increment("version");
        let condition = unchanged_since(&mut u, Some(record));
        let written = self.update_connection_if(&record.id, u, condition).await?;
        Ok(written.then_some(record.version + 1))
    }

    /// Ends an attempt still in flight (pending, returned, verifying) as
    /// `erased`, so that no completion, webhook or reload can bind it any more:
    /// the erasure's barrier. On the condition that its status is still the one
    /// read: false when it moved meanwhile (read it again and decide again).
    pub(crate) async fn end_for_erasure(&self, attempt: &LinkAttempt) -> Result<bool, StoreError> {
        let mut u = Update::default();
        u.set("status", s(AttemptStatus::Erased.as_str()));
        let condition = format!(
            "{} = {}",
            u.name("status"),
            u.value("read", s(attempt.status.as_str()))
        );
        self.update_attempt_if(&attempt.id, u, condition).await
    }

    /// Takes the user's and the account's fields off an attempt (its id, status,
    /// times and connection id stay for an audit until its TTL), with its codes
    /// and its index entry; `erasedAt` says when.
    pub(crate) async fn strip_attempt(
        &self,
        id: &AttemptId,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        for attr in PROFILE.iter().chain(&[
            "userId",
            "codeHash",
            "browserHash",
            "expectedAccountId",
            schema::USER_INDEX_PARTITION_KEY,
            schema::USER_INDEX_SORT_KEY,
        ]) {
            u.remove(attr);
        }
        u.set("erasedAt", s(rfc3339(now)));
        // False: removed by TTL meanwhile, nothing left to strip.
        self.update_attempt_if(id, u, "attribute_exists(pk)".into())
            .await?;
        Ok(())
    }

    /// Records that a user's data was erased (`ERASURE#<id>`, kept a day): the
    /// platform's `User Data Erased` event comes from this item on the table's
    /// stream, so it is published exactly when the erasure was written.
    pub(crate) async fn put_erasure_marker(
        &self,
        user_id: &str,
        erased: u32,
        connections: &[(ConnectionId, i64)],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let id = AttemptId::generate().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let listed = connections
            .iter()
            .map(|(c, v)| {
                AttributeValue::M(HashMap::from([
                    ("connectionId".to_string(), s(c.as_str())),
                    ("version".to_string(), n(*v)),
                ]))
            })
            .collect();
        let mut u = Update::default();
        u.set("entity", s("erasure"))
            .set("userId", s(user_id))
            .set("erasedAt", s(rfc3339(now)))
            .set("erasedAtMs", n(epoch_ms(now)))
            .set("connections", AttributeValue::L(listed))
            .set("erased", n(i64::from(erased)))
            .set(schema::TTL_ATTRIBUTE, n(epoch(now) + 86_400));
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::erasure(id.as_str())))
            .condition_expression("attribute_not_exists(pk)");
        u.apply(req).send().await.map_err(unavailable)?;
        Ok(())
    }

    /// Takes the account's personal fields off a connection that has been
    /// disconnected or expired for the retention period: its username, name
    /// and avatar; and, once disconnected (final), the account's id too (an
    /// expired one keeps it: a reconnect must come back with the same account).
    /// False when the record changed since it was read.
    pub(crate) async fn scrub_personal_data(
        &self,
        record: &ConnectionRecord,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut u = Update::default();
        for attr in PROFILE {
            if attr != "accountId" || record.status == ConnectionStatus::Disconnected {
                u.remove(attr);
            }
        }
        u.set("scrubbedAt", s(rfc3339(now))).increment("version");
        let condition = format!(
            "({}) AND {} = {}",
            unchanged_since(&mut u, Some(record)),
            u.name("status"),
            u.value("status", s(record.status.as_str()))
        );
        self.update_connection_if(&record.id, u, condition).await
    }
}

/// Whether a record still holds personal fields the retention would take off.
pub(crate) fn holds_personal_data(record: &ConnectionRecord) -> bool {
    let a = &record.account;
    a.username.is_some()
        || a.name.is_some()
        || a.avatar.is_some()
        || (record.status == ConnectionStatus::Disconnected && a.id.is_some())
}

impl Store {
    /// Every connection record written, and every erasure marker made, between
    /// `since` and `until` (RFC 3339, inclusive; `updatedAt`, `erasedAt`): what
    /// the publisher's replay re-announces. A scan of the whole table (an
    /// operator's recovery, not a request path), page by page.
    pub(crate) async fn changed_between(
        &self,
        since: &str,
        until: &str,
    ) -> Result<Vec<item::Item>, StoreError> {
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(
                    "(#entity = :connection AND #updatedAt BETWEEN :since AND :until) \
                     OR (#entity = :erasure AND #erasedAt BETWEEN :since AND :until)",
                )
                .expression_attribute_names("#entity", "entity")
                .expression_attribute_names("#updatedAt", "updatedAt")
                .expression_attribute_names("#erasedAt", "erasedAt")
                .expression_attribute_values(":connection", s("connection"))
                .expression_attribute_values(":erasure", s("erasure"))
                .expression_attribute_values(":since", s(since))
                .expression_attribute_values(":until", s(until))
                .set_exclusive_start_key(after)
                .send()
                .await
                .map_err(unavailable)?;
            found.extend(out.items().iter().cloned());
            after = out.last_evaluated_key().cloned();
            if after.is_none() {
                return Ok(found);
            }
        }
    }
}
