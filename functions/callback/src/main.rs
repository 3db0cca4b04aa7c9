//! The callback Lambda function: the return leg of a Link flow, `GET
//! /link/callback` (the browser back from OFAuth; `POST /link/complete` is the
//! complete function's). Init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::Error;
use link_shared::return_leg::{self, ReturnLeg};
use link_shared::{apigw, bootstrap};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("callback");
    let ofauth = shared.ofauth_warmed().await?;
    let svc = ReturnLeg::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    apigw::serve(
        &apigw::OriginGuard::from_config(&shared.config),
        move |req| return_leg::callback(req, svc),
    )
    .await
}
