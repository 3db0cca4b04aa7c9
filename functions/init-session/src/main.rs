//! The init-session Lambda function: init once (configuration, clients, secrets, and the
//! downstream connections), then serve requests with the shared handler.

use link_shared::lambda_http::{run, service_fn, Error, Request};
use link_shared::{bootstrap, session};

/// At most this much of Init goes to opening downstream connections.
const WARM_UP_LIMIT: std::time::Duration = std::time::Duration::from_millis(500);

#[tokio::main]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    let ofauth = shared.ofauth().await?;
    bootstrap::warm_up(&shared.store, Some(&ofauth), WARM_UP_LIMIT).await;
    let svc = session::SessionService::new(&shared.config, shared.store.clone(), ofauth);
    let svc = &svc;
    run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(session::handle(req, svc).await)
    }))
    .await
}
