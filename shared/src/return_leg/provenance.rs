//! Provenance: a connection becomes a user's only when OFAuth attests that one of
//! that user's attempts produced it, and only when that user completes the flow.
//!
//! OFAuth has no exchange step (nothing like Plaid's `public_token`): the only
//! correlation between a Link session and the connection it produced is the
//! `clientReferenceId` this service sets to the attempt id. It comes back in the
//! redirect (forgeable), in the signed webhooks, and on each connection of
//! `GET /v2/account/connections`. So an attempt's connection is attested by a
//! signed webhook naming the attempt (recorded on the connection item by the
//! webhook) or by the connections list, searched newest first within a page cap.
//! `GET /v2/access/self` only proves the connection is live and says whose
//! account it is; it proves nothing about where the connection came from.

use std::time::SystemTime;

use super::refusal::{Refusal, RefusalCode, Severity};
use crate::config::ListSearch;
use crate::ids::ConnectionId;
use crate::model::{AccountProfile, AttemptEnd, AttemptStatus, ConnectionRecord, LinkAttempt};
use crate::ofauth::{ConnectionCheck, Lookup, OfAuthClient, OfAuthError};
use crate::store::{Store, StoreError};
use crate::time::epoch;

/// What a returned connection was verified to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The account's whole profile as OFAuth's `access/self` gave it, when it is
    /// in hand (`None`: a returned attempt that was not attested, whose profile
    /// was not kept).
    pub account: Option<AccountProfile>,
    /// OFAuth attested that this attempt produced it (or it is already this
    /// user's: a reconnect).
    pub attested: bool,
    /// The connections list was searched just now (no need to search it again).
    pub(crate) looked_up: bool,
}

impl Verified {
    /// What the callback verified and stored on a returned attempt (the profile
    /// only when it was attested).
    pub fn returned(attempt: &LinkAttempt) -> Self {
        Self {
            account: attempt.attested.then(|| attempt.account.clone()),
            attested: attempt.attested,
            looked_up: false,
        }
    }
}

/// Verifications of one attempt that OFAuth could not answer, at most: each
/// costs up to three OFAuth calls, and anyone can repeat a forged callback.
pub(crate) const MAX_FAILED_VERIFICATIONS: u32 = 10;

/// How a completed attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Bound to the user: usable now.
    Active,
    /// Waiting for OFAuth's attestation until the attempt expires.
    Verifying { verify_by_epoch: i64 },
    /// Bound earlier and expired since (a completion replayed after the
    /// connection changed).
    Expired,
    /// Bound earlier and disconnected (or erased) since.
    Disconnected,
}

/// What OFAuth's attestation says of an attempt and a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    ThisAttempt,
    Elsewhere,
    Unknown,
}

impl Origin {
    /// What the record says: the attempt a signed webhook (or the list, through
    /// the reconciler) attested as the connection's origin, if any.
    fn on_record(attested: Option<&str>, attempt: &LinkAttempt) -> Self {
        match attested {
            Some(a) if a == attempt.id.as_str() => Self::ThisAttempt,
            Some(_) => Self::Elsewhere,
            None => Self::Unknown,
        }
    }
}

/// The account OFAuth shows against the one a connection is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountVerdict {
    /// The same account (or, for a connection nobody owns yet, one with an id).
    Same,
    /// Another OnlyFans account: a swap.
    Other,
    /// An id missing on either side: nothing vouches for it.
    Unknown,
}

/// Compares the account OFAuth shows (`seen`) with the one the connection is
/// bound to: a reconnect's expected account, else the record's (`bound`; the
/// record is the user's when `owned`). A connection nobody owns yet needs only
/// an id on OFAuth's side.
fn account_verdict(
    attempt: &LinkAttempt,
    owned: bool,
    bound: Option<&str>,
    seen: &AccountProfile,
) -> AccountVerdict {
    let expected = attempt.expected_account.as_deref().or(bound);
    let fixed = owned || attempt.reconnect.is_some();
    match (expected, seen.id.as_deref()) {
        (_, None) => AccountVerdict::Unknown,
        (Some(e), Some(s)) if e != s => AccountVerdict::Other,
        (Some(_), Some(_)) => AccountVerdict::Same,
        (None, Some(_)) if fixed => AccountVerdict::Unknown,
        (None, Some(_)) => AccountVerdict::Same,
    }
}

