//! Helpers of the integration tests: real DynamoDB Local and a real OFAuth simulator over HTTP, and
//! API Gateway events built the way API Gateway sends them.
#![allow(dead_code)]

use link_shared::apigw::counted;
use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use link_fixtures::ApiEvent;
use link_shared::config::Secret;
use link_shared::config::{Config, ReconcileSettings};
use link_shared::connections_api::ConnectionsService;
use link_shared::lambda_http::{Body, Request, Response};
use link_shared::ofauth::OfAuthClient;
use link_shared::reconcile::{ReconcileService, RunReport};
use link_shared::return_leg::{self, ReturnLeg};
use link_shared::session::SessionService;
use link_shared::store::Store;
use link_shared::webhook::WebhookService;
use ofauth_sim::{SignatureScheme, SimConfig, Simulator, WebhookConfig};

pub const API_KEY: &str = "sk_sandbox_test_key";
pub const CALLBACK_URL: &str = "https://links.example.com/link/callback";
pub const APP_URL: &str = "https://app.example.com";
pub const ORIGIN: &str = "https://app.example.com";
pub const WEBHOOK_SECRET: &str = "whsec_dGVzdC1zaWduaW5nLXNlY3JldA==";

pub fn dynamodb_endpoint() -> String {
    local_dynamodb::endpoint()
}

/// A DynamoDB client for a local endpoint, with fixed test credentials.
pub fn dynamodb_client(endpoint: &str, timeout: Duration) -> aws_sdk_dynamodb::Client {
    local_dynamodb::client(endpoint, timeout)
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).unwrap();
    format!("{prefix}-{}", hex::encode(b))
}

/// The OFAuth client as the binaries build it, trusting the compiled-in roots.
pub fn ofauth_client(config: &Config, key: &str) -> OfAuthClient {
    let tls = link_shared::tls::client_config(&Default::default()).unwrap();
    OfAuthClient::for_settings(&config.ofauth, Secret::new(key), tls).unwrap()
}

/// The tests' erasure grace (milliseconds).
pub const ERASURE_GRACE_MS: u64 = 6_000;

/// Everything one test needs: a fresh table, a simulator, and both services wired
/// as the binaries wire them.
pub struct Harness {
    pub sim: Simulator,
    pub store: Store,
    /// The table, for assertions, through a client of the test's own.
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub config: Config,
    pub session: SessionService,
    /// The callback function's route (`GET /link/callback`).
    pub return_leg: ReturnLeg,
    /// The complete function's (`POST /link/complete`).
    pub complete_leg: ReturnLeg,
    /// The reconciler's store (its role's client: see `iam`).
    reconcile_store: Store,
    pub connections: ConnectionsService,
    pub webhook: WebhookService,
    /// The reconciler as configured (tests with other settings build their own
    /// with [`Harness::reconciler`]).
    pub reconcile: ReconcileService,
    pub ofauth: OfAuthClient,
    /// `http://127.0.0.1:<port>/link/webhook`: the webhook handler over real HTTP.
    pub webhook_url: String,
    /// Where OFAuth sends the browser back.
    pub callback_url: String,
    /// The browser the flows run in: it keeps the callback's binding cookie
    /// (a test of another browser uses a [`Browser`] of its own).
    pub browser: Browser,
    /// The EventBridge stand-in the publisher sends to, and the publisher.
    pub eventbridge: ofauth_sim::eventbridge::EventBridge,
    pub publisher: link_shared::platform::publisher::PublisherService,
    bridge: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.bridge.abort();
    }
}

pub struct Options {
    pub env: Vec<(&'static str, String)>,
    /// The simulator sends signed webhooks with this scheme (off when `None`).
    pub webhooks: Option<SignatureScheme>,
    pub ofauth_base: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub create_table: bool,
    /// Where the simulator says its hosted pages are.
    pub sim_public_url: Option<String>,
    /// How long the simulator's Link sessions last.
    pub session_ttl: Option<Duration>,
    /// The callback URL (`CALLBACK_URL`, and the client app's one allowed
    /// redirect); [`CALLBACK_URL`] when `None`.
    pub callback_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            webhooks: None,
            ofauth_base: None,
            dynamodb_endpoint: None,
            create_table: true,
            sim_public_url: None,
            session_ttl: None,
            callback_url: None,
        }
    }
}

