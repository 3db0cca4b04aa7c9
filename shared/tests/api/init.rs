//! Init as the binaries run it (`bootstrap::init`, `Shared::ofauth`,
//! `Shared::webhook_secret`, the warm-up), from the process environment, with every
//! downstream behind TLS like in production: DynamoDB Local, the OFAuth simulator
//! and a Secrets Manager stand-in, each behind a TLS terminator whose test CA the
//! functions trust only through `EXTRA_CA_CERTS`.
//!
//! It runs in a process of its own (rusty-fork): it sets process environment
//! variables, which tests running in parallel threads must not share.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::helpers::*;
use link_shared::bootstrap::{self, InitError};
use link_shared::ids::AttemptId;
use link_shared::ofauth::{LinkInitRequest, LinkSession, OfAuthError};
use ofauth_sim::tls::TestCa;
use ofauth_sim::{SimConfig, Simulator};

const KEY_ID: &str = "ofauth/api-key";
const WEBHOOK_ID: &str = "ofauth/webhook-secret";

fn set(vars: &[(&str, &str)]) {
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
}

async fn link_init(client: &link_shared::ofauth::OfAuthClient) -> Result<LinkSession, OfAuthError> {
    client
        .link_init(&LinkInitRequest {
            client_app_id: Some("app_test123"),
            redirect_url: CALLBACK_URL,
            client_reference_id: "att_tls_test",
            connection_id: None,
            geolocation: None,
        })
        .await
}

/// In a process of its own: it sets process environment variables.
#[test]
fn init_reads_secrets_and_talks_tls_with_the_compiled_in_and_extra_roots() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(
            init_reads_secrets_and_talks_tls_with_the_compiled_in_and_extra_roots
        ),
        rusty_fork::rusty_fork_id!(),
        || block_on(run()),
    );
}

async fn run() {
    let ca = TestCa::generate().unwrap();
    let dir = std::env::temp_dir().join(unique("link-init-test"));
    let ca_file = dir.join("test-ca.pem");
    ca.write_ca(&ca_file).unwrap();
    let not_pem = dir.join("not-pem.txt");
    std::fs::write(&not_pem, "hello").unwrap();

    // DynamoDB Local (plain) with a fresh table, behind TLS.
    let endpoint = dynamodb_endpoint();
    let table = unique("init-test");
    local_dynamodb::create_table(&dynamodb_client(&endpoint, Duration::from_secs(10)), &table)
        .await
        .unwrap();
    let ddb_tls =
        ofauth_sim::tls::terminate(&ca, endpoint.trim_start_matches("http://").parse().unwrap())
            .await
            .unwrap();
    // The simulator, behind TLS.
    let sim = Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            api_key: API_KEY.into(),
            allowed_redirects: vec![CALLBACK_URL.into()],
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let sim_tls = ofauth_sim::tls::terminate(&ca, sim.addr()).await.unwrap();
    // Secrets Manager, behind TLS: the key as JSON, the webhook secret as plain text.
    let secrets = ofauth_sim::secrets_manager::serve(BTreeMap::from([
        (KEY_ID.to_string(), format!(r#"{{"apiKey":"{API_KEY}"}}"#)),
        (WEBHOOK_ID.to_string(), format!("{WEBHOOK_SECRET}\n")),
    ]))
    .await
    .unwrap();
    let secrets_tls = ofauth_sim::tls::terminate(&ca, secrets).await.unwrap();

    for k in [
        "OFAUTH_API_KEY",
        "OFAUTH_WEBHOOK_SECRET",
        "DEV_TRUST_USER_HEADER",
    ] {
        std::env::remove_var(k);
    }
    set(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("TABLE_NAME", &table),
        ("DYNAMODB_ENDPOINT", &format!("https://{ddb_tls}")),
        ("DYNAMODB_TIMEOUT_MS", "5000"),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            &format!("https://{secrets_tls}"),
        ),
        ("OFAUTH_API_KEY_SECRET_ID", KEY_ID),
        ("OFAUTH_WEBHOOK_SECRET_ID", WEBHOOK_ID),
        (
            "OFAUTH_BASE_URL",
            &format!("https://localhost:{}", sim_tls.port()),
        ),
        ("OFAUTH_CLIENT_APP_ID", "app_test123"),
        ("OFAUTH_TIMEOUT_MS", "3000"),
        ("CALLBACK_URL", CALLBACK_URL),
        ("APP_URL", APP_URL),
        ("EXTRA_CA_CERTS", ca_file.to_str().unwrap()),
    ]);

    // Trusting the test CA: every downstream answers over TLS.
    let shared = bootstrap::init().await.expect("init");
    let unknown = AttemptId::generate().unwrap();
    assert_eq!(
        shared
            .store
            .get_attempt(&unknown)
            .await
            .expect("DynamoDB over TLS"),
        None
    );
    let ofauth = shared
        .ofauth_warmed()
        .await
        .expect("API key from Secrets Manager");
    let session = link_init(&ofauth)
        .await
        .expect("OFAuth over TLS with the key from the secret");
    assert!(matches!(session, LinkSession::Hosted { .. }), "{session:?}");
    assert_eq!(
        shared.webhook_secret().await.expect("webhook secret").0,
        WEBHOOK_SECRET
    );

    // A secret that does not exist: Init fails, naming the secret, not a value.
    std::env::set_var("OFAUTH_WEBHOOK_SECRET_ID", "ofauth/missing");
    let shared = bootstrap::init().await.expect("init");
    match shared.webhook_secret().await {
        Err(InitError::Secret {
            secret_id, reason, ..
        }) => {
            assert_eq!(secret_id, "ofauth/missing");
            assert!(reason.contains("ResourceNotFound"), "{reason}");
            assert!(!reason.contains(WEBHOOK_SECRET));
        }
        other => panic!("expected a secret error, got {other:?}"),
    }
    std::env::set_var("OFAUTH_WEBHOOK_SECRET_ID", WEBHOOK_ID);

    // Not trusting it (only the compiled-in public roots): nothing is reachable.
    std::env::remove_var("EXTRA_CA_CERTS");
    let shared = bootstrap::init().await.expect("init");
    assert!(
        shared.store.get_attempt(&unknown).await.is_err(),
        "DynamoDB behind an untrusted certificate must fail"
    );
    assert!(
        matches!(shared.webhook_secret().await, Err(InitError::Secret { .. })),
        "Secrets Manager behind an untrusted certificate must fail"
    );
    let key_only = ofauth_client(&shared.config, API_KEY);
    match link_init(&key_only).await {
        Err(OfAuthError::Unreachable(_)) => {}
        other => panic!("OFAuth behind an untrusted certificate must fail, got {other:?}"),
    }

    // A bundle that is not PEM: Init refuses to start rather than trust less.
    std::env::set_var("EXTRA_CA_CERTS", not_pem.to_str().unwrap());
    match bootstrap::init().await {
        Err(InitError::Config(e)) => assert!(e.to_string().contains("EXTRA_CA_CERTS"), "{e}"),
        other => panic!(
            "expected a configuration error, got {:?}",
            other.map(|_| ())
        ),
    }
    std::env::set_var("EXTRA_CA_CERTS", dir.join("missing.pem").to_str().unwrap());
    assert!(matches!(bootstrap::init().await, Err(InitError::Config(_))));
    let _ = std::fs::remove_dir_all(&dir);
}
