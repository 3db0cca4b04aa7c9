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

/// An id OFAuth sends as a string or a number.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}
