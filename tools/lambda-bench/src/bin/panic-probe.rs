//! A function that panics on `GET /panic` and answers 200 otherwise, on the same
//! runtime and event path as the real ones: the test that a panic inside a handler
//! is answered with an error and does not end the execution environment
//! (`tests/raw_input.rs`).

use link_shared::apigw;
use link_shared::lambda_http::{Body, Error, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    link_shared::bootstrap::init_tracing();
    apigw::run(|req| async move {
        if req.uri().path() == "/panic" {
            panic!("a handler bug");
        }
        Response::new(Body::from("{}"))
    })
    .await
}
