//! `ofauth-sim`: run the local OFAuth simulator.
//!
//! Environment (all optional):
//! - `SIM_PORT` (8787), `SIM_HOST` (127.0.0.1)
//! - `SIM_API_KEY` (sk_sandbox_local): the key `apikey` must carry
//! - `SIM_ALLOWED_REDIRECTS`: comma-separated Allowed Redirect URIs
//!   (default `http://localhost:9000/link/callback`)
//! - `SIM_PUBLIC_URL`: where browsers reach the hosted pages (default `http://<host>:<port>`)
//! - `SIM_SESSION_TTL_SECS` (3600)
//! - `SIM_ALLOWED_ORIGINS`: comma-separated Allowed Origins (who may embed the
//!   hosted pages; `frame-ancestors`)
//! - `SIM_WEBHOOK_URL`, `SIM_WEBHOOK_SECRET` (`whsec_<base64>`), `SIM_WEBHOOK_SCHEME`
//!   (`ofauth` or `svix`): send signed system webhooks there

use std::time::Duration;

use ofauth_sim::{SignatureScheme, SimConfig, Simulator, WebhookConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let host = var("SIM_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port: u16 = var("SIM_PORT")
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(8787);
    let config = SimConfig {
        api_key: var("SIM_API_KEY").unwrap_or_else(|| "sk_sandbox_local".into()),
        allowed_redirects: var("SIM_ALLOWED_REDIRECTS")
            .unwrap_or_else(|| "http://localhost:9000/link/callback".into())
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        public_url: var("SIM_PUBLIC_URL"),
        allowed_origins: var("SIM_ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        session_ttl: Duration::from_secs(
            var("SIM_SESSION_TTL_SECS")
                .map(|s| s.parse())
                .transpose()?
                .unwrap_or(3600),
        ),
        webhook: match (var("SIM_WEBHOOK_URL"), var("SIM_WEBHOOK_SECRET")) {
            (Some(url), Some(secret)) => Some(WebhookConfig {
                url,
                secret,
                scheme: match var("SIM_WEBHOOK_SCHEME").as_deref() {
                    Some("svix") => SignatureScheme::Svix,
                    _ => SignatureScheme::Ofauth,
                },
                retry_base: Duration::from_secs(1),
            }),
            _ => None,
        },
    };
    let listener = match tokio::net::TcpListener::bind((host.as_str(), port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "ofauth-sim: cannot listen on {host}:{port}: {e} (set SIM_PORT to another port)"
            );
            std::process::exit(2);
        }
    };
    let allowed = config.allowed_redirects.join(", ");
    let sim = Simulator::start(listener, config).await?;
    println!(
        "ofauth-sim listening on {} (allowed redirects: {allowed})",
        sim.url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
