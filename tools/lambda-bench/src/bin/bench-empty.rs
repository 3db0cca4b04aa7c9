//! The benchmark's baseline: a function with the same runtime, logging set-up and
//! event path (API Gateway event in, `apigw::run`) as the real ones and a handler
//! that answers 200 at once. What it measures (Init, invocation time) is the Lambda
//! runtime and the benchmark's loopback Runtime API, not this project's code.

use link_shared::apigw;
use link_shared::lambda_http::{Body, Error, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    link_shared::bootstrap::init_tracing();
    apigw::run(|_req| async { Response::new(Body::from("{}")) }).await
}
