//! The connections Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::Error;
use link_shared::{apigw, bootstrap, connections, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    telemetry::install_for(&shared.config, "connections");
    let ofauth = shared.ofauth_warmed().await?;
    let svc = connections::ConnectionsService::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    apigw::run(move |req| connections::handle(req, svc)).await
}