/// The checks and the binding, shared by the callback and the completion call.
#[derive(Debug, Clone)]
pub struct Provenance {
    store: Store,
    ofauth: OfAuthClient,
    /// The connections list search: items per page, pages at most.
    list: ListSearch,
}

impl Provenance {
    pub fn new(list: ListSearch, store: Store, ofauth: OfAuthClient) -> Self {
        Self {
            store,
            ofauth,
            list,
        }
    }

    /// Ends the attempt and refuses. When the end cannot be written, the refusal
    /// stands (the attempt expires by itself); when the store is down, the user is
    /// told to retry instead.
    async fn refuse(
        &self,
        attempt: &LinkAttempt,
        end: AttemptEnd,
        refusal: Refusal,
        now: SystemTime,
    ) -> Refusal {
        match self.store.end_attempt(attempt, &end, now).await {
            Ok(()) | Err(StoreError::AttemptNotUsable) => refusal,
            Err(e) => e.into(),
        }
    }

    /// Ends the attempt as failed with `code`, and refuses with it.
    async fn fail(
        &self,
        attempt: &LinkAttempt,
        code: RefusalCode,
        severity: Severity,
        reason: String,
        now: SystemTime,
    ) -> Refusal {
        let end = AttemptEnd::Failed {
            error_code: code.as_str().into(),
        };
        let refusal = Refusal::new(code, severity, reason);
        self.refuse(attempt, end, refusal, now).await
    }

    /// Checks a connection an attempt came back with: not another user's, live at
    /// OFAuth, for a reconnect the same connection and account, and for a new
    /// connection produced by this attempt as far as OFAuth attests it now.
    /// DynamoDB first (a conflict costs no OFAuth call), then OFAuth's
    /// `access/self` and the list search at the same time.
    pub async fn verify(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        now: SystemTime,
    ) -> Result<Verified, Refusal> {
        let record = self.store.get_connection(connection).await?;
        self.verify_read(attempt, connection, record, now).await
    }

    /// [`Self::verify`] on the connection's record as just read (the callback
    /// reads it with the attempt, in one request).
    /// Verifications OFAuth could not answer are counted on the attempt and
    /// bounded ([`MAX_FAILED_VERIFICATIONS`]).
    pub(crate) async fn verify_read(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        record: Option<ConnectionRecord>,
        now: SystemTime,
    ) -> Result<Verified, Refusal> {
        if attempt.failed_verifications >= MAX_FAILED_VERIFICATIONS {
            let reason = format!(
                "{} verifications OFAuth could not answer; the attempt ends",
                attempt.failed_verifications
            );
            let code = RefusalCode::TooManyVerifications;
            return Err(self.fail(attempt, code, Severity::Warn, reason, now).await);
        }
        let verified = self.check(attempt, connection, record, now).await;
        if let Err(r) = &verified {
            if r.code == RefusalCode::TemporarilyUnavailable {
                if let Err(e) = self.store.count_failed_verification(attempt).await {
                    tracing::warn!(attempt = ?attempt.id, error = %e, "counting a failed verification failed");
                }
            }
        }
        verified
    }

