//! `ATTEMPT#<id>` items: one Link attempt each, written pending by init-session and
//! consumed at most once by the callback (see [`super::connections`] for the
//! consumption that records a connection).

use std::collections::HashMap;
use std::time::SystemTime;

use super::item::{get_n, get_s, n, req_s, s, Item, Update};
use super::{is_condition_failure, keys, schema, unavailable, Store, StoreError};
use crate::ids::{AttemptId, ConnectionId};
use crate::time::{epoch, rfc3339};

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

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let id = AttemptId::parse(req_s(item, "attemptId")?)
            .ok_or_else(|| StoreError::Corrupt("attemptId".into()))?;
        let status = AttemptStatus::parse(req_s(item, "status")?)
            .ok_or_else(|| StoreError::Corrupt("attempt status".into()))?;
        Ok(Self {
            id,
            user_id: req_s(item, "userId")?.to_string(),
            reconnect: get_s(item, "reconnectConnectionId").and_then(ConnectionId::parse),
            created_at: req_s(item, "createdAt")?.to_string(),
            expires_at: req_s(item, "expiresAt")?.to_string(),
            expires_at_epoch: get_n(item, "expiresAtEpoch")
                .ok_or_else(|| StoreError::Corrupt("expiresAtEpoch".into()))?,
            status,
        })
    }
}

/// How an attempt ended without a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    Cancelled { step: Option<String> },
    Failed { error_code: String },
}

/// The consumption of a pending attempt: only a pending, unexpired attempt of
/// this user moves on, and only once.
pub(super) fn consume(
    attempt: &LinkAttempt,
    status: AttemptStatus,
    now: SystemTime,
) -> (Update, String) {
    let mut u = Update::default();
    u.set("status", s(status.as_str()))
        .set("completedAt", s(rfc3339(now)));
    let cond = format!(
        "{status} = {pending} AND {expires} > {now} AND {user} = {uid}",
        status = u.name("status"),
        pending = u.value("pending", s(AttemptStatus::Pending.as_str())),
        expires = u.name("expiresAtEpoch"),
        now = u.value("nowEpoch", n(epoch(now))),
        user = u.name("userId"),
        uid = u.value("attemptUser", s(&attempt.user_id)),
    );
    (u, cond)
}

impl Store {
    /// Saves a new pending attempt; never overwrites one.
    pub async fn put_attempt(
        &self,
        attempt: &LinkAttempt,
        ttl_epoch: i64,
    ) -> Result<(), StoreError> {
        let mut item = HashMap::from([
            (
                schema::PARTITION_KEY.to_string(),
                s(keys::attempt(&attempt.id)),
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
            .map_err(|e| {
                if is_condition_failure(&e) {
                    StoreError::AlreadyExists
                } else {
                    unavailable(e)
                }
            })?;
        Ok(())
    }

    /// Reads an attempt (strongly consistent, so a just-consumed attempt reads as such).
    pub async fn get_attempt(&self, id: &AttemptId) -> Result<Option<LinkAttempt>, StoreError> {
        self.get(keys::attempt(id))
            .await?
            .map(|item| LinkAttempt::from_item(&item))
            .transpose()
    }

    /// Consumes a pending, unexpired attempt with an outcome that records no connection.
    pub async fn end_attempt(
        &self,
        attempt: &LinkAttempt,
        end: &AttemptEnd,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (status, detail) = match end {
            AttemptEnd::Cancelled { step } => (AttemptStatus::Cancelled, ("step", step.as_deref())),
            AttemptEnd::Failed { error_code } => (
                AttemptStatus::Failed,
                ("errorCode", Some(error_code.as_str())),
            ),
        };
        let (mut update, condition) = consume(attempt, status, now);
        if let (attr, Some(value)) = detail {
            update.set(attr, s(value));
        }
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::attempt(&attempt.id)))
            .condition_expression(condition);
        match update.apply(req).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
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
}
