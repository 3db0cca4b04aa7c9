//! The publisher: the table's change stream (DynamoDB Streams, old and new
//! images) in, one EventBridge event per transition out ([`super::events`]).
//!
//! Nothing is published next to a write: the stream is the outbox. A crash
//! between a record's write and its event leaves the stream record in place, and
//! Lambda delivers it again; the event's `eventId` (connection id and record
//! version) is the same on every delivery, so a consumer deduplicates on it.
//!
//! Order per connection: the stream keeps one connection's records in order in
//! one shard, Lambda hands a shard's records over in order (one batch at a time,
//! `ParallelizationFactor` 1), and here a `PutEvents` call never carries two
//! events of one connection: a later event of a connection is sent only after
//! the earlier one was accepted.
//!
//! The erasure is the last word ([`super::erasure`] says how): a `User Data
//! Erased` goes in a call of its own, after every earlier event of its batch
//! was accepted, and no sooner than the erasure's grace after the erasure
//! completed; an event the erasure covers is not sent once that grace may have
//! run out (each call checks, strongly consistent, just before it is made).
//!
//! Failures:
//! - an entry EventBridge refuses (`FailedEntryCount`) or a failed call is tried
//!   again, twice, with a short backoff;
//! - what still fails is reported as a batch item failure from the first record
//!   not published: Lambda retries from there (records after it that were already
//!   published are sent again, with the same `eventId`);
//! - a record whose images cannot be read is reported the same way; Lambda
//!   bisects the batch, retries, and sends what still fails to the on-failure
//!   queue (an alarm watches it). The replay (`super::replay`) re-announces
//!   what such a message covers, from the table.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use std::sync::Arc;

use super::erasure;
use super::events::{from_change, Image, PlatformEvent, Transition};
use super::remedy;
use crate::ids::ConnectionId;
use crate::ofauth::Invalidator;
use crate::store::Store;
use crate::telemetry;
use crate::time::epoch_ms;

/// Entries one `PutEvents` call carries at most (EventBridge's limit).
const MAX_ENTRIES: usize = 10;

/// Tries of a call or an entry before the record is reported as failed.
const TRIES: u32 = 3;

/// What the publisher needs, built once per process.
#[derive(Debug, Clone)]
pub struct PublisherService {
    pub(super) client: aws_sdk_eventbridge::Client,
    pub(super) bus: String,
    pub(super) source: String,
    pub(super) store: Store,
    /// How long after an erasure completed its `User Data Erased` may go out
    /// (and until when the events it covers still may): longer than a
    /// `PutEvents` call may take ([`PublisherService::put_timeout`]).
    pub(super) grace: Duration,
    /// The stream's remedy's OFAuth ([`super::remedy`]): built, and the API
    /// key read, on first need.
    pub(super) invalidator: Arc<dyn Invalidator>,
}

impl PublisherService {
    /// `client` must time a `PutEvents` call out within
    /// [`PublisherService::put_timeout`] of `grace`.
    pub fn new(
        client: aws_sdk_eventbridge::Client,
        bus: String,
        source: String,
        store: Store,
        grace: Duration,
        invalidator: Arc<dyn Invalidator>,
    ) -> Self {
        Self {
            client,
            bus,
            source,
            store,
            grace,
            invalidator,
        }
    }

    /// The longest a `PutEvents` call may take for an erasure grace of
    /// `grace` ([`erasure::put_timeout`]).
    pub fn put_timeout(grace: Duration) -> Duration {
        erasure::put_timeout(grace)
    }
}

/// One record's event, and where the record is in the stream.
pub(super) struct Pending {
    pub sequence: String,
    pub event: PlatformEvent,
    /// An erasure's `User Data Erased`: not before this (Unix ms).
    pub not_before_ms: Option<i64>,
}

impl Pending {
    pub(super) fn new(sequence: String, event: PlatformEvent, not_before_ms: Option<i64>) -> Self {
        Self {
            sequence,
            event,
            not_before_ms,
        }
    }

    fn connection(&self) -> Option<&str> {
        self.event.detail.connection_id.as_deref()
    }

    fn is_erasure(&self) -> bool {
        self.event.transition == Transition::UserErased
    }
}

/// Handles one batch of stream records: the records not published, from the
/// first one, as batch item failures (none when all were).
pub async fn handle(batch: Event, svc: &PublisherService) -> DynamoDbEventResponse {
    let mut pending = Vec::new();
    for record in &batch.records {
        let sequence = record.change.sequence_number.clone().unwrap_or_default();
        // The stream's remedy first: a record whose remedy fails is retried
        // (with what follows), its event with it.
        if let Some((connection, request)) = remedy_of(record) {
            if let Err(e) =
                remedy::apply(&svc.store, svc.invalidator.as_ref(), &connection, &request).await
            {
                tracing::error!(sequence = %sequence, error = %e, connection = %connection.masked(), "the stream's remedy failed; reported for a retry (the reconciler also invalidates a swap still live)");
                let failed = publish(svc, &pending).await;
                return failures(failed.or(Some(sequence)));
            }
        }
        match decide(record) {
            Ok(Some((event, not_before_ms))) => {
                pending.push(Pending::new(sequence, event, not_before_ms))
            }
            Ok(None) => {}
            Err(reason) => {
                // Everything before it can go; it and what follows are retried.
                tracing::error!(sequence = %sequence, reason, "a stream record could not be read; reported for a retry (then the on-failure queue)");
                let failed = publish(svc, &pending).await;
                return failures(failed.or(Some(sequence)));
            }
        }
    }
    failures(publish(svc, &pending).await)
}

