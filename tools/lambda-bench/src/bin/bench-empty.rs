//! The benchmark's baseline: a function with the same runtime, logging set-up and
//! event type as the real ones and a handler that answers 200 at once. What it
//! measures (Init, invocation time) is the Lambda runtime and the benchmark's
//! loopback Runtime API, not this project's code.

use link_shared::lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    link_shared::bootstrap::init_tracing();
    run(service_fn(|_req: Request| async {
        Ok::<_, Error>(Response::builder().status(200).body(Body::from("{}"))?)
    }))
    .await
}
