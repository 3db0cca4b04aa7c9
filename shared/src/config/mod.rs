//! Typed configuration, read once at Init from the environment, nested by who
//! uses it: each service is built from its own part ([`parts`]), each variable
//! is named once ([`vars`]).
//!
//! A missing or invalid variable stops the function at Init with a message that
//! names the variable; nothing here is read again per request.

mod env;
mod error;
mod parts;
mod secret;
pub mod vars;

#[cfg(test)]
mod tests;

pub(crate) use env::is_loopback;
pub use error::ConfigError;
pub(crate) use parts::CorsSettings;
pub use parts::IdentitySettings;
pub use parts::ListSearch;
pub use parts::OfAuthSettings;
pub use parts::PublisherSettings;
pub use parts::ReturnLegSettings;
pub use parts::RuntimeSettings;
pub use parts::SessionSettings;
pub use parts::StoreSettings;
pub use parts::WebhookSettings;
pub use parts::{AppTargets, ReconcileSettings, StartCookie, UnboundAction};
pub use secret::{Secret, SecretSource};

/// The header that identifies the user when `DEV_TRUST_USER_HEADER=true` (local
/// development only, and only in a build with the `dev-identity` feature, which
/// `make dev` enables and no deployed build has).
#[cfg(feature = "dev-identity")]
pub(crate) const DEV_USER_HEADER: &str = "x-user-id";

/// Everything the functions need, read once, by consumer.
#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreSettings,
    pub ofauth: OfAuthSettings,
    pub runtime: RuntimeSettings,
    pub identity: IdentitySettings,
    pub(crate) cors: CorsSettings,
    pub session: SessionSettings,
    pub return_leg: ReturnLegSettings,
    pub list_search: ListSearch,
    pub webhook: WebhookSettings,
    pub reconcile: ReconcileSettings,
    pub publisher: PublisherSettings,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = env::Env(lookup);
        let store = StoreSettings::read(&env)?;
        let app_url = env.required_url(vars::APP_URL)?;
        let session = SessionSettings::read(&env)?;
        let identity = IdentitySettings::read(&env, store.endpoint.as_deref())?;
        Ok(Self {
            ofauth: OfAuthSettings::read(&env)?,
            runtime: RuntimeSettings::read(&env)?,
            cors: CorsSettings::read(&env, &app_url)?,
            return_leg: ReturnLegSettings::read(&env, &app_url, session.callback_url.as_ref())?,
            list_search: ListSearch::read(&env)?,
            webhook: WebhookSettings::read(&env)?,
            reconcile: ReconcileSettings::read(&env, session.attempt_retention)?,
            publisher: PublisherSettings::read(&env)?,
            store,
            session,
            identity,
        })
    }
}
