//! Every payload in invoke/ through the handler it belongs to, configured from
//! .env.example, against DynamoDB Local and the simulator: the same files
//! `cargo lambda invoke --data-file` sends (see scripts/invoke-all.sh).

use crate::openapi::OpenApi;
use std::collections::HashMap;

use crate::root;
use link_dev::LocalTable;
use link_shared::config::{Config, SecretSource};
use link_shared::connections_api::{self, ConnectionsService};
use link_shared::lambda_http::{Body, Response};
use link_shared::ofauth::OfAuthClient;
use link_shared::reconcile::ReconcileService;
use link_shared::return_leg::{self, ReturnLeg};
use link_shared::session::{self, SessionService};
use link_shared::webhook::{self, WebhookService};
use ofauth_sim::{SimConfig, Simulator};

fn env_example() -> HashMap<String, String> {
    link_dev::env_file(&root().join(".env.example"))
}

fn text(resp: &Response<Body>) -> String {
    match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn every_event_gives_its_expected_answer() {
    let mut env = env_example();
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(
        sim_listener,
        SimConfig {
            api_key: env["OFAUTH_API_KEY"].clone(),
            allowed_redirects: vec![env["CALLBACK_URL"].clone()],
            allowed_origins: vec![env["APP_URL"].clone()],
            ..SimConfig::default()
        },
    )
    .await
    .unwrap();
    let endpoint = local_dynamodb::endpoint();
    env.insert("OFAUTH_BASE_URL".into(), sim.url());
    env.insert("DYNAMODB_ENDPOINT".into(), endpoint.clone());
    env.insert(
        "TABLE_NAME".into(),
        format!("events-{}", std::process::id()),
    );
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();

    let table = LocalTable::new(&endpoint, &config.store.table_name);
    assert!(table.create().await.unwrap());
    let store = table.store.clone();
    let Some(SecretSource::Env(key)) = config.ofauth.api_key.clone() else {
        panic!(".env.example must use OFAUTH_API_KEY")
    };
    let tls = link_shared::tls::client_config(&Default::default()).unwrap();
    let ofauth = OfAuthClient::for_settings(&config.ofauth, key, tls).unwrap();
    let session_svc = SessionService::new(&config, store.clone(), ofauth.clone());
    let connections_svc = ConnectionsService::new(&config, store.clone(), ofauth.clone());
    let Some(SecretSource::Env(webhook_secret)) = config.webhook.secret.clone() else {
        panic!(".env.example must set OFAUTH_WEBHOOK_SECRET")
    };
    let webhook_svc = WebhookService::new(store.clone(), webhook_secret.clone());
    let return_leg = ReturnLeg::new(&config, store.clone(), ofauth.clone());
    let reconcile = ReconcileService::new(
        store.clone(),
        ofauth,
        config.reconcile.clone(),
        config.list_search.page_size,
    );

    let expected = link_dev::expectations(&root().join("invoke")).unwrap();
    let files = std::fs::read_dir(root().join("invoke"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "expected.json")
        .count();
    assert_eq!(files, expected.len(), "every event file has an expectation");
    assert!(expected.len() >= 30);

    let api = OpenApi::load(&root().join("openapi.yaml"));
    let mut contract = Vec::new();
    for (name, exp) in &expected {
        table.seed(&sim.url(), &exp.seed).await.unwrap();
        let raw =
            std::fs::read_to_string(root().join("invoke").join(format!("{name}.json"))).unwrap();
        let raw =
            link_dev::prepare_event(&raw, exp.sign.as_deref(), webhook_secret.expose()).unwrap();
        if exp.function == "reconcile" {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let report = reconcile.run(deadline).await.unwrap();
            assert!(
                !report.busy && report.counts.errors == 0,
                "{name}: {report:?}"
            );
            assert!(report.counts.checked >= 1, "{name}: {report:?}");
            continue;
        }
        let req =
            link_shared::apigw::request(serde_json::from_str(&raw).unwrap(), Default::default());
        let (method, path) = (req.method().to_string(), req.uri().path().to_string());
        let resp = match exp.function.as_str() {
            "init-session" => session::handle(req, &session_svc).await,
            "callback" => return_leg::callback(req, &return_leg).await,
            "complete" => return_leg::complete(req, &return_leg).await,
            "webhook" => webhook::handle(req, &webhook_svc).await,
            "connections" => connections_api::handle(req, &connections_svc).await,
            other => panic!("unknown function {other}"),
        };
        assert_eq!(
            resp.status().as_u16(),
            exp.status,
            "{name}: {}",
            text(&resp)
        );
        if let Some(loc) = &exp.location {
            assert_eq!(resp.headers()["location"], loc.as_str(), "{name}");
        }
        if let Some(prefix) = &exp.location_prefix {
            let loc = resp.headers()["location"].to_str().unwrap();
            assert!(loc.starts_with(prefix.as_str()), "{name}: {loc}");
        }
        if let Some(code) = &exp.error {
            let body: serde_json::Value = serde_json::from_str(&text(&resp)).unwrap();
            assert_eq!(body["error"], code.as_str(), "{name}");
        }
        if exp.status == 200 && exp.function == "init-session" {
            let body: serde_json::Value = serde_json::from_str(&text(&resp)).unwrap();
            assert_eq!(body["mode"], "hosted", "{name}");
        }
        // The answer is what openapi.yaml says this route answers.
        if let Err(e) = api.check(
            &method,
            &path,
            resp.status().as_u16(),
            resp.headers(),
            &text(&resp),
        ) {
            contract.push(format!("{name}: {e}"));
        }
        if exp.status == 204 {
            assert_eq!(
                resp.headers()["access-control-allow-origin"],
                "http://localhost:8080"
            );
        }
    }
    assert!(
        contract.is_empty(),
        "answers that openapi.yaml does not describe:\n{}",
        contract.join("\n")
    );
}

/// openapi.yaml describes exactly the template's routes (and their CORS
/// preflights), and each route declares the authorizer it is behind: the JWT
/// for the browser's, SigV4 (AWS IAM) for the platform's, none for the
/// callback, the webhook and the preflights.
#[test]
fn openapi_describes_every_route() {
    use link_shared::routes;
    let api = OpenApi::load(&root().join("openapi.yaml"));
    let mut expected = std::collections::BTreeSet::new();
    for ((m, p), scheme) in [
        (routes::SESSION, Some("jwt")),
        (routes::CALLBACK, None),
        (routes::COMPLETE, Some("jwt")),
        (routes::WEBHOOK, None),
        (routes::CONNECTIONS, Some("jwt")),
        (routes::DISCONNECT, Some("jwt")),
        (routes::ERASE, Some("jwt")),
        (routes::PLATFORM_USER_CONNECTIONS, Some("sigv4")),
        (routes::PLATFORM_CONNECTION, Some("sigv4")),
    ] {
        expected.insert((m.to_string(), p.to_string()));
        let want: std::collections::BTreeSet<String> =
            scheme.into_iter().map(String::from).collect();
        assert_eq!(api.security(m, p), want, "{m} {p}");
    }
    for p in [
        routes::SESSION.1,
        routes::COMPLETE.1,
        routes::CONNECTIONS.1,
        routes::DISCONNECT.1,
        routes::ERASE.1,
    ] {
        expected.insert(("OPTIONS".to_string(), p.to_string()));
        assert!(api.security("OPTIONS", p).is_empty(), "OPTIONS {p}");
    }
    assert_eq!(api.operations(), expected);
}

/// invoke/ is what `link-dev make-invoke` writes from the catalogue: the files
/// cannot drift from the one place events are built.
#[test]
fn events_directory_is_generated_from_the_catalogue() {
    let files = link_dev::invoke::files().unwrap();
    let dir = root().join("invoke");
    for (name, text) in &files {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            on_disk == *text,
            "invoke/{name} differs from the catalogue: run `cargo run -p link-dev -- make-invoke`"
        );
    }
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert_eq!(
        on_disk,
        files.len(),
        "invoke/ holds files the catalogue does not"
    );
}
