//! The publisher Lambda function: the table's change stream in, one EventBridge
//! event per connection change out (see `link_shared::platform::publisher`).
//! Init once (configuration, the EventBridge client), then serve stream batches.

use link_shared::lambda_http::Error;
use link_shared::platform::publisher;
use link_shared::{bootstrap, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    bootstrap::init_tracing();
    let shared = bootstrap::init().await?;
    telemetry::install_for(&shared.config, "publisher");
    let svc = shared.publisher();
    publisher::serve(&svc).await
}
