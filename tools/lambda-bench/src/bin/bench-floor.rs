//! The benchmark's I/O floor: a function with the same runtime, logging and event
//! path as `bench-empty` whose handler makes `FLOOR_EXCHANGES` sequential HTTP
//! requests to `FLOOR_URL` (keep-alive, rustls trusting `EXTRA_CA_CERTS`, as the
//! functions' clients) and reads each answer, and does nothing else: no SDK, no
//! parsing, no store. Its CPU per invocation is what that many downstream
//! exchanges cost on this runtime before any of this project's work: the part
//! of a function's CPU that no change to its own code removes.
//!
//! With `FLOOR_DYNAMODB=true` the exchanges are instead DynamoDB `GetItem`s (of
//! an attempt that does not exist) through the functions' own client and store
//! (`bootstrap::init`): the same I/O plus the AWS SDK's per-operation pipeline
//! (endpoint resolution, interceptors, SigV4 signing, retry bookkeeping).

// The SDK's future for a read, inside the runtime's, nests deeper than the
// default limit of layout queries.
#![recursion_limit = "256"]

use std::time::Duration;

use link_shared::apigw;
use link_shared::ids::AttemptId;
use link_shared::lambda_http::{Body, Error, Response};
use link_shared::store::Store;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    link_shared::bootstrap::init_tracing();
    let exchanges: usize = std::env::var("FLOOR_EXCHANGES")?.parse()?;
    if std::env::var("FLOOR_DYNAMODB").as_deref() == Ok("true") {
        let store = link_shared::bootstrap::init().await?.store;
        Box::pin(sdk_floor(store, exchanges)).await
    } else {
        Box::pin(http_floor(exchanges)).await
    }
}

async fn sdk_floor(store: Store, exchanges: usize) -> Result<(), Error> {
    let missing = AttemptId::generate()?;
    let (store, missing) = (&store, &missing);
    apigw::run(move |_req| async move {
        let mut found = 0;
        for _ in 0..exchanges {
            if let Ok(Some(_)) = store.get_attempt(missing).await {
                found += 1;
            }
        }
        Response::new(Body::from(format!("{{\"found\":{found}}}")))
    })
    .await
}

async fn http_floor(exchanges: usize) -> Result<(), Error> {
    let url = std::env::var("FLOOR_URL")?;
    let roots = link_shared::tls::ExtraRoots::load(
        std::env::var_os("EXTRA_CA_CERTS")
            .as_deref()
            .map(std::path::Path::new),
    )?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(link_shared::tls::client_config(&roots)?)
        .timeout(Duration::from_secs(5))
        .build()?;
    let (http, url) = (&http, url.as_str());
    apigw::run(move |_req| async move {
        let mut read = 0;
        for _ in 0..exchanges {
            let sent = http
                .get(url)
                .header("apikey", "sk_sandbox_bench")
                .header("x-connection-id", "conn_bench")
                .send()
                .await;
            if let Ok(resp) = sent {
                read += resp.bytes().await.map_or(0, |b| b.len());
            }
        }
        Response::new(Body::from(format!("{{\"read\":{read}}}")))
    })
    .await
}
