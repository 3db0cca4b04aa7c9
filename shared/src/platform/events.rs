//! What a change of the table means to the platform's own services: one event
//! per transition of a connection record (bound, reconnected, expired,
//! disconnected, profile changed) and per erasure, decided from the record's
//! old and new images as the table's change stream carries them. Nothing here
//! reads or writes anything; the publisher sends what this decides.
//!
//! Every event carries a stable `eventId` (the connection id and the record's
//! `version`, which every write of a record bumps; an erasure's marker id), so a
//! consumer deduplicates a retried batch on it. Events never carry the API key,
//! a completion code, or a profile the user erased.

use serde::Serialize;

use crate::model::{ChangeCause, ConnectionStatus};

/// The attributes of an item image, as the stream carries them.
pub(crate) trait Image {
    fn text(&self, attr: &str) -> Option<&str>;
    fn number(&self, attr: &str) -> Option<i64>;
}

impl Image for serde_dynamo::Item {
    fn text(&self, attr: &str) -> Option<&str> {
        match self.get(attr) {
            Some(serde_dynamo::AttributeValue::S(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    fn number(&self, attr: &str) -> Option<i64> {
        match self.get(attr) {
            Some(serde_dynamo::AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
    }
}

/// The kinds of event, one `detail-type` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A connection became a user's (`newStatus` is usually `active`).
    Bound,
    /// Expired, and active again (the user reconnected it).
    Reconnected,
    /// No longer usable until its user reconnects it.
    Expired,
    /// Gone for good (`cause` says who or what disconnected it).
    Disconnected,
    /// The connected account's username, name or avatar changed.
    ProfileChanged,
    /// A user's data was erased (`DELETE /link/me`).
    UserErased,
}

impl Transition {
    pub const ALL: [Transition; 6] = [
        Self::Bound,
        Self::Reconnected,
        Self::Expired,
        Self::Disconnected,
        Self::ProfileChanged,
        Self::UserErased,
    ];

    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::Bound => "Connection Bound",
            Self::Reconnected => "Connection Reconnected",
            Self::Expired => "Connection Expired",
            Self::Disconnected => "Connection Disconnected",
            Self::ProfileChanged => "Connection Profile Changed",
            Self::UserErased => "User Data Erased",
        }
    }

    /// For the metrics' `DetailType` dimension.
    pub(crate) fn metric_label(self) -> &'static str {
        match self {
            Self::Bound => "bound",
            Self::Reconnected => "reconnected",
            Self::Expired => "expired",
            Self::Disconnected => "disconnected",
            Self::ProfileChanged => "profile_changed",
            Self::UserErased => "user_erased",
        }
    }
}

/// One event for the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEvent {
    pub(crate) transition: Transition,
    pub detail: Detail,
}

/// The event's `detail` (the schema: `openapi.yaml`'s `PlatformEventDetail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// Stable across retries: deduplicate on it.
    pub event_id: String,
    /// Absent on `User Data Erased`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The user the connection is (or was) bound to; `null` for one nobody owned.
    pub user_id: Option<String>,
    /// The OnlyFans account; `null` when unknown or erased.
    pub account_id: Option<String>,
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) old_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) new_status: Option<String>,
    /// Why: `completion`, `webhook`, `reconciler`, `user`, `erasure`,
    /// `fixation`, `account_mismatch`.
    pub cause: String,
    /// When the change was written (RFC 3339).
    pub time: String,
    /// The record's version after the change (the erasure marker's: 1).
    pub version: i64,
}

