//! The DynamoDB store: link attempts and connection records in one table.
//!
//! Items (partition key `pk` only):
//! - `ATTEMPT#<attempt id>`: one Link attempt, consumed at most once by a
//!   conditional write, removed by TTL (`ttl`) some time after it expired.
//! - `CONNECTION#<connection id>`: one OFAuth connection and the user who owns it,
//!   also indexed by user in the `byUser` index (`gsi1pk` = `USER#<user>`,
//!   `gsi1sk` = the time it was first connected), newest first.
//!
//! The conditional expressions here are the security boundary (an attempt is used
//! once, a connection never changes owner), so they are tested against DynamoDB Local.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::primitives::{DateTime, DateTimeFormat};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;

use crate::ids::{AttemptId, ConnectionId};
use crate::ofauth::AccountProfile;

/// Table layout. template.yaml defines the table (and the local one is created
/// from it); a test checks that these names match it.
pub mod schema {
    pub const PARTITION_KEY: &str = "pk";
    pub const USER_INDEX: &str = "byUser";
    pub const USER_INDEX_PARTITION_KEY: &str = "gsi1pk";
    pub const USER_INDEX_SORT_KEY: &str = "gsi1sk";
    pub const TTL_ATTRIBUTE: &str = "ttl";
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptStatus {
    Pending,
    Completed,
    Cancelled,
    Failed,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    fn parse(v: &str) -> Option<Self> {
        Some(match v {
            "pending" => Self::Pending,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// One Link attempt: a user asked for a session and was sent to OFAuth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkAttempt {
    pub id: AttemptId,
    pub user_id: String,
    /// The connection being re-authenticated, for a reconnect.
    pub reconnect: Option<ConnectionId>,
    pub created_at: String,
    /// OFAuth's `expiresAt`, as OFAuth sent it.
    pub expires_at: String,
    pub expires_at_epoch: i64,
    pub status: AttemptStatus,
}

impl LinkAttempt {
    pub fn is_expired(&self, now_epoch: i64) -> bool {
        now_epoch >= self.expires_at_epoch
    }
}

/// How an attempt ended without a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    Cancelled { step: Option<String> },
    Failed { error_code: String },
}

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
}

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
            .key(schema::PARTITION_KEY, s("WARMUP"))
            .send()
            .await;
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Saves a new pending attempt; never overwrites one.
    pub async fn put_attempt(
        &self,
        attempt: &LinkAttempt,
        ttl_epoch: i64,
    ) -> Result<(), StoreError> {
        let mut item = HashMap::from([
            (
                schema::PARTITION_KEY.to_string(),
                s(attempt_key(&attempt.id)),
            ),
            ("entity".into(), s("attempt")),
            ("attemptId".into(), s(attempt.id.as_str())),
            ("userId".into(), s(&attempt.user_id)),
            ("createdAt".into(), s(&attempt.created_at)),
            ("expiresAt".into(), s(&attempt.expires_at)),
            ("expiresAtEpoch".into(), n(attempt.expires_at_epoch)),
            ("status".into(), s(attempt.status.as_str())),
            (schema::TTL_ATTRIBUTE.into(), n(ttl_epoch)),
        ]);
        if let Some(c) = &attempt.reconnect {
            item.insert("reconnectConnectionId".into(), s(c.as_str()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => StoreError::AlreadyExists,
                _ => unavailable(e),
            })?;
        Ok(())
    }

    /// Reads an attempt (strongly consistent, so a just-consumed attempt reads as such).
    pub async fn get_attempt(&self, id: &AttemptId) -> Result<Option<LinkAttempt>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(attempt_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| attempt_from_item(&item)).transpose()
    }

    /// Reads a connection record by its id (strongly consistent).
    pub async fn get_connection(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(connection_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|item| connection_from_item(&item)).transpose()
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
        let now_s = rfc3339(now);
        let consume = Update::builder()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(attempt_key(&attempt.id)))
            .update_expression("SET #status = :completed, completedAt = :now, connectionId = :conn")
            .condition_expression(
                "#status = :pending AND expiresAtEpoch > :nowEpoch AND userId = :user",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s(AttemptStatus::Completed.as_str()))
            .expression_attribute_values(":pending", s(AttemptStatus::Pending.as_str()))
            .expression_attribute_values(":now", s(&now_s))
            .expression_attribute_values(":nowEpoch", n(epoch(now)))
            .expression_attribute_values(":user", s(&attempt.user_id))
            .expression_attribute_values(":conn", s(connection.as_str()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;

        let mut set = vec![
            "entity = :entity",
            "connectionId = :conn",
            "userId = :user",
            "#status = :active",
            "updatedAt = :now",
            "connectedAt = if_not_exists(connectedAt, :now)",
            "gsi1pk = :gsi1pk",
            "gsi1sk = if_not_exists(gsi1sk, :now)",
            "lastAttemptId = :attempt",
            "lastEventAt = :nowMs",
        ];
        let mut remove = Vec::new();
        let mut values = HashMap::from([
            (":entity".to_string(), s("connection")),
            (":conn".into(), s(connection.as_str())),
            (":user".into(), s(&attempt.user_id)),
            (":active".into(), s("active")),
            (":now".into(), s(&now_s)),
            (":gsi1pk".into(), s(user_key(&attempt.user_id))),
            (":attempt".into(), s(attempt.id.as_str())),
            (":nowMs".into(), n(epoch_ms(now))),
        ]);
        for (attr, value) in [
            ("accountId", &account.id),
            ("username", &account.username),
            ("name", &account.name),
            ("avatar", &account.avatar),
        ] {
            match value {
                Some(v) => {
                    set.push(match attr {
                        "accountId" => "accountId = :accountId",
                        "username" => "username = :username",
                        "name" => "#name = :name",
                        _ => "avatar = :avatar",
                    });
                    values.insert(format!(":{attr}"), s(v));
                }
                None => remove.push(if attr == "name" { "#name" } else { attr }),
            }
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let upsert = Update::builder()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(connection_key(connection)))
            .update_expression(expr)
            .condition_expression("attribute_not_exists(pk) OR userId = :user")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#name", "name")
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;

        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(consume).build())
            .transact_items(TransactWriteItem::builder().update(upsert).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match cancelled_items(&e) {
                Some(failed) if failed.first() == Some(&true) => Err(StoreError::AttemptNotUsable),
                Some(failed) if failed.get(1) == Some(&true) => {
                    Err(StoreError::ConnectionOwnedByAnotherUser)
                }
                _ => Err(transact_error(e)),
            },
        }
    }

    /// Consumes a pending, unexpired attempt with an outcome that records no connection.
    pub async fn end_attempt(
        &self,
        attempt: &LinkAttempt,
        end: &AttemptEnd,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (status, detail_attr, detail) = match end {
            AttemptEnd::Cancelled { step } => (AttemptStatus::Cancelled, "step", step.clone()),
            AttemptEnd::Failed { error_code } => {
                (AttemptStatus::Failed, "errorCode", Some(error_code.clone()))
            }
        };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(attempt_key(&attempt.id)))
            .condition_expression(
                "#status = :pending AND expiresAtEpoch > :nowEpoch AND userId = :user",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":new", s(status.as_str()))
            .expression_attribute_values(":pending", s(AttemptStatus::Pending.as_str()))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":nowEpoch", n(epoch(now)))
            .expression_attribute_values(":user", s(&attempt.user_id));
        req = match detail {
            Some(d) => req
                .update_expression(format!(
                    "SET #status = :new, completedAt = :now, {detail_attr} = :detail"
                ))
                .expression_attribute_values(":detail", s(d)),
            None => req.update_expression("SET #status = :new, completedAt = :now"),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                // A retried write that had succeeded fails its own condition: the
                // attempt then already holds exactly this end.
                match self.get_attempt(&attempt.id).await {
                    Ok(Some(now_stored)) if now_stored.status == status => Ok(()),
                    _ => Err(StoreError::AttemptNotUsable),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Writes a connection record as given, unless the connection is recorded for
    /// another user (then `ConnectionOwnedByAnotherUser`, nothing written).
    pub async fn put_connection(&self, rec: &ConnectionRecord) -> Result<(), StoreError> {
        let mut item = HashMap::from([
            (
                schema::PARTITION_KEY.to_string(),
                s(connection_key(&rec.id)),
            ),
            ("entity".into(), s("connection")),
            ("connectionId".into(), s(rec.id.as_str())),
            ("userId".into(), s(&rec.user_id)),
            ("status".into(), s(&rec.status)),
            ("connectedAt".into(), s(&rec.connected_at)),
            ("updatedAt".into(), s(&rec.updated_at)),
            (
                schema::USER_INDEX_PARTITION_KEY.into(),
                s(user_key(&rec.user_id)),
            ),
            (schema::USER_INDEX_SORT_KEY.into(), s(&rec.connected_at)),
        ]);
        for (attr, value) in [
            ("accountId", &rec.account.id),
            ("username", &rec.account.username),
            ("name", &rec.account.name),
            ("avatar", &rec.account.avatar),
        ] {
            if let Some(v) = value {
                item.insert(attr.into(), s(v));
            }
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR userId = :user")
            .expression_attribute_values(":user", s(&rec.user_id))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    StoreError::ConnectionOwnedByAnotherUser
                }
                _ => unavailable(e),
            })?;
        Ok(())
    }

