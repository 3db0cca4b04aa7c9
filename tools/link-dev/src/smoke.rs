//! `make smoke URL=… [ORIGIN=…]`: read-only checks against a deployed stack (or
//! `make dev`) that its front door is shut where it must be. No OFAuth key and no
//! sign-in are needed, and nothing is written: every request is refused before
//! any write.
//!
//! - the CORS preflight answers the app's origin (`ORIGIN`) and never reflects
//!   another;
//! - `POST /link/session` and `GET /link/connections` without a JWT are 401;
//! - a forged callback (an attempt that does not exist) redirects to the app's
//!   error page with `invalid_state`, uncached;
//! - a webhook with a bad signature is 401 (at `WEBHOOK_URL`, the webhook's
//!   own API and secret path, when given); on the frontend's API, `POST
//!   /link/webhook` reaches no webhook deployed (404: OFAuth's deliveries have
//!   their own API), or, locally, is 401 too;
//! - the platform's read API (`/platform/…`, AWS IAM) refuses an unsigned
//!   request and a bearer token with 403.

use std::time::{Duration, SystemTime};

use reqwest::{Method, StatusCode, Url};

use crate::Error;

/// A check's name and what went wrong (`None`: passed).
pub type Outcome = (&'static str, Option<String>);

/// An origin no deployment allows.
const FOREIGN_ORIGIN: &str = "https://smoke-test.invalid";

/// Runs every check against the API at `base`; `origin` is the app's, when known.
pub async fn run(
    base: &Url,
    origin: Option<&str>,
    webhook: Option<&Url>,
) -> Result<Vec<Outcome>, Error> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()?;
    let url = |path: &str| -> Result<Url, Error> {
        let mut u = base.clone();
        let prefix = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{prefix}{path}"));
        Ok(u)
    };
    let mut out = Vec::new();

    // CORS: the app's origin is allowed to POST a session; another is not.
    let preflight = |from: &str| {
        http.request(Method::OPTIONS, url("/link/session").unwrap())
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    if let Some(origin) = origin {
        let r = preflight(origin).await?;
        let allow = header(&r, "access-control-allow-origin");
        let methods = header(&r, "access-control-allow-methods").to_ascii_uppercase();
        out.push((
            "preflight allows the app's origin",
            (!(r.status().is_success() && allow == origin && methods.contains("POST"))).then(
                || {
                    format!(
                        "{} allow-origin={allow:?} allow-methods={methods:?}",
                        r.status()
                    )
                },
            ),
        ));
    }
    let r = preflight(FOREIGN_ORIGIN).await?;
    let allow = header(&r, "access-control-allow-origin");
    out.push((
        "preflight refuses another origin",
        (allow == FOREIGN_ORIGIN || allow == "*")
            .then(|| format!("{} allow-origin={allow:?}", r.status())),
    ));

    // No JWT, no session and no list.
    let r = http
        .post(url("/link/session")?)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await?;
    out.push(("session without a JWT is 401", expect(r.status(), 401)));
    let r = http.get(url("/link/connections")?).send().await?;
    out.push(("connections without a JWT is 401", expect(r.status(), 401)));

    // A forged callback: a well-formed attempt id nobody started.
    let mut cb = url("/link/callback")?;
    cb.query_pairs_mut()
        .append_pair("status", "success")
        .append_pair("connection_id", "conn_smoke0000000000000000")
        .append_pair("client_reference_id", &format!("la_{}", "0".repeat(40)));
    let r = http.get(cb).send().await?;
    let location = header(&r, "location");
    let cache = header(&r, "cache-control");
    out.push((
        "a forged callback redirects to the error page",
        (!(r.status() == StatusCode::FOUND
            && location.contains("status=error")
            && location.contains("error_code=invalid_state")
            && cache.contains("no-store")))
        .then(|| {
            format!(
                "{} location={location:?} cache-control={cache:?}",
                r.status()
            )
        }),
    ));

    // A webhook signed with the wrong secret.
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .as_secs();
    let bad_webhook = |to: Url| {
        http.post(to)
            .header("content-type", "application/json")
            .header("ofauth-signature", format!("t={t},v1={}", "0".repeat(64)))
            .body(r#"{"id":"evt_smoke","type":"connection.created","data":{}}"#)
            .send()
    };
    let refused = |status: StatusCode, body: &serde_json::Value| {
        status == StatusCode::UNAUTHORIZED && body["error"] == "invalid_signature"
    };
    if let Some(hook) = webhook {
        let r = bad_webhook(hook.clone()).await?;
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        out.push((
            "a webhook with a bad signature is 401 (WEBHOOK_URL)",
            (!refused(status, &body)).then(|| format!("{status} {body}")),
        ));
    }
    let r = bad_webhook(url("/link/webhook")?).await?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    out.push((
        "POST /link/webhook on this API reaches no webhook (404), or one that refuses a bad signature (401)",
        (!(status == StatusCode::NOT_FOUND || refused(status, &body)))
            .then(|| format!("{status} {body}")),
    ));

    // The platform's read API takes SigV4 only: neither no signature nor a
    // browser's bearer token (a made-up one) reaches a user's connections.
    let platform = url("/platform/users/smoke-user/connections")?;
    let r = http.get(platform.clone()).send().await?;
    out.push((
        "the platform API without a signature is 403",
        expect(r.status(), 403),
    ));
    let r = http
        .get(platform)
        .header("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c21va2U")
        .header("x-user-id", "smoke-user")
        .send()
        .await?;
    out.push((
        "the platform API with a bearer token is 403",
        expect(r.status(), 403),
    ));
    Ok(out)
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn expect(got: StatusCode, want: u16) -> Option<String> {
    (got.as_u16() != want).then(|| format!("answered {got}"))
}
