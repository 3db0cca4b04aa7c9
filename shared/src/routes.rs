//! The HTTP routes, as (method, path): template.yaml and the `cargo lambda
//! watch` router in Cargo.toml must use exactly these (a test checks).

pub const SESSION: (&str, &str) = ("POST", "/link/session");
pub const CALLBACK: (&str, &str) = ("GET", CALLBACK_PATH);
pub const WEBHOOK: (&str, &str) = ("POST", "/link/webhook");
pub const CONNECTIONS: (&str, &str) = ("GET", "/link/connections");
pub const DISCONNECT: (&str, &str) = ("DELETE", "/link/connections/{id}");
pub const COMPLETE: (&str, &str) = ("POST", "/link/complete");
/// Erases the signed-in user's data (a data-subject request).
pub const ERASE: (&str, &str) = ("DELETE", "/link/me");
/// The platform's read API (AWS IAM): a user's connections.
pub const PLATFORM_USER_CONNECTIONS: (&str, &str) = ("GET", "/platform/users/{userId}/connections");
/// The platform's read API (AWS IAM): one connection's owner and status.
pub const PLATFORM_CONNECTION: (&str, &str) = ("GET", "/platform/connections/{id}");

/// The path of the callback route; the derived callback URL ends with it.
pub(crate) const CALLBACK_PATH: &str = "/link/callback";