impl Harness {
    pub async fn new() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(opts: Options) -> Self {
        let table = unique("links");
        let callback_url = opts
            .callback_url
            .clone()
            .unwrap_or_else(|| CALLBACK_URL.to_string());
        let endpoint = opts
            .dynamodb_endpoint
            .clone()
            .unwrap_or_else(dynamodb_endpoint);
        // The webhook receiver first, so the simulator can be told where to send.
        let bridge_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let webhook_url = format!(
            "http://{}/link/webhook",
            bridge_listener.local_addr().unwrap()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Simulator::start(
            listener,
            SimConfig {
                api_key: API_KEY.into(),
                allowed_redirects: vec![callback_url.clone()],
                public_url: opts.sim_public_url.clone(),
                session_ttl: opts.session_ttl.unwrap_or(Duration::from_secs(3600)),
                webhook: opts.webhooks.map(|scheme| WebhookConfig {
                    url: webhook_url.clone(),
                    secret: WEBHOOK_SECRET.into(),
                    scheme,
                    retry_base: Duration::from_millis(50),
                }),
                ..SimConfig::default()
            },
        )
        .await
        .unwrap();
        let mut env: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", table.clone()),
            ("APP_URL", APP_URL.to_string()),
            ("OFAUTH_API_KEY", API_KEY.to_string()),
            ("OFAUTH_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
            (
                "OFAUTH_BASE_URL",
                opts.ofauth_base.clone().unwrap_or_else(|| sim.url()),
            ),
            ("OFAUTH_CLIENT_APP_ID", "app_test123".to_string()),
            ("CALLBACK_URL", callback_url.clone()),
            ("OFAUTH_TIMEOUT_MS", "800".to_string()),
            ("OFAUTH_CONNECT_TIMEOUT_MS", "300".to_string()),
            ("DYNAMODB_TIMEOUT_MS", "5000".to_string()),
            ("DYNAMODB_ENDPOINT", endpoint.clone()),
            // The simulator's hosted pages are on its own loopback address.
            ("LINK_HOSTS", "127.0.0.1".to_string()),
            // Off unless a test is about it (its own tests set it).
            ("SESSION_RATE_LIMIT", "0".to_string()),
            ("COMPLETE_RATE_LIMIT", "0".to_string()),
            // An erasure's `User Data Erased` goes 6 s after it (10 s
            // deployed); a PutEvents call times out in 1.5 s.
            ("EVENT_ERASURE_GRACE_MS", ERASURE_GRACE_MS.to_string()),
        ]);
        for (k, v) in &opts.env {
            env.insert(k, v.clone());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let ddb = dynamodb_client(&endpoint, config.store.timeout);
        let store = Store::new(ddb.clone(), &table);
        if opts.create_table {
            // A generous timeout of its own: a loaded 2-core machine runs DynamoDB
            // Local's JVM, the compiler and the tests at once.
            let admin = dynamodb_client(&endpoint, Duration::from_secs(30));
            local_dynamodb::create_table(&admin, &table)
                .await
                .expect("create table");
        }
        let key = match &config.ofauth.api_key {
            Some(link_shared::config::SecretSource::Env(k)) => k.expose().to_string(),
            _ => API_KEY.to_string(),
        };
        let ofauth = ofauth_client(&config, &key);
        // Each function's service on a client of its own, whose requests are
        // recorded for its role (iam.rs checks them against template.yaml).
        let role = |name| {
            Store::new(
                crate::iam::client_for(&endpoint, config.store.timeout, name),
                &table,
            )
        };
        let session = SessionService::new(&config, role("InitSessionRole"), ofauth.clone());
        let connections = ConnectionsService::new(&config, role("ConnectionsRole"), ofauth.clone());
        let return_leg = ReturnLeg::new(&config, role("CallbackRole"), ofauth.clone());
        let complete_leg = ReturnLeg::new(&config, role("CompleteRole"), ofauth.clone());
        let webhook = WebhookService::new(role("WebhookRole"), Secret::new(WEBHOOK_SECRET))
            .accept_sandbox(config.webhook.accept_sandbox);
        let reconcile_store = role("ReconcileRole");
        let reconcile = ReconcileService::new(
            reconcile_store.clone(),
            ofauth.clone(),
            config.reconcile.clone(),
            config.list_search.page_size,
        );
        let bridge = tokio::spawn(serve_webhook(bridge_listener, webhook.clone()));
        let eventbridge = ofauth_sim::eventbridge::EventBridge::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        )
        .await
        .unwrap();
        let publisher = link_shared::platform::publisher::PublisherService::new(
            eventbridge_client(&eventbridge.url(), config.publisher.erasure_grace),
            config.publisher.event_bus.clone(),
            config.publisher.event_source.clone(),
            role("PublisherRole"),
            config.publisher.erasure_grace,
            std::sync::Arc::new(ofauth.clone()),
        );
        Self {
            sim,
            store,
            ddb,
            table,
            config,
            session,
            return_leg,
            complete_leg,
            reconcile_store,
            connections,
            webhook,
            reconcile,
            ofauth,
            webhook_url,
            callback_url,
            browser: Browser::default(),
            eventbridge,
            publisher,
            bridge,
        }
    }