    async fn check(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        record: Option<ConnectionRecord>,
        now: SystemTime,
    ) -> Result<Verified, Refusal> {
        if let Some(target) = attempt.reconnect.as_ref().filter(|t| *t != connection) {
            let reason = format!(
                "reconnect of {} came back with {}",
                target.masked(),
                connection.masked()
            );
            let code = RefusalCode::ConnectionMismatch;
            return Err(self
                .fail(attempt, code, Severity::Security, reason, now)
                .await);
        }
        if record
            .as_ref()
            .is_some_and(|r| r.is_owned_by_another(&attempt.user_id))
        {
            let reason = format!(
                "{} is recorded for another user (a replayed or leaked id?)",
                connection.masked()
            );
            let code = RefusalCode::ConnectionConflict;
            return Err(self
                .fail(attempt, code, Severity::Security, reason, now)
                .await);
        }
        let owned = record
            .as_ref()
            .is_some_and(|r| r.is_owned_by(&attempt.user_id));
        // The owner's own connection (a reconnect) may name an earlier attempt.
        let from_webhook = match Origin::on_record(
            record.as_ref().and_then(|r| r.attested_attempt.as_deref()),
            attempt,
        ) {
            Origin::Elsewhere if owned => Origin::Unknown,
            origin => origin,
        };
        // A reconnect, too, counts as done only once OFAuth attests that this
        // very attempt re-authenticated the connection.
        let search = from_webhook == Origin::Unknown;
        let (check, lookup) = tokio::join!(self.ofauth.check_connection(connection), async {
            if search {
                Some(self.search(attempt, connection).await.0)
            } else {
                None
            }
        });
        let account = match check {
            Ok(ConnectionCheck::Authenticated(account)) => account,
            Ok(ConnectionCheck::NotAuthenticated | ConnectionCheck::Unknown) => {
                let reason = format!(
                    "OFAuth does not confirm {}; nothing recorded",
                    connection.masked()
                );
                let code = RefusalCode::ConnectionNotVerified;
                return Err(self.fail(attempt, code, Severity::Warn, reason, now).await);
            }
            Err(e) => {
                return Err(Refusal::unavailable(format_args!(
                    "confirming the connection with OFAuth failed: {e}"
                )))
            }
        };
        // A reconnect (or the same connection again) of a connection already
        // this user's: it must still be the same OnlyFans account.
        let bound = record
            .as_ref()
            .filter(|_| owned)
            .and_then(|r| r.account.id.as_deref());
        match account_verdict(attempt, owned, bound, &account) {
            AccountVerdict::Same => {}
            AccountVerdict::Other => {
                return Err(self
                    .account_mismatch(attempt, connection, account.id.as_deref(), now)
                    .await)
            }
            AccountVerdict::Unknown => {
                return Err(self.unknown_account(attempt, connection, now).await)
            }
        }
        let origin = match (from_webhook, lookup) {
            (Origin::Unknown, Some(found)) => found,
            (origin, _) => origin,
        };
        // An earlier attempt of the owner's is no one else's origin.
        let origin = match origin {
            Origin::Elsewhere if owned => Origin::Unknown,
            origin => origin,
        };
        if origin == Origin::Elsewhere {
            return Err(self.attested_elsewhere(attempt, connection, now).await);
        }
        Ok(Verified {
            account: Some(account),
            attested: origin == Origin::ThisAttempt,
            looked_up: search,
        })
    }

    /// OFAuth's answer names no account id, or the connection is bound to
    /// none: nothing can vouch for whose account it is, so nothing is written
    /// and the attempt fails (no leg fails open).
    async fn unknown_account(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        now: SystemTime,
    ) -> Refusal {
        let reason = format!(
            "no account id to compare for {} (OFAuth's answer or the bound record lacks one); nothing recorded",
            connection.masked()
        );
        let code = RefusalCode::ConnectionNotVerified;
        self.fail(attempt, code, Severity::Warn, reason, now).await
    }

    /// OFAuth attests that another origin (another attempt, an import) made the
    /// connection: the attempt fails, as a security event.
    async fn attested_elsewhere(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        now: SystemTime,
    ) -> Refusal {
        let reason = format!(
            "OFAuth attests that {} came from another origin (another attempt or an import)",
            connection.masked()
        );
        self.fail(
            attempt,
            RefusalCode::ConnectionNotVerified,
            Severity::Security,
            reason,
            now,
        )
        .await
    }

    /// A reconnect signed in to another OnlyFans account: refused, the
    /// connection invalidated at OFAuth, since it now holds an account its owner
    /// did not have (a victim's, when a reconnect link was sent to someone), and
    /// the owner's record marked expired (its owner and profile kept), so that
    /// nothing uses it with that account even when the invalidation fails.
    async fn account_mismatch(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        seen: Option<&str>,
        now: SystemTime,
    ) -> Refusal {
        let invalidated = self.ofauth.invalidate_connection(connection).await;
        if let Err(e) = &invalidated {
            tracing::error!(connection = %connection.masked(), error = %e, "invalidating a connection that changed account failed; the reconciler tries again");
        }
        // One swap is one security event, whichever leg of it comes first: when
        // this attempt's webhook already recorded it, this refusal repeats it.
        let first = match self
            .store
            .expire_swapped(connection, &attempt.user_id, &attempt.id, seen, now)
            .await
        {
            Ok(first) => first,
            Err(e) => {
                tracing::error!(connection = %connection.masked(), error = %e, "marking a connection that changed account expired failed");
                true
            }
        };
        let refusal = Refusal::new(
            RefusalCode::AccountMismatch,
            if first {
                Severity::Security
            } else {
                Severity::Warn
            },
            format!(
                "{} came back signed in to another account than the one bound to it; invalidated at OFAuth: {}",
                connection.masked(),
                invalidated.is_ok()
            ),
        );
        self.refuse(
            attempt,
            AttemptEnd::Refused {
                error_code: RefusalCode::AccountMismatch.as_str().into(),
            },
            refusal,
            now,
        )
        .await
    }

