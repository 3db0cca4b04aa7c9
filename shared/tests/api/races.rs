//! Races, against DynamoDB Local, with many concurrent tasks: the conditional
//! writes, not luck, decide. Run them repeatedly: `cargo test -p link-shared --test
//! races` (the note on the hardening issue gives the count).

use std::sync::Arc;

use crate::helpers::*;
use futures_like::join_all;
use ofauth_sim::SignatureScheme;

const N: usize = 16;

/// `futures::future::join_all` without the dependency: spawn and collect.
mod futures_like {
    pub async fn join_all<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callbacks_leave_exactly_one_usable_code() {
    let h = Arc::new(Harness::new().await);
    let url = h.start("user-1", "").await;
    let query = Arc::new(h.hosted(&url, "approve").await);
    let returns = join_all(
        (0..N)
            .map(|_| {
                let (h, q) = (h.clone(), query.clone());
                tokio::spawn(async move { h.return_to_app(&q).await })
            })
            .collect(),
    )
    .await;
    let codes: Vec<String> = returns
        .iter()
        .filter_map(|loc| query_param(loc, "code"))
        .collect();
    assert!(!codes.is_empty(), "{returns:?}");
    // Every completion races: exactly one code is the stored one, and it binds once.
    let answers = join_all(
        codes
            .into_iter()
            .map(|c| {
                let h = h.clone();
                tokio::spawn(async move { h.complete_code("user-1", &c).await.0 })
            })
            .collect(),
    )
    .await;
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 400),
        "{answers:?}"
    );
    let records = h.items_of("connection").await;
    assert_eq!(records.len(), 1);
    assert_eq!(s(&records[0], "userId"), "user-1");
    assert_eq!(
        records[0]["version"].as_n().unwrap(),
        "1",
        "bound by one write"
    );
    let _ = param(&query, "connection_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_completions_bind_once() {
    let h = Arc::new(Harness::new().await);
    let url = h.start("user-1", "").await;
    let query = h.hosted(&url, "approve").await;
    let loc = h.return_to_app(&query).await;
    let code = Arc::new(query_param(&loc, "code").unwrap());
    let answers = join_all(
        (0..N)
            .map(|i| {
                let (h, c) = (h.clone(), code.clone());
                // Half of them from another user (a fixation racing the owner).
                let user = if i % 2 == 0 { "user-1" } else { "user-9" };
                tokio::spawn(async move { (user, h.complete_code(user, &c).await.0) })
            })
            .collect(),
    )
    .await;
    let records = h.items_of("connection").await;
    let attempt = h
        .item(&format!("ATTEMPT#{}", param(&query, "client_reference_id")))
        .await
        .unwrap();
    match s(&attempt, "status").as_str() {
        // The owner won: bound once, every other user refused.
        "completed" => {
            assert_eq!(records.len(), 1);
            assert_eq!(s(&records[0], "userId"), "user-1");
            assert_eq!(records[0]["version"].as_n().unwrap(), "1");
            assert!(answers.iter().all(|(u, s)| if *u == "user-9" {
                *s == 403 || *s == 400
            } else {
                *s == 200
            }));
        }
        // The other user came first: refused, nothing bound for anyone.
        "refused" => {
            assert!(
                records.iter().all(|r| s(r, "userId").is_empty()),
                "{records:?}"
            );
            assert!(answers.iter().all(|(_, s)| *s != 200), "{answers:?}");
        }
        other => panic!("attempt ended {other}: {answers:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completion_racing_an_attestation_never_misses_it() {
    // The list lags and the webhook is held: the completion decides "verifying"
    // while the attestation lands. One of the two binds, always.
    for round in 0..4 {
        let h = Arc::new(
            Harness::with(Options {
                webhooks: Some(SignatureScheme::Ofauth),
                ..Options::default()
            })
            .await,
        );
        h.withhold_attestation();
        let url = h.start("user-1", "").await;
        let query = h.hosted(&url, "approve").await;
        let loc = h.return_to_app(&query).await;
        let code = query_param(&loc, "code").unwrap();
        let completing = {
            let h = h.clone();
            tokio::spawn(async move { h.complete_code("user-1", &code).await.0 })
        };
        h.sim.release_webhooks(false);
        let status = completing.await.unwrap();
        // Delivered (OFAuth retries a 503, as it would here under a lost race).
        let mut d = Vec::new();
        for n in 1..=5 {
            d = h
                .sim
                .wait_for_deliveries(n, std::time::Duration::from_secs(10))
                .await;
            if d.iter().any(|x| x.status == 200) {
                break;
            }
        }
        assert!(status == 200 || status == 202, "round {round}: {status}");
        let rec = h
            .item(&format!("CONNECTION#{}", param(&query, "connection_id")))
            .await
            .unwrap_or_else(|| {
                panic!("round {round}: no record; completion {status}, deliveries {d:?}")
            });
        assert_eq!(
            s(&rec, "userId"),
            "user-1",
            "round {round}: bound either way"
        );
        assert_eq!(s(&rec, "status"), "active", "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_completion_and_a_newer_webhook_end_in_the_newest_state() {
    for round in 0..4 {
        let h = Arc::new(Harness::new().await);
        let (url, attempt) = h.start_attempt("user-1", "").await;
        let query = h.hosted(&url, "approve").await;
        let conn = param(&query, "connection_id");
        let loc = h.return_to_app(&query).await;
        let code = query_param(&loc, "code").unwrap();
        // An expiry OFAuth reports a few seconds after the completion confirms.
        let later = link_shared::time::rfc3339_millis(
            std::time::SystemTime::now() + std::time::Duration::from_secs(5),
        );
        let body = serde_json::json!({
            "id": format!("evt_race_{round}"), "type": "connection.expired", "timestamp": later,
            "data": { "clientReferenceId": attempt, "connection": { "id": conn, "status": "expired" } }
        })
        .to_string();
        let headers = signed_now(SignatureScheme::Ofauth, "", &body);
        let (a, b) = tokio::join!(
            {
                let h = h.clone();
                async move { h.complete_code("user-1", &code).await.0 }
            },
            {
                let h = h.clone();
                async move { h.deliver(&headers, &body).await.status().as_u16() }
            }
        );
        assert_eq!((a, b), (200, 200), "round {round}");
        let rec = h.record(&conn).await;
        assert_eq!(
            s(&rec, "status"),
            "expired",
            "round {round}: the newest state"
        );
        assert_eq!(s(&rec, "userId"), "user-1", "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sessions_keep_the_rate_limit() {
    let h = Arc::new(
        Harness::with(Options {
            env: vec![
                ("SESSION_RATE_LIMIT", "5".into()),
                ("SESSION_RATE_WINDOW_SECS", "3600".into()),
            ],
            ..Options::default()
        })
        .await,
    );
    let statuses = join_all(
        (0..N)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.create_session("user-1", "").await.status().as_u16() })
            })
            .collect(),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        N - 5,
        "{statuses:?}"
    );
    assert_eq!(h.items_of("attempt").await.len(), 5);
}
