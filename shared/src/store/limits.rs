//! `RATE#<kind>#<user>#<window start>` items: how many Link sessions a user
//! started (`session`), or completions they asked for (`complete`), in a fixed
//! window, counted by one conditional update (so concurrent requests cannot go
//! over the limit) and removed by TTL after the window.

use std::time::{Duration, SystemTime};

use super::error::StoreError;
use super::item::{n, s, Update};
use super::table::{is_condition_failure, unavailable, Store};
use super::{keys, schema};
use crate::time::epoch;

/// Whether a user may start one more session now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateCheck {
    Allowed,
    /// Over the limit until the window ends, this many seconds from now.
    Limited {
        retry_after_secs: u64,
    },
}

impl Store {
    /// Counts a session for `user` in the current window of `window`, unless the
    /// window already holds `limit`.
    pub(crate) async fn count_session(
        &self,
        user: &str,
        limit: u32,
        window: Duration,
        now: SystemTime,
    ) -> Result<RateCheck, StoreError> {
        self.count_request("session", user, limit, window, now)
            .await
    }

    /// Counts a request of `kind` for `user` in the current window of
    /// `window`, unless the window already holds `limit`.
    pub(crate) async fn count_request(
        &self,
        kind: &str,
        user: &str,
        limit: u32,
        window: Duration,
        now: SystemTime,
    ) -> Result<RateCheck, StoreError> {
        let width = window.as_secs().max(1) as i64;
        let now_s = epoch(now);
        let start = now_s - now_s.rem_euclid(width);
        let end = start + width;
        let mut u = Update::default();
        u.set("entity", s("rate"))
            .increment("count")
            .set(schema::TTL_ATTRIBUTE, n(end + 60));
        let condition = format!(
            "attribute_not_exists({count}) OR {count} < {limit}",
            count = u.name("count"),
            limit = u.value("limit", n(i64::from(limit))),
        );
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::rate(kind, user, start)))
            .condition_expression(condition);
        match u.apply(req).send().await {
            Ok(_) => Ok(RateCheck::Allowed),
            Err(e) if is_condition_failure(&e) => Ok(RateCheck::Limited {
                retry_after_secs: (end - now_s).max(1) as u64,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }
}
