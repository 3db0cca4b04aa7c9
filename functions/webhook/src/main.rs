//! The webhook Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::Error;
use link_shared::{apigw, bootstrap, telemetry, webhook};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    telemetry::install_for(&shared.config, "webhook");
    shared.warm_up(None).await;
    let svc = webhook::WebhookService::new(
        shared.store.clone(),
        shared.webhook_secret().await?,
        shared.ofauth_on_demand(),
    )
    .accept_sandbox(shared.config.accept_sandbox_webhooks);
    let svc = &svc;
    apigw::run(move |req| webhook::handle(req, svc)).await
}
