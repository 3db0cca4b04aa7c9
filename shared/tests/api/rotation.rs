//! API key rotation without a redeploy: the key is read from Secrets Manager at
//! Init, and read again (at most once a minute per process) when OFAuth refuses
//! it, then the call is retried once. Against the Secrets Manager stand-in and the
//! simulator, through `bootstrap` as the binaries run it.
//!
//! It runs in a process of its own (rusty-fork): it sets process environment
//! variables.

use std::collections::BTreeMap;

use crate::helpers::*;
use link_shared::bootstrap;
use link_shared::ofauth::{LinkInitRequest, OfAuthError};
use ofauth_sim::secrets_manager::SecretsManager;
use ofauth_sim::{SimConfig, Simulator};

const KEY_ID: &str = "ofauth/api-key";
const OLD: &str = "sk_live_old_key_1";
const NEW: &str = "sk_live_new_key_2";

/// In a process of its own: it sets process environment variables.
#[test]
fn a_rotated_key_is_picked_up_without_a_redeploy() {
    in_own_process(
        rusty_fork::rusty_fork_test_name!(a_rotated_key_is_picked_up_without_a_redeploy),
        rusty_fork::rusty_fork_id!(),
        || block_on(run()),
    );
}

async fn run() {
    let sm = SecretsManager::start(BTreeMap::from([(KEY_ID.to_string(), OLD.to_string())]))
        .await
        .unwrap();
    let sim = Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            api_key: OLD.into(),
            allowed_redirects: vec![CALLBACK_URL.into()],
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    for k in ["OFAUTH_API_KEY", "EXTRA_CA_CERTS", "DEV_TRUST_USER_HEADER"] {
        std::env::remove_var(k);
    }
    for (k, v) in [
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            format!("http://{}", sm.addr),
        ),
        ("OFAUTH_API_KEY_SECRET_ID", KEY_ID.into()),
        ("TABLE_NAME", unique("rotation")),
        ("DYNAMODB_ENDPOINT", dynamodb_endpoint()),
        ("OFAUTH_BASE_URL", sim.url()),
        ("APP_URL", APP_URL.into()),
        ("CALLBACK_URL", CALLBACK_URL.into()),
        ("WARM_CONNECTIONS", "false".into()),
    ] {
        std::env::set_var(k, v);
    }
    let shared = bootstrap::init().await.expect("init");
    let client = shared.ofauth().await.expect("the key from Secrets Manager");
    assert_eq!(sm.reads(KEY_ID), 1);
    let init = || async {
        client
            .link_init(&LinkInitRequest {
                client_app_id: None,
                redirect_url: CALLBACK_URL,
                client_reference_id: "la_rotation",
                connection_id: None,
                geolocation: None,
            })
            .await
    };
    assert!(init().await.is_ok());

    // 1. The new key is stored and OFAuth accepts both for a while: nothing changes.
    sm.set(KEY_ID, NEW);
    sim.set_api_keys(&[OLD, NEW]);
    assert!(init().await.is_ok());
    assert_eq!(sm.reads(KEY_ID), 1, "no re-read while the old key works");

    // 2. The old key is revoked: the refusal makes the process read the secret
    //    again, and the call is retried with the new key.
    sim.set_api_keys(&[NEW]);
    assert!(init().await.is_ok(), "retried with the rotated key");
    assert_eq!(sm.reads(KEY_ID), 2);
    assert!(init().await.is_ok());
    assert_eq!(sm.reads(KEY_ID), 2, "the new key is kept");

    // 3. A key refused again within the minute is not re-read (bounded work when
    //    the secret itself is wrong): the refusal stands.
    sim.set_api_keys(&["sk_live_something_else"]);
    match init().await {
        Err(e @ OfAuthError::Rejected { status: 401, .. }) => assert!(e.is_refused_key()),
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert_eq!(sm.reads(KEY_ID), 2, "at most one re-read a minute");
}
