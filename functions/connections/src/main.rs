//! The connections Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::Error;
use link_shared::{apigw, bootstrap, connections_api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("connections");
    let ofauth = shared.ofauth_warmed().await?;
    let svc =
        connections_api::ConnectionsService::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    apigw::serve(
        &apigw::OriginGuard::from_config(&shared.config),
        move |req| connections_api::handle(req, svc),
    )
    .await
}
