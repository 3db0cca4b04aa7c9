//! Times each Init step of a function once (run it several times for medians):
//! `cargo run --release --example init_phases -p link-shared` with the .env.example
//! environment.
use std::time::Instant;
fn main() {
    let t = Instant::now();
    let mut last = t;
    let mut lap = |name: &str| {
        let now = Instant::now();
        eprintln!("{name:<16} {:>8.3} ms", (now - last).as_secs_f64() * 1e3);
        last = now;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    lap("tokio");
    link_shared::bootstrap::init_tracing();
    lap("tracing");
    rt.block_on(async {
        let roots = link_shared::tls::ExtraRoots::from_env().unwrap();
        let http = link_shared::tls::aws_http_client(&roots);
        lap("aws http client");
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            )
            .load()
            .await;
        lap("sdk config");
        let c = aws_sdk_dynamodb::Client::new(&aws);
        lap("dynamodb client");
        let c2 = aws_sdk_dynamodb::Client::new(&aws);
        lap("dynamodb client 2");
        drop((c, c2));
        let shared = link_shared::bootstrap::init().await.unwrap();
        lap("init (config, sdk, dynamodb client)");
        let o = shared.ofauth().await.unwrap();
        lap("ofauth client");
        drop(o);
    });
    eprintln!("total {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
}
