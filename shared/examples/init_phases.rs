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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    lap("tokio");
    link_shared::bootstrap::init_tracing();
    lap("tracing");
    aws_lc_rs::init();
    lap("aws-lc init");
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut b = [0u8; 32];
    aws_lc_rs::rand::SecureRandom::fill(&rng, &mut b).unwrap();
    lap("aws-lc rand");
    let _k =
        aws_lc_rs::agreement::EphemeralPrivateKey::generate(&aws_lc_rs::agreement::X25519, &rng)
            .unwrap();
    lap("x25519 keygen");
    let _k =
        aws_lc_rs::agreement::EphemeralPrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256, &rng)
            .unwrap();
    lap("p256 keygen");
    let _k = aws_lc_rs::kem::DecapsulationKey::generate(&aws_lc_rs::kem::ML_KEM_768).unwrap();
    lap("mlkem768 keygen");
    rt.block_on(async {
        let config = link_shared::config::Config::from_env().unwrap();
        let roots =
            link_shared::tls::ExtraRoots::load(config.runtime.extra_ca_certs.as_deref()).unwrap();
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
        o.warm_up().await;
        lap("ofauth warm-up (connect)");
        o.warm_up().await;
        lap("ofauth HEAD (pooled)");
        let o2 = shared.ofauth().await.unwrap();
        o2.warm_up().await;
        lap("2nd client: connect");
        shared.store.warm_up().await;
        lap("dynamodb warm-up (connect)");
        shared.store.warm_up().await;
        lap("dynamodb GetItem (pooled)");
    });
    eprintln!("total {:.3} ms", t.elapsed().as_secs_f64() * 1e3);
}
