//! The init-session Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::Error;
use link_shared::{apigw, bootstrap, session};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("init-session");
    let ofauth = shared.ofauth_warmed().await?;
    let svc = session::SessionService::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    apigw::serve(
        &apigw::OriginGuard::from_config(&shared.config),
        move |req| session::handle(req, svc),
    )
    .await
}