    /// Everything the table's stream holds (from its start), as the records of
    /// Lambda's DynamoDB event.
    pub async fn stream_records(&self) -> Vec<serde_json::Value> {
        let mut reader =
            local_dynamodb::stream::StreamReader::open(&dynamodb_endpoint(), &self.table)
                .await
                .expect("the table's stream");
        reader.read().await.expect("the stream's records")
    }

    /// One invocation of the publisher with these records (as Lambda's event):
    /// the sequence numbers it reports as not published.
    pub async fn publish_batch(&self, records: &[serde_json::Value]) -> Vec<String> {
        let event = serde_json::from_value(local_dynamodb::stream::lambda_event(records))
            .expect("Lambda's DynamoDB event");
        let resp = link_shared::platform::publisher::handle(event, &self.publisher).await;
        resp.batch_item_failures
            .into_iter()
            .filter_map(|f| f.item_identifier)
            .collect()
    }

    /// The stream's records through the publisher as Lambda's event source
    /// mapping runs it (template.yaml's filter), in batches of `batch`, and a
    /// batch that reports a failure again from that record (at most `retries`
    /// times in all); nothing may be set aside.
    pub async fn publish_stream(&self, batch: usize, retries: usize) {
        let records = self.stream_records().await;
        self.publish_records(&records, batch, retries).await;
    }

    /// [`Harness::publish_stream`] of records already read.
    pub async fn publish_records(
        &self,
        records: &[serde_json::Value],
        batch: usize,
        retries: usize,
    ) {
        let mut mapping = local_dynamodb::stream::EventSourceMapping::from_template("publisher")
            .expect("the publisher's event source");
        (mapping.batch_size, mapping.max_retries) = (batch, retries);
        let out = mapping
            .deliver(records, |batch| async move {
                Ok(self.publish_batch(&batch).await)
            })
            .await;
        assert!(out.dead_letters.is_empty(), "set aside: {out:?}");
    }

    /// Nothing attests a connection yet: the simulator holds its webhooks and
    /// its connections list lags (hides them).
    pub fn withhold_attestation(&self) {
        self.sim.set_webhook_mode(ofauth_sim::WebhookMode {
            hold: true,
            ..ofauth_sim::WebhookMode::default()
        });
        self.sim.set_faults(ofauth_sim::Faults {
            list_hidden: true,
            ..ofauth_sim::Faults::default()
        });
    }

    /// A reconciler with these settings and list page size.
    pub fn reconciler(&self, settings: ReconcileSettings, page_size: u32) -> ReconcileService {
        ReconcileService::new(
            self.reconcile_store.clone(),
            self.ofauth.clone(),
            settings,
            page_size,
        )
    }

    /// One run of `svc`, with a minute before its deadline.
    pub async fn reconcile_with(&self, svc: &ReconcileService) -> RunReport {
        svc.run(std::time::Instant::now() + Duration::from_secs(60))
            .await
            .expect("reconcile run")
    }

