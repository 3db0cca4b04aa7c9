//! The hosted pages as OFAuth's embed library sees them: the CSP OFAuth
//! documents (`frame-ancestors 'self' <Allowed Origins>`), an `embed_origin`
//! that is not allowed refused, and every page, the final ones too, answering
//! the library's `exit_requested` (its `close()`, a click on its overlay). The
//! browser test drives the same pages through the library's stand-in.

use ofauth_sim::{HostedMode, SimConfig, Simulator};
use serde_json::{json, Value};

const KEY: &str = "sk_sandbox_embed";
const APP: &str = "http://localhost:5173";

async fn sim() -> Simulator {
    Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig {
            api_key: KEY.into(),
            allowed_redirects: vec!["https://api.example.com/link/callback".into()],
            allowed_origins: vec![APP.into(), "https://app.example.com".into()],
            ..SimConfig::default()
        },
    )
    .await
    .unwrap()
}

/// A new session's hosted URL.
async fn session(sim: &Simulator, http: &reqwest::Client) -> String {
    let v: Value = http
        .post(format!("{}/v2/link/init", sim.url()))
        .header("apikey", KEY)
        .json(&json!({ "clientReferenceId": "la_1" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["url"].as_str().unwrap().to_string()
}

fn embedded(url: &str, path: &str, origin: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_path(&format!("{}{path}", u.path()));
    u.query_pairs_mut()
        .append_pair("embed", "true")
        .append_pair("embed_origin", origin)
        .append_pair("theme", "auto");
    u.to_string()
}

/// The page's body, after checking its CSP.
async fn page(http: &reqwest::Client, url: &str) -> (u16, String) {
    let r = http.get(url).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        csp,
        format!("frame-ancestors 'self' {APP} https://app.example.com"),
        "{url}"
    );
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The step the page's `exit_requested` answer reports, if it has one.
fn exit_answer(html: &str) -> Option<String> {
    let at = html.find(r#"e.data.event !== "exit_requested""#)?;
    let rest = &html[at..];
    let step = rest.split("step: ").nth(1)?.split(',').next()?;
    assert!(rest.contains(r#"event: "exit""#), "{html}");
    assert!(
        rest.contains(r#"e.data.force ? { type: "forced_exit""#),
        "{html}"
    );
    Some(serde_json::from_str::<String>(step).unwrap())
}

#[tokio::test]
async fn every_embedded_page_answers_exit_requested_and_sends_ofauths_csp() {
    let sim = sim().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The session page, then each way it ends.
    let url = session(&sim, &http).await;
    let (status, html) = page(&http, &embedded(&url, "", APP)).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"event: "loaded""#));
    assert_eq!(exit_answer(&html).as_deref(), Some("pre-login"));

    let (_, html) = page(&http, &embedded(&url, "/approve", APP)).await;
    assert!(html.contains(r#""event":"success""#), "{html}");
    assert_eq!(exit_answer(&html).as_deref(), Some("success"));

    let url = session(&sim, &http).await;
    let (_, html) = page(
        &http,
        &format!("{}&step=2fa", embedded(&url, "/cancel", APP)),
    )
    .await;
    assert!(
        html.contains(r#""event":"exit""#) && html.contains(r#""step":"2fa""#),
        "{html}"
    );
    assert_eq!(exit_answer(&html).as_deref(), Some("error"));

    let url = session(&sim, &http).await;
    let (_, html) = page(&http, &embedded(&url, "/fail", APP)).await;
    assert!(
        html.contains(r#""error_type":"invalid_credentials""#),
        "{html}"
    );
    assert_eq!(exit_answer(&html).as_deref(), Some("error"));

    // An expired session: the library keeps the iframe up, so the page must
    // still answer a close.
    sim.set_hosted_mode(HostedMode {
        invalid_sessions: 1,
        ..HostedMode::default()
    });
    let url = session(&sim, &http).await;
    let (_, html) = page(&http, &embedded(&url, "", APP)).await;
    assert!(html.contains(r#""event":"invalid_session""#), "{html}");
    assert_eq!(exit_answer(&html).as_deref(), Some("pre-login"));

    // Not embedded: the browser is redirected, and the page still may only be
    // framed by the Allowed Origins.
    let url = session(&sim, &http).await;
    let r = http.get(format!("{url}/approve")).send().await.unwrap();
    assert_eq!(r.status(), 303);

    // An origin that is not allowed may not embed it.
    let url = session(&sim, &http).await;
    let (status, html) = page(&http, &embedded(&url, "", "https://evil.example")).await;
    assert_eq!(status, 400);
    assert!(exit_answer(&html).is_none());
}
