//! The smoke checks can fail: against a server that answers everything with
//! 200 and reflects any origin (a stack with its front door open), every check
//! fails. (That they pass against a real stack, `make dev`, is run by
//! `make test`: scripts/check-local-stack.sh.)

use axum::http::{HeaderMap, HeaderValue};

#[tokio::test]
async fn every_check_fails_against_an_open_door() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let origin = headers
            .get("origin")
            .cloned()
            .unwrap_or(HeaderValue::from_static("*"));
        (
            [
                ("access-control-allow-origin", origin),
                (
                    "access-control-allow-methods",
                    HeaderValue::from_static("POST"),
                ),
            ],
            "{}",
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let hook: reqwest::Url = format!("{base}/link/webhook/some-secret-segment")
        .parse()
        .unwrap();
    let results = link_dev::smoke::run(
        &base.parse().unwrap(),
        Some("https://app.example.com"),
        Some(&hook),
    )
    .await
    .unwrap();
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, e)| e.is_some())
        .map(|(n, _)| *n)
        .collect();
    // All but the app origin's preflight, which an open door also passes.
    assert_eq!(results.len(), 9);
    assert_eq!(failed.len(), 8, "{results:?}");
    assert!(!failed.contains(&"preflight allows the app's origin"));
}
