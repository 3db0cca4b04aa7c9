//! The simulator at scale: an account preloaded with many connections, other
//! users connecting at a set rate, and webhooks lost or reordered at set rates.
//! The load and provenance measurements (`make bench-scale`) stand on these.

use std::time::{Duration, Instant};

use ofauth_sim::{SignatureScheme, SimConfig, Simulator, Traffic, WebhookConfig, WebhookMode};
use serde_json::Value;

const KEY: &str = "sk_sandbox_scale";

async fn sim(webhook: Option<WebhookConfig>) -> Simulator {
    Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            api_key: KEY.into(),
            allowed_redirects: vec!["https://api.example.com/link/callback".into()],
            webhook,
            ..SimConfig::default()
        },
    )
    .await
    .unwrap()
}

async fn page(sim: &Simulator, offset: u64, limit: u64) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/v2/account/connections?limit={limit}&offset={offset}",
            sim.url()
        ))
        .header("apikey", KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preloaded_account_pages_newest_first_and_fast() {
    let sim = sim(None).await;
    let started = Instant::now();
    sim.preload(100_000);
    let preload = started.elapsed();
    assert_eq!(sim.connection_count(), 100_000);
    // A connection made after the preload is the newest.
    sim.insert_connection("conn_newest", Some("la_x"));
    let first = page(&sim, 0, 100).await;
    assert_eq!(first["list"][0]["id"], "conn_newest");
    assert_eq!(first["list"].as_array().unwrap().len(), 100);
    assert_eq!(first["hasMore"], true);
    // The last page: the oldest preloaded connection, and no more.
    let last = page(&sim, 100_000, 100).await;
    let ids: Vec<&str> = last["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(ids[0].starts_with("conn_pre0_"), "{ids:?}");
    assert_eq!(last["hasMore"], false);
    // Both in well under a second even in a debug build: no sort of the account.
    let deep = Instant::now();
    page(&sim, 99_900, 100).await;
    assert!(preload < Duration::from_secs(5), "preload took {preload:?}");
    assert!(
        deep.elapsed() < Duration::from_secs(2),
        "a deep page took {:?}",
        deep.elapsed()
    );
}

#[tokio::test]
async fn background_traffic_connects_at_its_rate_and_stops() {
    let sim = sim(None).await;
    sim.set_traffic(Traffic {
        connects_per_second: 200.0,
        webhooks: false,
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.set_traffic(Traffic::default());
    let made = sim.connection_count();
    // 100 due in 500 ms; the task's 5 ms ticks and the scheduler allow some slack.
    assert!(
        (80..=110).contains(&made),
        "{made} connections in 500 ms at 200/s"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.connection_count(), made, "stopped");
    // Each one made through Link by an attempt of someone else's.
    let newest = page(&sim, 0, 1).await;
    assert!(newest["list"][0]["clientReferenceId"]
        .as_str()
        .unwrap()
        .starts_with("la_"));
}

/// A webhook endpoint that counts what it receives, in order.
async fn endpoint() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::{routing::post, Json, Router};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |Json(v): Json<Value>| {
            let seen = seen.clone();
            async move {
                let id = v["data"]["connection"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(id);
                Json(serde_json::json!({ "received": true }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn webhooks_are_lost_and_reordered_at_their_rates() {
    let (url, got) = endpoint().await;
    let sim = sim(Some(WebhookConfig {
        url,
        secret: "whsec_c2NhbGUtdGVzdC1zZWNyZXQ=".into(),
        scheme: SignatureScheme::Ofauth,
        retry_base: Duration::from_millis(50),
    }))
    .await;
    sim.set_webhook_mode(WebhookMode {
        loss_percent: 30,
        jitter_ms: 200,
        ..WebhookMode::default()
    });
    sim.set_traffic(Traffic {
        connects_per_second: 1000.0,
        webhooks: true,
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    sim.set_traffic(Traffic::default());
    let made = sim.connection_count();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = got.lock().unwrap().clone();
    // About 70% arrive (each lost with probability 0.3): far from all and none.
    let share = got.len() as f64 / made as f64;
    assert!(
        (0.55..=0.85).contains(&share),
        "{} of {made} arrived",
        got.len()
    );
    // Jitter reorders them: the arrival order is not the creation order.
    let created: Vec<String> = {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let p = page(&sim, offset, 100).await;
            let list = p["list"].as_array().unwrap().clone();
            offset += list.len() as u64;
            all.extend(list.iter().map(|c| c["id"].as_str().unwrap().to_string()));
            if p["hasMore"] != true {
                break;
            }
        }
        all.reverse();
        all
    };
    let arrived_in_creation_order: Vec<&String> =
        created.iter().filter(|id| got.contains(id)).collect();
    assert_ne!(
        arrived_in_creation_order,
        got.iter().collect::<Vec<_>>(),
        "jitter reorders deliveries"
    );
}
