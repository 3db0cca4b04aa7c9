//! The publisher's replay: re-announces, from the table, the current state of
//! every connection written (and every erasure made) in a time window, as
//! events with the identities their own changes had (`<connection>:<version>`,
//! `erasure:<marker>`), marked `replayed`. A consumer that already applied one
//! drops it as a duplicate; one that missed it (a dead-lettered batch, a target
//! that was down past EventBridge's retries) gets the state it missed, also
//! after the stream's 24 hours are gone.
//!
//! Asked for with the window (`since`, `until`), or with a message from the
//! publisher's on-failure queue as it is (`deadLetter`), whose batch's arrival
//! times give the window (a second either side: the records' times have whole
//! seconds). It runs as the publisher (the only role that may publish on the
//! bus): `aws lambda invoke --function-name <stack>-publisher --payload
//! '{"replay": {…}}'`, or `make replay-events` (scripts/replay-events.sh).
//! Everything goes through the publisher's own path: an erasure is still the
//! last word, and an erased record is never re-announced.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::events::{snapshot, Image, Transition};
use super::publisher::{publish, Pending, PublisherService};
use crate::store::StoreError;
use crate::time::{parse_rfc3339_ms, rfc3339};

/// What to re-announce.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayRequest {
    /// The window's start and end (RFC 3339).
    pub since: Option<String>,
    pub until: Option<String>,
    /// A message of the publisher's on-failure queue, as it is.
    pub dead_letter: Option<serde_json::Value>,
}

/// What a replay did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    pub since: String,
    pub until: String,
    /// Connection events and erasures re-announced (those an erasure covers
    /// are not: `User Data Erased` lists them).
    pub connections: usize,
    pub erasures: usize,
}

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("the request names no window: give since and until, or deadLetter (a message of the publisher's on-failure queue)")]
    NoWindow,
    #[error("the table could not be read: {0}")]
    Store(#[from] StoreError),
    #[error(
        "EventBridge did not take every event; run the replay again (the events are the same)"
    )]
    NotPublished,
}

/// Re-announces the window's connections and erasures.
pub async fn replay(
    request: &ReplayRequest,
    svc: &PublisherService,
) -> Result<ReplayReport, ReplayError> {
    let (since, until) = window(request).ok_or(ReplayError::NoWindow)?;
    let items = svc.store.changed_between(&since, &until).await?;
    let mut events: Vec<Pending> = items
        .iter()
        .filter_map(|item| {
            let e = snapshot(item)?;
            let not_before = (e.transition == Transition::UserErased)
                .then(|| item.number("erasedAtMs"))
                .flatten();
            Some(Pending::new(String::new(), e, not_before))
        })
        .collect();
    // Connections in the order they were written, erasures last.
    events.sort_by(|a, b| {
        let key = |p: &Pending| {
            (
                p.event.transition == Transition::UserErased,
                p.event.detail.time.clone(),
                p.event.detail.event_id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let erasures = events
        .iter()
        .filter(|p| p.event.transition == Transition::UserErased)
        .count();
    if publish(svc, &events).await.is_some() {
        return Err(ReplayError::NotPublished);
    }
    tracing::info!(outcome = "replayed", since, until, events = events.len());
    Ok(ReplayReport {
        since,
        until,
        connections: events.len() - erasures,
        erasures,
    })
}

/// The window (RFC 3339, whole seconds as the records keep them): as given, or
/// a dead letter's batch's arrival times a second either side.
fn window(r: &ReplayRequest) -> Option<(String, String)> {
    if let (Some(since), Some(until)) = (&r.since, &r.until) {
        return Some((since.clone(), until.clone()));
    }
    let info = r.dead_letter.as_ref()?.get("DDBStreamBatchInfo")?;
    let at = |k: &str| parse_rfc3339_ms(info.get(k)?.as_str()?);
    let (first, last) = (
        at("approximateArrivalOfFirstRecord")?,
        at("approximateArrivalOfLastRecord")?,
    );
    let time = |ms: i64| {
        rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).ok()?)).into()
    };
    let since: Option<String> = time(first - 1_000);
    Some((since?, time(last + 1_000)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letters_window_is_its_batch_a_second_either_side() {
        let message = serde_json::json!({
            "version": "1.0",
            "DDBStreamBatchInfo": {
                "shardId": "shardId-1",
                "startSequenceNumber": "100",
                "endSequenceNumber": "200",
                "approximateArrivalOfFirstRecord": "2026-12-06T10:00:00.500Z",
                "approximateArrivalOfLastRecord": "2026-12-06T10:00:05Z",
                "batchSize": 3,
                "streamArn": "arn:aws:dynamodb:us-east-1:1:table/t/stream/x"
            }
        });
        let r = ReplayRequest {
            dead_letter: Some(message),
            ..ReplayRequest::default()
        };
        assert_eq!(
            window(&r),
            Some(("2026-12-06T09:59:59Z".into(), "2026-12-06T10:00:06Z".into()))
        );
        assert_eq!(window(&ReplayRequest::default()), None);
    }
}
