//! The secrets the functions hold (the OFAuth API key, the webhook signing
//! secret), and where each is read from.

/// A secret value (the OFAuth API key, the webhook signing secret): the one type
/// that holds one. Its `Debug` never shows it; only [`Secret::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value itself, from an environment variable (local development and tests).
    Env(Secret),
    /// A Secrets Manager secret name or ARN, read once at init.
    SecretsManager(String),
}
