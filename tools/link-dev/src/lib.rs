//! Development tools shared by the tests, `make dev` and the events check:
//! DynamoDB Local, the table, and the records that `events/` refer to.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use link_shared::ids::{AttemptId, ConnectionId};
use link_shared::ofauth::AccountProfile;
use link_shared::store::{self, AttemptStatus, ConnectionRecord, LinkAttempt, Store};
use serde::Deserialize;

/// What one event must answer and what must exist first (events/expected.json).
#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    pub function: String,
    pub status: u16,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub seed: Seed,
    /// Sign the webhook event at run time with this scheme (`ofauth` or `svix`).
    #[serde(default)]
    pub sign: Option<String>,
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
    let now = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let id = format!("msg_{now}");
    for (k, v) in ofauth_sim::sign_headers(secret, scheme, &id, now, body.as_bytes()) {
        ev["headers"][k.to_ascii_lowercase()] = serde_json::Value::String(v);
    }
    Ok(ev.to_string())
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Seed {
    #[serde(default)]
    pub attempts: Vec<SeedRecord>,
    #[serde(default)]
    pub connections: Vec<SeedRecord>,
    #[serde(default)]
    pub sim_connections: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SeedRecord {
    pub id: String,
    pub user: String,
}

pub mod demo;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Reads events/expected.json.
pub fn expectations(events_dir: &Path) -> Result<BTreeMap<String, Expected>, Error> {
    let text = std::fs::read_to_string(events_dir.join("expected.json"))?;
    Ok(serde_json::from_str(&text)?)
}

/// Makes what one event refers to exist: pending attempts (reset if used),
/// connection records, and connections the simulator knows (over its HTTP control API).
pub async fn seed(store: &Store, sim_url: &str, seed: &Seed) -> Result<(), Error> {
    let now = SystemTime::now();
    for a in &seed.attempts {
        let id = AttemptId::parse(&a.id).ok_or_else(|| format!("bad attempt id {}", a.id))?;
        store
            .client()
            .delete_item()
            .table_name(store.table())
            .key(
                store::schema::PARTITION_KEY,
                AttributeValue::S(store::attempt_key(&id)),
            )
            .send()
            .await?;
        let expires = now + Duration::from_secs(3600);
        let attempt = LinkAttempt {
            id,
            user_id: a.user.clone(),
            reconnect: None,
            created_at: store::rfc3339(now),
            expires_at: store::rfc3339(expires),
            expires_at_epoch: store::epoch(expires),
            status: AttemptStatus::Pending,
        };
        store
            .put_attempt(&attempt, store::epoch(expires) + 86_400)
            .await?;
    }
    for c in &seed.connections {
        let id = ConnectionId::parse(&c.id).ok_or_else(|| format!("bad connection id {}", c.id))?;
        let rec = ConnectionRecord {
            id,
            user_id: c.user.clone(),
            status: "active".into(),
            account: AccountProfile {
                id: Some("200001".into()),
                username: Some("eventcreator".into()),
                name: Some("Event Creator".into()),
                avatar: None,
            },
            connected_at: store::rfc3339(now),
            updated_at: store::rfc3339(now),
        };
        store.put_connection(&rec).await?;
    }
    let http = reqwest::Client::new();
    for id in &seed.sim_connections {
        http.post(format!("{sim_url}/__sim/connections"))
            .json(&serde_json::json!({ "id": id }))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(())
}
