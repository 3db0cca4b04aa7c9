//! Item mapping: attribute values in and out, and the one place that writes a
//! connection item's attributes ([`connection_update`], [`state_update`]), shared
//! by the callback's record, the webhook's events and the disconnect.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update as TransactUpdate};

use super::{keys, schema, StoreError};
use crate::ids::{AttemptId, ConnectionId};
use crate::ofauth::AccountProfile;

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
    pub fn set_if_absent(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(attr, v));
        self.set
            .push(format!("{name} = if_not_exists({name}, {value})"));
        self
    }

    pub fn remove(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        self.remove.push(name);
        self
    }

    pub fn expression(&self) -> String {
        let mut expr = String::new();
        if !self.set.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            if !expr.is_empty() {
                expr.push(' ');
            }
            expr.push_str("REMOVE ");
            expr.push_str(&self.remove.join(", "));
        }
        expr
    }

    /// This update of the item `pk`, under `condition`, as one item of a transaction.
    pub fn transact(
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
    pub fn apply(
        self,
        req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        req.update_expression(self.expression())
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
    }
}

/// What to do with a profile field the writer does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MissingProfile {
    /// The writer saw the whole profile (OFAuth's `access/self`): drop stale fields.
    Remove,
    /// The writer saw part of it (a webhook): keep what the record has.
    Keep,
}

/// A connection item as the callback and the webhook both write it.
#[derive(Debug)]
pub(crate) struct ConnectionWrite<'a> {
    pub connection: &'a ConnectionId,
    pub user_id: &'a str,
    pub status: &'a str,
    pub account: &'a AccountProfile,
    pub missing_profile: MissingProfile,
    /// The write's place in the record's history (Unix milliseconds).
    pub event_at_ms: i64,
    /// The attempt that produced this write, when one did.
    pub attempt: Option<&'a AttemptId>,
    pub now: &'a str,
}

/// The connection item's attributes: owner, status, times, index keys and profile.
pub(crate) fn connection_update(w: &ConnectionWrite) -> Update {
    let mut u = Update::default();
    u.set("entity", s("connection"))
        .set("connectionId", s(w.connection.as_str()))
        .set("userId", s(w.user_id))
        .set("status", s(w.status))
        .set("updatedAt", s(w.now))
        .set_if_absent("connectedAt", s(w.now))
        .set(schema::USER_INDEX_PARTITION_KEY, s(keys::user(w.user_id)))
        .set_if_absent(schema::USER_INDEX_SORT_KEY, s(w.now))
        .set("lastEventAt", n(w.event_at_ms));
    if let Some(a) = w.attempt {
        u.set("lastAttemptId", s(a.as_str()));
    }
    for (attr, value) in [
        ("accountId", &w.account.id),
        ("username", &w.account.username),
        ("name", &w.account.name),
        ("avatar", &w.account.avatar),
    ] {
        match (value, w.missing_profile) {
            (Some(v), _) => {
                u.set(attr, s(v));
            }
            (None, MissingProfile::Remove) => {
                u.remove(attr);
            }
            (None, MissingProfile::Keep) => {}
        }
    }
    u
}

/// A connection's status change (expired, disconnected), stamped with its time; a
/// disconnected connection also leaves its user's list (the `byUser` index).
pub(crate) fn state_update(status: &str, now: &str, event_at_ms: i64) -> Update {
    let mut u = Update::default();
    u.set("status", s(status))
        .set("updatedAt", s(now))
        .set("lastEventAt", n(event_at_ms));
    if status == "disconnected" {
        u.remove(schema::USER_INDEX_PARTITION_KEY)
            .remove(schema::USER_INDEX_SORT_KEY);
    }
    u
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

    #[test]
    fn whole_profile_writes_remove_missing_fields() {
        let conn = ConnectionId::parse("conn_1").unwrap();
        let account = AccountProfile {
            username: Some("u".into()),
            ..AccountProfile::default()
        };
        let mut w = ConnectionWrite {
            connection: &conn,
            user_id: "user-1",
            status: "active",
            account: &account,
            missing_profile: MissingProfile::Remove,
            event_at_ms: 1,
            attempt: None,
            now: "2026-11-23T10:00:00Z",
        };
        let expr = connection_update(&w).expression();
        assert!(expr.contains("REMOVE #accountId, #name, #avatar"), "{expr}");
        w.missing_profile = MissingProfile::Keep;
        assert!(!connection_update(&w).expression().contains("REMOVE"));
        assert!(state_update("disconnected", "t", 1)
            .expression()
            .ends_with("REMOVE #gsi1pk, #gsi1sk"));
        assert!(!state_update("expired", "t", 1)
            .expression()
            .contains("REMOVE"));
    }
}