    /// Applies a signed webhook event to a connection record, at most once per event
    /// id and never over a newer state: one transaction writes the event marker and
    /// the change, or nothing.
    pub async fn apply_event(
        &self,
        ev: &ConnectionEvent<'_>,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        let marker = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (
                    schema::PARTITION_KEY.to_string(),
                    s(format!("EVENT#{}", ev.event_id)),
                ),
                ("entity".into(), s("event")),
                ("eventType".into(), s(ev.event_type)),
                ("connectionId".into(), s(ev.connection.as_str())),
                ("receivedAt".into(), s(rfc3339(now))),
                (
                    schema::TTL_ATTRIBUTE.into(),
                    n(epoch(now) + EVENT_RETENTION_SECS),
                ),
            ])))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;

        let now_s = rfc3339(now);
        let mut values = HashMap::from([
            (":now".to_string(), s(&now_s)),
            (":ts".into(), n(ev.event_at_ms)),
        ]);
        let newer = "(attribute_not_exists(lastEventAt) OR lastEventAt < :ts)";
        let (expr, condition) = match &ev.change {
            Change::Upsert {
                user_id,
                status,
                account,
                owner_from_attempt,
            } => {
                let mut set = vec![
                    "entity = :entity",
                    "connectionId = :conn",
                    "userId = :user",
                    "#status = :status",
                    "updatedAt = :now",
                    "connectedAt = if_not_exists(connectedAt, :now)",
                    "gsi1pk = :gsi1pk",
                    "gsi1sk = if_not_exists(gsi1sk, :now)",
                    "lastEventAt = :ts",
                ];
                values.insert(":entity".into(), s("connection"));
                values.insert(":conn".into(), s(ev.connection.as_str()));
                values.insert(":user".into(), s(*user_id));
                values.insert(":status".into(), s(*status));
                values.insert(":gsi1pk".into(), s(user_key(user_id)));
                for (attr, placeholder, value) in [
                    ("accountId", ":accountId", &account.id),
                    ("username", ":username", &account.username),
                    ("#name", ":name", &account.name),
                    ("avatar", ":avatar", &account.avatar),
                ] {
                    if let Some(v) = value {
                        set.push(match attr {
                            "accountId" => "accountId = :accountId",
                            "username" => "username = :username",
                            "#name" => "#name = :name",
                            _ => "avatar = :avatar",
                        });
                        values.insert(placeholder.into(), s(v));
                    }
                }
                // An owner named by the attempt wins over an older record's owner
                // whatever the timestamps say (the callback is forgeable, the webhook is not).
                let condition = if *owner_from_attempt {
                    format!("{newer} OR userId <> :user")
                } else {
                    newer.to_string()
                };
                (format!("SET {}", set.join(", ")), condition)
            }
            Change::Expired => {
                values.insert(":status".into(), s("expired"));
                (
                    "SET #status = :status, updatedAt = :now, lastEventAt = :ts".to_string(),
                    format!("attribute_exists(pk) AND {newer}"),
                )
            }
            Change::Disconnected => {
                values.insert(":status".into(), s("disconnected"));
                (
                    "SET #status = :status, updatedAt = :now, lastEventAt = :ts REMOVE gsi1pk, gsi1sk".to_string(),
                    format!("attribute_exists(pk) AND {newer}"),
                )
            }
        };
        let uses_name = expr.contains("#name");
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(connection_key(ev.connection)))
            .update_expression(expr)
            .condition_expression(condition)
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(values));
        if uses_name {
            update = update.expression_attribute_names("#name", "name");
        }
        let update = update
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Applied::Applied),
            Err(e) => match cancelled_items(&e) {
                Some(failed) if failed.first() == Some(&true) => Ok(Applied::Duplicate),
                Some(failed) if failed.get(1) == Some(&true) => Ok(Applied::Superseded),
                _ => Err(transact_error(e)),
            },
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
            .expression_attribute_values(":u", s(user_key(user_id)))
            .scan_index_forward(false)
            .limit(100)
            .send()
            .await
            .map_err(unavailable)?;
        let records: Vec<ConnectionRecord> = out
            .items
            .unwrap_or_default()
            .iter()
            .map(connection_from_item)
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
        self.client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(connection_key(id)))
            .update_expression("SET #status = :status, updatedAt = :now, lastEventAt = :nowMs REMOVE gsi1pk, gsi1sk")
            .condition_expression("userId = :user")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s("disconnected"))
            .expression_attribute_values(":now", s(rfc3339(now)))
            .expression_attribute_values(":nowMs", n(epoch_ms(now)))
            .expression_attribute_values(":user", s(user_id))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => StoreError::ConnectionOwnedByAnotherUser,
                _ => unavailable(e),
            })?;
        Ok(())
    }
}

