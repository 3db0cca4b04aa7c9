//! The table's client ([`Store`], one per process) and the calls every item
//! kind's module builds on: a strongly consistent read, batched reads, a
//! transaction that says which item failed its condition, and the mapping of
//! the SDK's errors (counted by kind).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::Client;

use super::error::StoreError;
use super::item::{self, get_s, s, Item};
use super::schema;
use crate::telemetry;

/// BatchGetItem's limit.
const BATCH_GET_MAX: usize = 100;

/// The store, around one DynamoDB client per process.
#[derive(Debug, Clone)]
pub struct Store {
    pub(super) client: Client,
    pub(super) table: String,
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
    pub(super) async fn get(&self, pk: String) -> Result<Option<item::Item>, StoreError> {
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
    pub(super) async fn batch_get(
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
    pub(super) async fn transact(
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
pub(super) enum TransactFailure {
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
pub(super) fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(se) if se.err().code() == Some("ConditionalCheckFailedException"))
}

pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
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
