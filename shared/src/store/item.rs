//! Item mapping: attribute values in and out, the model's types read from
//! their items ([`read_attempt`], [`read_record`]), and the one place that
//! writes a connection item's attributes ([`connection_update`]), shared by the
//! completion's binding, OFAuth's sightings and the disconnect.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update as TransactUpdate};

use super::error::StoreError;
use super::{keys, schema};
use crate::ids::{AttemptId, ConnectionId};
use crate::model::{
    AccountProfile, AttemptStatus, ChangeCause, ConnectionRecord, ConnectionStatus, LinkAttempt,
};

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn req_s<'a>(item: &'a Item, k: &str) -> Result<&'a str, StoreError> {
    get_s(item, k).ok_or_else(|| StoreError::Corrupt(format!("missing {k}")))
}

pub(crate) fn get_n(item: &Item, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// An update expression built attribute by attribute. Every attribute name goes
/// through a `#name` placeholder (so reserved words such as `status` and `name`
/// need no special care) and every value through a `:name` placeholder.
#[derive(Debug, Default)]
pub(crate) struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    /// The placeholder for an attribute name (for conditions too).
    pub fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    /// A value placeholder `:key` (for conditions too).
    pub fn value(&mut self, key: &str, v: AttributeValue) -> String {
        let placeholder = format!(":{key}");
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(attr, v));
        self.set.push(format!("{name} = {value}"));
        self
    }

    /// Sets the attribute only when the item does not have it yet.
    pub(crate) fn set_if_absent(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(attr, v));
        self.set
            .push(format!("{name} = if_not_exists({name}, {value})"));
        self
    }

    /// Adds one to a counter attribute (0 when absent).
    pub fn increment(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        let zero = self.value("zero", n(0));
        let one = self.value("one", n(1));
        self.set
            .push(format!("{name} = if_not_exists({name}, {zero}) + {one}"));
        self
    }

    pub fn remove(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        self.remove.push(name);
        self
    }

    /// Adds `v`'s members to a set attribute (created when absent).
    pub(crate) fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(attr, v));
        self.add.push(format!("{name} {value}"));
        self
    }

    pub(crate) fn expression(&self) -> String {
        let mut clauses = Vec::new();
        for (word, parts) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
        ] {
            if !parts.is_empty() {
                clauses.push(format!("{word} {}", parts.join(", ")));
            }
        }
        clauses.join(" ")
    }

    /// This update of the item `pk`, under `condition`, as one item of a transaction.
    pub(crate) fn transact(
        self,
        table: &str,
        pk: String,
        condition: &str,
    ) -> Result<TransactUpdate, StoreError> {
        TransactUpdate::builder()
            .table_name(table)
            .key(schema::PARTITION_KEY, s(pk))
            .update_expression(self.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// This update applied to an `UpdateItem` request.
    pub(crate) fn apply(
        self,
        req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        req.update_expression(self.expression())
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
    }
}

/// An `ATTEMPT#` item's attempt.
pub(crate) fn read_attempt(item: &Item) -> Result<LinkAttempt, StoreError> {
    let id = AttemptId::parse(req_s(item, "attemptId")?)
        .ok_or_else(|| StoreError::Corrupt("attemptId".into()))?;
    let status = AttemptStatus::parse(req_s(item, "status")?)
        .ok_or_else(|| StoreError::Corrupt("attempt status".into()))?;
    Ok(LinkAttempt {
        id,
        // An erased attempt keeps no user.
        user_id: get_s(item, "userId").unwrap_or_default().to_string(),
        reconnect: get_s(item, "reconnectConnectionId").and_then(ConnectionId::parse),
        expected_account: get_s(item, "expectedAccountId").map(str::to_string),
        created_at: req_s(item, "createdAt")?.to_string(),
        // An attempt an earlier release stored has only the whole second.
        created_ms: get_n(item, "createdAtMs")
            .or_else(|| crate::time::parse_rfc3339_ms(req_s(item, "createdAt").ok()?))
            .unwrap_or(0),
        expires_at: req_s(item, "expiresAt")?.to_string(),
        expires_at_epoch: get_n(item, "expiresAtEpoch")
            .ok_or_else(|| StoreError::Corrupt("expiresAtEpoch".into()))?,
        status,
        connection: get_s(item, "connectionId").and_then(ConnectionId::parse),
        account: profile_from_item(item),
        attested: item
            .get("attested")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        code_hash: get_s(item, "codeHash").map(str::to_string),
        code_expires_epoch: get_n(item, "codeExpiresAt"),
        start_hash: get_s(item, "startHash").map(str::to_string),
        browser_hash: get_s(item, "browserHash").map(str::to_string),
        returned_to_starter: item
            .get("returnedToStarter")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        failed_verifications: get_n(item, "failedVerifications")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        reconnect_checks: get_n(item, "reconnectChecks")
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        verifying_at: get_s(item, "verifyingAt").map(str::to_string),
    })
}

/// A `CONNECTION#` item's record.
pub(crate) fn read_record(item: &Item) -> Result<ConnectionRecord, StoreError> {
    let id = ConnectionId::parse(req_s(item, "connectionId")?)
        .ok_or_else(|| StoreError::Corrupt("connectionId".into()))?;
    let updated_at = req_s(item, "updatedAt")?.to_string();
    Ok(ConnectionRecord {
        id,
        user_id: get_s(item, "userId").map(str::to_string),
        status: ConnectionStatus::parse(req_s(item, "status")?),
        account: profile_from_item(item),
        connected_at: get_s(item, "connectedAt")
            .map(str::to_string)
            .unwrap_or_else(|| updated_at.clone()),
        updated_at,
        attested_attempt: get_s(item, "attestedAttemptId").map(str::to_string),
        version: get_n(item, "version").unwrap_or(0),
        last_event_at: get_n(item, "lastEventAt"),
        last_event_rank: get_n(item, "lastEventRank")
            .and_then(|r| u8::try_from(r).ok())
            .unwrap_or(0),
        missing_sweep: get_n(item, "missingSweep"),
        disconnect_requested: get_s(item, "disconnectRequestedBy")
            .and_then(ChangeCause::parse)
            .zip(get_n(item, "disconnectRequestedAt")),
        change_cause: get_s(item, "changeCause").and_then(ChangeCause::parse),
        swap_attempt: get_s(item, "swapAttemptId").map(str::to_string),
        swap_account: get_s(item, "swapAccountHash").map(str::to_string),
        invalidate_requested: get_s(item, "invalidateRequested").map(str::to_string),
    })
}

/// The connected account's fields on an item (attempt or connection).
pub(crate) fn profile_from_item(item: &Item) -> AccountProfile {
    let owned = |k: &str| get_s(item, k).map(str::to_string);
    AccountProfile {
        id: owned("accountId"),
        username: owned("username"),
        name: owned("name"),
        avatar: owned("avatar"),
    }
}

/// Writes the account's fields. `whole`: the writer saw the whole profile
/// (OFAuth's `access/self`), so a field it lacks is removed; otherwise (a
/// webhook's partial view) the item keeps what it has.
pub(crate) fn set_profile(u: &mut Update, account: &AccountProfile, whole: bool) {
    for (attr, value) in [
        ("accountId", &account.id),
        ("username", &account.username),
        ("name", &account.name),
        ("avatar", &account.avatar),
    ] {
        match value {
            Some(v) => {
                u.set(attr, s(v));
            }
            None if whole => {
                u.remove(attr);
            }
            None => {}
        }
    }
}

/// One write to a connection item: the one place its attributes are written, by
/// the callback and completion (binding), the webhook (attestation, state,
/// binding) and the disconnect (state). Every write bumps `version`, which the
/// webhook's read-decide-write checks.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnectionWrite<'a> {
    /// Bind the connection to this user: owner, first-connected time, list index.
    pub owner: Option<&'a str>,
    /// A new status, and its place in OFAuth's order if it came from OFAuth.
    pub state: Option<StateWrite>,
    /// The account as reported, and whether it is the whole profile.
    pub account: Option<(&'a AccountProfile, bool)>,
    /// OFAuth attested that this attempt produced the connection.
    pub(crate) attested_by: Option<&'a AttemptId>,
    /// The attempt that last bound or re-authenticated it.
    pub(crate) last_attempt: Option<&'a AttemptId>,
    /// Why it changed (`changeCause`, which the platform's events carry).
    pub cause: Option<ChangeCause>,
    /// With [`ChangeCause::AccountMismatch`]: the attempt that showed the
    /// other account (`swapAttemptId`; removed when the leg named none).
    pub(crate) swap_attempt: Option<&'a str>,
    /// With [`ChangeCause::AccountMismatch`]: the other account the swap
    /// showed (kept as its digest).
    pub(crate) swap_account: Option<&'a str>,
    /// Asks the stream's remedy (the publisher) to invalidate the connection
    /// at OFAuth, once (`invalidateRequested`: this id), for a leg that does not
    /// hold the API key (the webhook).
    pub(crate) invalidate: Option<&'a str>,
}

/// A status to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateWrite {
    pub status: ConnectionStatus,
    /// OFAuth's event time (Unix milliseconds) and tie-break rank, recorded as the
    /// record's `lastEventAt`/`lastEventRank`. `None` (this service's own
    /// confirmation, or an event without a time of its own) leaves them as they
    /// were: only OFAuth's clock orders OFAuth's events.
    pub order: Option<(i64, u8)>,
}

