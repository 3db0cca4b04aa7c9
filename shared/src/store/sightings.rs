//! OFAuth's sightings of a connection (a signed webhook event, or the
//! reconciler's look at OFAuth's list) applied to connection records: at most
//! once per sighting id (an `EVENT#<id>` marker, kept for
//! [`SIGHTING_RETENTION_SECS`]), never over a newer state, and all in one
//! transaction.
//!
//! The order (see [`plan`]):
//! - `disconnected` is final: OFAuth deletes a disconnected connection, and
//!   nothing brings a disconnected record back.
//! - An event with a time of its own is ordered by (event time, rank), against the
//!   record's `lastEventAt`/`lastEventRank`; the rank ([`ConnectionStatus::rank`]) breaks
//!   ties within one instant (created, then updated, then expired, then
//!   disconnected). An equal key is applied: two different events of one second
//!   both count, the later delivery last.
//! - An event without a time (the v3 dialect documents none) never moves the
//!   status back along the lifecycle (active, expired, disconnected) and leaves
//!   the order as it was.
//! - Only OFAuth's clock enters the order: this service's own confirmations (a
//!   binding, a disconnect) never write `lastEventAt`.
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

use super::attempts::transition;
use super::barrier::started_after_erasure;
use super::error::StoreError;
use super::item::{connection_update, n, s, unchanged_since, ConnectionWrite, StateWrite};
use super::table::{Store, TransactFailure};
use super::{keys, schema};
use crate::ids::{AttemptId, ConnectionId};
use crate::model::{
    AccountProfile, AttemptStatus, ChangeCause, ConnectionRecord, ConnectionStatus, LinkAttempt,
    Swap,
};
use crate::time::{epoch, rfc3339};

/// How far ahead of this function's clock an event's time may be (OFAuth's
/// clock and ours disagree by less).
const MAX_AHEAD_SECS: i64 = 60;

/// How long an applied sighting's id is remembered (DynamoDB TTL).
pub(crate) const SIGHTING_RETENTION_SECS: i64 = 30 * 86_400;

/// How many times a sighting is re-read and re-decided when other writes race it.
const ATTEMPTS: usize = 3;

/// Where a binding sighting's transaction checks the erasure barrier (after the
/// marker, the record and the attempt).
const ERASURE_CHECK: usize = 3;

/// What OFAuth says of one connection: a signed webhook event, or what the
/// reconciler read on OFAuth's list or `access/self`.
#[derive(Debug, Clone)]
pub(crate) struct Sighting<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// When OFAuth says it happened (Unix milliseconds), if the event says.
    pub(crate) event_at_ms: Option<i64>,
    /// The tie-break within one instant ([`ConnectionStatus::rank`]; 0 for
    /// `created`).
    pub(crate) rank: u8,
    pub connection: &'a ConnectionId,
    /// The status OFAuth reports; `None` keeps the record's.
    pub status: Option<ConnectionStatus>,
    pub account: &'a AccountProfile,
    /// The attempt the event names (its `clientReferenceId`), when it has this
    /// deployment's shape; read (again) with the record each time the event is decided.
    pub attempt: Option<&'a AttemptId>,
    /// Who saw it: [`ChangeCause::Webhook`] (a signed delivery) or
    /// [`ChangeCause::Reconciler`] (OFAuth's list), recorded as the change's cause.
    pub cause: ChangeCause,
}

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Written; `bound`: it also bound the connection to a verifying attempt's user.
    Written { bound: bool },
    /// This event id was already processed.
    Duplicate,
    /// The record holds a newer state and the event attests nothing new.
    Superseded,
    /// Neither a record nor an attempt of this deployment: not ours to keep.
    Unattributed,
    /// The event names an attempt whose user is not the connection's owner: its
    /// state was applied, its attestation ignored (logged as a security event).
    ForeignAttempt,
    /// The event shows another OnlyFans account on a bound connection (a
    /// reconnect signed in to someone else's account): the owner and the
    /// account's profile are kept; when the event says the connection is usable
    /// (`live`), the record is marked expired, and the caller invalidates it at
    /// OFAuth.
    AccountSwapped(Swap),
}

