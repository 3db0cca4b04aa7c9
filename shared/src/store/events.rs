//! Signed webhook events applied to connection records: at most once per event id
//! (an `EVENT#<id>` marker, kept for [`EVENT_RETENTION_SECS`]), never over a newer
//! state (`lastEventAt`), and all in one transaction.
//!
//! A webhook attests; it does not bind. An event naming one of this deployment's
//! attempts records that OFAuth says that attempt produced the connection
//! (`attestedAttemptId`); it binds the connection only to an attempt whose user
//! already completed it and was waiting for this attestation (`verifying`).
//!
//! Each event is read, decided in code ([`plan`]) and written on the condition
//! that the record is still the one read (`version`), retried when another write
//! came in between.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{ConditionCheck, Put, TransactWriteItem};

use super::attempts::{transition, AttemptStatus, LinkAttempt};
use super::connections::ConnectionRecord;
use super::item::{connection_update, n, s, ConnectionWrite, Update};
use super::{keys, schema, Store, StoreError, TransactFailure};
use crate::ids::{AttemptId, ConnectionId};
use crate::ofauth::AccountProfile;
use crate::time::{epoch, rfc3339};

/// How long a processed webhook event id is remembered (DynamoDB TTL).
pub const EVENT_RETENTION_SECS: i64 = 30 * 86_400;

/// How many times an event is re-read and re-decided when other writes race it.
const ATTEMPTS: usize = 3;

/// A signed webhook event about one connection.
#[derive(Debug, Clone)]
pub struct ConnectionEvent<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// When OFAuth says it happened (Unix milliseconds); orders deliveries.
    pub event_at_ms: i64,
    pub connection: &'a ConnectionId,
    /// The status OFAuth reports; `None` keeps the record's.
    pub status: Option<&'a str>,
    pub account: &'a AccountProfile,
    /// The attempt the event names (its `clientReferenceId`), when it has this
    /// deployment's shape; read (again) with the record each time the event is decided.
    pub attempt: Option<&'a AttemptId>,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Written; `bound`: it also bound the connection to a verifying attempt's user.
    Applied { bound: bool },
    /// This event id was already processed.
    Duplicate,
    /// The record holds a newer state and the event attests nothing new.
    Superseded,
    /// Neither a record nor an attempt of this deployment: not ours to keep.
    Unattributed,
    /// The event names an attempt whose user is not the connection's owner: its
    /// state was applied, its attestation ignored (logged as a security event).
    ForeignAttempt,
}

/// What an event does to the record, decided from what the table holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan<'a> {
    pub write: ConnectionWrite<'a>,
    /// Bind to this verifying attempt's user (and complete the attempt).
    pub bind: Option<&'a LinkAttempt>,
    /// The named attempt's user is not the owner.
    pub foreign: bool,
}

/// Decides an event against the record and the attempt it names (if they exist).
/// `None`: nothing to write.
pub(crate) fn plan<'a>(
    ev: &ConnectionEvent<'a>,
    record: Option<&'a ConnectionRecord>,
    attempt: Option<&'a LinkAttempt>,
    now_epoch: i64,
) -> Option<Plan<'a>> {
    let newer = record
        .and_then(|r| r.last_event_at)
        .is_none_or(|t| ev.event_at_ms > t);
    let foreign = match (attempt, record) {
        (Some(a), Some(r)) => r.is_owned_by_another(&a.user_id),
        _ => false,
    };
    let attest = attempt.filter(|_| !foreign);
    if record.is_none() && attest.is_none() {
        return None;
    }
    let unbound = record.is_none_or(|r| r.user_id.is_none());
    let bind = attest.filter(|a| {
        unbound
            && a.status == AttemptStatus::Verifying
            && a.connection.as_ref() == Some(ev.connection)
            && !a.is_expired(now_epoch)
    });
    let new_attestation = attest
        .filter(|a| record.and_then(|r| r.attested_attempt.as_deref()) != Some(a.id.as_str()));
    if !newer && new_attestation.is_none() && bind.is_none() {
        return None;
    }
    let status = ev
        .status
        .or(record.map(|r| r.status.as_str()))
        .unwrap_or("active");
    Some(Plan {
        write: ConnectionWrite {
            owner: bind.map(|a| a.user_id.as_str()),
            state: newer.then_some((status, ev.event_at_ms)),
            account: newer.then_some((ev.account, false)),
            attested_by: attest.map(|a| &a.id),
            last_attempt: bind.map(|a| &a.id),
        },
        bind,
        foreign,
    })
}

