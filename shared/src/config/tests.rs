//! The configuration's defaults and checks.

use super::env::is_client_app_id;
use super::*;
use std::collections::HashMap;
use std::time::Duration;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = [
        ("TABLE_NAME", "links"),
        ("APP_URL", "https://app.example.com"),
        ("OFAUTH_API_KEY", "sk_test_1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in pairs {
        map.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults_are_applied() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.ofauth.base_url.as_str(), "https://api.ofauth.com/");
    assert_eq!(
        c.return_leg.app.success.as_str(),
        "https://app.example.com/link/success"
    );
    assert_eq!(
        c.return_leg.app.cancelled.as_str(),
        "https://app.example.com/link/cancelled"
    );
    assert_eq!(
        c.return_leg.app.error.as_str(),
        "https://app.example.com/link/error"
    );
    assert_eq!(c.cors.allowed_origins, vec!["https://app.example.com"]);
    assert_eq!(c.identity.user_id_claim, "sub");
    assert!(!c.identity.dev_trust_user_header);
    assert_eq!(c.ofauth.timeout, Duration::from_millis(4000));
    assert!(c.session.callback_url.is_none());
    assert!(c.runtime.warm_connections);
    assert!(c.runtime.extra_ca_certs.is_none());
    assert!(
        !cfg(&[("WARM_CONNECTIONS", "false")])
            .unwrap()
            .runtime
            .warm_connections
    );
}

#[test]
fn missing_required_variable_is_named() {
    let err = Config::from_lookup(|k| (k == "APP_URL").then(|| "https://a.example".to_string()))
        .unwrap_err();
    assert_eq!(err.var, "TABLE_NAME");
    assert!(cfg(&[("OFAUTH_API_KEY", "")])
        .unwrap()
        .ofauth
        .api_key
        .is_none());
}

#[test]
fn invalid_values_are_rejected_with_their_name() {
    assert_eq!(
        cfg(&[("OFAUTH_CLIENT_APP_ID", "app-1")]).unwrap_err().var,
        "OFAUTH_CLIENT_APP_ID"
    );
    assert_eq!(
        cfg(&[("APP_URL", "http://app.example.com")])
            .unwrap_err()
            .var,
        "APP_URL"
    );
    assert_eq!(
        cfg(&[("APP_SUCCESS_PATH", "//evil.example")])
            .unwrap_err()
            .var,
        "APP_SUCCESS_PATH"
    );
    assert_eq!(
        cfg(&[("APP_ERROR_PATH", "https://evil.example/")])
            .unwrap_err()
            .var,
        "APP_ERROR_PATH"
    );
    assert_eq!(
        cfg(&[("ALLOWED_ORIGINS", "*")]).unwrap_err().var,
        "ALLOWED_ORIGINS"
    );
    assert_eq!(
        cfg(&[("ALLOWED_ORIGINS", "https://a.example/path")])
            .unwrap_err()
            .var,
        "ALLOWED_ORIGINS"
    );
    assert_eq!(
        cfg(&[("OFAUTH_TIMEOUT_MS", "0")]).unwrap_err().var,
        "OFAUTH_TIMEOUT_MS"
    );
    assert_eq!(
        cfg(&[("DEV_TRUST_USER_HEADER", "yes")]).unwrap_err().var,
        "DEV_TRUST_USER_HEADER"
    );
    assert_eq!(
        cfg(&[("OFAUTH_API_KEY_SECRET_ID", "arn:x")])
            .unwrap_err()
            .var,
        "OFAUTH_API_KEY"
    );
}

