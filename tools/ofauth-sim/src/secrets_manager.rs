//! A local stand-in for AWS Secrets Manager's `GetSecretValue` (JSON 1.1 protocol,
//! `X-Amz-Target: secretsmanager.GetSecretValue`), so the functions' production
//! path of reading the OFAuth key and the webhook secret at Init runs locally
//! (`AWS_ENDPOINT_URL_SECRETS_MANAGER`). Requests are not signature-checked.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

const JSON_11: &str = "application/x-amz-json-1.1";

/// Serves `secrets` (id -> secret string) on a fresh loopback port.
pub async fn serve(secrets: BTreeMap<String, String>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/", post(handle))
        .with_state(Arc::new(secrets));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON_11)], body.to_string()).into_response()
}

fn aws_error(kind: &str, message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({ "__type": kind, "message": message }),
    )
}

async fn handle(
    State(secrets): State<Arc<BTreeMap<String, String>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if target != "secretsmanager.GetSecretValue" {
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
    match secrets.get(&id) {
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