impl StateWrite {
    /// A status this service confirmed itself (a binding, a disconnect).
    pub(crate) fn confirmed(status: ConnectionStatus) -> Self {
        Self {
            status,
            order: None,
        }
    }
}

/// The update for a [`ConnectionWrite`] on `connection` at `now`.
pub(crate) fn connection_update(
    connection: &ConnectionId,
    w: &ConnectionWrite,
    now: &str,
) -> Update {
    let mut u = Update::default();
    u.set("entity", s("connection"))
        .set(schema::ITEM_FORMAT_ATTRIBUTE, n(schema::ITEM_FORMAT))
        .set("connectionId", s(connection.as_str()))
        .set("updatedAt", s(now))
        .increment("version");
    let disconnected = w
        .state
        .as_ref()
        .is_some_and(|st| st.status == ConnectionStatus::Disconnected);
    if let Some(owner) = w.owner {
        u.set("userId", s(owner))
            .set_if_absent("connectedAt", s(now))
            .set(schema::USER_INDEX_PARTITION_KEY, s(keys::user(owner)));
        if !disconnected {
            u.set_if_absent(schema::USER_INDEX_SORT_KEY, s(now));
        }
    }
    if let Some(st) = &w.state {
        u.set("status", s(st.status.as_str()));
        if let Some((at_ms, rank)) = st.order {
            u.set("lastEventAt", n(at_ms))
                .set("lastEventRank", n(i64::from(rank)));
        }
        if disconnected {
            // Out of the user's list (whose key condition stops before `~`),
            // still under the user for an erasure.
            u.set(schema::USER_INDEX_SORT_KEY, s(keys::gone(now)));
        }
    }
    if let Some((account, whole)) = w.account {
        set_profile(&mut u, account, whole);
    }
    if let Some(a) = w.attested_by {
        u.set("attestedAttemptId", s(a.as_str()))
            .set("attestedAt", s(now));
    }
    if let Some(a) = w.last_attempt {
        u.set("lastAttemptId", s(a.as_str()));
    }
    if let Some(id) = w.invalidate {
        u.set("invalidateRequested", s(id));
    }
    if let Some(cause) = w.cause {
        u.set("changeCause", s(cause.as_str()));
        // The attempt that showed a swap stays on the record through every
        // later write (a leg that names no attempt, the reconciler's look,
        // OFAuth's report of the invalidation): only a swap shown by another
        // attempt replaces it, so that swap is counted as new and a repeat
        // as a repeat (`ConnectionRecord::holds_swap`).
        if let (ChangeCause::AccountMismatch, Some(a)) = (cause, w.swap_attempt) {
            u.set("swapAttemptId", s(a));
        }
        if let (ChangeCause::AccountMismatch, Some(a)) = (cause, w.swap_account) {
            u.set("swapAccountHash", s(crate::model::account_digest(a)));
        }
    }
    // The owner's binding (a completion, or a reconnect OFAuth attests, with
    // the account bound to it) undoes a swap: a later one is a new one.
    if w.owner.is_some() && w.state.as_ref().is_some_and(|st| st.status.is_live()) {
        u.remove("swapAttemptId").remove("swapAccountHash");
    }
    u
}

