//! Why a store call did not do what it was asked.

/// Why a write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The attempt is not pending, has expired, or belongs to someone else.
    #[error("the attempt is no longer usable")]
    AttemptNotUsable,
    /// The attempt's user was erased after it started: it binds nothing.
    #[error("the attempt's user was erased after it started")]
    Erased,
    /// The connection is recorded for another user; it is never moved.
    #[error("the connection belongs to another user")]
    ConnectionOwnedByAnotherUser,
    /// An item with this key already exists.
    #[error("the item already exists")]
    AlreadyExists,
    /// DynamoDB could not be reached, timed out, throttled or failed.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    /// An item in the table does not have the shape this code writes.
    #[error("corrupt item: {0}")]
    Corrupt(String),
    /// The connection's record changed between its read and a write that
    /// depended on it; read it again and decide again.
    #[error("the connection changed meanwhile")]
    ConnectionChanged,
    /// A page's start key is not one of the user's list entries.
    #[error("the page key is not valid")]
    InvalidPageKey,
}
