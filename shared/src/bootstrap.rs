//! Init-phase wiring: configuration, the API key, and one client of each kind per process.

use crate::config::{ApiKeySource, Config, ConfigError};
use crate::ofauth::{ApiKey, OfAuthClient};
use crate::store::{self, Store};

/// What every function builds once at init.
#[derive(Debug, Clone)]
pub struct Shared {
    pub config: Config,
    pub store: Store,
    pub ofauth: OfAuthClient,
}

/// Why init failed. The function stops; Lambda reports an init error.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not read the OFAuth API key from Secrets Manager ({secret_id}): {reason}")]
    Secret { secret_id: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Sets up logging the runtime's way (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

/// Reads configuration and builds the clients, once.
pub async fn init() -> Result<Shared, InitError> {
    let config = Config::from_env()?;
    if config.dev_trust_user_header {
        tracing::warn!("DEV_TRUST_USER_HEADER is on: the x-user-id header identifies callers. Never enable this in a deployment.");
    }
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(store::timeouts(config.dynamodb_timeout))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await;
    let mut dynamo = aws_sdk_dynamodb::config::Builder::from(&aws);
    if let Some(url) = &config.dynamodb_endpoint {
        dynamo = dynamo.endpoint_url(url);
    }
    let store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
        &config.table_name,
    );

    let api_key = match &config.api_key {
        ApiKeySource::Env(key) => key.clone(),
        ApiKeySource::SecretsManager(secret_id) => read_secret(&aws, secret_id).await?,
    };
    let ofauth = OfAuthClient::new(
        config.ofauth_base_url.clone(),
        api_key,
        config.ofauth_connect_timeout,
        config.ofauth_timeout,
    )?;
    Ok(Shared {
        config,
        store,
        ofauth,
    })
}

/// Reads the API key from Secrets Manager: the secret string itself, or the
/// `apiKey` field when the secret holds JSON.
async fn read_secret(aws: &aws_config::SdkConfig, secret_id: &str) -> Result<ApiKey, InitError> {
    let fail = |reason: String| InitError::Secret {
        secret_id: secret_id.to_string(),
        reason,
    };
    let out = aws_sdk_secretsmanager::Client::new(aws)
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| {
            fail(format!(
                "{}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    let raw = out
        .secret_string()
        .ok_or_else(|| fail("the secret has no string value".into()))?;
    api_key_from_secret(raw)
        .ok_or_else(|| fail("the secret is empty or has no apiKey field".into()))
}

/// The key from a secret's string: plain text, or JSON `{"apiKey": "..."}`.
pub fn api_key_from_secret(raw: &str) -> Option<ApiKey> {
    let raw = raw.trim();
    if raw.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(raw).ok()?;
        let key = v.get("apiKey")?.as_str()?.trim();
        return (!key.is_empty()).then(|| ApiKey::new(key));
    }
    (!raw.is_empty()).then(|| ApiKey::new(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats() {
        assert_eq!(
            api_key_from_secret(" sk_live_1\n"),
            Some(ApiKey::new("sk_live_1"))
        );
        assert_eq!(
            api_key_from_secret(r#"{"apiKey":"sk_live_2"}"#),
            Some(ApiKey::new("sk_live_2"))
        );
        assert_eq!(api_key_from_secret(r#"{"key":"x"}"#), None);
        assert_eq!(api_key_from_secret("  "), None);
    }
}