/// What a record asks of the stream's remedy.
fn remedy_of(record: &EventRecord) -> Option<(ConnectionId, String)> {
    let (old, new) = (&record.change.old_image, &record.change.new_image);
    let old = (!old.is_empty()).then_some(old);
    (!new.is_empty())
        .then_some(new)
        .and_then(|new| remedy::requested(old, new))
}

/// The event a record means, and for an erasure's the earliest it may go. An
/// error for a record whose images cannot be read.
#[allow(clippy::type_complexity)]
fn decide(record: &EventRecord) -> Result<Option<(PlatformEvent, Option<i64>)>, &'static str> {
    let (old, new) = (&record.change.old_image, &record.change.new_image);
    let new = (!new.is_empty()).then_some(new);
    let old = (!old.is_empty()).then_some(old);
    if record.event_name != "REMOVE" && new.is_none() {
        return Err("a change without its new image (the stream must carry NEW_AND_OLD_IMAGES)");
    }
    Ok(from_change(old, new).map(|e| {
        let not_before = (e.transition == Transition::UserErased)
            .then(|| new.and_then(|n| n.number("erasedAtMs")))
            .flatten();
        (e, not_before)
    }))
}

fn failures(first_failed: Option<String>) -> DynamoDbEventResponse {
    let mut resp = DynamoDbEventResponse::default();
    if let Some(sequence) = first_failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        resp.batch_item_failures.push(failure);
    }
    resp
}

/// Publishes the events in order; the sequence number of the first record not
/// published, if any.
pub(super) async fn publish(svc: &PublisherService, pending: &[Pending]) -> Option<String> {
    let mut start = 0;
    while start < pending.len() {
        // A call never carries two events of one connection (its later event
        // waits for the earlier one to be accepted), and an erasure's event
        // goes alone, after everything before it was accepted.
        let mut end = start + 1;
        if !pending[start].is_erasure() {
            while end < pending.len()
                && end - start < MAX_ENTRIES
                && !pending[end].is_erasure()
                && !pending[start..end].iter().any(|p| {
                    p.connection().is_some() && p.connection() == pending[end].connection()
                })
            {
                end += 1;
            }
        }
        if let Some(not_before) = pending[start].not_before_ms.filter(|_| end == start + 1) {
            wait_for_grace(svc, not_before).await;
        }
        if let Some(failed) = put(svc, &pending[start..end]).await {
            return Some(failed);
        }
        start = end;
    }
    None
}

/// Waits until an erasure's grace after `completed_ms` has passed (at most the
/// grace itself, whatever the clocks say).
async fn wait_for_grace(svc: &PublisherService, completed_ms: i64) {
    let now = epoch_ms(SystemTime::now());
    let until = completed_ms.saturating_add(svc.grace.as_millis() as i64);
    if until > now {
        let wait = Duration::from_millis((until - now) as u64).min(svc.grace);
        tokio::time::sleep(wait).await;
    }
}

/// One call's entries, tried again while some fail: the first failed record's
/// sequence number when some still fail.
async fn put(svc: &PublisherService, chunk: &[Pending]) -> Option<String> {
    let mut left: Vec<&Pending> = chunk.iter().collect();
    for attempt in 0..TRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * 4u64.pow(attempt - 1))).await;
        }
        // Just before the call: what a completed erasure covers no longer goes.
        match erasure::still_to_send(&svc.store, svc.grace, &left, |p| &p.event).await {
            Ok(kept) => left = kept,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "could not read the users' erasures; not sending until it can");
                continue;
            }
        }
        if left.is_empty() {
            return None;
        }
        let entries: Vec<PutEventsRequestEntry> = left.iter().map(|p| entry(svc, p)).collect();
        let sent = svc
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await;
        let results = match sent {
            Ok(out) => out.entries.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e), attempt, "PutEvents failed");
                continue;
            }
        };
        let mut still = Vec::new();
        for (i, p) in left.iter().enumerate() {
            let failed = results.get(i).is_none_or(|r| r.error_code.is_some());
            if failed {
                still.push(*p);
            } else {
                telemetry::event_published(p.event.transition.metric_label());
            }
        }
        if let Some(r) = results.iter().find(|r| r.error_code.is_some()) {
            tracing::warn!(
                failed = still.len(),
                code = r.error_code.as_deref().unwrap_or(""),
                attempt,
                "PutEvents refused entries; trying them again"
            );
        }
        left = still;
        if left.is_empty() {
            return None;
        }
    }
    telemetry::publish_failures(left.len() as u64);
    tracing::error!(
        failed = left.len(),
        "events could not be published; the batch is retried from the first of them"
    );
    // In stream order: the earliest record not published.
    chunk
        .iter()
        .find(|p| left.iter().any(|l| std::ptr::eq(*l, *p)))
        .map(|p| p.sequence.clone())
}

fn entry(svc: &PublisherService, p: &Pending) -> PutEventsRequestEntry {
    PutEventsRequestEntry::builder()
        .event_bus_name(&svc.bus)
        .source(&svc.source)
        .detail_type(p.event.transition.detail_type())
        .detail(serde_json::to_string(&p.event.detail).unwrap_or_default())
        .build()
}
