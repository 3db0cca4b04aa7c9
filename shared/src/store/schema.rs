//! Table layout. template.yaml defines the table (and the local one is created
//! from it); a test checks that these names match it.

pub const PARTITION_KEY: &str = "pk";
pub const USER_INDEX: &str = "byUser";
pub const USER_INDEX_PARTITION_KEY: &str = "gsi1pk";
pub const USER_INDEX_SORT_KEY: &str = "gsi1sk";
pub const TTL_ATTRIBUTE: &str = "ttl";
/// The format of an attempt or connection item (a number), written by every
/// write that creates one, so that a later release can tell an item of an
/// earlier one and migrate it as it reads it. Absent on items written before
/// the attribute existed, which are format 1: readers take absent as 1.
pub const ITEM_FORMAT_ATTRIBUTE: &str = "fmt";
/// The format this release writes.
pub const ITEM_FORMAT: i64 = 1;
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
