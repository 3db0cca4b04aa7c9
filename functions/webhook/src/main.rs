//! The webhook Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::Error;
use link_shared::{apigw, bootstrap, webhook};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("webhook");
    shared.warm_up(None).await;
    let svc = webhook::WebhookService::new(shared.store.clone(), shared.webhook_secret().await?)
        .accept_sandbox(shared.config.webhook.accept_sandbox);
    let svc = &svc;
    apigw::run(move |req| webhook::handle(req, svc)).await
}
