//! `POST /link/complete`, where the signed-in user finishes a Link flow
//! from the browser that completed it at OFAuth. This is presence: the binding
//! happens only for the user who started the attempt, with what only that
//! browser received.
//!
//! - Redirect flow: `{ "code": "lc_…" }`, the one-time code the callback put on the
//!   app's return page.
//! - Popup (embed) flow: `{ "attemptId": "la_…", "connectionId": "conn_…" }`, from
//!   the page that started the attempt and opened OFAuth's iframe, which handed
//!   it the connection id (`onSuccess(metadata.connection.id)`).
//!
//! Answers `200 { "status": "active", "connectionId" }` once the connection is
//! the user's, or `202 { "status": "verifying", "connectionId", "verifyBy" }`
//! while OFAuth's attestation of its origin has not arrived (never bound when it
//! does not arrive by `verifyBy`).
//!
//! A valid code completed by a different signed-in user is a fixation attempt
//! (someone sent the user a Link URL they started): it is refused, the attempt
//! ends, and a new connection it made is disconnected at OFAuth (it was made
//! against its account holder's intent, and nobody may own it).

use std::time::SystemTime;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use super::provenance::{Finished, Provenance, Verified};
use super::refusal::{Refusal, RefusalCode, Severity};
use super::service::ReturnLeg;
use crate::error::ApiError;
use crate::http;
use crate::identity;
use crate::ids::{mask, AttemptId, CompletionCode, ConnectionId};
use crate::model::{AttemptEnd, AttemptStatus, ChangeCause, ConnectionStatus, LinkAttempt};
use crate::store::RateCheck;
use crate::time::{epoch, rfc3339};

/// Largest body accepted; the real one is under 200 bytes.
pub const MAX_BODY_BYTES: usize = 2 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CompleteRequest {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    attempt_id: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
}

/// A validated request: which proof of presence it carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Proof {
    /// The redirect flow: the one-time code the callback put on the return page.
    Code(CompletionCode),
    /// The popup flow: the attempt this page started, and the connection the
    /// iframe reported to it.
    Popup {
        attempt: AttemptId,
        connection: ConnectionId,
    },
}

/// Parses and validates the body.
pub fn parse_request(body: &[u8]) -> Result<Proof, ApiError> {
    let invalid = |m: &'static str| ApiError::bad_request(RefusalCode::InvalidRequest.as_str(), m);
    let req: CompleteRequest = serde_json::from_slice(body).map_err(|_| {
        invalid("The body must be a JSON object with `code`, or `attemptId` and `connectionId`.")
    })?;
    match req {
        CompleteRequest {
            code: Some(code),
            attempt_id: None,
            connection_id: None,
        } => CompletionCode::parse(&code)
            .map(Proof::Code)
            .ok_or_else(|| {
                ApiError::from(Refusal::new(
                    RefusalCode::InvalidCode,
                    Severity::Warn,
                    "malformed completion code",
                ))
            }),
        CompleteRequest {
            code: None,
            attempt_id: Some(a),
            connection_id: Some(c),
        } => match (AttemptId::parse(&a), ConnectionId::parse(&c)) {
            (Some(attempt), Some(connection)) => Ok(Proof::Popup {
                attempt,
                connection,
            }),
            _ => Err(invalid("attemptId or connectionId is not valid.")),
        },
        _ => Err(invalid(
            "Send either `code`, or `attemptId` and `connectionId`.",
        )),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Answer<'a> {
    status: &'static str,
    connection_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_by: Option<String>,
}

/// Handles `POST /link/complete`.
pub async fn handle(req: Request, svc: &ReturnLeg) -> Response<Body> {
    http::json_api(&req, &svc.cors, complete(&req, svc)).await
}

async fn complete(req: &Request, svc: &ReturnLeg) -> Result<Response<Body>, ApiError> {
    if req.method() != Method::POST {
        return Err(ApiError::method_not_allowed("POST, OPTIONS"));
    }
    let user = identity::caller(req, &svc.identity)
        .ok_or_else(|| ApiError::unauthenticated("Sign in to finish connecting your account."))?;
    let body = http::body_bytes(req, MAX_BODY_BYTES)
        .ok_or_else(|| ApiError::bad_request("body_too_large", "The request body is too large."))?;
    let proof = parse_request(body)?;
    // Each completion may cost OFAuth calls and writes: a user gets a few per
    // window (counted once the request is well-formed), so one user cannot
    // spend the route's limit for everyone.
    if let Some((limit, window)) = svc.settings.complete_rate_limit {
        if let RateCheck::Limited { retry_after_secs } = svc
            .store
            .count_request("complete", &user, limit, window, SystemTime::now())
            .await?
        {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many completions; try again shortly.",
            )
            .detail(format_args!("user {} over {limit} per window", mask(&user)));
            e.retry_after = Some(retry_after_secs);
            return Err(e);
        }
    }
    let now = SystemTime::now();
    let (attempt, connection, finished) = match proof {
        Proof::Code(code) => complete_with_code(&user, &code, svc, now).await?,
        Proof::Popup {
            attempt,
            connection,
        } => complete_in_popup(&user, &attempt, &connection, svc, now).await?,
    };
    let (status, answer) = match finished {
        Finished::Active => (
            StatusCode::OK,
            Answer {
                status: ConnectionStatus::Active.as_str(),
                connection_id: connection.as_str(),
                verify_by: None,
            },
        ),
        Finished::Verifying { verify_by_epoch } => (
            StatusCode::ACCEPTED,
            Answer {
                status: "verifying",
                connection_id: connection.as_str(),
                verify_by: Some(rfc3339(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(verify_by_epoch.max(0) as u64),
                )),
            },
        ),
        Finished::Expired | Finished::Disconnected => (
            StatusCode::OK,
            Answer {
                status: if finished == Finished::Expired {
                    ConnectionStatus::Expired.as_str()
                } else {
                    ConnectionStatus::Disconnected.as_str()
                },
                connection_id: connection.as_str(),
                verify_by: None,
            },
        ),
    };
    crate::telemetry::outcome(answer.status);
    tracing::info!(
        outcome = answer.status,
        status = status.as_u16(),
        user = %mask(&user),
        attempt = ?attempt.id,
        connection = %connection.masked(),
    );
    Ok(http::json(status, &answer))
}

