//! The benchmark's I/O floor: a function with the same runtime, logging and event
//! path as `bench-empty` whose handler makes `FLOOR_EXCHANGES` sequential HTTP
//! requests to `FLOOR_URL` (keep-alive, rustls trusting `EXTRA_CA_CERTS`, as the
//! functions' clients) and reads each answer, and does nothing else: no SDK, no
//! parsing, no store. Its CPU per invocation is what that many downstream
//! exchanges cost on this runtime before any of this project's work: the part
//! of a function's CPU that no change to its own code removes.

use std::time::Duration;

use link_shared::apigw;
use link_shared::lambda_http::{Body, Error, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    link_shared::bootstrap::init_tracing();
    let url = std::env::var("FLOOR_URL")?;
    let exchanges: usize = std::env::var("FLOOR_EXCHANGES")?.parse()?;
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