/// What an event does to the record, decided from what the table holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Plan<'a> {
    pub write: ConnectionWrite<'a>,
    /// Bind to this verifying attempt's user (and complete the attempt).
    pub bind: Option<&'a LinkAttempt>,
    /// The named attempt's user is not the owner.
    pub foreign: bool,
    /// Another account on a bound connection ([`Applied::AccountSwapped`]).
    pub swapped: Option<Swap>,
}

/// Decides an event against the record and the attempt it names (if they exist).
/// `None`: nothing to write.
pub(crate) fn plan<'a>(
    ev: &Sighting<'a>,
    record: Option<&'a ConnectionRecord>,
    attempt: Option<&'a LinkAttempt>,
    now_epoch: i64,
    may_bind: bool,
) -> Option<Plan<'a>> {
    let gone = record.is_some_and(|r| r.status == ConnectionStatus::Disconnected);
    let status = ev
        .status
        .clone()
        .or_else(|| record.map(|r| r.status.clone()))
        .unwrap_or(ConnectionStatus::Active);
    // An event time further ahead of this clock than OFAuth's and ours can
    // disagree is taken as the receipt time: a time in the far future must not
    // make every later, real event look older.
    // (The receipt time to the end of its second: this clock has only the
    // second here, and an event of this second already applied is not newer.)
    let received_ms = now_epoch.saturating_mul(1000).saturating_add(999);
    let event_at_ms = ev.event_at_ms.map(|at| {
        if at > received_ms.saturating_add(MAX_AHEAD_SECS * 1000) {
            received_ms
        } else {
            at
        }
    });
    let newer = !gone
        && match event_at_ms {
            Some(at) => record
                .and_then(|r| r.last_event_at.map(|t| (t, r.last_event_rank)))
                .is_none_or(|last| (at, ev.rank) >= last),
            None => record.is_none_or(|r| status.rank() >= r.status.rank()),
        };
    let order = event_at_ms.map(|at| (at, ev.rank));
    let bound = record.filter(|r| !gone && r.user_id.is_some());
    let seen = ev.account.id.as_deref();
    // The account of a bound connection is fixed: whatever arrives first, an
    // event showing another account never writes its profile, attests or binds.
    if let Some(r) = bound {
        let fixed = r
            .account
            .id
            .as_deref()
            .or(attempt.and_then(|a| a.expected_account.as_deref()));
        if let (Some(fixed), Some(seen)) = (fixed, seen) {
            if fixed != seen {
                // A report older than what the record holds (a swap recorded
                // since, or the owner's binding since, which undid it): OFAuth's
                // late or retried delivery of what is decided. Nothing to write,
                // and no new event, whichever swap it names.
                if !newer {
                    return None;
                }
                let live = status.is_live();
                // Usable with someone else's account: not usable for its owner.
                let state = if live {
                    (r.status != ConnectionStatus::Expired)
                        .then_some(StateWrite::confirmed(ConnectionStatus::Expired))
                } else {
                    Some(StateWrite { status, order })
                };
                let named = ev.attempt.map(AttemptId::as_str);
                return Some(Plan {
                    write: ConnectionWrite {
                        state,
                        cause: Some(ChangeCause::AccountMismatch),
                        swap_attempt: named,
                        swap_account: Some(seen),
                        // The webhook holds no API key: the stream's remedy
                        // invalidates it, once (platform/remedy.rs).
                        invalidate: (live && ev.cause == ChangeCause::Webhook)
                            .then_some(ev.event_id),
                        ..ConnectionWrite::default()
                    },
                    bind: None,
                    foreign: false,
                    swapped: Some(Swap {
                        live,
                        first: !r.holds_swap(named, Some(seen)),
                    }),
                });
            }
        }
    }
    // Nothing is written onto a bound connection's account, and nothing makes
    // it usable or completes its reconnect, unless the sighting names the very
    // account bound to it: an account id missing on either side fails closed.
    let vouched = match bound {
        Some(r) => r.account.id.is_some() && seen.is_some(),
        None => seen.is_some(),
    };
    let foreign = match (attempt, record) {
        (Some(a), Some(r)) => r.is_owned_by_another(&a.user_id),
        _ => false,
    };
    let attest = attempt.filter(|_| !foreign);
    if record.is_none() && attest.is_none() {
        return None;
    }
    // Binds a new connection to its verifying attempt's user, or completes a
    // verifying reconnect of the owner's own connection (with its account).
    let bind = attest.filter(|a| {
        may_bind
            && vouched
            && !gone
            && record.is_none_or(|r| r.user_id.is_none() || r.is_owned_by(&a.user_id))
            && a.status == AttemptStatus::Verifying
            && a.connection.as_ref() == Some(ev.connection)
            && !a.is_expired(now_epoch)
    });
    // Without a vouched account, a bound record may only move towards the end
    // of its lifecycle (expired, disconnected): never back to usable.
    let state_ok = bound.is_none() || vouched || !status.is_live();
    let newer = newer && state_ok;
    let new_attestation = attest
        .filter(|a| record.and_then(|r| r.attested_attempt.as_deref()) != Some(a.id.as_str()));
    if !newer && new_attestation.is_none() && bind.is_none() {
        return None;
    }
    Some(Plan {
        write: ConnectionWrite {
            owner: bind.map(|a| a.user_id.as_str()),
            // Nothing of the account for an attempt whose user was erased (its
            // sign-in finished after the erasure): the connection is nobody's,
            // and the reconciler disconnects it without the grace.
            account: (newer
                && (bound.is_none() || vouched)
                && !attest.is_some_and(|a| a.status == AttemptStatus::Erased))
            .then_some((ev.account, false)),
            attested_by: attest.map(|a| &a.id),
            last_attempt: bind.map(|a| &a.id),
            // A disconnect this service asked for keeps its own cause when
            // OFAuth's report of it lands first.
            cause: (newer || bind.is_some()).then(|| match record {
                Some(r) if status == ConnectionStatus::Disconnected => {
                    r.requested_disconnect(now_epoch).unwrap_or(ev.cause)
                }
                _ => ev.cause,
            }),
            state: if newer {
                Some(StateWrite { status, order })
            } else if bind.is_some() && bound.is_some() && status.is_live() {
                // OFAuth attests this very reconnect re-authenticated it, with
                // its account: usable again, as the completion's own binding
                // confirms it (an event without a time of its own cannot be
                // ordered against the expiry it undoes).
                Some(StateWrite::confirmed(status))
            } else {
                None
            },
            swap_attempt: None,
            swap_account: None,
            invalidate: None,
        },
        bind,
        foreign,
        swapped: None,
    })
}

