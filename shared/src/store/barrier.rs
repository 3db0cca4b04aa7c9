//! The erasure barrier: `ERASED#<SHA-256 of the user id>`, written first by a
//! user's erasure (`erasedAtMs`, Unix milliseconds, the latest erasure's; kept
//! two days, longer than any attempt lives). Every write that binds a
//! connection to an attempt's user (the completion, its wait for attestation, a
//! sighting that binds a verifying attempt) checks it in the same transaction:
//! an attempt that started before its user's erasure (at the same millisecond
//! included) never binds, whatever the `byUser` index (eventually consistent)
//! showed the erasure.
//!
//! When the erasure is done it completes the barrier: `completedAtMs`, and for
//! each connection it erased the record's version then (`v_<connection id>`).
//! The publisher reads it before it sends a connection's event: an event the
//! erasure covers is not sent once `User Data Erased` may have been
//! ([`ErasureState`]).

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

use super::error::StoreError;
use super::item::{get_n, n, s, Update};
use super::table::{unavailable, Store};
use super::{keys, schema};
use crate::ids::ConnectionId;
use crate::model::LinkAttempt;
use crate::time::{epoch, epoch_ms};

/// How long a barrier is kept: past the life of any attempt it stops (a Link
/// session lasts an hour; an attempt at most a day).
const BARRIER_RETENTION_SECS: i64 = 2 * 86_400;

/// The condition, for a binding transaction, that `attempt` started after its
/// user's last erasure (or there was none).
pub(super) fn started_after_erasure(
    table: &str,
    attempt: &LinkAttempt,
) -> Result<TransactWriteItem, StoreError> {
    let check = ConditionCheck::builder()
        .table_name(table)
        .key(
            schema::PARTITION_KEY,
            s(keys::erasure_barrier(&attempt.user_id)),
        )
        .condition_expression("attribute_not_exists(#pk) OR #erasedAt < :started")
        .expression_attribute_names("#pk", schema::PARTITION_KEY)
        .expression_attribute_names("#erasedAt", "erasedAtMs")
        .expression_attribute_values(":started", n(attempt.created_ms))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().condition_check(check).build())
}

impl Store {
    /// Raises the barrier for `user` at `now`: from here on, none of the user's
    /// attempts that started before now binds anything.
    pub async fn raise_erasure_barrier(
        &self,
        user: &str,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.set("entity", s("erasure-barrier"))
            .set("erasedAtMs", n(epoch_ms(now)))
            .set(
                schema::TTL_ATTRIBUTE,
                n(epoch(now) + BARRIER_RETENTION_SECS),
            );
        self.update_barrier(user, u).await
    }

    /// One write of `user`'s barrier item.
    async fn update_barrier(&self, user: &str, u: Update) -> Result<(), StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::erasure_barrier(user)));
        u.apply(req).send().await.map_err(unavailable)?;
        Ok(())
    }

    /// Completes the barrier of an erasure of `user` that erased `connections`
    /// (each at the version its erasure wrote), at `now`.
    pub(crate) async fn complete_erasure_barrier(
        &self,
        user: &str,
        connections: &[(ConnectionId, i64)],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.set("completedAtMs", n(epoch_ms(now)));
        for (c, v) in connections {
            u.set(&format!("{VERSION_PREFIX}{}", c.as_str()), n(*v));
        }
        self.update_barrier(user, u).await
    }

    /// The completed erasures of `users` (strongly consistent): the users
    /// with none are not in the map.
    pub(crate) async fn erasure_states(
        &self,
        users: &[&str],
    ) -> Result<HashMap<String, ErasureState>, StoreError> {
        if users.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: HashMap<String, &str> = users
            .iter()
            .map(|u| (keys::erasure_barrier(u), *u))
            .collect();
        let found = self.batch_get(keys.keys().cloned().collect(), true).await?;
        let mut states = HashMap::new();
        for (pk, item) in found {
            let (Some(user), Some(completed_ms)) = (keys.get(&pk), get_n(&item, "completedAtMs"))
            else {
                continue;
            };
            let versions = item
                .iter()
                .filter_map(|(k, v)| {
                    let c = k.strip_prefix(VERSION_PREFIX)?;
                    Some((c.to_string(), v.as_n().ok()?.parse().ok()?))
                })
                .collect();
            states.insert(
                user.to_string(),
                ErasureState {
                    completed_ms,
                    versions,
                },
            );
        }
        Ok(states)
    }
}

/// The attribute of a completed barrier that holds an erased connection's
/// version.
const VERSION_PREFIX: &str = "v_";

/// A user's completed erasure, as the publisher reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureState {
    /// When it completed (Unix ms).
    pub completed_ms: i64,
    /// The connections it erased, each at its version then.
    pub versions: HashMap<String, i64>,
}

impl ErasureState {
    /// Whether the erasure covers the event of `connection` at `version`
    /// (written before or by the erasure).
    pub fn covers(&self, connection: &str, version: i64) -> bool {
        self.versions.get(connection).is_some_and(|v| version <= *v)
    }
}
