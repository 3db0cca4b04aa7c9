//! Every answer the simulator gives on a route that OFAuth's own SDK models
//! cover validates against those models (`onlyfans-sdk`'s pydantic models,
//! generated from OFAuth's OpenAPI file), checked by `schema_check.py` in the
//! project's Python environment (`.tools/venv`, made by
//! `scripts/ensure-python-tools.sh`). `make test` sets `SCHEMA_CHECK_REQUIRED=1`,
//! so a missing environment fails there; a bare `cargo test` without it says so
//! and skips.

use std::path::PathBuf;
use std::process::Command;

use ofauth_sim::{SimConfig, Simulator};
use serde_json::{json, Value};

const KEY: &str = "sk_sandbox_schema";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test]
async fn answers_validate_against_ofauths_own_models() {
    let python = root().join(".tools/venv/bin/python");
    let has_sdk = python.exists()
        && Command::new(&python)
            .args(["-c", "import onlyfans_sdk.models"])
            .status()
            .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            std::env::var("SCHEMA_CHECK_REQUIRED").is_err(),
            "onlyfans-sdk is not installed in .tools/venv: run scripts/ensure-python-tools.sh"
        );
        eprintln!("skipped: onlyfans-sdk is not installed in .tools/venv");
        return;
    }

    let sim = Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            api_key: KEY.into(),
            allowed_redirects: vec!["https://app.example.com/link/callback".into()],
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let base = sim.url();
    let get = |path: &str, connection: Option<&str>| {
        let mut req = http.get(format!("{base}{path}")).header("apikey", KEY);
        if let Some(c) = connection {
            req = req.header("x-connection-id", c);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    // Connections of every kind the simulator makes: through Link (a reference),
    // imported (none), expired, and one made by approving a session.
    sim.insert_connection(
        "conn_linked",
        Some("la_0000000000000000000000000000000000000001"),
    );
    sim.insert_connection("conn_imported", None);
    sim.insert_connection(
        "conn_expired",
        Some("la_0000000000000000000000000000000000000002"),
    );
    sim.expire_connection("conn_expired");
    let init = http
        .post(format!("{base}/v2/link/init"))
        .header("apikey", KEY)
        .json(&json!({ "redirectUrl": "https://app.example.com/link/callback", "clientReferenceId": "la_0000000000000000000000000000000000000003" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let session_url = init["url"].as_str().unwrap().to_string();
    let approved = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{session_url}/approve"))
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 303);

    let mut answers = vec![
        json!({ "route": "POST /v2/link/init", "model": "V2LinkInitPostResponse", "body": init }),
    ];
    for c in ["conn_linked", "conn_imported", "conn_expired"] {
        answers.push(json!({
            "route": format!("GET /v2/access/self ({c})"),
            "model": "V2AccessSelfGetResponse",
            "body": get("/v2/access/self", Some(c)).await,
        }));
    }
    for q in ["", "?limit=2", "?limit=2&offset=2", "?status=expired"] {
        let page = get(&format!("/v2/account/connections{q}"), None).await;
        assert!(!page["list"].as_array().unwrap().is_empty() || q.contains("offset"));
        answers.push(json!({
            "route": format!("GET /v2/account/connections{q}"),
            "model": "V2AccountConnectionsGetResponse",
            "body": page,
        }));
    }
    let file = std::env::temp_dir().join(format!("sim-answers-{}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_vec_pretty(&answers).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(root().join("tools/ofauth-sim/schema_check.py"))
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