impl Store {
    /// Applies a sighting: at most once per id, never over a newer state,
    /// attesting and (for a verifying attempt) binding, in one transaction with
    /// its marker.
    pub(crate) async fn apply_sighting(
        &self,
        ev: &Sighting<'_>,
        now: SystemTime,
    ) -> Result<Applied, StoreError> {
        // False once the erasure barrier stopped a binding: decide again without.
        let mut may_bind = true;
        for _ in 0..ATTEMPTS {
            // An event that names its attempt: both read in one request.
            let (attempt, record) = match ev.attempt {
                Some(id) => self.get_attempt_and_connection(id, ev.connection).await?,
                None => (None, self.get_connection(ev.connection).await?),
            };
            let decided = plan(ev, record.as_ref(), attempt.as_ref(), epoch(now), may_bind);
            let Some(plan) = decided else {
                return Ok(if record.is_none() {
                    Applied::Unattributed
                } else if self.get(keys::event(ev.event_id)).await?.is_some() {
                    Applied::Duplicate
                } else {
                    Applied::Superseded
                });
            };
            match self
                .write_sighting(ev, record.as_ref(), attempt.as_ref(), &plan, now)
                .await
            {
                Ok(()) => {
                    return Ok(if let Some(swap) = plan.swapped {
                        Applied::AccountSwapped(swap)
                    } else if plan.foreign {
                        Applied::ForeignAttempt
                    } else {
                        Applied::Written {
                            bound: plan.bind.is_some(),
                        }
                    })
                }
                Err(TransactFailure::Condition(0)) => return Ok(Applied::Duplicate),
                // The attempt's user was erased after it started: no binding.
                Err(TransactFailure::Condition(ERASURE_CHECK)) => may_bind = false,
                // The record or the attempt changed since it was read: decide again.
                Err(TransactFailure::Condition(_)) => continue,
                Err(TransactFailure::Other(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(format!(
            "the record changed {ATTEMPTS} times while the event was applied"
        )))
    }

    async fn write_sighting(
        &self,
        ev: &Sighting<'_>,
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
                    n(epoch(now) + SIGHTING_RETENTION_SECS),
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
            done.set(
                schema::USER_INDEX_SORT_KEY,
                s(keys::unlisted(&a.created_at)),
            );
            let done = done
                .transact(&self.table, keys::attempt(&a.id), &cond)
                .map_err(TransactFailure::Other)?;
            items.push(TransactWriteItem::builder().update(done).build());
            items.push(started_after_erasure(&self.table, a).map_err(TransactFailure::Other)?);
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

    fn account(id: &str) -> AccountProfile {
        AccountProfile {
            id: Some(id.into()),
            ..AccountProfile::default()
        }
    }

    fn record(owner: Option<&str>, last: i64, attested: Option<&LinkAttempt>) -> ConnectionRecord {
        ConnectionRecord {
            id: ConnectionId::parse("conn_1").unwrap(),
            user_id: owner.map(str::to_string),
            status: ConnectionStatus::Active,
            account: account("acct_1"),
            connected_at: "t".into(),
            updated_at: "t".into(),
            attested_attempt: attested.map(|a| a.id.as_str().to_string()),
            version: 1,
            last_event_at: Some(last),
            last_event_rank: 1,
            missing_sweep: None,
            disconnect_requested: None,
            change_cause: None,
            swap_attempt: None,
            swap_account: None,
            invalidate_requested: None,
        }
    }

    /// No leg fails open: a sighting without the account's id never writes a
    /// profile onto a bound connection, never makes it usable again, never
    /// completes its reconnect; with the bound account it does.
    #[test]
    fn a_sighting_without_an_account_id_writes_nothing_onto_a_bound_connection() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let mut reconnect = attempt(AttemptStatus::Verifying, Some(&conn));
        reconnect.reconnect = Some(conn.clone());
        reconnect.expected_account = Some("acct_1".into());
        let nameless = AccountProfile {
            username: Some("someone".into()),
            name: Some("Some One".into()),
            ..AccountProfile::default()
        };
        fn ev<'a>(
            conn: &'a ConnectionId,
            attempt: &'a AttemptId,
            account: &'a AccountProfile,
            status: ConnectionStatus,
        ) -> Sighting<'a> {
            Sighting {
                event_id: "e",
                event_type: "connection.updated",
                event_at_ms: Some(10),
                rank: 1,
                connection: conn,
                status: Some(status),
                account,
                attempt: Some(attempt),
                cause: ChangeCause::Webhook,
            }
        }
        let ev = |account, status| ev(&conn, &reconnect.id, account, status);
        let mut owned = record(Some("user-1"), 5, None);
        owned.status = ConnectionStatus::Expired;
        let p = plan(
            &ev(&nameless, ConnectionStatus::Active),
            Some(&owned),
            Some(&reconnect),
            0,
            true,
        )
        .unwrap();
        assert_eq!(p.write.account, None, "a profile without its account");
        assert_eq!(p.write.state, None, "made usable without its account");
        assert!(p.bind.is_none() && p.write.owner.is_none());
        // Towards the end of the lifecycle it still goes.
        let p = plan(
            &ev(&nameless, ConnectionStatus::Disconnected),
            Some(&owned),
            None,
            0,
            true,
        )
        .unwrap();
        assert_eq!(
            p.write.state.map(|s| s.status),
            Some(ConnectionStatus::Disconnected)
        );
        // A record bound without an account id: nothing vouches either.
        let mut unknown = owned.clone();
        unknown.account = AccountProfile::default();
        let same = account("acct_1");
        let p = plan(
            &ev(&same, ConnectionStatus::Active),
            Some(&unknown),
            Some(&reconnect),
            0,
            true,
        );
        assert!(p.is_none_or(|p| p.bind.is_none() && p.write.state.is_none()));
        // The bound account itself: reconnected, and the verifying reconnect
        // completed, unless the erasure barrier stopped it.
        let p = plan(
            &ev(&same, ConnectionStatus::Active),
            Some(&owned),
            Some(&reconnect),
            0,
            true,
        )
        .unwrap();
        assert!(p.bind.is_some());
        assert_eq!(
            p.write.state.map(|s| s.status),
            Some(ConnectionStatus::Active)
        );
        let p = plan(
            &ev(&same, ConnectionStatus::Active),
            Some(&owned),
            Some(&reconnect),
            0,
            false,
        )
        .unwrap();
        assert!(p.bind.is_none());
        // A new connection binds only with an account id.
        let fresh = attempt(AttemptStatus::Verifying, Some(&conn));
        let p = plan(
            &Sighting {
                attempt: Some(&fresh.id),
                ..ev(&nameless, ConnectionStatus::Active)
            },
            None,
            Some(&fresh),
            0,
            true,
        )
        .unwrap();
        assert!(p.bind.is_none() && p.write.attested_by.is_some());
    }

    #[test]
    fn a_swap_is_first_once_per_attempt() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let (mine, theirs) = (
            AccountProfile {
                id: Some("acct_owner".into()),
                ..AccountProfile::default()
            },
            AccountProfile {
                id: Some("acct_victim".into()),
                ..AccountProfile::default()
            },
        );
        let (a, b) = (
            AttemptId::generate().unwrap(),
            AttemptId::generate().unwrap(),
        );
        let ev = |status, attempt| Sighting {
            event_id: "e",
            event_type: "connection.updated",
            event_at_ms: Some(10),
            rank: 1,
            connection: &conn,
            status: Some(ConnectionStatus::parse(status)),
            account: &theirs,
            attempt,
            cause: ChangeCause::Webhook,
        };
        let mut owned = record(Some("user-1"), 5, None);
        owned.account = mine.clone();
        // The first sighting, live: marked expired, with the attempt it names.
        let p = plan(&ev("active", Some(&a)), Some(&owned), None, 0, true).unwrap();
        assert_eq!(
            p.swapped,
            Some(Swap {
                live: true,
                first: true
            })
        );
        assert_eq!(
            p.write.state,
            Some(StateWrite::confirmed(ConnectionStatus::Expired))
        );
        assert_eq!(p.write.swap_attempt, Some(a.as_str()));
        // The record now holds it: OFAuth's report of the invalidation (no
        // attempt, or the same one) and the reconciler's look repeat it ...
        let mut marked = owned.clone();
        marked.status = ConnectionStatus::Expired;
        marked.change_cause = Some(ChangeCause::AccountMismatch);
        marked.swap_attempt = Some(a.as_str().into());
        for (status, attempt) in [("expired", None), ("active", Some(&a)), ("active", None)] {
            let p = plan(&ev(status, attempt), Some(&marked), None, 0, true).unwrap();
            assert!(!p.swapped.unwrap().first, "{status} {attempt:?}");
        }
        // ... a new reconnect attempt showing another account is a new one ...
        let p = plan(&ev("active", Some(&b)), Some(&marked), None, 0, true).unwrap();
        assert!(p.swapped.unwrap().first);
        // ... and so is another account on the same attempt's mark ...
        let stranger = AccountProfile {
            id: Some("acct_stranger".into()),
            ..AccountProfile::default()
        };
        let marked_with = |account: &str| {
            let mut m = marked.clone();
            m.swap_account = Some(crate::model::account_digest(account));
            m
        };
        let theirs_marked = marked_with(theirs.id.as_deref().unwrap());
        let p = plan(
            &Sighting {
                account: &stranger,
                ..ev("active", None)
            },
            Some(&theirs_marked),
            None,
            0,
            true,
        )
        .unwrap();
        assert!(p.swapped.unwrap().first);
        // ... while writes of other causes since do not make a repeat new (the
        // mark outlives them) ...
        let mut other_cause = theirs_marked.clone();
        other_cause.change_cause = Some(ChangeCause::Webhook);
        let p = plan(&ev("expired", None), Some(&other_cause), None, 0, true).unwrap();
        assert!(!p.swapped.unwrap().first);
        // ... but the owner's binding since (the mark taken off) does.
        let mut restored = owned.clone();
        restored.change_cause = Some(ChangeCause::Completion);
        let p = plan(&ev("expired", None), Some(&restored), None, 0, true).unwrap();
        assert!(p.swapped.unwrap().first);
        // A late report of a swap, older than the record's state, on a record
        // that holds a swap: nothing to write and no event, whichever attempt
        // it names.
        let mut later = theirs_marked.clone();
        later.last_event_at = Some(10_000);
        let stale = Sighting {
            event_at_ms: Some(5_000),
            ..ev("active", Some(&b))
        };
        assert!(plan(&stale, Some(&later), None, 20, true).is_none());
        // The owner's own account: no swap.
        let same = Sighting {
            account: &mine,
            ..ev("active", Some(&a))
        };
        assert_eq!(
            plan(&same, Some(&owned), None, 0, true).unwrap().swapped,
            None
        );
    }

