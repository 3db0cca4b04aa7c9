//! Reconnects the reconciler checks on their own: `RECONNECTS#<bucket start>`
//! items, one per ten minutes of session starts, each the set of reconnect
//! attempts started then (TTL a day after). Written before OFAuth is asked for
//! the session, so that no reconnect OFAuth knows of escapes the check; read by
//! the reconciler for the sessions open since its last run (a Link session
//! lasts at most [`MAX_SESSION_SECS`]).

use std::collections::HashSet;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::AttributeValue;

use super::error::StoreError;
use super::item::{n, s, Update};
use super::table::{is_condition_failure, unavailable, Store};
use super::{keys, schema};
use crate::ids::AttemptId;
use crate::model::LinkAttempt;
use crate::time::epoch;

/// The width of a bucket of reconnect starts.
pub(crate) const BUCKET_SECS: i64 = 600;

/// The longest a Link attempt lives (OFAuth's sessions last an hour; an
/// attempt is never trusted for longer than this, whatever `expiresAt` says).
pub const MAX_SESSION_SECS: i64 = 2 * 3_600;

/// Returns checked against OFAuth per reconnect attempt once it is no longer
/// pending, at most: each costs an OFAuth call, and a replayed URL can repeat them.
pub const MAX_RECONNECT_CHECKS: u32 = 10;

fn bucket_of(epoch_secs: i64) -> i64 {
    epoch_secs - epoch_secs.rem_euclid(BUCKET_SECS)
}

impl Store {
    /// Notes a reconnect attempt started at `now`, for the reconciler's check.
    pub(crate) async fn note_reconnect(
        &self,
        attempt: &AttemptId,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let bucket = bucket_of(epoch(now));
        let mut u = Update::default();
        u.set("entity", s("reconnects"))
            .set(
                schema::TTL_ATTRIBUTE,
                n(bucket + BUCKET_SECS + MAX_SESSION_SECS + 86_400),
            )
            .add(
                "attempts",
                AttributeValue::Ss(vec![attempt.as_str().to_string()]),
            );
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::reconnects(bucket)));
        u.apply(req).send().await.map_err(unavailable)?;
        Ok(())
    }

    /// The reconnect attempts started from `from` to `to` (Unix seconds, whole
    /// buckets), strongly consistent, at most `limit` of them (the oldest first).
    pub(crate) async fn reconnects_started(
        &self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<LinkAttempt>, StoreError> {
        let mut pks = Vec::new();
        let mut b = bucket_of(from);
        while b <= to {
            pks.push(keys::reconnects(b));
            b += BUCKET_SECS;
        }
        let mut ids: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        for (pk, item) in self.batch_get(pks, true).await? {
            if let Some(AttributeValue::Ss(set)) = item.get("attempts") {
                for id in set {
                    if seen.insert(id.clone()) {
                        ids.push((pk.clone(), id.clone()));
                    }
                }
            }
        }
        ids.sort();
        ids.truncate(limit);
        let keys: Vec<String> = ids
            .iter()
            .filter_map(|(_, id)| AttemptId::parse(id))
            .map(|id| keys::attempt(&id))
            .collect();
        let mut attempts = Vec::new();
        for item in self.batch_get(keys, true).await?.into_values() {
            attempts.push(super::item::read_attempt(&item)?);
        }
        Ok(attempts)
    }

    /// Counts one check of a reconnect attempt's return against OFAuth: false
    /// when [`MAX_RECONNECT_CHECKS`] were made already (nothing counted).
    pub(crate) async fn count_reconnect_check(
        &self,
        attempt: &LinkAttempt,
    ) -> Result<bool, StoreError> {
        let mut u = Update::default();
        u.increment("reconnectChecks");
        let checks = u.name("reconnectChecks");
        let max = u.value("max", n(i64::from(MAX_RECONNECT_CHECKS)));
        let condition = format!("attribute_not_exists({checks}) OR {checks} < {max}");
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::attempt(&attempt.id)))
            .condition_expression(condition);
        match u.apply(req).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
