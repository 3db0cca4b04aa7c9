//! A Link URL that leaks (browser history, a proxy log, a shared screen) cannot
//! inject an account: a completion code goes only to the browser that started
//! the attempt (its start cookie, set by `POST /link/session`), against DynamoDB
//! Local and the simulator over HTTP. Mallory opens the victim's unused Link URL
//! and signs in to her own OnlyFans account there; her browser comes back to
//! the callback.

use std::time::Duration;

use crate::helpers::*;
use ofauth_sim::SignatureScheme;

const WAIT: Duration = Duration::from_secs(10);

/// The victim's attempt, started in the harness's browser: its URL and id.
async fn victim_starts(h: &Harness) -> (String, String) {
    h.start_attempt("victim", "").await
}

#[tokio::test]
async fn a_leaked_link_url_gives_whoever_opens_it_no_code() {
    // Both orders: OFAuth's webhook attesting the attempt before Mallory's
    // browser comes back, and after.
    for webhook_first in [true, false] {
        let h = Harness::with(Options {
            webhooks: webhook_first.then_some(SignatureScheme::Svix),
            ..Options::default()
        })
        .await;
        let (url, attempt) = victim_starts(&h).await;
        let query = h.hosted(&url, "approve").await; // Mallory signs in
        let conn = param(&query, "connection_id");
        if webhook_first {
            h.sim.wait_for_deliveries(1, WAIT).await;
        }
        let mallory = Browser::default();
        let back = h.callback_in(&mallory, &query).await;
        assert_error_redirect(&back, "browser_mismatch");
        // The attempt is over: the same return, sent on to the victim (a link
        // to click, in the browser that did start it), gives nothing either.
        let a = h.item(&format!("ATTEMPT#{attempt}")).await.unwrap();
        assert_eq!(s(&a, "status"), "refused");
        assert_error_redirect(&h.callback(&query).await, "invalid_state");
        // Nothing of Mallory's account is bound to the victim.
        let (_, list) = h.list_connections("victim").await;
        assert!(listed(&list).is_empty(), "{list}");
        let rec = h.item(&format!("CONNECTION#{conn}")).await;
        assert!(
            rec.as_ref().is_none_or(|r| s(r, "userId").is_empty()),
            "bound: {rec:?}"
        );
    }
}

#[tokio::test]
async fn the_browser_that_started_it_finishes_in_any_of_its_tabs() {
    // Two attempts started in one browser (two tabs): the start cookie is the
    // browser's, so both come back with a code, and both complete.
    let h = Harness::new().await;
    let first = h.start("victim", "").await;
    let second = h.start("victim", "").await;
    let q1 = h.hosted(&first, "approve").await;
    let q2 = h.hosted(&second, "approve").await;
    for q in [q2, q1] {
        let (status, body) = h.return_and_complete("victim", &q).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("active")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_cross_site_deployment_says_what_a_return_without_the_cookie_gets() {
    // The API on API Gateway's own domain, beside an app elsewhere: browsers may
    // not keep the API's cookie, so by default the code is handed out (with a
    // security log line and StartCookieMissing); START_COOKIE=required refuses.
    let cross = "https://abc123.execute-api.us-east-1.amazonaws.com/link/callback";
    for (setting, refused) in [(None, false), (Some("required"), true)] {
        let env = setting
            .map(|v| vec![("START_COOKIE", v.to_string())])
            .unwrap_or_default();
        let h = Harness::with(Options {
            env,
            callback_url: Some(cross.into()),
            ..Options::default()
        })
        .await;
        let (url, _) = victim_starts(&h).await;
        let query = h.hosted(&url, "approve").await;
        let back = h.callback_in(&Browser::default(), &query).await;
        if refused {
            assert_error_redirect(&back, "browser_mismatch");
        } else {
            assert!(
                query_param(&location(&back), "code").is_some(),
                "{setting:?}"
            );
        }
    }
}
