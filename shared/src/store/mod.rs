//! The DynamoDB store: link attempts, connection records and processed webhook
//! events in one table.
//!
//! Items (partition key `pk` only):
//! - `ATTEMPT#<attempt id>` ([`attempts`]): one Link attempt, consumed at most once
//!   by a conditional write, removed by TTL (`ttl`) some time after it expired.
//! - `CONNECTION#<connection id>` ([`connections`]): one OFAuth connection and the
//!   user who owns it, also indexed by user in the `byUser` index (`gsi1pk` =
//!   `USER#<user>`, `gsi1sk` = the time it was first connected), newest first.
//! - `EVENT#<event id>` ([`events`]): a processed webhook event, for idempotency.
//! - `RATE#session#<user>#<window>` ([`limits`]): sessions a user started in a window.
//! - `RECONCILE#cursor` and `RECONCILE#seen#<sweep>#<chunk>` ([`reconcile`]): the
//!   reconciler's place in its sweep, its lease, and what the sweep saw (TTL).
//!
//! The conditional expressions here are the security boundary (an attempt is used
//! once, a connection never changes owner), so they are tested against DynamoDB
//! Local. [`item`] maps items and writes a connection's attributes in one place.

mod attempts;
mod connections;
mod events;
mod item;
mod limits;
mod privacy;
mod reconcile;

use crate::telemetry;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::Client;
use item::{get_s, s, Item};
use std::collections::{HashMap, HashSet};

pub use attempts::{AttemptEnd, AttemptStatus, LinkAttempt, Returned};
pub use connections::{ConnectionRecord, PageKey, UserConnection, ACCOUNT_MISMATCH};
pub use events::{lifecycle_rank, Applied, ConnectionEvent, Swap, EVENT_RETENTION_SECS};
pub use limits::RateCheck;
pub use privacy::{holds_personal_data, UserItem};
pub use reconcile::{Cursor, Known, Lease, Phase};

/// Table layout. template.yaml defines the table (and the local one is created
/// from it); a test checks that these names match it.
pub mod schema {
    pub const PARTITION_KEY: &str = "pk";
    pub const USER_INDEX: &str = "byUser";
    pub const USER_INDEX_PARTITION_KEY: &str = "gsi1pk";
    pub const USER_INDEX_SORT_KEY: &str = "gsi1sk";
    pub const TTL_ATTRIBUTE: &str = "ttl";
    /// What the `byUser` index holds besides keys: what the list shows, of bound
    /// connections and of attempts waiting for attestation (template.yaml's
    /// projection must be exactly this; a test checks).
    pub const USER_INDEX_ATTRIBUTES: &[&str] = &[
        "entity",
        "connectionId",
        "userId",
        "status",
        "username",
        "name",
        "avatar",
        "connectedAt",
        "updatedAt",
        "attemptId",
        "createdAt",
        "expiresAt",
        "expiresAtEpoch",
        "verifyingAt",
    ];
}

/// The partition keys of each kind of item.
pub mod keys {
    use crate::ids::{AttemptId, ConnectionId};

    pub fn attempt(id: &AttemptId) -> String {
        format!("ATTEMPT#{}", id.as_str())
    }

    pub fn connection(id: &ConnectionId) -> String {
        format!("CONNECTION#{}", id.as_str())
    }

    pub fn event(id: &str) -> String {
        format!("EVENT#{id}")
    }

    /// The marker of one erasure (its stream record is the platform's event).
    pub fn erasure(id: &str) -> String {
        format!("ERASURE#{id}")
    }

    /// A user's session count in the window starting at `window_start`.
    pub fn session_rate(user_id: &str, window_start: i64) -> String {
        format!("RATE#session#{user_id}#{window_start}")
    }

    /// The `byUser` index's partition key.
    pub fn user(user_id: &str) -> String {
        format!("USER#{user_id}")
    }

    /// A user's `byUser` entries sort in three ranges: `!<time>` an attempt
    /// (not listed), `<time>` an entry of their list (a bound connection, a
    /// verifying attempt), `~<time>` a disconnected connection (not listed). The
    /// list reads from [`LISTED_FROM`] to [`GONE`]; an erasure reads them all.
    pub const UNLISTED: &str = "!";

    /// Sort keys at or after this are a user's disconnected connections: not in
    /// the list (timestamps sort before it), found by an erasure.
    pub const GONE: &str = "~";

    /// The lowest sort key of the list's range (timestamps start with a digit).
    pub const LISTED_FROM: &str = "0";

    /// The `byUser` sort key of a connection disconnected at `now`.
    pub fn gone(now: &str) -> String {
        format!("{GONE}{now}")
    }