    /// Time passes for a record marked missing: its mark is from an hour ago
    /// (a later sweep may now confirm it).
    pub async fn age_missing(&self, conn: &str) {
        let hour_ago = link_shared::time::epoch_ms(std::time::SystemTime::now()) - 3_600_000;
        self.set(
            &format!("CONNECTION#{conn}"),
            "missingSweep",
            AttributeValue::N(hour_ago.to_string()),
        )
        .await;
    }

    /// One run of the configured reconciler.
    pub async fn reconcile(&self) -> RunReport {
        self.reconcile_with(&self.reconcile).await
    }

    /// `GET /link/connections` as `user`: (status, body).
    pub async fn list_connections(&self, user: &str) -> (u16, serde_json::Value) {
        let req = api_event("GET", "/link/connections", Some(user), "", &[], None);
        let resp = counted(req, |r| {
            link_shared::connections_api::handle(r, &self.connections)
        })
        .await;
        (resp.status().as_u16(), json_body(&resp))
    }

    /// `DELETE /link/connections/{id}` as `user`.
    pub async fn disconnect(&self, user: &str, id: &str) -> Response<Body> {
        let path = format!("/link/connections/{id}");
        let req = api_event("DELETE", &path, Some(user), "", &[], Some(id));
        counted(req, |r| {
            link_shared::connections_api::handle(r, &self.connections)
        })
        .await
    }

    /// `DELETE /link/me` as `user` (an erasure): (status, body).
    pub async fn erase(&self, user: &str) -> (u16, serde_json::Value) {
        let req = api_event("DELETE", "/link/me", Some(user), "", &[], None);
        let resp = counted(req, |r| {
            link_shared::connections_api::handle(r, &self.connections)
        })
        .await;
        (resp.status().as_u16(), json_body(&resp))
    }

    /// A signed delivery straight to the webhook handler.
    pub async fn deliver(&self, headers: &[(String, String)], body: &str) -> Response<Body> {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = api_event("POST", "/link/webhook", None, body, &h, None);
        counted(req, |r| link_shared::webhook::handle(r, &self.webhook)).await
    }

    /// `POST /link/session` as the given user (JWT `sub`), with a body, from
    /// the harness's browser (which keeps the start cookie).
    pub async fn create_session(&self, user: &str, body: &str) -> Response<Body> {
        self.create_session_in(&self.browser, user, body).await
    }

    /// `POST /link/session` as `user` from `browser`: it sends its cookies and
    /// keeps the start cookie the answer sets.
    pub async fn create_session_in(
        &self,
        browser: &Browser,
        user: &str,
        body: &str,
    ) -> Response<Body> {
        let cookie = browser.cookie();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(c) = &cookie {
            headers.push(("cookie", c));
        }
        let resp = counted(session_event(Some(user), body, &headers), |r| {
            link_shared::session::handle(r, &self.session)
        })
        .await;
        browser.keep(&resp);
        resp
    }

    /// `GET /link/callback?<query>`, in the harness's browser.
    pub async fn callback(&self, query: &str) -> Response<Body> {
        self.callback_in(&self.browser, query).await
    }

    /// `GET /link/callback?<query>` in `browser`: it sends its cookie and keeps
    /// the one the answer sets.
    pub async fn callback_in(&self, browser: &Browser, query: &str) -> Response<Body> {
        let mut ev = ApiEvent::new("GET", "/link/callback").query(query);
        if let Some(cookie) = browser.cookie() {
            ev = ev.cookie(&cookie);
        }
        let resp = counted(request(&ev), |r| return_leg::handle(r, &self.return_leg)).await;
        browser.keep(&resp);
        resp
    }

    /// `POST /link/complete` as `user` with a JSON body: (status, body).
    pub async fn complete_with(
        &self,
        user: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let req = api_event(
            "POST",
            "/link/complete",
            Some(user),
            &body.to_string(),
            &[],
            None,
        );
        let resp = counted(req, |r| return_leg::handle(r, &self.complete_leg)).await;
        (resp.status().as_u16(), json_body(&resp))
    }

