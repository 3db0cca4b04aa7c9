//! `ATTEMPT#<id>` items: one Link attempt each ([`crate::model::LinkAttempt`]),
//! written pending by init-session, and moved on at most once per step by a
//! write conditional on the step it comes from.
//!
//! `returned` holds what the callback verified, the hash of the one-time code it
//! gave the browser and the hash of that browser's binding cookie; `verifying`
//! waits for OFAuth to attest the connection and shows in the user's list.
//!
//! Every attempt is under its user in the `byUser` index from the start: at a
//! sort key `!<createdAt>` (before the list's range, so not listed), and at the
//! time it started verifying while it is `verifying` (listed). An erasure finds
//! them all there, in flight or not.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

use super::barrier::started_after_erasure;
use super::error::StoreError;
use super::item::{n, read_attempt, s, set_profile, Update};
use super::table::{is_condition_failure, unavailable, Store, TransactFailure};
use super::{keys, schema};
use crate::ids::{AttemptId, ConnectionId};
use crate::model::{AccountProfile, AttemptEnd, AttemptStatus, LinkAttempt, Returned};
use crate::time::{epoch, rfc3339};

/// The move of an attempt of this user, unexpired, from one of `from` to `to`.
/// Returns the update and its condition.
pub(super) fn transition(
    attempt: &LinkAttempt,
    from: &[AttemptStatus],
    to: AttemptStatus,
    now: SystemTime,
) -> (Update, String) {
    let mut u = Update::default();
    u.set("status", s(to.as_str()));
    let at = match to {
        AttemptStatus::Returned => "returnedAt",
        AttemptStatus::Verifying => "verifyingAt",
        _ => "completedAt",
    };
    u.set(at, s(rfc3339(now)));
    let status = u.name("status");
    let allowed: Vec<String> = from
        .iter()
        .map(|f| u.value(&format!("from_{}", f.as_str()), s(f.as_str())))
        .collect();
    let cond = format!(
        "{status} IN ({allowed}) AND {expires} > {now} AND {user} = {uid}",
        allowed = allowed.join(", "),
        expires = u.name("expiresAtEpoch"),
        now = u.value("nowEpoch", n(epoch(now))),
        user = u.name("userId"),
        uid = u.value("attemptUser", s(&attempt.user_id)),
    );
    (u, cond)
}

/// An attempt still open: not yet completed, ended or waiting for attestation.
pub(super) const OPEN: [AttemptStatus; 2] = [AttemptStatus::Pending, AttemptStatus::Returned];