    /// A success return naming a reconnect attempt that is no longer pending
    /// (completed early, waiting, ended by a forged cancel, returned in another
    /// browser): OFAuth is asked whose account its connection holds now, at
    /// most [`crate::store::MAX_RECONNECT_CHECKS`] times per attempt (a replayed URL must not
    /// spend OFAuth's limits); another account than the one bound to it is
    /// refused as at every leg. A check OFAuth cannot answer is left to the
    /// reconciler's own check of every reconnect.
    pub async fn recheck_reconnect(
        &self,
        attempt: &LinkAttempt,
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let Some(target) = &attempt.reconnect else {
            return Ok(());
        };
        if !self.store.count_reconnect_check(attempt).await? {
            tracing::info!(attempt = ?attempt.id, "a reconnect's returns were checked often enough; the reconciler checks it on its own");
            return Ok(());
        }
        let Some(record) = self
            .store
            .get_connection(target)
            .await?
            .filter(|r| r.is_owned_by(&attempt.user_id))
        else {
            return Ok(()); // nothing of its owner's is on it any more
        };
        let account = match self.ofauth.check_connection(target).await {
            Ok(ConnectionCheck::Authenticated(account)) => account,
            Ok(ConnectionCheck::NotAuthenticated | ConnectionCheck::Unknown) => return Ok(()),
            Err(e) => {
                tracing::warn!(connection = %target.masked(), error = %e, "checking a reconnect's connection failed; the reconciler checks it");
                return Ok(());
            }
        };
        let bound = record.account.id.as_deref();
        match account_verdict(attempt, true, bound, &account) {
            AccountVerdict::Other => Err(self
                .account_mismatch(attempt, target, account.id.as_deref(), now)
                .await),
            AccountVerdict::Same | AccountVerdict::Unknown => Ok(()),
        }
    }

    /// Disconnects a connection at OFAuth (billing stops).
    pub async fn disconnect(&self, connection: &ConnectionId) -> Result<(), OfAuthError> {
        self.ofauth.delete_connection(connection).await.map(|_| ())
    }

    /// The connections list, searched newest first within the page cap: the
    /// origin, and the account's profile when the entry attests this attempt. A
    /// failed search attests nothing either way.
    async fn search(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
    ) -> (Origin, Option<AccountProfile>) {
        match self
            .ofauth
            .find_connection(connection, self.list.page_size, self.list.max_pages)
            .await
        {
            Ok(Lookup::Found(c))
                if c.client_reference_id.as_deref() == Some(attempt.id.as_str()) =>
            {
                (Origin::ThisAttempt, c.user_data)
            }
            Ok(Lookup::Found(_)) => (Origin::Elsewhere, None),
            Ok(Lookup::NotFound { .. }) => (Origin::Unknown, None),
            Err(e) => {
                tracing::warn!(connection = %connection.masked(), error = %e, "searching OFAuth's connections list failed; attestation unknown");
                (Origin::Unknown, None)
            }
        }
    }

