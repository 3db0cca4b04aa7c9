//! The reconcile Lambda function, run on a schedule: makes the table and OFAuth
//! agree when webhooks were lost (see `link_shared::reconcile`). Init once
//! (configuration, clients, the API key), then one bounded run per invocation.

use link_shared::lambda_http::Error;
use link_shared::{bootstrap, reconcile};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("reconcile");
    let ofauth = shared.ofauth().await?;
    let svc = reconcile::ReconcileService::new(
        shared.store.clone(),
        ofauth,
        shared.config.reconcile.clone(),
        shared.config.list_search.page_size,
    );
    reconcile::serve(&svc).await
}
