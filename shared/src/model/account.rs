//! The connected OnlyFans account as OFAuth describes it: the OFAuth client
//! reads it (`access/self`, the connections list, webhooks) and the store keeps
//! it on attempts and connection records.

use serde::{Deserialize, Deserializer};

/// The connected account's profile: `GET /v2/access/self`, a listed
/// connection's `userData`, a webhook's `userData`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct AccountProfile {
    /// `id` (docs), `userId` (the v3 SDKs' webhooks).
    #[serde(default, alias = "userId", deserialize_with = "string_or_number")]
    pub id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}

/// An id OFAuth sends as a string or a number. Surrounding whitespace is not
/// part of it, and an empty one is no id (absent, as every leg treats a
/// missing one: nothing vouches either way), never "another account".
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_padded_id_is_read_as_absent_or_trimmed() {
        let id = |v: serde_json::Value| {
            serde_json::from_value::<AccountProfile>(serde_json::json!({ "id": v }))
                .unwrap()
                .id
        };
        assert_eq!(id(serde_json::json!("")), None);
        assert_eq!(id(serde_json::json!("   ")), None);
        assert_eq!(id(serde_json::json!(" 100009")), Some("100009".into()));
        assert_eq!(id(serde_json::json!(100009)), Some("100009".into()));
        assert_eq!(id(serde_json::Value::Null), None);
    }
}
