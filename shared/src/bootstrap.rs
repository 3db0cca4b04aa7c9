//! Init-phase wiring: configuration, secrets, and one client of each kind per process.

use crate::config::{vars, Config, ConfigError, Secret, SecretSource};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::ofauth::{KeySource, OfAuthClient};
use crate::store::{self, Store};
use crate::tls::{self, ExtraRoots};

/// What every function builds once at init.
#[derive(Debug, Clone)]
pub struct Shared {
    pub config: Config,
    pub store: Store,
    aws: aws_config::SdkConfig,
    roots: ExtraRoots,
}

/// Why init failed. The function stops; Lambda reports an init error.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not read {what} from Secrets Manager ({secret_id}): {reason}")]
    Secret {
        what: &'static str,
        secret_id: String,
        reason: String,
    },
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Sets up logging the runtime's way (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn init_tracing() {
    lambda_http::tracing::init_default_subscriber();
}

impl Shared {
    /// Records `function`'s metrics in the configured namespace (none when
    /// none is configured), and counts its cold start.
    pub fn install_metrics(&self, function: &'static str) {
        crate::telemetry::install_for(self.config.runtime.metrics_namespace.as_deref(), function);
    }
}

/// Reads configuration and builds the DynamoDB client, once.
pub async fn init() -> Result<Shared, InitError> {
    tracing::info!(version = crate::VERSION, "ofauth-link init");
    let config = Config::from_env()?;
    #[cfg(feature = "dev-identity")]
    if config.identity.dev_trust_user_header {
        tracing::warn!("DEV_TRUST_USER_HEADER is on: the x-user-id header identifies callers. Never enable this in a deployment.");
    }
    let roots = ExtraRoots::load(config.runtime.extra_ca_certs.as_deref())?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(tls::aws_http_client(&roots))
        .timeout_config(store::timeouts(config.store.timeout))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3));
    // Lambda always gives the region and the role's credentials in the
    // environment: then skip building the rest of the default chains (profiles,
    // SSO, IMDS), whose clients would read the system's certificate store.
    if let Ok(region) = std::env::var("AWS_REGION") {
        loader = loader.region(aws_config::Region::new(region));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    let aws = loader.load().await;
    let mut dynamo = aws_sdk_dynamodb::config::Builder::from(&aws);
    if let Some(url) = &config.store.endpoint {
        dynamo = dynamo.endpoint_url(url);
    }
    let store = Store::new(
        aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
        &config.store.table_name,
    );
    Ok(Shared {
        config,
        store,
        aws,
        roots,
    })
}

impl Shared {
    /// The OFAuth client, with the API key read once (from the environment locally,
    /// from Secrets Manager in AWS, where it is read again when OFAuth refuses it:
    /// a rotated key needs no redeploy).
    pub async fn ofauth(&self) -> Result<OfAuthClient, InitError> {
        let key = self
            .secret(
                "the OFAuth API key",
                self.config.ofauth.api_key.as_ref(),
                vars::OFAUTH_API_KEY_SECRET_ID,
                "apiKey",
            )
            .await?;
        let client =
            OfAuthClient::for_settings(&self.config.ofauth, key, tls::client_config(&self.roots)?)?;
        Ok(match &self.config.ofauth.api_key {
            Some(SecretSource::SecretsManager(id)) => {
                client.with_key_source(Arc::new(SecretsManagerKey {
                    client: aws_sdk_secretsmanager::Client::new(&self.aws),
                    secret_id: id.clone(),
                }))
            }
            _ => client,
        })
    }

    /// The OFAuth client, with the DynamoDB and OFAuth connections opened (see
    /// [`warm_up`]): what the functions that call OFAuth build at Init.
    pub async fn ofauth_warmed(&self) -> Result<OfAuthClient, InitError> {
        let client = self.ofauth().await?;
        self.warm_up(Some(&client)).await;
        Ok(client)
    }

    /// The webhook signing secret, read once.
    pub async fn webhook_secret(&self) -> Result<Secret, InitError> {
        self.secret(
            "the webhook signing secret",
            self.config.webhook.secret.as_ref(),
            vars::OFAUTH_WEBHOOK_SECRET_ID,
            "signingSecret",
        )
        .await
    }

    async fn secret(
        &self,
        what: &'static str,
        source: Option<&SecretSource>,
        id_var: &'static str,
        json_field: &str,
    ) -> Result<Secret, InitError> {
        let secret_id = match source {
            Some(SecretSource::Env(v)) => return Ok(v.clone()),
            Some(SecretSource::SecretsManager(id)) => id,
            None => {
                return Err(ConfigError {
                    var: id_var,
                    problem: "is required".into(),
                }
                .into())
            }
        };
        let client = aws_sdk_secretsmanager::Client::new(&self.aws);
        read_secret(&client, secret_id, json_field)
            .await
            .map_err(|reason| InitError::Secret {
                what,
                secret_id: secret_id.clone(),
                reason,
            })
    }
}

/// Reads a secret's value: plain text, or the `json_field` of a JSON object.
async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    json_field: &str,
) -> Result<Secret, String> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| format!("{}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e)))?;
    let raw = out
        .secret_string()
        .ok_or_else(|| "the secret has no string value".to_string())?;
    secret_value(raw, json_field)
        .ok_or_else(|| format!("the secret is empty or has no {json_field} field"))
}