/// [`transition`] of an attempt that came back with `connection`: it records the
/// connection, on the condition that the attempt has not come back with another.
pub(super) fn transition_with(
    attempt: &LinkAttempt,
    from: &[AttemptStatus],
    to: AttemptStatus,
    connection: &ConnectionId,
    now: SystemTime,
) -> (Update, String) {
    let (mut u, mut cond) = transition(attempt, from, to, now);
    let (name, value) = (
        u.name("connectionId"),
        u.value("attemptConnection", s(connection.as_str())),
    );
    cond.push_str(&format!(
        " AND (attribute_not_exists({name}) OR {name} = {value})"
    ));
    u.set("connectionId", s(connection.as_str()));
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
            (schema::ITEM_FORMAT_ATTRIBUTE.into(), n(schema::ITEM_FORMAT)),
            ("attemptId".into(), s(attempt.id.as_str())),
            ("userId".into(), s(&attempt.user_id)),
            ("createdAt".into(), s(&attempt.created_at)),
            ("createdAtMs".into(), n(attempt.created_ms)),
            ("expiresAt".into(), s(&attempt.expires_at)),
            ("expiresAtEpoch".into(), n(attempt.expires_at_epoch)),
            ("status".into(), s(attempt.status.as_str())),
            (schema::TTL_ATTRIBUTE.into(), n(ttl_epoch)),
            (
                schema::USER_INDEX_PARTITION_KEY.into(),
                s(keys::user(&attempt.user_id)),
            ),
            (
                schema::USER_INDEX_SORT_KEY.into(),
                s(keys::unlisted(&attempt.created_at)),
            ),
        ]);
        if let Some(c) = &attempt.reconnect {
            item.insert("reconnectConnectionId".into(), s(c.as_str()));
        }
        if let Some(a) = &attempt.expected_account {
            item.insert("expectedAccountId".into(), s(a));
        }
        if let Some(h) = &attempt.start_hash {
            item.insert("startHash".into(), s(h));
        }
        // Only if no erasure of the user came since the attempt started: a
        // session racing `DELETE /link/me` leaves nothing that names the user
        // behind it (its OFAuth session simply expires).
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        match self
            .transact(vec![
                TransactWriteItem::builder().put(put).build(),
                started_after_erasure(&self.table, attempt)?,
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(TransactFailure::Condition(0)) => Err(StoreError::AlreadyExists),
            Err(TransactFailure::Condition(_)) => Err(StoreError::Erased),
            Err(TransactFailure::Other(e)) => Err(e),
        }
    }

    /// Reads an attempt (strongly consistent, so a just-consumed attempt reads as such).
    pub async fn get_attempt(&self, id: &AttemptId) -> Result<Option<LinkAttempt>, StoreError> {
        self.get(keys::attempt(id))
            .await?
            .map(|item| read_attempt(&item))
            .transpose()
    }

    /// Runs one conditional update of an attempt. A retried write that had
    /// succeeded fails its own condition: when the attempt then reads as `done`,
    /// that is success.
    async fn update_attempt(
        &self,
        attempt: &LinkAttempt,
        update: Update,
        condition: String,
        done: impl Fn(&LinkAttempt) -> bool,
    ) -> Result<(), StoreError> {
        if self
            .update_attempt_if(&attempt.id, update, condition)
            .await?
        {
            return Ok(());
        }
        self.already(attempt, done).await
    }

    /// After a write of `attempt` whose condition failed: fine when the
    /// attempt is already as that write leaves it (`done`: a retry whose first
    /// answer came too late), else not usable.
    async fn already(
        &self,
        attempt: &LinkAttempt,
        done: impl Fn(&LinkAttempt) -> bool,
    ) -> Result<(), StoreError> {
        match self.get_attempt(&attempt.id).await {
            Ok(Some(stored)) if done(&stored) => Ok(()),
            _ => Err(StoreError::AttemptNotUsable),
        }
    }

    /// One conditional update of an attempt item: false when the condition
    /// failed (nothing written).
    pub(super) async fn update_attempt_if(
        &self,
        id: &AttemptId,
        update: Update,
        condition: String,
    ) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::attempt(id)))
            .condition_expression(condition);
        match update.apply(req).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Ends a pending or returned, unexpired attempt without a connection.
    pub(crate) async fn end_attempt(
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
            AttemptEnd::Refused { error_code } => (
                AttemptStatus::Refused,
                ("errorCode", Some(error_code.as_str())),
            ),
        };
        let (mut update, condition) = transition(attempt, &OPEN, status, now);
        if let (attr, Some(value)) = detail {
            update.set(attr, s(value));
        }
        update.remove("codeHash");
        self.update_attempt(attempt, update, condition, |a| a.status == status)
            .await
    }

    /// Records what the callback verified and the completion code's hash: a pending
    /// attempt becomes returned and takes the browser's binding; a returned one
    /// (its browser reloaded the callback) gets a new code for the same
    /// connection, only for the browser it is bound to. The account's profile is
    /// kept only when OFAuth attested the connection.
    pub async fn return_attempt(
        &self,
        attempt: &LinkAttempt,
        ret: &Returned<'_>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (mut update, mut condition) =
            transition_with(attempt, &OPEN, AttemptStatus::Returned, ret.connection, now);
        update
            .set(
                "attested",
                aws_sdk_dynamodb::types::AttributeValue::Bool(ret.attested),
            )
            .set("codeHash", s(ret.code_hash))
            .set("codeExpiresAt", n(ret.code_expires_epoch))
            .set("browserHash", s(ret.browser_hash))
            .set(
                "returnedToStarter",
                aws_sdk_dynamodb::types::AttributeValue::Bool(ret.to_starter),
            );
        condition.push_str(&format!(
            " AND ({status} = {pending} OR {browser} = {hash})",
            status = update.name("status"),
            pending = update.value("from_pending", s(AttemptStatus::Pending.as_str())),
            browser = update.name("browserHash"),
            hash = update.value("browserHash", s(ret.browser_hash)),
        ));
        let unattested = AccountProfile::default();
        set_profile(
            &mut update,
            if ret.attested {
                ret.account
            } else {
                &unattested
            },
            true,
        );
        // Only if no erasure of the user came since the attempt started: the
        // account's profile and the browser's binding are never written onto
        // an attempt the erasure's index query did not see yet.
        let transition = update.transact(&self.table, keys::attempt(&attempt.id), &condition)?;
        match self
            .transact(vec![
                TransactWriteItem::builder().update(transition).build(),
                started_after_erasure(&self.table, attempt)?,
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(TransactFailure::Condition(1)) => Err(StoreError::Erased),
            Err(TransactFailure::Condition(_)) => {
                self.already(attempt, |a| {
                    a.status == AttemptStatus::Returned
                        && a.code_hash.as_deref() == Some(ret.code_hash)
                })
                .await
            }
            Err(TransactFailure::Other(e)) => Err(e),
        }
    }

    /// Counts a verification OFAuth could not answer, while the attempt is still
    /// open; the count bounds how often anyone can make it ask again.
    pub(crate) async fn count_failed_verification(
        &self,
        attempt: &LinkAttempt,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.increment("failedVerifications");
        let status = u.name("status");
        let allowed: Vec<String> = OPEN
            .iter()
            .map(|f| u.value(&format!("from_{}", f.as_str()), s(f.as_str())))
            .collect();
        let condition = format!("{status} IN ({})", allowed.join(", "));
        self.update_attempt(attempt, u, condition, |_| false).await
    }

    /// The user completed the attempt, but OFAuth has not attested the connection
    /// yet: the attempt waits as verifying, listed for its user (`listed`: not
    /// for a connection the user's list already shows, a reconnect's). Refused
    /// (`AttemptNotUsable`) when the connection has been attested for this very
    /// attempt in the meantime, so the caller binds instead; `Erased` when its
    /// user was erased after it started.
    pub(crate) async fn verify_later(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        listed: bool,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (mut update, condition) =
            transition_with(attempt, &OPEN, AttemptStatus::Verifying, connection, now);
        update.set(
            schema::USER_INDEX_PARTITION_KEY,
            s(keys::user(&attempt.user_id)),
        );
        if listed {
            update.set(schema::USER_INDEX_SORT_KEY, s(rfc3339(now)));
        }
        // Unattested: the claimed account's profile is neither kept nor listed.
        set_profile(&mut update, &AccountProfile::default(), true);
        let transition = update.transact(&self.table, keys::attempt(&attempt.id), &condition)?;
        // The webhook checks the attempt's status when it attests; this checks the
        // attestation: together no attestation is missed between the two.
        let not_attested = ConditionCheck::builder()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, s(keys::connection(connection)))
            .condition_expression(
                "attribute_not_exists(attestedAttemptId) OR attestedAttemptId <> :attempt",
            )
            .expression_attribute_values(":attempt", s(attempt.id.as_str()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        match self
            .transact(vec![
                TransactWriteItem::builder().update(transition).build(),
                TransactWriteItem::builder()
                    .condition_check(not_attested)
                    .build(),
                started_after_erasure(&self.table, attempt)?,
            ])
            .await
        {
            Ok(()) => Ok(()),
            Err(TransactFailure::Condition(2)) => Err(StoreError::Erased),
            Err(TransactFailure::Condition(_)) => Err(StoreError::AttemptNotUsable),
            Err(TransactFailure::Other(e)) => Err(e),
        }
    }
}
