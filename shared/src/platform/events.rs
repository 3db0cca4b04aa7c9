//! What a change of the table means to the platform's own services: one event
//! per transition of a connection record (bound, reconnected, expired,
//! disconnected, profile changed) and per erasure, decided from the record's
//! old and new images as the table's change stream carries them. Nothing here
//! reads or writes anything; the publisher sends what this decides.
//!
//! Every event carries a stable `eventId` (the connection id and the record's
//! `version`, which every write of a record bumps; an erasure's marker id), so a
//! consumer deduplicates a retried batch on it. Events carry ids, statuses, the
//! cause, the version and the time of the write, and nothing of the connected
//! account (no account id, no username): a platform reads the profile through
//! the read API, which serves nothing of an erased user. So no event, however
//! late or often it is delivered, can hand a consumer back a profile its user
//! erased. A change of a record an erasure already erased is no event.

use serde::Serialize;

use crate::model::{ChangeCause, ConnectionStatus};

/// The attributes of an item image, as the stream carries them.
pub(crate) trait Image {
    fn text(&self, attr: &str) -> Option<&str>;
    fn number(&self, attr: &str) -> Option<i64>;
    /// An erasure marker's `connections`: (connection id, version) each.
    fn erased_connections(&self) -> Vec<(String, i64)> {
        Vec::new()
    }
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

    fn erased_connections(&self) -> Vec<(String, i64)> {
        use serde_dynamo::AttributeValue as A;
        let Some(A::L(list)) = self.get("connections") else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|v| match v {
                A::M(m) => match (m.get("connectionId"), m.get("version")) {
                    (Some(A::S(c)), Some(A::N(v))) => Some((c.clone(), v.parse().ok()?)),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}

/// A table item as the SDK reads it (the replay reads the table itself).
impl Image for std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    fn text(&self, attr: &str) -> Option<&str> {
        self.get(attr)?.as_s().ok().map(String::as_str)
    }

    fn number(&self, attr: &str) -> Option<i64> {
        self.get(attr)?.as_n().ok()?.parse().ok()
    }

    fn erased_connections(&self) -> Vec<(String, i64)> {
        let Some(Ok(list)) = self.get("connections").map(|v| v.as_l()) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|v| {
                let m = v.as_m().ok()?;
                let c = m.get("connectionId")?.as_s().ok()?;
                let version = m.get("version")?.as_n().ok()?.parse().ok()?;
                Some((c.clone(), version))
            })
            .collect()
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
    /// `User Data Erased` only: the connections the erasure erased, each at
    /// its version then (a consumer discards any event of one of them at or
    /// below it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<ErasedConnection>>,
    /// Re-announced from the table's current state (the publisher's replay),
    /// not from the change itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<bool>,
    /// The version of the publisher that sent it (`crate::VERSION`; a replay's:
    /// the version that replayed it). Not part of the event's identity.
    pub service_version: &'static str,
}

/// A connection an erasure erased, and its version then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasedConnection {
    pub connection_id: String,
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
                old_status: None,
                new_status: None,
                cause: ChangeCause::Erasure.as_str().into(),
                time: new.text("erasedAt")?.to_string(),
                version: 1,
                connections: Some(
                    new.erased_connections()
                        .into_iter()
                        .map(|(connection_id, version)| ErasedConnection {
                            connection_id,
                            version,
                        })
                        .collect(),
                ),
                replayed: None,
                service_version: crate::VERSION,
            },
        }),
        _ => None,
    }
}

/// The event that re-announces an item's current state (the replay): a
/// record's status at its version (`Connection Bound` for an active one,
/// `Connection Expired`, `Connection Disconnected`), with the identity its own
/// change had; an erasure marker's `User Data Erased`. An erased record, or one
/// nobody owns and that is not disconnected, is no event.
pub(crate) fn snapshot<I: Image>(item: &I) -> Option<PlatformEvent> {
    let mut event = match item.text("entity")? {
        "erasure" => from_change(None, Some(item))?,
        "connection" => {
            if item.text("erasedAt").is_some() {
                return None;
            }
            let status = ConnectionStatus::parse(item.text("status")?);
            let user = item.text("userId").map(str::to_string);
            let transition = match (&status, &user) {
                (ConnectionStatus::Disconnected, _) => Transition::Disconnected,
                (ConnectionStatus::Expired, Some(_)) => Transition::Expired,
                (ConnectionStatus::Active, Some(_)) => Transition::Bound,
                _ => return None,
            };
            let connection = item.text("connectionId")?.to_string();
            let version = item.number("version").unwrap_or(0);
            PlatformEvent {
                transition,
                detail: Detail {
                    event_id: format!("{connection}:{version}"),
                    connection_id: Some(connection),
                    user_id: user,
                    old_status: None,
                    new_status: Some(status.as_str().to_string()),
                    cause: item
                        .text("changeCause")
                        .and_then(ChangeCause::parse)
                        .map_or("unknown", ChangeCause::as_str)
                        .to_string(),
                    time: item.text("updatedAt").unwrap_or_default().to_string(),
                    version,
                    connections: None,
                    replayed: None,
                    service_version: crate::VERSION,
                },
            }
        }
        _ => return None,
    };
    event.detail.replayed = Some(true);
    Some(event)
}

fn connection_change<I: Image>(old: Option<&I>, new: &I) -> Option<PlatformEvent> {
    // A record an erasure already erased is nobody's: what happens to it after
    // (OFAuth's report of the disconnect, a reconciler's look) is no event.
    if old.is_some_and(|o| o.text("erasedAt").is_some()) {
        return None;
    }
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
    // An erasure took the user off the record: the event names the user (from
    // the old image).
    let cause = new.text("changeCause").and_then(ChangeCause::parse);
    let erased = new.text("erasedAt").is_some() || cause == Some(ChangeCause::Erasure);
    let connection = new.text("connectionId")?.to_string();
    let version = new.number("version").unwrap_or(0);
    Some(PlatformEvent {
        transition,
        detail: Detail {
            event_id: format!("{connection}:{version}"),
            connection_id: Some(connection),
            user_id: new_owner.or(old_owner),
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
            connections: None,
            replayed: None,
            service_version: crate::VERSION,
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
        assert_eq!(e.detail.cause, "completion");
        // Nothing of the account: ids, statuses, cause, version, time.
        let json = serde_json::to_value(&e.detail).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "cause",
                "connectionId",
                "eventId",
                "newStatus",
                "oldStatus",
                "serviceVersion",
                "time",
                "userId",
                "version"
            ]
        );
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
        assert_eq!(e.detail.cause, "erasure");
        // What happens to an erased record after is no event.
        let reported = record(&[
            ("status", "disconnected"),
            ("erasedAt", "2026-11-30T00:00:01Z"),
            ("changeCause", "webhook"),
            ("version", "5"),
        ]);
        assert!(from_change(Some(&erased), Some(&reported)).is_none());
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
