//! A local stand-in for AWS Secrets Manager's `GetSecretValue` (JSON 1.1 protocol,
//! `X-Amz-Target: secretsmanager.GetSecretValue`), so the functions' production
//! path of reading the OFAuth key and the webhook secret at Init runs locally
//! (`AWS_ENDPOINT_URL_SECRETS_MANAGER`). Requests are not signature-checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

const JSON_11: &str = "application/x-amz-json-1.1";

/// The secrets (id -> secret string) and how many times each was read.
#[derive(Debug, Default)]
struct Store {
    secrets: BTreeMap<String, String>,
    reads: BTreeMap<String, usize>,
}

/// A running stand-in, whose secrets can change (a rotation).
#[derive(Debug, Clone)]
pub struct SecretsManager {
    pub addr: SocketAddr,
    store: Arc<Mutex<Store>>,
}

impl SecretsManager {
    /// Serves `secrets` (id -> secret string) on a fresh loopback port.
    pub async fn start(secrets: BTreeMap<String, String>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Mutex::new(Store {
            secrets,
            reads: BTreeMap::new(),
        }));
        let app = Router::new()
            .route("/", post(handle))
            .with_state(store.clone());
        crate::serve_in_background(listener, app);
        Ok(Self { addr, store })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a new value in a secret (as `PutSecretValue` would).
    pub fn set(&self, id: &str, value: &str) {
        self.lock().secrets.insert(id.into(), value.into());
    }

    /// How many times a secret was read.
    pub fn reads(&self, id: &str) -> usize {
        self.lock().reads.get(id).copied().unwrap_or(0)
    }
}

/// Serves `secrets` (id -> secret string) on a fresh loopback port.
pub async fn serve(secrets: BTreeMap<String, String>) -> std::io::Result<SocketAddr> {
    Ok(SecretsManager::start(secrets).await?.addr)
}

/// An answer in the AWS JSON 1.1 protocol (the stand-ins share it).
pub(crate) fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON_11)], body.to_string()).into_response()
}

/// A client error in the AWS JSON 1.1 protocol.
pub(crate) fn aws_error(kind: &str, message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({ "__type": kind, "message": message }),
    )
}

/// The operation an AWS JSON 1.1 request names (`X-Amz-Target`).
pub(crate) fn target(headers: &HeaderMap) -> &str {
    headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn handle(
    State(store): State<Arc<Mutex<Store>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if target(&headers) != "secretsmanager.GetSecretValue" {
        return aws_error("UnknownOperationException", "only GetSecretValue is served");
    }
    let id = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
        v.get("SecretId")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let Some(id) = id else {
        return aws_error("ValidationException", "SecretId is required");
    };
    let value = {
        let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
        *store.reads.entry(id.clone()).or_default() += 1;
        store.secrets.get(&id).cloned()
    };
    match value {
        Some(value) => answer(
            StatusCode::OK,
            json!({
                "ARN": format!("arn:aws:secretsmanager:us-east-1:000000000000:secret:{id}-AbCdEf"),
                "Name": id,
                "SecretString": value,
                "VersionId": "00000000-0000-0000-0000-000000000001",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7e9,
            }),
        ),
        None => aws_error(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        ),
    }
}