/// The condition that the record is still the one read: absent, or at the same
/// `version`. Registers its placeholders on `u`.
pub(crate) fn unchanged_since(u: &mut Update, record: Option<&ConnectionRecord>) -> String {
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

    #[test]
    fn expressions_use_placeholders_for_every_name() {
        let mut u = Update::default();
        u.set("status", s("active"))
            .set_if_absent("connectedAt", s("t"))
            .remove("name");
        assert_eq!(
            u.expression(),
            "SET #status = :status, #connectedAt = if_not_exists(#connectedAt, :connectedAt) REMOVE #name"
        );
        assert_eq!(u.names.len(), 3);
        assert_eq!(u.values.len(), 2);
    }

    /// Issue 33: a later swap sighting that names no attempt (the reconciler's,
    /// OFAuth's report of the invalidation) keeps the attempt that showed the
    /// swap; one naming another attempt replaces it.
    #[test]
    fn a_swap_mark_is_kept_by_every_later_write() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        for w in [
            ConnectionWrite {
                cause: Some(ChangeCause::AccountMismatch),
                state: Some(StateWrite::confirmed(ConnectionStatus::Expired)),
                ..ConnectionWrite::default()
            },
            ConnectionWrite {
                cause: Some(ChangeCause::Reconciler),
                ..ConnectionWrite::default()
            },
            ConnectionWrite::default(),
        ] {
            let expr = connection_update(&conn, &w, "t").expression();
            assert!(!expr.contains("swapAttemptId"), "{expr}");
        }
        let w = ConnectionWrite {
            cause: Some(ChangeCause::AccountMismatch),
            swap_attempt: Some("la_2"),
            ..ConnectionWrite::default()
        };
        let u = connection_update(&conn, &w, "t");
        assert!(u.expression().contains("#swapAttemptId = :swapAttemptId"));
        assert!(!u.expression().contains("REMOVE"));
    }

    #[test]
    fn connection_writes() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let account = AccountProfile {
            username: Some("u".into()),
            ..AccountProfile::default()
        };
        let bind = ConnectionWrite {
            owner: Some("user-1"),
            state: Some(StateWrite {
                status: ConnectionStatus::Active,
                order: Some((1, 1)),
            }),
            account: Some((&account, true)),
            ..ConnectionWrite::default()
        };
        let expr = connection_update(&conn, &bind, "t").expression();
        assert!(expr.contains("#gsi1pk = :gsi1pk"), "{expr}");
        assert!(expr.contains("#lastEventAt = :lastEventAt"), "{expr}");
        assert!(expr.contains("REMOVE #accountId, #name, #avatar"), "{expr}");
        let partial = ConnectionWrite {
            account: Some((&account, false)),
            ..ConnectionWrite::default()
        };
        let expr = connection_update(&conn, &partial, "t").expression();
        assert!(
            !expr.contains("REMOVE") && !expr.contains("userId"),
            "{expr}"
        );
        let gone = ConnectionWrite {
            owner: Some("user-1"),
            state: Some(StateWrite::confirmed(ConnectionStatus::Disconnected)),
            ..ConnectionWrite::default()
        };
        let expr = connection_update(&conn, &gone, "t").expression();
        assert!(!expr.contains("lastEventAt"), "our own clock: {expr}");
        // Out of the list (its sort key after `~`), still under the user for
        // an erasure.
        assert!(expr.contains("#gsi1pk = :gsi1pk"), "{expr}");
        assert!(expr.contains("#gsi1sk = :gsi1sk"), "{expr}");
        assert!(
            !expr.contains("REMOVE") && !expr.contains("if_not_exists(#gsi1sk"),
            "{expr}"
        );
    }
}