impl Store {
    /// Applies a signed webhook event: at most once per event id, never over a
    /// newer state, attesting and (for a verifying attempt) binding, in one
    /// transaction with the event marker.
    pub async fn apply_event(
        &self,
        ev: &ConnectionEvent<'_>,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        for _ in 0..ATTEMPTS {
            let record = self.get_connection(ev.connection).await?;
            let attempt = match ev.attempt {
                Some(id) => self.get_attempt(id).await?,
                None => None,
            };
            let Some(plan) = plan(ev, record.as_ref(), attempt.as_ref(), epoch(now)) else {
                return Ok(if record.is_none() {
                    Applied::Unattributed
                } else if self.get(keys::event(ev.event_id)).await?.is_some() {
                    Applied::Duplicate
                } else {
                    Applied::Superseded
                });
            };
            match self
                .write_event(ev, record.as_ref(), attempt.as_ref(), &plan, now)
                .await
            {
                Ok(()) => {
                    return Ok(if plan.foreign {
                        Applied::ForeignAttempt
                    } else {
                        Applied::Applied {
                            bound: plan.bind.is_some(),
                        }
                    })
                }
                Err(TransactFailure::Condition(0)) => return Ok(Applied::Duplicate),
                // The record or the attempt changed since it was read: decide again.
                Err(TransactFailure::Condition(_)) => continue,
                Err(TransactFailure::Other(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "the record changed {ATTEMPTS} times while the event was applied"
        )))
    }

    async fn write_event(
        &self,
        ev: &ConnectionEvent<'_>,
        record: Option<&ConnectionRecord>,
        attempt: Option<&LinkAttempt>,
        plan: &Plan<'_>,
        now: SystemTime,
    ) -> Result<(), TransactFailure> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            TransactFailure::Other(StoreError::Unavailable(e.to_string()))
        };
        let now_s = rfc3339(now);
        let marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                (
                    schema::PARTITION_KEY.to_string(),
                    s(keys::event(ev.event_id)),
                ),
                ("entity".into(), s("event")),
                ("eventType".into(), s(ev.event_type)),
                ("connectionId".into(), s(ev.connection.as_str())),
                ("receivedAt".into(), s(&now_s)),
                (
                    schema::TTL_ATTRIBUTE.into(),
                    n(epoch(now) + EVENT_RETENTION_SECS),
                ),
            ])))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(built)?;
        let mut update = connection_update(ev.connection, &plan.write, &now_s);
        let unchanged = unchanged_since(&mut update, record);
        let update = update
            .transact(&self.table, keys::connection(ev.connection), &unchanged)
            .map_err(TransactFailure::Other)?;
        let mut items = vec![
            TransactWriteItem::builder().put(marker).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        if let Some(a) = plan.bind {
            let (mut done, cond) = transition(
                a,
                &[AttemptStatus::Verifying],
                AttemptStatus::Completed,
                now,
            );
            done.remove(schema::USER_INDEX_PARTITION_KEY)
                .remove(schema::USER_INDEX_SORT_KEY);
            let done = done
                .transact(&self.table, keys::attempt(&a.id), &cond)
                .map_err(TransactFailure::Other)?;
            items.push(TransactWriteItem::builder().update(done).build());
        } else if let Some(a) = attempt
            .filter(|a| plan.write.attested_by.is_some() && a.status != AttemptStatus::Verifying)
        {
            // Attesting an attempt that is not verifying: it must still not be when
            // this commits, or its completion would miss the attestation. (One read
            // as verifying but not bindable, expired or for another connection,
            // never becomes bindable.)
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key(schema::PARTITION_KEY, s(keys::attempt(&a.id)))
                .condition_expression("#status <> :verifying")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":verifying", s(AttemptStatus::Verifying.as_str()))
                .build()
                .map_err(built)?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        self.transact(items).await
    }
}