#[test]
fn reconciler_and_sandbox_settings() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.reconcile.unbound, UnboundAction::Disconnect);
    assert_eq!(c.reconcile.unbound_grace, Duration::from_secs(21_600));
    assert_eq!(c.reconcile.max_pages, 250);
    assert!(!c.webhook.accept_sandbox);
    assert_eq!(c.runtime.metrics_namespace, None);
    assert_eq!(
        c.reconcile.personal_data_retention,
        Some(Duration::from_secs(30 * 86_400))
    );
    assert_eq!(
        cfg(&[("PERSONAL_DATA_RETENTION_DAYS", "0")])
            .unwrap()
            .reconcile
            .personal_data_retention,
        None
    );
    assert_eq!(
        cfg(&[("METRICS_NAMESPACE", "OFAuthLink/prod")])
            .unwrap()
            .runtime
            .metrics_namespace
            .as_deref(),
        Some("OFAuthLink/prod")
    );
    for bad in ["AWS/Lambda", "a{b}", &"x".repeat(256)] {
        assert_eq!(
            cfg(&[("METRICS_NAMESPACE", bad)]).unwrap_err().var,
            "METRICS_NAMESPACE"
        );
    }
    let c = cfg(&[
        ("RECONCILE_UNBOUND", "report"),
        ("RECONCILE_UNBOUND_GRACE_SECS", "0"),
        ("WEBHOOK_ACCEPT_SANDBOX", "true"),
    ])
    .unwrap();
    assert_eq!(c.reconcile.unbound, UnboundAction::Report);
    assert!(c.webhook.accept_sandbox);
    assert_eq!(
        cfg(&[("RECONCILE_UNBOUND", "delete")]).unwrap_err().var,
        "RECONCILE_UNBOUND"
    );
    // Past the attempts' retention an unrecorded connection can no longer be
    // proven ours: such a grace is refused.
    assert_eq!(
        cfg(&[("RECONCILE_UNBOUND_GRACE_SECS", "86401")])
            .unwrap_err()
            .var,
        "RECONCILE_UNBOUND_GRACE_SECS"
    );
    assert!(cfg(&[
        ("RECONCILE_UNBOUND_GRACE_SECS", "100000"),
        ("ATTEMPT_RETENTION_SECS", "200000")
    ])
    .is_ok());
}

/// A deployed build has no switch: it refuses the variable whatever else is set.
#[cfg(not(feature = "dev-identity"))]
#[test]
fn the_dev_identity_switch_is_not_in_a_deployed_build() {
    assert_eq!(
        cfg(&[
            ("DEV_TRUST_USER_HEADER", "true"),
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")
        ])
        .unwrap_err()
        .var,
        "DEV_TRUST_USER_HEADER"
    );
}

#[cfg(feature = "dev-identity")]
#[test]
fn the_dev_identity_switch_needs_dynamodb_local() {
    assert_eq!(
        cfg(&[("DEV_TRUST_USER_HEADER", "true")]).unwrap_err().var,
        "DEV_TRUST_USER_HEADER"
    );
    assert_eq!(
        cfg(&[
            ("DEV_TRUST_USER_HEADER", "true"),
            (
                "DYNAMODB_ENDPOINT",
                "https://dynamodb.us-east-1.amazonaws.com"
            )
        ])
        .unwrap_err()
        .var,
        "DEV_TRUST_USER_HEADER"
    );
    assert!(
        cfg(&[
            ("DEV_TRUST_USER_HEADER", "true"),
            ("DYNAMODB_ENDPOINT", "http://127.0.0.1:8000")
        ])
        .unwrap()
        .identity
        .dev_trust_user_header
    );
}

#[test]
fn link_hosts_and_rate_limits() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.session.link_hosts, vec!["link.ofauth.com"]);
    assert_eq!(c.session.rate_limit, Some((10, Duration::from_secs(60))));
    assert_eq!(
        cfg(&[("SESSION_RATE_LIMIT", "0")])
            .unwrap()
            .session
            .rate_limit,
        None
    );
    assert_eq!(
        cfg(&[("LINK_HOSTS", "link.ofauth.com, https://x")])
            .unwrap_err()
            .var,
        "LINK_HOSTS"
    );
}

#[test]
fn http_is_allowed_only_on_loopback() {
    let c = cfg(&[
        ("APP_URL", "http://localhost:8080"),
        ("OFAUTH_BASE_URL", "http://127.0.0.1:9"),
    ])
    .unwrap();
    assert_eq!(c.cors.allowed_origins, vec!["http://localhost:8080"]);
    assert!(cfg(&[("OFAUTH_BASE_URL", "http://api.ofauth.com")]).is_err());
}

#[test]
fn api_key_is_never_printed() {
    let c = cfg(&[
        ("OFAUTH_API_KEY", "sk_live_very_secret"),
        ("OFAUTH_WEBHOOK_SECRET", "whsec_also_secret"),
    ])
    .unwrap();
    assert!(!format!("{c:?}").contains("very_secret"));
    assert!(!format!("{c:?}").contains("also_secret"));
    assert_eq!(
        cfg(&[
            ("OFAUTH_WEBHOOK_SECRET", "a"),
            ("OFAUTH_WEBHOOK_SECRET_ID", "b")
        ])
        .unwrap_err()
        .var,
        "OFAUTH_WEBHOOK_SECRET"
    );
}

#[test]
fn client_app_id_pattern() {
    assert!(is_client_app_id("app_abc123"));
    assert!(!is_client_app_id("app_"));
    assert!(!is_client_app_id("app_a-b"));
    assert!(!is_client_app_id("xapp_a"));
}