/// How long a processed webhook event id is remembered (DynamoDB TTL).
pub const EVENT_RETENTION_SECS: i64 = 30 * 86_400;

/// A signed webhook event about one connection.
#[derive(Debug, Clone)]
pub struct ConnectionEvent<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// When OFAuth says it happened (Unix milliseconds); orders deliveries.
    pub event_at_ms: i64,
    pub connection: &'a ConnectionId,
    pub change: Change<'a>,
}

/// What an event does to the record.
#[derive(Debug, Clone)]
pub enum Change<'a> {
    /// `connection.created` / `connection.updated`: owner, status and profile.
    Upsert {
        user_id: &'a str,
        status: &'a str,
        account: &'a AccountProfile,
        /// The owner comes from the event's attempt (not from the existing record).
        owner_from_attempt: bool,
    },
    Expired,
    Disconnected,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// This event id was already processed.
    Duplicate,
    /// The record holds a newer state (or, for expiry/disconnect, does not exist).
    Superseded,
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
        SdkError::ServiceError(se) => StoreError::Unavailable(format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown"),
            se.err().message().unwrap_or("")
        )),
        _ => unavailable(e),
    }
}

pub fn attempt_key(id: &AttemptId) -> String {
    format!("ATTEMPT#{}", id.as_str())
}

