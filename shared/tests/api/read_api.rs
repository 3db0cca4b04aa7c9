//! The platform's read API (AWS IAM, SigV4), against DynamoDB Local: a user's
//! connections (active and expired, with the account) and one connection's owner
//! and status; an unsigned request and a browser's JWT are refused, the JWT
//! routes refuse a signed request, and a user's erased data is not served.
//! Locally (no IAM authorizer), a request signed with the local credentials is
//! accepted and a wrong or stale signature refused.

use std::time::{Duration, SystemTime};

use crate::helpers::*;
use link_fixtures::ApiEvent;
use link_shared::lambda_http::{Body, Response};

const SERVICE: &str = "arn:aws:iam::123456789012:role/billing-worker";

async fn call(h: &Harness, ev: ApiEvent) -> (u16, serde_json::Value) {
    let resp: Response<Body> =
        link_shared::connections_api::handle(request(&ev), &h.connections).await;
    (resp.status().as_u16(), json_body(&resp))
}

fn platform(path: &str) -> ApiEvent {
    ApiEvent::new("GET", path)
}

#[tokio::test]
async fn a_services_reads_a_users_connections_and_one_connection() {
    let h = Harness::new().await;
    let user = unique("user");
    let active = h.connect(&user, "").await;
    let expired = h.connect(&user, "").await;
    let gone = h.connect(&user, "").await;
    h.sim.expire_connection(&expired);
    h.reconcile().await;
    assert_eq!(h.disconnect(&user, &gone).await.status(), 204);
    let other = h.connect(&unique("other"), "").await;

    let (status, body) = call(
        &h,
        platform(&format!("/platform/users/{user}/connections"))
            .route("/platform/users/{userId}/connections")
            .path_param("userId", &user)
            .iam(SERVICE),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["userId"], user.as_str());
    let listed: Vec<(&str, &str)> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["connectionId"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
            )
        })
        .collect();
    let mut want = vec![(active.as_str(), "active"), (expired.as_str(), "expired")];
    let mut got = listed.clone();
    want.sort();
    got.sort();
    assert_eq!(
        got, want,
        "active and expired, never disconnected nor another user's"
    );
    for c in body["connections"].as_array().unwrap() {
        assert_eq!(c["userId"], user.as_str());
        assert!(
            c["accountId"].as_str().is_some_and(|a| !a.is_empty()),
            "{c}"
        );
        assert!(c["username"].as_str().is_some_and(|a| !a.is_empty()), "{c}");
    }
    let one = |id: &str| {
        platform(&format!("/platform/connections/{id}"))
            .route("/platform/connections/{id}")
            .path_param("id", id)
            .iam(SERVICE)
    };
    let (status, body) = call(&h, one(&gone)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("disconnected"))
    );
    assert_eq!(body["userId"], user.as_str());
    let (status, body) = call(&h, one(&other)).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(&h, one("conn_nosuchthing")).await;
    assert_eq!(status, 404);

    // A user's erased data is not served.
    assert_eq!(h.erase(&user).await.0, 200);
    let (status, body) = call(
        &h,
        platform(&format!("/platform/users/{user}/connections")).iam(SERVICE),
    )
    .await;
    assert_eq!(
        (status, body["connections"].as_array().map(Vec::len)),
        (200, Some(0)),
        "{body}"
    );
    for id in [&active, &expired, &gone] {
        assert_eq!(
            call(&h, one(id)).await.0,
            404,
            "{id} served after the erasure"
        );
    }
}

#[tokio::test]
async fn unsigned_requests_and_browser_tokens_are_refused() {
    let h = Harness::new().await;
    let user = unique("user");
    let conn = h.connect(&user, "").await;
    let path = format!("/platform/connections/{conn}");
    // No authorizer at all (no local credentials configured either).
    let (status, body) = call(&h, platform(&path)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    // A browser's JWT is not an IAM principal.
    let (status, _) = call(&h, platform(&path).user(&user)).await;
    assert_eq!(status, 403);
    // The browser's routes refuse a signed request: they need the JWT's user.
    let (status, body) = call(&h, ApiEvent::new("GET", "/link/connections").iam(SERVICE)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );
    // Nothing but GET.
    let (status, _) = call(&h, ApiEvent::new("DELETE", &path).iam(SERVICE)).await;
    assert_eq!(status, 405);
}

/// SigV4 headers for `GET https://links.example.com<path>` at `at`.
fn signed(path: &str, key: &str, secret: &str, at: SystemTime) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let uri = format!("https://links.example.com{path}");
    let req = SignableRequest::new(
        "GET",
        uri.as_str(),
        [("host", "links.example.com")].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let (headers, _) = instructions.into_parts();
    let mut out: Vec<(String, String)> = headers
        .into_iter()
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    out.push(("host".into(), "links.example.com".into()));
    out
}

#[tokio::test]
async fn locally_a_request_signed_with_the_local_credentials_is_accepted() {
    let h = Harness::with(Options {
        env: vec![
            ("DEV_TRUST_USER_HEADER", "true".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local-secret".into()),
        ],
        ..Options::default()
    })
    .await;
    let user = unique("user");
    let conn = h.connect(&user, "").await;
    let path = format!("/platform/connections/{conn}");
    let with = |headers: Vec<(String, String)>| {
        headers
            .iter()
            .fold(platform(&path), |ev, (k, v)| ev.header(k, v))
    };
    let now = SystemTime::now();
    let (status, body) = call(&h, with(signed(&path, "local", "local-secret", now))).await;
    assert_eq!(
        (status, body["userId"].as_str()),
        (200, Some(user.as_str())),
        "{body}"
    );
    for (label, headers) in [
        ("wrong secret", signed(&path, "local", "guess", now)),
        ("wrong key", signed(&path, "someone", "local-secret", now)),
        (
            "stale",
            signed(
                &path,
                "local",
                "local-secret",
                now - Duration::from_secs(600),
            ),
        ),
        (
            "another path",
            signed(
                "/platform/connections/conn_other",
                "local",
                "local-secret",
                now,
            ),
        ),
        (
            "unsigned",
            vec![("host".into(), "links.example.com".into())],
        ),
    ] {
        let (status, _) = call(&h, with(headers)).await;
        assert_eq!(status, 403, "{label}");
    }
}