/// The state of an attempt its user already completed, for a repeated call: what
/// is true now (a completed attempt's connection may since have expired or been
/// disconnected).
async fn completed_state(
    attempt: &LinkAttempt,
    connection: &ConnectionId,
    svc: &ReturnLeg,
) -> Result<Option<Finished>, ApiError> {
    Ok(match attempt.status {
        AttemptStatus::Completed => {
            let record = svc.store.get_connection(connection).await?;
            Some(
                match record
                    .filter(|r| r.is_owned_by(&attempt.user_id))
                    .map(|r| r.status)
                {
                    Some(ConnectionStatus::Active) => Finished::Active,
                    Some(ConnectionStatus::Expired) => Finished::Expired,
                    // Disconnected, erased, or (another status) not usable.
                    Some(ConnectionStatus::Disconnected | ConnectionStatus::Other(_)) | None => {
                        Finished::Disconnected
                    }
                },
            )
        }
        AttemptStatus::Verifying => Some(Finished::Verifying {
            verify_by_epoch: attempt.expires_at_epoch,
        }),
        _ => None,
    })
}

async fn complete_with_code(
    user: &str,
    code: &CompletionCode,
    svc: &ReturnLeg,
    now: SystemTime,
) -> Result<(LinkAttempt, ConnectionId, Finished), ApiError> {
    crate::telemetry::correlate(code.attempt());
    let invalid = || {
        Refusal::new(
            RefusalCode::InvalidCode,
            Severity::Warn,
            "unknown, wrong or expired code",
        )
    };
    let attempt = svc
        .store
        .get_attempt(code.attempt())
        .await?
        .ok_or_else(invalid)?;
    let valid = attempt
        .code_hash
        .as_deref()
        .is_some_and(|h| code.matches(h))
        && attempt.code_expires_epoch.is_some_and(|e| e > epoch(now));
    let (true, Some(connection)) = (valid, attempt.connection.clone()) else {
        return Err(invalid().into());
    };
    if attempt.user_id != user {
        return Err(fixation(&attempt, &connection, user, svc, now).await.into());
    }
    if let Some(done) = completed_state(&attempt, &connection, svc).await? {
        return Ok((attempt, connection, done));
    }
    if attempt.status != AttemptStatus::Returned {
        return Err(Refusal::new(
            RefusalCode::InvalidState,
            Severity::Warn,
            format!("attempt is {}", attempt.status.as_str()),
        )
        .into());
    }
    Provenance::usable(&attempt, now)?;
    let verified = Verified::returned(&attempt);
    let finished = svc
        .provenance
        .finish(&attempt, &connection, &verified, now)
        .await?;
    Ok((attempt, connection, finished))
}

