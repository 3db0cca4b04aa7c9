//! The publisher Lambda function: the table's change stream in, one EventBridge
//! event per connection change out (see `link_shared::platform::publisher`).
//! Init once (configuration, the EventBridge client), then serve stream batches.

use link_shared::bootstrap;
use link_shared::lambda_http::Error;
use link_shared::platform::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    shared.install_metrics("publisher");
    let svc = shared.publisher();
    lambda::serve(&svc).await
}