/// The event a change of an item means, if any. `old` is absent for a new item,
/// `new` for a removed one (which never is an event: records are not deleted).
pub(crate) fn from_change<I: Image>(old: Option<&I>, new: Option<&I>) -> Option<PlatformEvent> {
    let new = new?;
    match new.text("entity")? {
        "connection" => connection_change(old, new),
        "erasure" if old.is_none() => Some(PlatformEvent {
            transition: Transition::UserErased,
            detail: Detail {
                event_id: format!("erasure:{}", new.text("pk")?),
                connection_id: None,
                user_id: Some(new.text("userId")?.to_string()),
                account_id: None,
                username: None,
                old_status: None,
                new_status: None,
                cause: ChangeCause::Erasure.as_str().into(),
                time: new.text("erasedAt")?.to_string(),
                version: 1,
            },
        }),
        _ => None,
    }
}

fn connection_change<I: Image>(old: Option<&I>, new: &I) -> Option<PlatformEvent> {
    let text = |i: Option<&I>, a: &str| i.and_then(|i| i.text(a)).map(str::to_string);
    let (old_owner, new_owner) = (text(old, "userId"), text(Some(new), "userId"));
    let status = |i: Option<&I>| {
        i.and_then(|i| i.text("status"))
            .map(ConnectionStatus::parse)
    };
    let (old_status, new_status) = (status(old), status(Some(new))?);
    let moved_to =
        |s: ConnectionStatus| new_status == s && old_status.as_ref() != Some(&new_status);
    let profile = ["username", "name", "avatar"];
    let profile_changed = old.is_some_and(|o| {
        profile
            .iter()
            .any(|a| matches!((o.text(a), new.text(a)), (Some(x), Some(y)) if x != y))
    });
    let transition = match (&old_owner, &new_owner) {
        (None, Some(_)) => Transition::Bound,
        (Some(_), Some(_))
            if old_status == Some(ConnectionStatus::Expired)
                && new_status == ConnectionStatus::Active =>
        {
            Transition::Reconnected
        }
        (Some(_), Some(_)) if moved_to(ConnectionStatus::Expired) => Transition::Expired,
        (_, _) if moved_to(ConnectionStatus::Disconnected) => Transition::Disconnected,
        (Some(_), Some(_)) if old_status.as_ref() == Some(&new_status) && profile_changed => {
            Transition::ProfileChanged
        }
        _ => return None,
    };
    // An erasure took the user and the account off the record: the event names
    // the user (from the old image) and never the erased profile, even when
    // OFAuth's report of the erasure's disconnect landed first.
    let cause = new.text("changeCause").and_then(ChangeCause::parse);
    let erased = new.text("erasedAt").is_some() || cause == Some(ChangeCause::Erasure);
    let (account_id, username) = if erased {
        (None, None)
    } else {
        (text(Some(new), "accountId"), text(Some(new), "username"))
    };
    let connection = new.text("connectionId")?.to_string();
    let version = new.number("version").unwrap_or(0);
    Some(PlatformEvent {
        transition,
        detail: Detail {
            event_id: format!("{connection}:{version}"),
            connection_id: Some(connection),
            user_id: new_owner.or(old_owner),
            account_id,
            username,
            old_status: old_status.map(|s| s.as_str().to_string()),
            new_status: Some(new_status.as_str().to_string()),
            cause: match cause {
                Some(c) => c.as_str(),
                None if erased => ChangeCause::Erasure.as_str(),
                None => "unknown",
            }
            .to_string(),
            time: new.text("updatedAt").unwrap_or_default().to_string(),
            version,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, &'static str>);

    impl Image for Map {
        fn text(&self, attr: &str) -> Option<&str> {
            self.0.get(attr).copied()
        }
        fn number(&self, attr: &str) -> Option<i64> {
            self.0.get(attr)?.parse().ok()
        }
    }

    fn record(pairs: &[(&'static str, &'static str)]) -> Map {
        let mut m: HashMap<&'static str, &'static str> = HashMap::from([
            ("entity", "connection"),
            ("connectionId", "conn_1"),
            ("updatedAt", "2026-11-30T00:00:00Z"),
        ]);
        m.extend(pairs.iter().copied());
        Map(m)
    }

    fn change(old: Option<&Map>, new: &Map) -> Option<Transition> {
        from_change(old, Some(new)).map(|e| e.transition)
    }

    #[test]
    fn each_transition_is_one_event() {
        let attested = record(&[("status", "active"), ("version", "1")]);
        let bound = record(&[
            ("status", "active"),
            ("userId", "u1"),
            ("accountId", "42"),
            ("username", "a"),
            ("version", "2"),
            ("changeCause", "completion"),
        ]);
        let expired = record(&[("status", "expired"), ("userId", "u1"), ("version", "3")]);
        let again = record(&[("status", "active"), ("userId", "u1"), ("version", "4")]);
        let gone = record(&[
            ("status", "disconnected"),
            ("userId", "u1"),
            ("version", "5"),
            ("changeCause", "user"),
        ]);
        // Attested by a webhook, nobody's yet: nothing for the platform.
        assert_eq!(change(None, &attested), None);
        assert_eq!(change(Some(&attested), &bound), Some(Transition::Bound));
        assert_eq!(change(None, &bound), Some(Transition::Bound));
        assert_eq!(change(Some(&bound), &expired), Some(Transition::Expired));
        assert_eq!(
            change(Some(&expired), &again),
            Some(Transition::Reconnected)
        );
        assert_eq!(change(Some(&again), &gone), Some(Transition::Disconnected));
        // A write that changes no status (the retention's scrub, a missing mark,
        // the same state again) is no event.
        assert_eq!(change(Some(&bound), &bound), None);
        assert_eq!(change(Some(&gone), &gone), None);
        let renamed = record(&[
            ("status", "active"),
            ("userId", "u1"),
            ("username", "b"),
            ("version", "6"),
        ]);
        assert_eq!(
            change(Some(&bound), &renamed),
            Some(Transition::ProfileChanged)
        );
        let scrubbed = record(&[("status", "active"), ("userId", "u1"), ("version", "7")]);
        assert_eq!(change(Some(&bound), &scrubbed), None);
        // The ids and the fields.
        let e = from_change(Some(&attested), Some(&bound)).unwrap();
        assert_eq!(e.detail.event_id, "conn_1:2");
        assert_eq!(e.detail.user_id.as_deref(), Some("u1"));
        assert_eq!(e.detail.account_id.as_deref(), Some("42"));
        assert_eq!(e.detail.cause, "completion");
        assert_eq!(e.transition.detail_type(), "Connection Bound");
    }

    #[test]
    fn an_erasure_names_the_user_and_never_the_erased_profile() {
        let live = record(&[
            ("status", "active"),
            ("userId", "u1"),
            ("accountId", "42"),
            ("username", "a"),
            ("version", "3"),
        ]);
        let erased = record(&[
            ("status", "disconnected"),
            ("erasedAt", "2026-11-30T00:00:01Z"),
            ("version", "4"),
        ]);
        let e = from_change(Some(&live), Some(&erased)).unwrap();
        assert_eq!(e.transition, Transition::Disconnected);
        assert_eq!(e.detail.user_id.as_deref(), Some("u1"));
        assert_eq!((e.detail.account_id, e.detail.username), (None, None));
        assert_eq!(e.detail.cause, "erasure");
        let marker = Map(HashMap::from([
            ("entity", "erasure"),
            ("pk", "ERASURE#e1"),
            ("userId", "u1"),
            ("erasedAt", "2026-11-30T00:00:02Z"),
        ]));
        let e = from_change(None, Some(&marker)).unwrap();
        assert_eq!(e.transition, Transition::UserErased);
        assert_eq!(e.detail.event_id, "erasure:ERASURE#e1");
        // Other items (attempts, events, the reconciler's) are no event.
        let attempt = Map(HashMap::from([
            ("entity", "attempt"),
            ("status", "completed"),
        ]));
        assert!(from_change(None, Some(&attempt)).is_none());
        assert!(from_change(Some(&live), None).is_none());
    }
}