    /// Completes an attempt its user finished: binds the connection when OFAuth
    /// has attested it (now, or since the callback), or leaves the attempt
    /// verifying until an attestation arrives.
    pub async fn finish(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        verified: &Verified,
        now: SystemTime,
    ) -> Result<Finished, Refusal> {
        let from = [AttemptStatus::Pending, AttemptStatus::Returned];
        let mut attested = verified.attested;
        let mut profile = verified.account.clone();
        // A connection the user's list already shows (a reconnect) is not
        // listed a second time while it waits.
        let mut listed = attempt.reconnect.is_none();
        if !attested {
            let record = self.store.get_connection(connection).await?;
            let owned = record
                .as_ref()
                .is_some_and(|r| r.is_owned_by(&attempt.user_id));
            if owned {
                listed = false;
            }
            let origin = match Origin::on_record(
                record.as_ref().and_then(|r| r.attested_attempt.as_deref()),
                attempt,
            ) {
                Origin::ThisAttempt => Origin::ThisAttempt,
                Origin::Elsewhere if !owned => Origin::Elsewhere,
                _ if verified.looked_up => Origin::Unknown,
                _ => {
                    let (origin, found) = self.search(attempt, connection).await;
                    profile = profile.or(found);
                    origin
                }
            };
            // An earlier attempt of the owner's is no one else's origin.
            let origin = match origin {
                Origin::Elsewhere if owned => Origin::Unknown,
                origin => origin,
            };
            if origin == Origin::Elsewhere {
                return Err(self.attested_elsewhere(attempt, connection, now).await);
            }
            attested = origin == Origin::ThisAttempt;
        }
        if !attested {
            match self
                .store
                .verify_later(attempt, connection, listed, now)
                .await
            {
                Ok(()) => {
                    return Ok(Finished::Verifying {
                        verify_by_epoch: attempt.expires_at_epoch,
                    })
                }
                // Attested for this attempt since it was read (or a retried write
                // that committed): decide on what the table holds now.
                Err(StoreError::AttemptNotUsable) => {
                    return match self.store.get_attempt(&attempt.id).await? {
                        Some(a) if a.status == AttemptStatus::Verifying => {
                            Ok(Finished::Verifying {
                                verify_by_epoch: a.expires_at_epoch,
                            })
                        }
                        Some(a) if a.status == AttemptStatus::Completed => Ok(Finished::Active),
                        Some(a) if from.contains(&a.status) => {
                            self.bind(&a, connection, profile.as_ref(), now).await
                        }
                        _ => Err(StoreError::AttemptNotUsable.into()),
                    };
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.bind(attempt, connection, profile.as_ref(), now).await
    }

    /// Binds, on the record as it is now (read again when another write came
    /// in between).
    async fn bind(
        &self,
        attempt: &LinkAttempt,
        connection: &ConnectionId,
        account: Option<&AccountProfile>,
        now: SystemTime,
    ) -> Result<Finished, Refusal> {
        let from = [AttemptStatus::Pending, AttemptStatus::Returned];
        for _ in 0..3 {
            let seen = self.store.get_connection(connection).await?;
            // The record is this user's already (a reconnect, or a webhook that
            // came first): never with another account than the one bound to it.
            let owned = seen
                .as_ref()
                .is_some_and(|r| r.is_owned_by(&attempt.user_id));
            let bound = seen
                .as_ref()
                .filter(|_| owned)
                .and_then(|r| r.account.id.as_deref());
            // The account this binding vouches for: OFAuth's answer in hand, else
            // what a signed webhook recorded on the connection.
            let none = AccountProfile::default();
            let vouched = account
                .or(seen.as_ref().map(|r| &r.account))
                .unwrap_or(&none);
            match account_verdict(attempt, owned, bound, vouched) {
                AccountVerdict::Same => {}
                AccountVerdict::Other => {
                    return Err(self
                        .account_mismatch(attempt, connection, vouched.id.as_deref(), now)
                        .await)
                }
                AccountVerdict::Unknown => {
                    return Err(self.unknown_account(attempt, connection, now).await)
                }
            }
            match self
                .store
                .bind_connection(
                    attempt,
                    &from,
                    connection,
                    account,
                    true,
                    seen.as_ref(),
                    now,
                )
                .await
            {
                Ok(()) => return Ok(Finished::Active),
                Err(StoreError::ConnectionChanged) => continue,
                Err(StoreError::ConnectionOwnedByAnotherUser) => {
                    let refusal = Refusal::new(
                        RefusalCode::ConnectionConflict,
                        Severity::Security,
                        format!(
                            "{} was bound to another user meanwhile",
                            connection.masked()
                        ),
                    );
                    let end = AttemptEnd::Failed {
                        error_code: RefusalCode::ConnectionConflict.as_str().into(),
                    };
                    return Err(self.refuse(attempt, end, refusal, now).await);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refusal::unavailable(format_args!(
            "{} kept changing while it was bound",
            connection.masked()
        )))
    }

    /// Whether an attempt can still be completed at `now` (`session_expired`
    /// when not).
    pub fn usable(attempt: &LinkAttempt, now: SystemTime) -> Result<(), Refusal> {
        if attempt.is_expired(epoch(now)) {
            return Err(Refusal::new(
                RefusalCode::SessionExpired,
                Severity::Info,
                "attempt expired",
            ));
        }
        Ok(())
    }
}
