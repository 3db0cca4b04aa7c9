//! `GET /link/callback`, where OFAuth sends the browser back (the redirect flow).
//!
//! Every parameter is attacker-controlled. The callback checks what it can (the
//! attempt, the connection's owner, OFAuth's word on the connection and on its
//! origin, see [`super::provenance`]), stores the verified outcome on the attempt,
//! and sends the browser to the app's return page with a one-time completion code
//! that only this browser has. Nothing is bound here: the signed-in return page
//! completes the flow with `POST /link/complete` ([`super::completion`]). The
//! browser only ever goes to the app's configured targets, with no more than the
//! page needs (`status`, and `code`, `step` or `error_code`).
//!
//! The browser that first comes back with a success is bound to the attempt by
//! an HttpOnly cookie ([`BrowserSecret`]): a reload of the callback in that
//! browser gets a new code (the first answer may have been lost), the same URL
//! replayed anywhere else gets none.

use std::time::SystemTime;

use lambda_http::http::header::{HeaderValue, COOKIE, HOST, SET_COOKIE};
use lambda_http::http::Method;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use url::Url;

use super::callback_query::{read_callback, Callback, CallbackOutcome, CancelStep};
use super::provenance::{Provenance, Verified};
use super::refusal::{Refusal, RefusalCode, Severity};
use super::service::ReturnLeg;
use crate::config::{AppTargets, StartCookie};
use crate::error::ApiError;
use crate::http;
use crate::ids::{mask, AttemptId, BrowserCookie, BrowserSecret, CompletionCode, ConnectionId};
use crate::model::{AccountProfile, AttemptEnd, AttemptStatus, LinkAttempt, Returned};
use crate::site;
use crate::store::StoreError;
use crate::telemetry;
use crate::time::epoch;

/// Handles `GET /link/callback`. Always answers with a redirect to one of the
/// app's configured targets (or 405 for a non-GET).
pub async fn handle(req: Request, svc: &ReturnLeg) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return http::respond(Err(ApiError::method_not_allowed("GET")));
    }
    let callback = match read_callback(&req) {
        Ok(c) => c,
        Err(code) => {
            Refusal::new(code, Severity::Info, "callback refused before any lookup").log(None);
            return error_redirect(&svc.settings.app, code);
        }
    };
    telemetry::correlate(&callback.attempt);
    // A success binds the browser that brings it: its secret is chosen before
    // anything is written, and sent with whatever the answer is (a write that
    // committed behind a timeout is then found by this browser's reload).
    let browser = match &callback.outcome {
        CallbackOutcome::Success { .. } => match Browser::of(&req) {
            Ok(browser) => Some(browser),
            Err(e) => {
                let refusal = Refusal::unavailable(format_args!("no randomness: {e}"));
                refusal.log(Some(&callback.attempt));
                return error_redirect(&svc.settings.app, refusal.code);
            }
        },
        _ => None,
    };
    let decided = decide(&callback, browser.as_ref(), svc);
    let result = tokio::time::timeout(http::time_budget(&req), decided)
        .await
        .unwrap_or_else(|_| Err(Refusal::unavailable("callback ran out of time")));
    let mut resp = result.unwrap_or_else(|refusal| {
        refusal.log(Some(&callback.attempt));
        error_redirect(&svc.settings.app, refusal.code)
    });
    let returned = browser.map(|b| b.returned.set_cookie(BrowserCookie::Return));
    if let Some(cookie) = returned.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(SET_COOKIE, cookie);
    }
    resp
}

/// The browser a success comes back in: its return cookie (the one it has, or
/// a new one), its start cookie if it has one, and the host it called.
struct Browser {
    returned: BrowserSecret,
    start: Option<BrowserSecret>,
    host: String,
}

impl Browser {
    fn of(req: &Request) -> Result<Self, getrandom::Error> {
        let cookies = req
            .headers()
            .get(COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let returned = match BrowserSecret::from_cookies(cookies, BrowserCookie::Return) {
            Some(known) => known,
            None => BrowserSecret::generate()?,
        };
        Ok(Self {
            returned,
            start: BrowserSecret::from_cookies(cookies, BrowserCookie::Start),
            host: request_host(req),
        })
    }

    /// Whether it is the browser that started the attempt. Where it is not
    /// (a Link URL opened elsewhere), no code is handed out, unless this
    /// deployment is cross-site ([`StartCookie::Logged`]): then the code goes
    /// out with a security log line and the `StartCookieMissing` metric.
    /// `true` when its start cookie matched.
    fn started(&self, attempt: &LinkAttempt, svc: &ReturnLeg) -> Result<bool, Refusal> {
        let Some(hash) = attempt.start_hash.as_deref() else {
            return Ok(false); // an attempt an earlier release started
        };
        if self.start.as_ref().is_some_and(|s| s.matches(hash)) {
            return Ok(true);
        }
        match svc.settings.start_cookie_for(&self.host) {
            StartCookie::Required => Err(Refusal::new(
                RefusalCode::BrowserMismatch,
                Severity::Warn,
                "a return without the start cookie of the browser that started the attempt (its Link URL opened elsewhere?); no code",
            )),
            StartCookie::Logged => {
                telemetry::start_cookie_missing();
                tracing::warn!(
                    outcome = "start_cookie_missing",
                    security = true,
                    attempt = ?attempt.id,
                    "a return without the start cookie, handed a code: this deployment is cross-site (START_COOKIE)"
                );
                Ok(false)
            }
        }
    }
}

/// The host the callback was called on: API Gateway's domain, else `Host`.
fn request_host(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(d) = ctx.domain_name.as_deref().filter(|d| !d.is_empty()) {
            return site::host_of(d).to_string();
        }
    }
    req.headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| site::host_of(h).to_string())
        .unwrap_or_default()
}

