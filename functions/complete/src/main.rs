//! The complete Lambda function: `POST /link/complete`, the signed-in app
//! finishing a Link flow (a completion code from the return page, or the
//! popup's attempt and connection). A function of its own, apart from the
//! unauthenticated callback: a flood of callbacks cannot take the capacity
//! completions need (its own reserved concurrency). Init once (configuration,
//! clients, secrets, and the downstream connections), then serve requests with
//! the shared handler.

use link_shared::lambda_http::Error;
use link_shared::return_leg::{self, ReturnLeg};
use link_shared::{apigw, bootstrap};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("complete");
    let ofauth = shared.ofauth_warmed().await?;
    let svc = ReturnLeg::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    apigw::serve(
        &apigw::OriginGuard::from_config(&shared.config),
        move |req| return_leg::complete(req, svc),
    )
    .await
}