    /// The redirect flow's completion: the code from the app's return page.
    pub async fn complete_code(&self, user: &str, code: &str) -> (u16, serde_json::Value) {
        self.complete_with(user, &serde_json::json!({ "code": code }))
            .await
    }

    /// The popup flow's completion: the attempt and the connection the iframe reported.
    pub async fn complete_embed(
        &self,
        user: &str,
        attempt: &str,
        connection: &str,
    ) -> (u16, serde_json::Value) {
        self.complete_with(
            user,
            &serde_json::json!({ "attemptId": attempt, "connectionId": connection }),
        )
        .await
    }

    /// Follows a hosted page action (`approve`, `cancel?step=…`, `fail?error_code=…`)
    /// and returns the query string of the redirect OFAuth sends the browser to.
    pub async fn hosted(&self, session_url: &str, action: &str) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client
            .get(format!("{session_url}/{action}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303, "hosted page should redirect");
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(&self.callback_url), "{location}");
        location
            .split_once('?')
            .map(|(_, q)| q.to_string())
            .unwrap_or_default()
    }

    /// Creates a session for `user` and returns its hosted URL.
    pub async fn start(&self, user: &str, body: &str) -> String {
        let resp = self.create_session(user, body).await;
        assert_eq!(resp.status(), 200, "{}", body_text(&resp));
        json_body(&resp)["url"].as_str().unwrap().to_string()
    }

    /// Creates a session for `user`: (hosted URL, attempt id).
    pub async fn start_attempt(&self, user: &str, body: &str) -> (String, String) {
        let resp = self.create_session(user, body).await;
        assert_eq!(resp.status(), 200, "{}", body_text(&resp));
        let session = json_body(&resp);
        (
            session["url"].as_str().unwrap().to_string(),
            session["attemptId"].as_str().unwrap().to_string(),
        )
    }

    /// The callback for a hosted page's redirect: the app's return page URL.
    pub async fn return_to_app(&self, query: &str) -> String {
        location(&self.callback(query).await)
    }

    /// Runs a whole successful redirect flow for `user`, completion included;
    /// returns the connection id.
    pub async fn connect(&self, user: &str, body: &str) -> String {
        let url = self.start(user, body).await;
        let query = self.hosted(&url, "approve").await;
        let loc = self.return_to_app(&query).await;
        assert!(
            loc.starts_with(&format!("{APP_URL}/link/success?status=success")),
            "{loc}"
        );
        let (status, body) = self
            .complete_code(user, &query_param(&loc, "code").unwrap())
            .await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("active")),
            "{body}"
        );
        // The return page is told no connection id; the completion's answer is.
        assert_eq!(query_param(&loc, "connection_id"), None, "{loc}");
        body["connectionId"].as_str().unwrap().to_string()
    }

    /// The record of a connection (which must exist).
    pub async fn record(&self, conn: &str) -> HashMap<String, AttributeValue> {
        self.item(&format!("CONNECTION#{conn}"))
            .await
            .unwrap_or_else(|| panic!("no record of {conn}"))
    }

    /// The browser back through the callback with `query`, then `user`'s
    /// completion with the code it was given: the completion's answer.
    pub async fn return_and_complete(&self, user: &str, query: &str) -> (u16, serde_json::Value) {
        let loc = self.return_to_app(query).await;
        assert!(loc.contains("status=success"), "{loc}");
        self.complete_code(user, &query_param(&loc, "code").unwrap())
            .await
    }

    /// Every item in the table.
    pub async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let out = self
            .ddb
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .unwrap();
        let mut items = out.items.unwrap_or_default();
        items.sort_by_key(|a| s(a, "pk"));
        items
    }

    pub async fn items_of(&self, entity: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .filter(|i| s(i, "entity") == entity)
            .collect()
    }

    /// Sets one attribute of an item behind the code's back (a time passing, a
    /// deadline moved into the past).
    pub async fn set(&self, pk: &str, attr: &str, value: AttributeValue) {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .update_expression("SET #a = :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", value)
            .send()
            .await
            .unwrap();
    }

    pub async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_string()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// Everything the `byUser` index holds for a user (connections and attempts).
    pub async fn user_index(&self, user: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.ddb
            .query()
            .table_name(&self.table)
            .index_name("byUser")
            .key_condition_expression("gsi1pk = :u")
            .expression_attribute_values(":u", AttributeValue::S(format!("USER#{user}")))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// The connections the `byUser` index holds for a user.
    pub async fn user_connections(&self, user: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut index = self.user_index(user).await;
        index.retain(|i| s(i, "entity") == "connection");
        index
    }

    pub fn init_requests(&self) -> Vec<serde_json::Value> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.path == "/v2/link/init")
            .map(|r| r.body)
            .collect()
    }
}

