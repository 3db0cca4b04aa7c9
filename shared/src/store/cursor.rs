//! The reconciler's own items and reads (see [`crate::reconcile`]):
//! - `RECONCILE#cursor`: where the current sweep stands, and a lease so that two
//!   runs never work at once (a scheduler may deliver one tick twice).
//! - `RECONCILE#seen#<sweep>#<chunk>`: the ids of this deployment's connections
//!   that OFAuth's list showed during a sweep, one item per page read (TTL). The
//!   table pass of the sweep reads them back: a record OFAuth did not list is
//!   checked on its own.
//! - Batched reads of the records and attempts a page of OFAuth's list names, a
//!   paged scan of the connection records, and the missing mark a record gets
//!   while OFAuth does not know it.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::error::StoreError;
use super::item::{get_n, get_s, n, read_attempt, read_record, s, unchanged_since, Item, Update};
use super::table::{is_condition_failure, unavailable, Store};
use super::{keys, schema};
use crate::ids::{AttemptId, ConnectionId};
use crate::model::{ConnectionRecord, ConnectionStatus, LinkAttempt};
use crate::time::{epoch, rfc3339};

const CURSOR_KEY: &str = "RECONCILE#cursor";

/// How long a sweep's seen ids are kept (a sweep normally ends within hours).
const SEEN_RETENTION_SECS: i64 = 2 * 86_400;

/// Where a sweep stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Reading OFAuth's list from `offset`; `chunks` seen-id items written so far.
    Listing { offset: u32, chunks: u32 },
    /// Reading the table after `after` (a partition key), the list read in `chunks`.
    Table { after: Option<String>, chunks: u32 },
    /// The sweep is finished; the next run starts a new one.
    Done,
}

/// The reconciler's cursor: the sweep (its start, Unix milliseconds, is its id) and its phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub sweep: i64,
    pub phase: Phase,
}

impl Cursor {
    fn from_item(item: &Item) -> Option<Self> {
        let sweep = get_n(item, "sweep")?;
        let chunks = get_n(item, "chunks")
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0);
        let phase = match get_s(item, "phase")? {
            "listing" => Phase::Listing {
                offset: get_n(item, "offset")
                    .and_then(|o| u32::try_from(o).ok())
                    .unwrap_or(0),
                chunks,
            },
            "table" => Phase::Table {
                after: get_s(item, "after").map(str::to_string),
                chunks,
            },
            _ => Phase::Done,
        };
        Some(Self { sweep, phase })
    }
}

/// A write on the cursor item that failed: the lease was taken by another run
/// (its condition), or DynamoDB failed.
fn lease_lost<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if is_condition_failure(&e) {
        StoreError::Unavailable("the reconciler's lease was lost".into())
    } else {
        unavailable(e)
    }
}

/// A held lease: the run that holds it may write the cursor.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    id: String,
    /// The cursor as the lease found it (`None`: never run).
    pub cursor: Option<Cursor>,
    /// The OFAuth account the first run's key belonged to (`None`: not yet seen).
    pub account: Option<String>,
    /// Where the last complete pass over OFAuth's newest connections began
    /// (Unix milliseconds): the next one reads back to here (`None`: never).
    pub(crate) recent_since: Option<i64>,
    /// When the last complete check of the reconnects began (Unix seconds):
    /// the next one checks every session open since (`None`: never).
    pub(crate) reconnects_since: Option<i64>,
    /// Where the last run that could not check every reconnect stopped (the
    /// key of the last connection it checked, in the check's order): the next
    /// run starts after it.
    pub(crate) reconnects_after: Option<i64>,
}

/// The records and attempts a page of OFAuth's list names.
#[derive(Debug, Default)]
pub struct Known {
    pub records: HashMap<String, ConnectionRecord>,
    pub attempts: HashMap<String, LinkAttempt>,
}