/// The condition that the record is still the one read: absent, or at the same
/// `version`. Registers its placeholders on `u`.
fn unchanged_since(u: &mut Update, record: Option<&ConnectionRecord>) -> String {
    match record {
        None => "attribute_not_exists(pk)".into(),
        Some(r) => {
            let version = u.name("version");
            if r.version == 0 {
                format!("attribute_not_exists({version})")
            } else {
                format!("{version} = {}", u.value("seenVersion", n(r.version)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: AttemptStatus, conn: Option<&ConnectionId>) -> LinkAttempt {
        let mut a = LinkAttempt::pending(
            AttemptId::generate().unwrap(),
            "user-1".into(),
            None,
            "x".into(),
            i64::MAX,
            SystemTime::now(),
        );
        a.status = status;
        a.connection = conn.cloned();
        a
    }

    fn record(owner: Option<&str>, last: i64, attested: Option<&LinkAttempt>) -> ConnectionRecord {
        ConnectionRecord {
            id: ConnectionId::parse("conn_1").unwrap(),
            user_id: owner.map(str::to_string),
            status: "active".into(),
            account: AccountProfile::default(),
            connected_at: "t".into(),
            updated_at: "t".into(),
            attested_attempt: attested.map(|a| a.id.as_str().to_string()),
            version: 1,
            last_event_at: Some(last),
        }
    }

    #[test]
    fn webhooks_attest_and_bind_only_verifying_attempts() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let account = AccountProfile::default();
        let ev = |at| ConnectionEvent {
            event_id: "e",
            event_type: "connection.created",
            event_at_ms: at,
            connection: &conn,
            status: Some("active"),
            account: &account,
            attempt: None,
        };
        // A pending attempt: attested, not bound.
        let pending = attempt(AttemptStatus::Pending, None);
        let p = plan(&ev(10), None, Some(&pending), 0).unwrap();
        assert_eq!(p.write.owner, None);
        assert_eq!(p.write.attested_by, Some(&pending.id));
        // A verifying attempt for this connection: bound.
        let verifying = attempt(AttemptStatus::Verifying, Some(&conn));
        let p = plan(&ev(10), None, Some(&verifying), 0).unwrap();
        assert_eq!(p.write.owner, Some("user-1"));
        assert!(p.bind.is_some());
        // ... but not once it expired, nor for another connection.
        assert!(plan(&ev(10), None, Some(&verifying), i64::MAX)
            .unwrap()
            .bind
            .is_none());
        let other = ConnectionId::parse("conn_2").unwrap();
        let elsewhere = attempt(AttemptStatus::Verifying, Some(&other));
        assert!(plan(&ev(10), None, Some(&elsewhere), 0)
            .unwrap()
            .bind
            .is_none());
        // Owned by someone else: state only, flagged.
        let owned = record(Some("user-2"), 5, None);
        let p = plan(&ev(10), Some(&owned), Some(&verifying), 0).unwrap();
        assert!(p.foreign && p.bind.is_none() && p.write.attested_by.is_none());
        assert_eq!(p.write.owner, None);
        // Older than the record and nothing new to attest: nothing.
        let attested = record(None, 50, Some(&pending));
        assert!(plan(&ev(10), Some(&attested), Some(&pending), 0).is_none());
        // Older, but binds: the owner is written, the newer state kept.
        let newer_unbound = record(None, 50, None);
        let p = plan(&ev(10), Some(&newer_unbound), Some(&verifying), 0).unwrap();
        assert_eq!(p.write.owner, Some("user-1"));
        assert_eq!(p.write.state, None);
        // Not ours and no record: not ours to keep.
        assert!(plan(&ev(10), None, None, 0).is_none());
    }
}
