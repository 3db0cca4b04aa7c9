//! OFAuth Link backend: the code shared by the Lambda functions.
//!
//! Binaries stay thin (`functions/*/src/main.rs`): they call [`bootstrap::init`]
//! once and hand each request to a handler here, which takes its dependencies as
//! arguments so tests call it in-process with real API Gateway events.

pub mod apigw;
pub mod bootstrap;
pub mod config;
pub mod connections_api;
pub mod error;
pub mod http;
pub mod identity;
pub mod ids;
pub mod model;
pub mod ofauth;
pub mod platform;
pub mod reconcile;
pub mod return_leg;
pub mod routes;
pub mod session;
pub mod signature;
pub mod site;
pub mod store;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod webhook;

pub use lambda_http;

/// The service's version (the workspace's, `Cargo.toml`): each function logs it
/// at Init, the platform's read API answers it in `x-ofauth-link-version`, and
/// every platform event carries it as `serviceVersion`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