pub fn s(item: &HashMap<String, AttributeValue>, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// An EventBridge client for the local stand-in.
/// Its calls time out as the publisher's do for an erasure grace of `grace`.
pub fn eventbridge_client(url: &str, grace: Duration) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    use link_shared::platform::publisher::PublisherService;
    let conf = aws_sdk_eventbridge::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .timeout_config(link_shared::store::timeouts(PublisherService::put_timeout(
            grace,
        )))
        // The publisher's own tries are what the tests count on.
        .retry_config(
            aws_sdk_eventbridge::config::retry::RetryConfig::standard().with_max_attempts(1),
        )
        .endpoint_url(url)
        .build();
    aws_sdk_eventbridge::Client::from_conf(conf)
}

/// A browser's cookies for the API's site: the start cookie `POST
/// /link/session` sets and the binding cookie the callback sets, sent back on
/// the next call.
#[derive(Debug, Default)]
pub struct Browser(std::sync::Mutex<std::collections::BTreeMap<String, String>>);

impl Browser {
    /// The `Cookie` header it sends (`name=value; …`).
    pub fn cookie(&self) -> Option<String> {
        let jar = self.0.lock().unwrap();
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Keeps the cookies an answer sets.
    pub fn keep(&self, resp: &Response<Body>) {
        for set in resp.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.0.lock().unwrap().insert(k.to_string(), v.to_string());
            }
        }
    }

    /// A browser with this one's start cookie only (the same person's other
    /// tab has both; this is for tests of a browser that has just that one).
    pub fn forget(&self, name: &str) {
        self.0.lock().unwrap().remove(name);
    }
}

/// Signature headers for `body`, as the deployment's webhook endpoint (its
/// secret) would receive them now.
pub fn signed_now(scheme: SignatureScheme, id: &str, body: &str) -> Vec<(String, String)> {
    let now = link_shared::time::epoch(std::time::SystemTime::now());
    ofauth_sim::sign_headers(WEBHOOK_SECRET, scheme, id, now, body.as_bytes())
}

/// Serves the webhook handler over HTTP, the way API Gateway would invoke it.
async fn serve_webhook(listener: tokio::net::TcpListener, svc: WebhookService) {
    let app = axum::Router::new().fallback(
        move |method: axum::http::Method,
              headers: axum::http::HeaderMap,
              body: axum::body::Bytes| {
            let svc = svc.clone();
            async move {
                let h: Vec<(String, String)> = headers
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                    })
                    .collect();
                let hr: Vec<(&str, &str)> =
                    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let text = String::from_utf8_lossy(&body).into_owned();
                let req = api_event(method.as_str(), "/link/webhook", None, &text, &hr, None);
                let resp = counted(req, |r| link_shared::webhook::handle(r, &svc)).await;
                let status = axum::http::StatusCode::from_u16(resp.status().as_u16()).unwrap();
                (
                    status,
                    [("content-type", "application/json")],
                    body_text(&resp),
                )
            }
        },
    );
    let _ = axum::serve(listener, app).await;
}

/// The request the function gets for an event: through its JSON, as Lambda
/// delivers it, and the functions' own event-to-request conversion.
pub fn request(ev: &ApiEvent) -> Request {
    let event = serde_json::from_str(&ev.to_json_string()).expect("a valid API Gateway event");
    link_shared::apigw::request(event, Default::default())
}