/// The OFAuth API key's secret, read again when OFAuth refuses the key in use.
#[derive(Debug)]
struct SecretsManagerKey {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl KeySource for SecretsManagerKey {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Secret, String>> + Send + '_>> {
        Box::pin(read_secret(&self.client, &self.secret_id, "apiKey"))
    }
}

impl Shared {
    /// The publisher: an EventBridge client (the configured endpoint, if any)
    /// for the configured bus and source.
    pub fn publisher(&self) -> crate::platform::publisher::PublisherService {
        use crate::platform::publisher::PublisherService;
        let settings = &self.config.publisher;
        // A call ends within a quarter of the erasure's grace: what an erasure
        // covers is sent only while it can be accepted before `User Data
        // Erased` may go (platform/erasure.rs).
        let mut conf = aws_sdk_eventbridge::config::Builder::from(&self.aws).timeout_config(
            store::timeouts(PublisherService::put_timeout(settings.erasure_grace)),
        );
        if let Some(url) = &settings.endpoint {
            conf = conf.endpoint_url(url);
        }
        PublisherService::new(
            aws_sdk_eventbridge::Client::from_conf(conf.build()),
            settings.event_bus.clone(),
            settings.event_source.clone(),
            self.store.clone(),
            settings.erasure_grace,
            std::sync::Arc::new(self.ofauth_on_demand()),
        )
    }
}

/// The OFAuth client of a function that rarely needs it (the webhook, only to
/// invalidate a connection that came back with another account): built, and
/// its API key read, on first use, so Init stays as it was.
#[derive(Debug, Clone)]
pub struct OfAuthOnDemand(Arc<OnDemand>);

#[derive(Debug)]
struct OnDemand {
    shared: Option<Shared>,
    client: tokio::sync::OnceCell<OfAuthClient>,
}

impl OfAuthOnDemand {
    /// A client that is already built (tests, and functions that have one).
    pub fn ready(client: OfAuthClient) -> Self {
        Self(Arc::new(OnDemand {
            shared: None,
            client: tokio::sync::OnceCell::new_with(Some(client)),
        }))
    }

    /// The client, built now if it was not yet.
    pub async fn get(&self) -> Result<&OfAuthClient, InitError> {
        self.0
            .client
            .get_or_try_init(|| async {
                match &self.0.shared {
                    Some(shared) => shared.ofauth().await,
                    None => Err(InitError::Config(ConfigError::new(
                        vars::OFAUTH_API_KEY_SECRET_ID,
                        "is required",
                    ))),
                }
            })
            .await
    }
}

impl crate::ofauth::Invalidator for OfAuthOnDemand {
    fn invalidate<'a>(
        &'a self,
        id: &'a crate::ids::ConnectionId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let client = self.get().await.map_err(|e| e.to_string())?;
            client
                .invalidate_connection(id)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

impl Shared {
    /// The OFAuth client, built on first use (see [`OfAuthOnDemand`]).
    pub fn ofauth_on_demand(&self) -> OfAuthOnDemand {
        OfAuthOnDemand(Arc::new(OnDemand {
            shared: Some(self.clone()),
            client: tokio::sync::OnceCell::new(),
        }))
    }
}

/// At most this much of Init goes to opening downstream connections.
pub(crate) const WARM_UP_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

impl Shared {
    /// Opens the connections the first request would otherwise open (DynamoDB and,
    /// when given, OFAuth), so it does not pay their TCP/TLS setup. Bounded by
    /// [`WARM_UP_LIMIT`]; failures are ignored (the request path has its own error
    /// handling). Off with `WARM_CONNECTIONS=false`.
    pub async fn warm_up(&self, ofauth: Option<&OfAuthClient>) {
        if !self.config.runtime.warm_connections {
            return;
        }
        let started = std::time::Instant::now();
        let dynamo = self.store.warm_up();
        let result = match ofauth {
            Some(client) => tokio::time::timeout(WARM_UP_LIMIT, async {
                tokio::join!(dynamo, client.warm_up())
            })
            .await
            .is_ok(),
            None => tokio::time::timeout(WARM_UP_LIMIT, dynamo).await.is_ok(),
        };
        tracing::debug!(
            done = result,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "connection warm-up"
        );
    }
}

/// The value from a secret's string: plain text, or the `field` of a JSON object.
pub(crate) fn secret_value(raw: &str, field: &str) -> Option<Secret> {
    let raw = raw.trim();
    let value = if raw.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(raw).ok()?;
        v.get(field)?.as_str()?.trim().to_string()
    } else {
        raw.to_string()
    };
    (!value.is_empty()).then_some(Secret(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_formats() {
        assert_eq!(
            secret_value(" sk_live_1\n", "apiKey"),
            Some(Secret("sk_live_1".into()))
        );
        assert_eq!(
            secret_value(r#"{"apiKey":"sk_live_2"}"#, "apiKey"),
            Some(Secret("sk_live_2".into()))
        );
        assert_eq!(secret_value(r#"{"key":"x"}"#, "apiKey"), None);
        assert_eq!(secret_value("  ", "apiKey"), None);
    }
}