/// Decides a well-formed callback against the attempt (and, for a success, the
/// connection's record and OFAuth): where the browser goes, or why not.
async fn decide(
    cb: &Callback,
    browser: Option<&Browser>,
    svc: &ReturnLeg,
) -> Result<Response<Body>, Refusal> {
    let now = SystemTime::now();
    // A success names its connection: its record is read with the attempt, in
    // one request (provenance needs it before any OFAuth call).
    let (attempt, record) = match &cb.outcome {
        CallbackOutcome::Success { connection } => {
            svc.store
                .get_attempt_and_connection(&cb.attempt, connection)
                .await?
        }
        _ => (svc.store.get_attempt(&cb.attempt).await?, None),
    };
    let attempt = attempt.ok_or_else(|| {
        Refusal::new(
            RefusalCode::InvalidState,
            Severity::Warn,
            "unknown client_reference_id",
        )
    })?;
    let used = || {
        Refusal::new(
            RefusalCode::InvalidState,
            Severity::Warn,
            format!("attempt already used ({})", attempt.status.as_str()),
        )
    };
    let CallbackOutcome::Success { connection } = &cb.outcome else {
        // Cancelled or failed at OFAuth: the attempt ends, the browser is told.
        if attempt.status != AttemptStatus::Pending {
            return Err(used());
        }
        Provenance::usable(&attempt, now)?;
        if let Some(end) = cb.outcome.end() {
            svc.store.end_attempt(&attempt, &end, now).await?;
        }
        cb.outcome.record(&cb.attempt);
        return Ok(redirect_for(&svc.settings.app, &cb.outcome, None));
    };
    let (Some(browser), same) = (browser, attempt.connection.as_ref() == Some(connection)) else {
        return Err(used());
    };
    // A reconnect's URL may be used after its attempt moved on (completed
    // early, cancelled by a forged callback): every success naming one is
    // checked against OFAuth, whatever the attempt's state.
    if attempt.status != AttemptStatus::Pending {
        // Boxed: kept out of this future's own size.
        Box::pin(svc.provenance.recheck_reconnect(&attempt, now)).await?;
    }
    match attempt.status {
        // Completed in the popup before the page followed `successUrl`, or a
        // reload after completion: nothing to do, nothing to hand out.
        AttemptStatus::Completed | AttemptStatus::Verifying if same => {
            telemetry::outcome("already_completed");
            tracing::info!(outcome = "already_completed", attempt = ?attempt.id);
            Ok(redirect_for(&svc.settings.app, &cb.outcome, None))
        }
        // A reload before completion, in the browser that came back: a new
        // code replaces the old one. Anywhere else the URL gives nothing.
        AttemptStatus::Returned if same => {
            if !attempt
                .browser_hash
                .as_deref()
                .is_some_and(|h| browser.returned.matches(h))
            {
                // Its own URL reloaded in another browser, as often as a
                // replay: a log line of its own, not a security event.
                return Err(Refusal::new(
                    RefusalCode::InvalidState,
                    Severity::Warn,
                    "a returned attempt's callback from a browser other than the one that came back (a replayed URL?)",
                ));
            }
            Provenance::usable(&attempt, now)?;
            let verified = Verified::returned(&attempt);
            let to_starter = attempt.returned_to_starter;
            give_code(
                &attempt, connection, &verified, browser, to_starter, svc, now,
            )
            .await
        }
        AttemptStatus::Pending => {
            Provenance::usable(&attempt, now)?;
            let to_starter = match browser.started(&attempt, svc) {
                Ok(matched) => matched,
                Err(refusal) => {
                    // Its Link URL was used elsewhere: the attempt ends, so that the
                    // same return, sent on to the browser that started it (a link
                    // to click), gives nothing either.
                    let end = AttemptEnd::Refused {
                        error_code: refusal.code.as_str().into(),
                    };
                    return match svc.store.end_attempt(&attempt, &end, now).await {
                        Ok(()) | Err(StoreError::AttemptNotUsable) => Err(refusal),
                        Err(e) => Err(e.into()),
                    };
                }
            };
            let verified = svc
                .provenance
                .verify_read(&attempt, connection, record, now)
                .await?;
            give_code(
                &attempt, connection, &verified, browser, to_starter, svc, now,
            )
            .await
        }
        _ => Err(used()),
    }
}