impl Store {
    /// Takes the lease until `until_ms` unless another run holds it. `None`: busy.
    pub(crate) async fn acquire_reconcile_lease(
        &self,
        run_id: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(CURSOR_KEY))
            .update_expression("SET #entity = :entity, #leaseId = :id, #leaseUntil = :until")
            .condition_expression("attribute_not_exists(#leaseUntil) OR #leaseUntil < :now")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#leaseId", "leaseId")
            .expression_attribute_names("#leaseUntil", "leaseUntil")
            .expression_attribute_values(":entity", s("reconcile"))
            .expression_attribute_values(":id", s(run_id))
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(Lease {
                id: run_id.to_string(),
                cursor: out.attributes.as_ref().and_then(Cursor::from_item),
                account: out
                    .attributes
                    .as_ref()
                    .and_then(|a| get_s(a, "ofauthAccountId"))
                    .map(str::to_string),
                recent_since: out
                    .attributes
                    .as_ref()
                    .and_then(|a| get_n(a, "recentSince")),
                reconnects_since: out
                    .attributes
                    .as_ref()
                    .and_then(|a| get_n(a, "reconnectsSince")),
                reconnects_after: out
                    .attributes
                    .as_ref()
                    .and_then(|a| get_n(a, "reconnectsAfter")),
            })),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Saves the cursor, while the lease is still this run's; `release` ends it;
    /// `pin` keeps the OFAuth account the key belongs to.
    pub(crate) async fn save_reconcile_cursor(
        &self,
        lease: &Lease,
        cursor: &Cursor,
        pin: Option<&str>,
        release: bool,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (phase, offset, after, chunks) = match &cursor.phase {
            Phase::Listing { offset, chunks } => ("listing", *offset, None, *chunks),
            Phase::Table { after, chunks } => ("table", 0, after.clone(), *chunks),
            Phase::Done => ("done", 0, None, 0),
        };
        let mut expr = "SET #sweep = :sweep, #phase = :phase, #offset = :offset, #chunks = :chunks, #savedAt = :saved".to_string();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(CURSOR_KEY))
            .condition_expression("#leaseId = :id")
            .expression_attribute_names("#leaseId", "leaseId")
            .expression_attribute_names("#sweep", "sweep")
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_names("#offset", "offset")
            .expression_attribute_names("#chunks", "chunks")
            .expression_attribute_names("#savedAt", "savedAt")
            .expression_attribute_values(":id", s(&lease.id))
            .expression_attribute_values(":sweep", n(cursor.sweep))
            .expression_attribute_values(":phase", s(phase))
            .expression_attribute_values(":offset", n(i64::from(offset)))
            .expression_attribute_values(":chunks", n(i64::from(chunks)))
            .expression_attribute_values(":saved", s(rfc3339(now)));
        if let Some(account) = pin {
            expr.push_str(", #account = :account");
            req = req
                .expression_attribute_names("#account", "ofauthAccountId")
                .expression_attribute_values(":account", s(account));
        }
        if release {
            expr.push_str(", #leaseUntil = :zero");
            req = req
                .expression_attribute_names("#leaseUntil", "leaseUntil")
                .expression_attribute_values(":zero", n(0));
        }
        match after {
            Some(a) => {
                expr.push_str(", #after = :after");
                req = req.expression_attribute_values(":after", s(a));
            }
            None => expr.push_str(" REMOVE #after"),
        }
        req.expression_attribute_names("#after", "after")
            .update_expression(expr)
            .send()
            .await
            .map_err(lease_lost)?;
        Ok(())
    }

    /// Keeps where a complete pass over the newest connections began, while the
    /// lease is still this run's.
    pub(crate) async fn save_recent_mark(
        &self,
        lease: &Lease,
        since_ms: i64,
    ) -> Result<(), StoreError> {
        self.save_mark(lease, "recentSince", since_ms).await
    }

    /// Keeps when a complete check of the reconnects began (Unix seconds),
    /// while the lease is still this run's.
    pub(crate) async fn save_reconnects_mark(
        &self,
        lease: &Lease,
        since: i64,
    ) -> Result<(), StoreError> {
        self.save_mark(lease, "reconnectsSince", since).await
    }

    /// Keeps where a check of the reconnects that could not finish stopped
    /// (`-1`: it finished; the next starts from the beginning).
    pub(crate) async fn save_reconnects_after(
        &self,
        lease: &Lease,
        after: i64,
    ) -> Result<(), StoreError> {
        self.save_mark(lease, "reconnectsAfter", after).await
    }

    async fn save_mark(&self, lease: &Lease, attr: &str, value: i64) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(CURSOR_KEY))
            .update_expression("SET #mark = :mark")
            .condition_expression("#leaseId = :id")
            .expression_attribute_names("#mark", attr)
            .expression_attribute_names("#leaseId", "leaseId")
            .expression_attribute_values(":mark", n(value))
            .expression_attribute_values(":id", s(&lease.id))
            .send()
            .await
            .map_err(lease_lost)?;
        Ok(())
    }

    /// Records which of this deployment's connections a page of the list showed.
    pub(crate) async fn put_seen(
        &self,
        sweep: i64,
        chunk: u32,
        ids: &[String],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .item(schema::PARTITION_KEY, s(seen_key(sweep, chunk)))
            .item("entity", s("reconcile-seen"))
            .item("ids", AttributeValue::Ss(ids.to_vec()))
            .item(schema::TTL_ATTRIBUTE, n(epoch(now) + SEEN_RETENTION_SECS))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Every id the sweep's list pages showed.
    pub(crate) async fn load_seen(
        &self,
        sweep: i64,
        chunks: u32,
    ) -> Result<HashSet<String>, StoreError> {
        let keys: Vec<String> = (0..chunks).map(|c| seen_key(sweep, c)).collect();
        let mut seen = HashSet::new();
        for item in self.batch_get(keys, true).await?.into_values() {
            if let Some(AttributeValue::Ss(ids)) = item.get("ids") {
                seen.extend(ids.iter().cloned());
            }
        }
        Ok(seen)
    }

    /// The records of these connections and the attempts with these ids, where
    /// the table has them. Eventually consistent (half the read units): every
    /// write that follows reads again, strongly consistent.
    pub async fn known(
        &self,
        connections: &[ConnectionId],
        attempts: &[AttemptId],
    ) -> Result<Known, StoreError> {
        let mut pks: Vec<String> = connections.iter().map(keys::connection).collect();
        pks.extend(attempts.iter().map(keys::attempt));
        let mut known = Known::default();
        for (pk, item) in self.batch_get(pks, false).await? {
            if let Some(id) = pk.strip_prefix("CONNECTION#") {
                known.records.insert(id.to_string(), read_record(&item)?);
            } else if let Some(id) = pk.strip_prefix("ATTEMPT#") {
                known.attempts.insert(id.to_string(), read_attempt(&item)?);
            }
        }
        Ok(known)
    }

    /// One page of connection records not yet disconnected (or disconnected and
    /// still holding personal data), after `after`:
    /// at most `limit` items are read (of every kind), so a page costs the same
    /// whatever the table holds. The last key read when there is more.
    pub(crate) async fn scan_connections(
        &self,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<ConnectionRecord>, Option<String>), StoreError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(limit)
            // Disconnected ones only while they still hold personal data (the
            // retention's scrub).
            .filter_expression(
                "#entity = :connection AND (#status <> :disconnected OR attribute_exists(#username) \
                 OR attribute_exists(#name) OR attribute_exists(#avatar) OR attribute_exists(#accountId))",
            )
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#username", "username")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#avatar", "avatar")
            .expression_attribute_names("#accountId", "accountId")
            .expression_attribute_values(":connection", s("connection"))
            .expression_attribute_values(":disconnected", s(ConnectionStatus::Disconnected.as_str()))
            .set_exclusive_start_key(
                after.map(|a| HashMap::from([(schema::PARTITION_KEY.to_string(), s(a))])),
            )
            .send()
            .await
            .map_err(unavailable)?;
        let records = out
            .items()
            .iter()
            .map(read_record)
            .collect::<Result<Vec<_>, _>>()?;
        let next = out
            .last_evaluated_key()
            .and_then(|k| get_s(k, schema::PARTITION_KEY))
            .map(str::to_string);
        Ok((records, next))
    }

    /// The OFAuth account the reconciler pinned (`ofauthAccountId` on the
    /// cursor; `None`: none yet). A strongly consistent read.
    pub(crate) async fn pinned_account(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(CURSOR_KEY.to_string())
            .await?
            .as_ref()
            .and_then(|item| get_s(item, "ofauthAccountId"))
            .map(str::to_string))
    }

    /// Up to `k` records that pass `keep`, from the table's first `max_pages`
    /// pages (of every kind of item), strongly consistent enough for a sample:
    /// what the reconciler asks OFAuth about to pin the account.
    pub(crate) async fn sample_records(
        &self,
        k: usize,
        max_pages: u32,
        keep: impl Fn(&ConnectionRecord) -> bool,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let mut sample = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..max_pages {
            let (records, next) = self.scan_connections(after.as_deref(), 100).await?;
            sample.extend(records.into_iter().filter(|r| keep(r)));
            if sample.len() >= k || next.is_none() {
                break;
            }
            after = next;
        }
        sample.truncate(k);
        Ok(sample)
    }

    /// Marks a record OFAuth did not know in this sweep as missing (not final):
    /// false when it changed since it was read.
    pub(crate) async fn mark_missing(
        &self,
        record: &ConnectionRecord,
        sweep: i64,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut u = Update::default();
        u.set("missingSweep", n(sweep))
            .set("missingSince", s(rfc3339(now)))
            .increment("version");
        let condition = unchanged_since(&mut u, Some(record));
        self.update_connection_if(&record.id, u, condition).await
    }

    /// Takes the missing mark off a record OFAuth knows again.
    pub(crate) async fn clear_missing(
        &self,
        record: &ConnectionRecord,
    ) -> Result<bool, StoreError> {
        let mut u = Update::default();
        u.remove("missingSweep")
            .remove("missingSince")
            .increment("version");
        let condition = unchanged_since(&mut u, Some(record));
        self.update_connection_if(&record.id, u, condition).await
    }
}

fn seen_key(sweep: i64, chunk: u32) -> String {
    format!("RECONCILE#seen#{sweep}#{chunk}")
}
