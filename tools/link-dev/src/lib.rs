//! Development tools shared by the tests, `make dev` and `make test`: the events
//! catalogue ([`events`]), what each event needs to exist first ([`seed`]), the
//! checks the scripts run ([`checks`]), the smoke test of a deployment
//! ([`smoke`]), the demo server ([`demo`]), and the publisher's stream and
//! EventBridge, locally ([`stream`]).

pub mod checks;
pub mod demo;
pub mod invoke;
pub mod smoke;
pub mod stream;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use link_shared::ids::{AttemptId, ConnectionId};
use link_shared::model::LinkAttempt;
use link_shared::store::{keys, schema, Store};
use link_shared::time::{epoch, rfc3339};
use serde::{Deserialize, Serialize};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A variable from `.env.example`, the local configuration every tool shares.
pub fn env_example(name: &str) -> String {
    env_file(&root().join(".env.example"))
        .remove(name)
        .unwrap_or_default()
}

/// `KEY=value` lines of an env file (comments and blank lines skipped).
pub fn env_file(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What one event must answer and what must exist first (invoke/expected.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expected {
    pub function: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The `Location` starts with this (it ends with a one-time code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Seed::is_empty")]
    pub seed: Seed,
    /// Sign the webhook event at run time with this scheme (`ofauth` or `svix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<String>,
}

/// What an event refers to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seed {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<SeedRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<SeedRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sim_connections: Vec<SimSeed>,
}

/// A connection the simulator knows: made by the Link attempt `reference`, or
/// imported when there is none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimSeed {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Seed {
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty() && self.connections.is_empty() && self.sim_connections.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRecord {
    pub id: String,
    pub user: String,
}

/// Reads invoke/expected.json.
pub fn expectations(events_dir: &Path) -> Result<BTreeMap<String, Expected>, Error> {
    let text = std::fs::read_to_string(events_dir.join("expected.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// The event with fresh signature headers for its body, when `sign` names a
/// scheme (webhook signatures expire after five minutes, so files cannot carry them).
pub fn prepare_event(raw: &str, sign: Option<&str>, secret: &str) -> Result<String, Error> {
    let Some(scheme) = sign else {
        return Ok(raw.to_string());
    };
    let scheme = match scheme {
        "ofauth" => ofauth_sim::SignatureScheme::Ofauth,
        "svix" => ofauth_sim::SignatureScheme::Svix,
        other => return Err(format!("unknown scheme {other}").into()),
    };
    let mut ev: serde_json::Value = serde_json::from_str(raw)?;
    let body = ev["body"].as_str().unwrap_or_default().to_string();
    let now = epoch(SystemTime::now());
    let id = format!("msg_{now}");
    for (k, v) in ofauth_sim::sign_headers(secret, scheme, &id, now, body.as_bytes()) {
        ev["headers"][k.to_ascii_lowercase()] = serde_json::Value::String(v);
    }
    Ok(ev.to_string())
}

/// The local table, through the service's store and, for what only the dev tools
/// do, a client of their own.
#[derive(Debug, Clone)]
pub struct LocalTable {
    pub store: Store,
    pub client: aws_sdk_dynamodb::Client,
    pub name: String,
}

impl LocalTable {
    pub fn new(endpoint: &str, name: &str) -> Self {
        let client = local_dynamodb::client(endpoint, Duration::from_secs(5));
        Self {
            store: Store::new(client.clone(), name),
            client,
            name: name.to_string(),
        }
    }

    /// Creates the table as template.yaml defines it, unless it exists.
    pub async fn create(&self) -> Result<bool, Error> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.name)
            .send()
            .await
            .is_ok();
        if !exists {
            local_dynamodb::create_table(&self.client, &self.name).await?;
        }
        Ok(!exists)
    }

    /// Writes an active connection record for `user` as given (seeding only: the
    /// service writes connections through the callback and the webhook).
    pub async fn put_connection(&self, id: &ConnectionId, user: &str) -> Result<(), Error> {
        let now = rfc3339(SystemTime::now());
        let s = |v: &str| AttributeValue::S(v.to_string());
        let item = HashMap::from([
            (schema::PARTITION_KEY.to_string(), s(&keys::connection(id))),
            ("entity".into(), s("connection")),
            ("connectionId".into(), s(id.as_str())),
            ("userId".into(), s(user)),
            ("status".into(), s("active")),
            ("accountId".into(), s("300001")),
            ("username".into(), s("eventcreator")),
            ("name".into(), s("Event Creator")),
            ("connectedAt".into(), s(&now)),
            ("updatedAt".into(), s(&now)),
            (
                schema::USER_INDEX_PARTITION_KEY.into(),
                s(&keys::user(user)),
            ),
            (schema::USER_INDEX_SORT_KEY.into(), s(&now)),
        ]);
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await?;
        Ok(())
    }

    /// How many connection records a user has (a duplicate shows here).
    pub async fn connection_count(&self, user: &str) -> Result<i32, Error> {
        Ok(self
            .client
            .scan()
            .table_name(&self.name)
            .filter_expression("entity = :c AND userId = :u")
            .expression_attribute_values(":c", AttributeValue::S("connection".into()))
            .expression_attribute_values(":u", AttributeValue::S(user.into()))
            .send()
            .await?
            .count)
    }

    /// Makes what one event refers to exist: pending attempts (reset if used),
    /// connection records, and connections the simulator knows (over its HTTP
    /// control API).
    pub async fn seed(&self, sim_url: &str, seed: &Seed) -> Result<(), Error> {
        let now = SystemTime::now();
        for a in &seed.attempts {
            let id = AttemptId::parse(&a.id).ok_or_else(|| format!("bad attempt id {}", a.id))?;
            self.client
                .delete_item()
                .table_name(&self.name)
                .key(schema::PARTITION_KEY, AttributeValue::S(keys::attempt(&id)))
                .send()
                .await?;
            let expires = now + Duration::from_secs(3600);
            let attempt = LinkAttempt::pending(
                id,
                a.user.clone(),
                None,
                rfc3339(expires),
                epoch(expires),
                now,
            );
            self.store
                .put_attempt(&attempt, epoch(expires) + 86_400)
                .await?;
        }
        for c in &seed.connections {
            let id =
                ConnectionId::parse(&c.id).ok_or_else(|| format!("bad connection id {}", c.id))?;
            self.put_connection(&id, &c.user).await?;
        }
        let http = reqwest::Client::new();
        for c in &seed.sim_connections {
            http.post(format!("{sim_url}/__sim/connections"))
                .json(&serde_json::json!({ "id": c.id, "clientReferenceId": c.reference }))
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(())
    }
}