impl CallbackOutcome {
    /// How a return that is not a success ends its attempt.
    fn end(&self) -> Option<AttemptEnd> {
        match self {
            Self::Success { .. } => None,
            Self::Cancelled { step } => Some(AttemptEnd::Cancelled {
                step: step.as_ref().map(|s| s.as_str().to_string()),
            }),
            Self::Error { code } => Some(AttemptEnd::Failed {
                error_code: code.as_str().to_string(),
            }),
        }
    }

    /// The one log line and the metrics of a return that ended its attempt.
    fn record(&self, attempt: &AttemptId) {
        match self {
            Self::Success { .. } => {}
            Self::Cancelled { step } => {
                telemetry::outcome("cancelled");
                telemetry::link_cancelled(step.as_ref().map_or("none", CancelStep::metric_label));
                tracing::info!(outcome = "cancelled", attempt = ?attempt, step = step.as_ref().map(CancelStep::as_str));
            }
            Self::Error { code } => {
                telemetry::outcome("link_error");
                telemetry::link_error(code.metric_label());
                tracing::info!(outcome = "link_error", attempt = ?attempt, error_code = code.as_str());
            }
        }
    }
}

/// Stores the verified outcome with a fresh code's hash and sends the browser to
/// the app's return page with the code.
async fn give_code(
    attempt: &LinkAttempt,
    connection: &ConnectionId,
    verified: &Verified,
    browser: &Browser,
    to_starter: bool,
    svc: &ReturnLeg,
    now: SystemTime,
) -> Result<Response<Body>, Refusal> {
    let code = CompletionCode::generate(&attempt.id)
        .map_err(|e| Refusal::unavailable(format_args!("no randomness: {e}")))?;
    let expires = (epoch(now) + svc.settings.completion_code_ttl.as_secs() as i64)
        .min(attempt.expires_at_epoch);
    let (hash, browser_hash) = (code.hash(), browser.returned.hash());
    let unknown = AccountProfile::default();
    let returned = Returned {
        connection,
        account: verified.account.as_ref().unwrap_or(&unknown),
        attested: verified.attested,
        code_hash: &hash,
        code_expires_epoch: expires,
        browser_hash: &browser_hash,
        to_starter,
    };
    svc.store.return_attempt(attempt, &returned, now).await?;
    telemetry::outcome("returned");
    tracing::info!(
        outcome = "returned",
        user = %mask(&attempt.user_id),
        attempt = ?attempt.id,
        connection = %connection.masked(),
        attested = verified.attested,
        reconnect = attempt.reconnect.is_some(),
    );
    let success = CallbackOutcome::Success {
        connection: connection.clone(),
    };
    Ok(redirect_for(&svc.settings.app, &success, Some(&code)))
}

/// Where the browser goes for a callback's outcome, with only what the page
/// needs: `status=success` (and `code=…` when the browser still has to complete
/// the flow; the completion's answer names the connection),
/// `status=cancelled&step=…`, or `status=error&error_code=…`.
pub fn redirect_for(
    app: &AppTargets,
    outcome: &CallbackOutcome,
    code: Option<&CompletionCode>,
) -> Response<Body> {
    match outcome {
        CallbackOutcome::Success { .. } => {
            let code = code.map(CompletionCode::reveal);
            let mut params = vec![("status", "success")];
            if let Some(c) = &code {
                params.push(("code", c));
            }
            target_redirect(&app.success, &params)
        }
        CallbackOutcome::Cancelled { step } => {
            let mut params = vec![("status", "cancelled")];
            if let Some(s) = step {
                params.push(("step", s.as_str()));
            }
            target_redirect(&app.cancelled, &params)
        }
        CallbackOutcome::Error { code } => target_redirect(
            &app.error,
            &[("status", "error"), ("error_code", code.as_str())],
        ),
    }
}

/// The app's error page for a refusal of this service's.
pub fn error_redirect(app: &AppTargets, code: RefusalCode) -> Response<Body> {
    target_redirect(
        &app.error,
        &[("status", "error"), ("error_code", code.as_str())],
    )
}

/// A redirect to a configured target with only the given (non-sensitive) parameters.
fn target_redirect(target: &Url, params: &[(&str, &str)]) -> Response<Body> {
    let mut url = target.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    http::redirect(&url)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_target_and_encode_values() {
        let target = Url::parse("https://app.example.com/link/error?from=link").unwrap();
        let resp = target_redirect(&target, &[("status", "error"), ("error_code", "a&b=c")]);
        assert_eq!(resp.status(), 302);
        assert_eq!(
            resp.headers()["location"],
            "https://app.example.com/link/error?from=link&status=error&error_code=a%26b%3Dc"
        );
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    }
}