pub fn connection_key(id: &ConnectionId) -> String {
    format!("CONNECTION#{}", id.as_str())
}

pub fn user_key(user_id: &str) -> String {
    format!("USER#{user_id}")
}

/// Seconds since the Unix epoch.
pub fn epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An RFC 3339 UTC timestamp.
pub fn rfc3339(t: SystemTime) -> String {
    DateTime::from(t)
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

/// Parses an ISO 8601 / RFC 3339 timestamp (OFAuth's `expiresAt`) to epoch seconds.
pub fn parse_timestamp(v: &str) -> Option<i64> {
    DateTime::from_str(v, DateTimeFormat::DateTime)
        .ok()
        .map(|d| d.secs())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
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

type Item = HashMap<String, AttributeValue>;

fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn req_s<'a>(item: &'a Item, k: &str) -> Result<&'a str, StoreError> {
    get_s(item, k).ok_or_else(|| StoreError::Corrupt(format!("missing {k}")))
}

fn attempt_from_item(item: &Item) -> Result<LinkAttempt, StoreError> {
    let id = AttemptId::parse(req_s(item, "attemptId")?)
        .ok_or_else(|| StoreError::Corrupt("attemptId".into()))?;
    let status = AttemptStatus::parse(req_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("attempt status".into()))?;
    let expires_at_epoch = item
        .get("expiresAtEpoch")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("expiresAtEpoch".into()))?;
    Ok(LinkAttempt {
        id,
        user_id: req_s(item, "userId")?.to_string(),
        reconnect: get_s(item, "reconnectConnectionId").and_then(ConnectionId::parse),
        created_at: req_s(item, "createdAt")?.to_string(),
        expires_at: req_s(item, "expiresAt")?.to_string(),
        expires_at_epoch,
        status,
    })
}

fn connection_from_item(item: &Item) -> Result<ConnectionRecord, StoreError> {
    let id = ConnectionId::parse(req_s(item, "connectionId")?)
        .ok_or_else(|| StoreError::Corrupt("connectionId".into()))?;
    let owned = |k: &str| get_s(item, k).map(str::to_string);
    Ok(ConnectionRecord {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(parse_timestamp("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_timestamp("2023-10-27T10:00:00.000Z"),
            Some(1_698_400_800)
        );
        assert_eq!(parse_timestamp("tomorrow"), None);
    }
}
