//! Table layout. template.yaml defines the table (and the local one is created
//! from it); a test checks that these names match it.

pub const PARTITION_KEY: &str = "pk";
pub const USER_INDEX: &str = "byUser";
pub const USER_INDEX_PARTITION_KEY: &str = "gsi1pk";
pub const USER_INDEX_SORT_KEY: &str = "gsi1sk";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// What the `byUser` index holds besides keys: what the list shows, of bound
/// connections and of attempts waiting for attestation (template.yaml's
/// projection must be exactly this; a test checks).
pub const USER_INDEX_ATTRIBUTES: &[&str] = &[
    "entity",
    "connectionId",
    "userId",
    "status",
    "username",
    "name",
    "avatar",
    "connectedAt",
    "updatedAt",
    "attemptId",
    "createdAt",
    "expiresAt",
    "expiresAtEpoch",
    "verifyingAt",
];