/// A valid code in the hands of another signed-in user: the Link URL was started
/// by the attempt's user and finished by someone else. Refused; the attempt ends;
/// a new connection OFAuth attested as this attempt's is disconnected at OFAuth
/// so that nobody holds it (any other is left alone).
async fn fixation(
    attempt: &LinkAttempt,
    connection: &ConnectionId,
    user: &str,
    svc: &ReturnLeg,
    now: SystemTime,
) -> Refusal {
    let mut disconnected = false;
    if attempt.status == AttemptStatus::Returned {
        let end = AttemptEnd::Refused {
            error_code: RefusalCode::CompletionRefused.as_str().into(),
        };
        if let Err(e) = svc.store.end_attempt(attempt, &end, now).await {
            tracing::warn!(attempt = ?attempt.id, error = %e, "ending a refused attempt failed");
        }
        // Only a connection OFAuth attested as made by this very attempt, and
        // nobody's: a forged claim completed by a second account must never
        // disconnect a connection someone else made.
        let ours = match svc.store.get_connection(connection).await {
            Ok(record) => {
                let attested = attempt.attested
                    || record.as_ref().and_then(|r| r.attested_attempt.as_deref())
                        == Some(attempt.id.as_str());
                attested && record.is_none_or(|r| r.user_id.is_none())
            }
            Err(_) => false,
        };
        if attempt.reconnect.is_none() && ours {
            // Its cause first: OFAuth's webhook for the disconnect may land
            // before the write below (a record not there yet is no matter).
            let _ = svc
                .store
                .request_disconnect(connection, None, ChangeCause::Fixation, now)
                .await;
            match svc.provenance.disconnect(connection).await {
                Ok(()) => {
                    disconnected = true;
                    // Recorded as such (the platform's event says why).
                    if let Err(e) = svc
                        .store
                        .record_unbound_disconnected(
                            connection,
                            Some(&attempt.id),
                            ChangeCause::Fixation,
                            now,
                        )
                        .await
                    {
                        tracing::warn!(connection = %connection.masked(), error = %e, "recording a refused connection as disconnected failed; the webhook or the reconciler does");
                    }
                }
                Err(e) => {
                    tracing::error!(connection = %connection.masked(), error = %e, "disconnecting a refused connection failed; it stays unbound for reconciliation")
                }
            }
        }
    }
    // The code went to the browser that started the attempt: another user
    // signed in there (an account switch), not a Link URL finished by someone
    // else; refused alike, but no security event.
    let (severity, why) = if attempt.returned_to_starter {
        (
            Severity::Warn,
            "in the browser that started it: an account switch?",
        )
    } else {
        (Severity::Security, "fixation?")
    };
    Refusal::new(
        RefusalCode::CompletionRefused,
        severity,
        format!(
            "attempt of user {} completed by user {} ({why}); refused, {} disconnected at OFAuth: {disconnected}",
            mask(&attempt.user_id),
            mask(user),
            connection.masked(),
        ),
    )
}

async fn complete_in_popup(
    user: &str,
    attempt_id: &AttemptId,
    connection: &ConnectionId,
    svc: &ReturnLeg,
    now: SystemTime,
) -> Result<(LinkAttempt, ConnectionId, Finished), ApiError> {
    crate::telemetry::correlate(attempt_id);
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "attempt_not_found",
            "No such Link attempt for this user.",
        )
    };
    // Another user's attempt id is not theirs to complete (and, unlike a code in
    // a redirect, not a fixation: the popup runs in the starter's own page).
    let attempt = svc
        .store
        .get_attempt(attempt_id)
        .await?
        .filter(|a| a.user_id == user)
        .ok_or_else(not_found)?;
    // A reconnect moved on since it started: whose account is on it now.
    if attempt.status != AttemptStatus::Pending {
        // Boxed: kept out of this future's own size.
        Box::pin(svc.provenance.recheck_reconnect(&attempt, now)).await?;
    }
    if attempt.connection.as_ref() == Some(connection) {
        if let Some(done) = completed_state(&attempt, connection, svc).await? {
            return Ok((attempt, connection.clone(), done));
        }
    }
    match attempt.status {
        AttemptStatus::Pending => {}
        AttemptStatus::Returned => {
            return Err(Refusal::new(
                RefusalCode::CodeRequired,
                Severity::Warn,
                "the browser came back through the callback; only its code completes the attempt",
            )
            .into())
        }
        other => {
            return Err(Refusal::new(
                RefusalCode::InvalidState,
                Severity::Warn,
                format!("attempt is {}", other.as_str()),
            )
            .into())
        }
    }
    Provenance::usable(&attempt, now)?;
    let p = &svc.provenance;
    let verified = p.verify(&attempt, connection, now).await?;
    let finished = p.finish(&attempt, connection, &verified, now).await?;
    Ok((attempt, connection.clone(), finished))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_one_proof() {
        let a = AttemptId::generate().unwrap();
        let code = CompletionCode::generate(&a).unwrap();
        assert_eq!(
            parse_request(format!(r#"{{"code":"{}"}}"#, code.reveal()).as_bytes()).unwrap(),
            Proof::Code(code.clone())
        );
        assert!(matches!(
            parse_request(
                format!(
                    r#"{{"attemptId":"{}","connectionId":"conn_1"}}"#,
                    a.as_str()
                )
                .as_bytes()
            )
            .unwrap(),
            Proof::Popup { .. }
        ));
        let code_of = |b: &str| parse_request(b.as_bytes()).unwrap_err().code;
        assert_eq!(code_of("{}"), RefusalCode::InvalidRequest.as_str());
        assert_eq!(code_of("[]"), RefusalCode::InvalidRequest.as_str());
        assert_eq!(
            code_of(r#"{"code":"lc_x"}"#),
            RefusalCode::InvalidCode.as_str()
        );
        assert_eq!(
            code_of(&format!(
                r#"{{"code":"{}","connectionId":"conn_1"}}"#,
                code.reveal()
            )),
            RefusalCode::InvalidRequest.as_str()
        );
        assert_eq!(
            code_of(r#"{"attemptId":"user-1","connectionId":"conn_1"}"#),
            RefusalCode::InvalidRequest.as_str()
        );
        assert_eq!(
            code_of(r#"{"code":"x","userId":"u"}"#),
            RefusalCode::InvalidRequest.as_str()
        );
    }
}