    /// The `byUser` sort key of an attempt created at `created_at` and not
    /// listed.
    pub fn unlisted(created_at: &str) -> String {
        format!("{UNLISTED}{created_at}")
    }
}

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The attempt is not pending, has expired, or belongs to someone else.
    #[error("the attempt is no longer usable")]
    AttemptNotUsable,
    /// The connection is recorded for another user; it is never moved.
    #[error("the connection belongs to another user")]
    ConnectionOwnedByAnotherUser,
    /// An item with this key already exists.
    #[error("the item already exists")]
    AlreadyExists,
    /// DynamoDB could not be reached, timed out, throttled or failed.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    /// An item in the table does not have the shape this code writes.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// The connection's record changed between its read and a write that
    /// depended on it; read it again and decide again.
    #[error("the connection changed meanwhile")]
    ConnectionChanged,
    /// A page's start key is not one of the user's list entries.
    #[error("the page key is not valid")]
    InvalidPageKey,
}

/// BatchGetItem's limit.
const BATCH_GET_MAX: usize = 100;

/// The store, around one DynamoDB client per process.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// SDK timeouts for a short function: connect, per attempt and whole operation
/// (retries included) all well below the function's own timeout.
pub fn timeouts(operation_timeout: Duration) -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500).min(operation_timeout))
        .operation_attempt_timeout(Duration::from_millis(1_000).min(operation_timeout))
        .operation_timeout(operation_timeout)
        .build()
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// One cheap read (a key that never exists) to open the connection at Init.
    pub async fn warm_up(&self) {
        let _ = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, item::s("WARMUP"))
            .send()
            .await;
    }

    /// A strongly consistent read of one item.
    async fn get(&self, pk: String) -> Result<Option<item::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, item::s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// BatchGetItem of any number of keys (in batches of 100, unprocessed keys
    /// retried a few times): one request, and one pass of the SDK's pipeline,
    /// for up to 100 items.
    async fn batch_get(
        &self,
        pks: Vec<String>,
        consistent: bool,
    ) -> Result<HashMap<String, Item>, StoreError> {
        let mut found = HashMap::new();
        let unique: Vec<String> = pks
            .into_iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in unique.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<Item> = chunk
                .iter()
                .map(|pk| HashMap::from([(schema::PARTITION_KEY.to_string(), s(pk))]))
                .collect();
            for _ in 0..5 {
                if pending.is_empty() {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(consistent)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    if let Some(pk) = get_s(&item, schema::PARTITION_KEY) {
                        found.insert(pk.to_string(), item);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::Unavailable(
                    "DynamoDB left keys unprocessed after 5 tries".into(),
                ));
            }
        }
        Ok(found)
    }

    /// Runs a transaction and says which item failed its condition first.
    async fn transact(
        &self,
        items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> Result<(), TransactFailure> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(match cancelled_items(&e) {
                Some(failed) => match failed.iter().position(|f| *f) {
                    Some(i) => TransactFailure::Condition(i),
                    None => TransactFailure::Other(transact_error(e)),
                },
                None => TransactFailure::Other(transact_error(e)),
            }),
        }
    }
}

/// Why a transaction did not commit.
enum TransactFailure {
    /// The condition of the item at this index failed (the first such item).
    Condition(usize),
    Other(StoreError),
}

/// For a cancelled transaction, which items failed their condition.
fn cancelled_items(
    e: &SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> Option<Vec<bool>> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(tc) => Some(
                tc.cancellation_reasons()
                    .iter()
                    .map(|r| r.code() == Some("ConditionalCheckFailed"))
                    .collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

fn transact_error(
    e: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    match &e {
        SdkError::ServiceError(se) => {
            telemetry::dynamodb_error(error_kind(se.err().code()));
            StoreError::Unavailable(format!(
                "{}: {}",
                se.err().code().unwrap_or("unknown"),
                se.err().message().unwrap_or("")
            ))
        }
        _ => unavailable(e),
    }
}

/// The `Kind` dimension of a DynamoDB service error.
fn error_kind(code: Option<&str>) -> &'static str {
    match code {
        Some(
            "ThrottlingException"
            | "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded",
        ) => "throttled",
        Some("TransactionCanceledException" | "TransactionConflictException") => "transaction",
        _ => "service",
    }
}

/// Whether a single-item write failed its condition.
fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    telemetry::dynamodb_error(match &e {
        SdkError::ServiceError(se) => error_kind(se.err().code()),
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(d) if d.is_timeout() => "timeout",
        SdkError::DispatchFailure(_) => "unreachable",
        _ => "other",
    });
    let detail = match &e {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown"),
            se.err().message().unwrap_or("")
        ),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(d) => format!(
            "dispatch failure (io: {}, timeout: {})",
            d.is_io(),
            d.is_timeout()
        ),
        other => format!("{other:?}").chars().take(300).collect(),
    };
    StoreError::Unavailable(detail)
}