    #[test]
    fn webhooks_attest_and_bind_only_verifying_attempts() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let account = account("acct_1");
        let ev = |at| Sighting {
            event_id: "e",
            event_type: "connection.created",
            event_at_ms: Some(at),
            rank: 0,
            connection: &conn,
            status: Some(ConnectionStatus::Active),
            account: &account,
            attempt: None,
            cause: ChangeCause::Webhook,
        };
        // A pending attempt: attested, not bound.
        let pending = attempt(AttemptStatus::Pending, None);
        let p = plan(&ev(10), None, Some(&pending), 0, true).unwrap();
        assert_eq!(p.write.owner, None);
        assert_eq!(p.write.attested_by, Some(&pending.id));
        // A verifying attempt for this connection: bound.
        let verifying = attempt(AttemptStatus::Verifying, Some(&conn));
        let p = plan(&ev(10), None, Some(&verifying), 0, true).unwrap();
        assert_eq!(p.write.owner, Some("user-1"));
        assert!(p.bind.is_some());
        // ... but not once it expired, nor for another connection.
        assert!(plan(&ev(10), None, Some(&verifying), i64::MAX, true)
            .unwrap()
            .bind
            .is_none());
        let other = ConnectionId::parse("conn_2").unwrap();
        let elsewhere = attempt(AttemptStatus::Verifying, Some(&other));
        assert!(plan(&ev(10), None, Some(&elsewhere), 0, true)
            .unwrap()
            .bind
            .is_none());
        // Owned by someone else: state only, flagged.
        let owned = record(Some("user-2"), 5, None);
        let p = plan(&ev(10), Some(&owned), Some(&verifying), 0, true).unwrap();
        assert!(p.foreign && p.bind.is_none() && p.write.attested_by.is_none());
        assert_eq!(p.write.owner, None);
        // Older than the record and nothing new to attest: nothing.
        let attested = record(None, 50, Some(&pending));
        assert!(plan(&ev(10), Some(&attested), Some(&pending), 0, true).is_none());
        // Older, but binds: the owner is written, the newer state kept.
        let newer_unbound = record(None, 50, None);
        let p = plan(&ev(10), Some(&newer_unbound), Some(&verifying), 0, true).unwrap();
        assert_eq!(p.write.owner, Some("user-1"));
        assert_eq!(p.write.state, None);
        // Not ours and no record: not ours to keep.
        assert!(plan(&ev(10), None, None, 0, true).is_none());
    }

    /// The order: (event time, rank), an equal key applied; untimed events only
    /// forward along the lifecycle; `disconnected` final.
    #[test]
    fn the_order() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let account = account("acct_1");
        let ev = |at: Option<i64>, status: &'static str| Sighting {
            event_id: "e",
            event_type: "connection.updated",
            event_at_ms: at,
            rank: ConnectionStatus::parse(status).rank(),
            connection: &conn,
            status: Some(ConnectionStatus::parse(status)),
            account: &account,
            attempt: None,
            cause: ChangeCause::Webhook,
        };
        fn state(p: Option<Plan<'_>>) -> Option<(String, Option<(i64, u8)>)> {
            p.and_then(|p| p.write.state)
                .map(|s| (s.status.as_str().to_string(), s.order))
        }
        let mut rec = record(Some("user-1"), 1_000, None);
        // A time far ahead of this clock is taken as the receipt time: it
        // cannot make a later, real event look older.
        let now = 1_800_000_000;
        let far = Some(253_402_300_799_000); // 9999-12-31T23:59:59Z
        assert_eq!(
            state(plan(&ev(far, "active"), Some(&rec), None, now, true)),
            Some(("active".to_string(), Some((now * 1000 + 999, 1))))
        );
        // Within a minute ahead: OFAuth's own time.
        let ahead = Some(now * 1000 + 30_000);
        assert_eq!(
            state(plan(&ev(ahead, "active"), Some(&rec), None, now, true)),
            Some(("active".to_string(), Some((now * 1000 + 30_000, 1))))
        );
        // Same instant, same rank: applied (two different events of one second).
        assert_eq!(
            state(plan(&ev(Some(1_000), "active"), Some(&rec), None, 0, true)),
            Some(("active".to_string(), Some((1_000, 1))))
        );
        // Same instant: expiry ranks after an update, not before.
        assert!(state(plan(&ev(Some(1_000), "expired"), Some(&rec), None, 0, true)).is_some());
        rec.status = ConnectionStatus::Expired;
        rec.last_event_rank = 2;
        assert!(plan(&ev(Some(1_000), "active"), Some(&rec), None, 0, true).is_none());
        assert!(plan(&ev(Some(999), "active"), Some(&rec), None, 0, true).is_none());
        assert!(plan(&ev(Some(1_001), "active"), Some(&rec), None, 0, true).is_some());
        // Untimed: forward only, and the order is left alone.
        assert!(plan(&ev(None, "active"), Some(&rec), None, 0, true).is_none());
        assert_eq!(
            state(plan(&ev(None, "disconnected"), Some(&rec), None, 0, true)),
            Some(("disconnected".to_string(), None))
        );
        // Disconnected is final, whatever the time.
        rec.status = ConnectionStatus::Disconnected;
        rec.last_event_at = None;
        assert!(plan(&ev(Some(i64::MAX), "active"), Some(&rec), None, 0, true).is_none());
        assert!(plan(&ev(None, "disconnected"), Some(&rec), None, 0, true).is_none());
    }
}
