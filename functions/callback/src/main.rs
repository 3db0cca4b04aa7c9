//! The callback Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::{run, service_fn, Error, Request};
use link_shared::{bootstrap, callback};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    let ofauth = shared.ofauth_warmed().await?;
    let svc = callback::CallbackService::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(callback::handle(req, svc).await)
    }))
    .await
}
