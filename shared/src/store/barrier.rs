//! The erasure barrier: `ERASED#<SHA-256 of the user id>`, written first by a
//! user's erasure (`erasedAtMs`, Unix milliseconds, the latest erasure's; kept
//! two days, longer than any attempt lives). Every write that binds a
//! connection to an attempt's user (the completion, its wait for attestation, a
//! sighting that binds a verifying attempt) checks it in the same transaction:
//! an attempt that started before its user's erasure (at the same millisecond
//! included) never binds, whatever the `byUser` index (eventually consistent)
//! showed the erasure.

use std::time::SystemTime;

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

use super::error::StoreError;
use super::item::{n, s, Update};
use super::table::{unavailable, Store};
use super::{keys, schema};
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
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::erasure_barrier(user)));
        u.apply(req).send().await.map_err(unavailable)?;
        Ok(())
    }
}
