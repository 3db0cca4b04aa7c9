//! The webhook Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::{run, service_fn, Error, Request};
use link_shared::{bootstrap, webhook};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.warm_up(None).await;
    let svc = webhook::WebhookService::new(shared.store.clone(), shared.webhook_secret().await?);
    let svc = &svc;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(webhook::handle(req, svc).await)
    }))
    .await
}