/// A payload 2.0 event for any route, with JWT claims when `user` is given.
pub fn api_event(
    method: &str,
    path: &str,
    user: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
    id: Option<&str>,
) -> Request {
    let mut ev = ApiEvent::new(method, path)
        .header("origin", ORIGIN)
        .headers(headers.iter().copied())
        .body(body);
    if let Some(id) = id {
        ev = ev.route("/link/connections/{id}").path_param("id", id);
    }
    if let Some(u) = user {
        ev = ev.user(u);
    }
    request(&ev)
}

/// A payload 2.0 event as API Gateway's HTTP API sends it for `POST /link/session`.
pub fn session_event(user: Option<&str>, body: &str, headers: &[(&str, &str)]) -> Request {
    let mut ev = ApiEvent::new("POST", "/link/session")
        .header("content-type", "application/json")
        .header("origin", ORIGIN)
        .headers(headers.iter().copied())
        .body(body);
    if let Some(u) = user {
        ev = ev.user(u);
    }
    request(&ev)
}

/// A payload 2.0 event for `GET /link/callback?<query>`.
pub fn callback_event(query: &str) -> Request {
    request(&ApiEvent::new("GET", "/link/callback").query(query))
}

pub fn body_text(resp: &Response<Body>) -> String {
    match resp.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

pub fn json_body(resp: &Response<Body>) -> serde_json::Value {
    serde_json::from_str(&body_text(resp)).unwrap_or(serde_json::Value::Null)
}

pub fn location(resp: &Response<Body>) -> String {
    assert_eq!(
        resp.status(),
        302,
        "expected a redirect, got {} {}",
        resp.status(),
        body_text(resp)
    );
    resp.headers()["location"].to_str().unwrap().to_string()
}

/// A parameter of a bare query string (what the hosted page sends back).
pub fn param(query: &str, name: &str) -> String {
    query_param(&format!("https://x/?{query}"), name).unwrap()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Asserts a redirect to the app's error page with this code.
pub fn assert_error_redirect(resp: &Response<Body>, code: &str) {
    let loc = location(resp);
    assert_eq!(
        loc,
        format!("{APP_URL}/link/error?status=error&error_code={code}")
    );
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
}

/// The JSON log lines the process writes at INFO (the deployed level): install
/// once per test binary, as the process's global subscriber.
#[derive(Clone, Default)]
pub struct LogCapture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    pub fn install() -> Self {
        let capture = Self::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("info")
            .with_writer(move || writer.clone())
            .init();
        capture
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// How many times OFAuth was asked to disconnect `conn`.
pub fn deletes_of(h: &Harness, conn: &str) -> usize {
    h.sim
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.ends_with(conn))
        .count()
}

/// The connection ids of a `GET /link/connections` answer, in order.
pub fn listed(list: &serde_json::Value) -> Vec<String> {
    list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs a test (the one named `name`, at the call site of `rusty_fork_id!`) in a
/// child process of this test binary, through rusty-fork, for tests that need
/// the process to themselves: a global log subscriber or metrics recorder,
/// process environment variables. The child uses the parent's DynamoDB Local.
/// Fails when the child fails or runs for more than ten minutes.
pub fn in_own_process(name: &str, id: rusty_fork::RustyForkId, body: impl FnOnce()) {
    let endpoint = dynamodb_endpoint();
    rusty_fork::fork(
        name,
        id,
        |child| {
            child.env("DYNAMODB_TEST_ENDPOINT", &endpoint);
        },
        |child, _output| {
            let status = child
                .wait_timeout(Duration::from_secs(600))
                .expect("waiting for the test's process");
            match status {
                Some(status) => assert!(status.success(), "the test's process failed: {status}"),
                None => {
                    let _ = child.kill();
                    panic!("the test's process ran for more than ten minutes");
                }
            }
        },
        body,
    )
    .expect("starting the test's process");
}

/// Runs a test's body on a runtime of its own (two worker threads), for the
/// tests that run in a process of their own.
/// The body runs as a task on a worker thread with a stack of 16 MiB: a test
/// body that awaits every handler in turn holds their futures in its own, and
/// `make test`'s build (clippy's driver, with MIR optimisations off) makes
/// futures much larger than a release build does.
pub fn block_on<F>(body: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(16 * 1024 * 1024)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    rt.block_on(rt.spawn(body))
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
