//! The integration tests, one binary (the dependency tree links once): every
//! handler called in-process with real API Gateway events, against DynamoDB Local
//! and the OFAuth simulator over HTTP. A module per area; `helpers` builds the
//! harness. Tests that need the process to themselves (a global log subscriber
//! or metrics recorder, process environment variables) run in a child process of
//! this binary through `rusty-fork`.

mod helpers;

mod barrier;
mod erasure_events;
mod failures;
mod flow_logs;
mod fuzz;
mod iam;
mod init;
mod leaked_url;
mod link_flow;
mod logs;
mod metrics;
mod platform_events;
mod privacy;
mod provenance;
mod races;
mod read_api;
mod reconcile;
mod reconnects;
mod replay_events;
mod rotation;
mod safety_net;
mod trust;
mod upgrade;
mod webhooks;
