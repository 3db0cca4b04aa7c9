//! The simulator's state: sessions, connections, faults, recorded requests and
//! webhook bookkeeping, behind one lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::{
    webhooks, Delivery, Faults, HostedMode, RecordedRequest, SimConfig, SimConnection, SimEvent,
    WebhookMode,
};

#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) redirect_url: String,
    pub(crate) client_reference_id: Option<String>,
    pub(crate) connection_id: Option<String>,
    pub(crate) expires_at: SystemTime,
    pub(crate) finished: bool,
    /// Reported invalid when opened (a [`HostedMode::invalid_sessions`] switch).
    pub(crate) invalid: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) sessions: BTreeMap<String, Session>,
    pub(crate) connections: BTreeMap<String, SimConnection>,
    /// The connections' ids by creation order (`seq`), for the list's newest
    /// first without sorting the whole account on every page.
    pub(crate) by_seq: BTreeMap<u64, String>,
    /// Bumped to stop the background traffic task that was started before.
    pub(crate) traffic_generation: u64,
    pub(crate) faults: Faults,
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) next_account: u64,
    pub(crate) webhook_mode: WebhookMode,
    pub(crate) held: Vec<SimEvent>,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) hosted_mode: HostedMode,
    /// Keys accepted instead of the configured one, once set (rotation).
    pub(crate) api_keys: Vec<String>,
    /// Keys of another OFAuth account: accepted, and they see none of this
    /// account's connections.
    pub(crate) foreign_keys: Vec<String>,
}

pub(crate) struct Sim {
    pub(crate) config: SimConfig,
    pub(crate) public_url: String,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) http: reqwest::Client,
}

impl Inner {
    /// Adds or replaces a connection.
    pub(crate) fn put_connection(&mut self, conn: SimConnection) {
        if let Some(old) = self.connections.get(&conn.id) {
            if old.seq != conn.seq {
                self.by_seq.remove(&old.seq);
            }
        }
        self.by_seq.insert(conn.seq, conn.id.clone());
        self.connections.insert(conn.id.clone(), conn);
    }

    pub(crate) fn remove_connection(&mut self, id: &str) -> Option<SimConnection> {
        let conn = self.connections.remove(id)?;
        self.by_seq.remove(&conn.seq);
        Some(conn)
    }

    /// Newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &SimConnection> {
        self.by_seq
            .values()
            .rev()
            .filter_map(|id| self.connections.get(id))
    }
}

impl Sim {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-updated in a way
        // that matters to a test double; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn new_connection(
    inner: &mut Inner,
    id: String,
    client_reference_id: Option<String>,
) -> SimConnection {
    let now = iso(SystemTime::now(), true);
    let mut conn = SimConnection {
        id,
        status: "active".into(),
        client_reference_id,
        user_id: String::new(),
        username: String::new(),
        name: String::new(),
        avatar: String::new(),
        created_at: now.clone(),
        updated_at: now,
        imported: false,
        seq: 0,
    };
    new_account(inner, &mut conn);
    conn.seq = inner.next_account;
    conn
}

/// Gives a connection a fresh OnlyFans account (a new one, or a reconnect that
/// signed in to someone else).
pub(crate) fn new_account(inner: &mut Inner, conn: &mut SimConnection) {
    inner.next_account += 1;
    let n = inner.next_account;
    conn.user_id = format!("{}", 100_000 + n);
    conn.username = format!("creator{n}");
    conn.name = format!("Sandbox Creator {n}");
    conn.avatar = format!("https://avatars.sandbox.invalid/creator{n}.png");
}

/// Puts the OnlyFans account `id` on a connection (its profile as
/// [`new_account`] made it, when it made that id).
pub(crate) fn set_account(conn: &mut SimConnection, id: &str) {
    conn.user_id = id.to_string();
    if let Some(n) = id.parse::<u64>().ok().and_then(|n| n.checked_sub(100_000)) {
        conn.username = format!("creator{n}");
        conn.name = format!("Sandbox Creator {n}");
        conn.avatar = format!("https://avatars.sandbox.invalid/creator{n}.png");
    }
}

/// Adds `count` imported connections in one lock, made a day ago (an account
/// that already held them; their place in the list is after what came before).
pub(crate) fn preload(sim: &Sim, count: u64) {
    let mut inner = sim.lock();
    let batch = random_hex(4);
    let made = iso(
        SystemTime::now() - std::time::Duration::from_secs(86_400),
        true,
    );
    for n in 0..count {
        let mut conn = new_connection(&mut inner, format!("conn_pre{n}_{batch}"), None);
        conn.imported = true;
        conn.created_at = made.clone();
        conn.updated_at = made.clone();
        inner.put_connection(conn);
    }
}

/// Runs the background traffic until it is changed or stopped: every 5 ms, the
/// connections due at the rate since it started.
pub(crate) fn start_traffic(sim: Arc<Sim>, traffic: crate::Traffic) {
    let generation = {
        let mut inner = sim.lock();
        inner.traffic_generation += 1;
        inner.traffic_generation
    };
    if traffic.connects_per_second <= 0.0 || !traffic.connects_per_second.is_finite() {
        return;
    }
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut made = 0u64;
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let due = (start.elapsed().as_secs_f64() * traffic.connects_per_second) as u64;
            let mut created = Vec::new();
            {
                let mut inner = sim.lock();
                if inner.traffic_generation != generation {
                    return;
                }
                while made < due {
                    made += 1;
                    let reference = format!("la_{}", random_hex(20));
                    let conn = new_connection(
                        &mut inner,
                        format!("conn_{}", random_hex(12)),
                        Some(reference),
                    );
                    inner.put_connection(conn.clone());
                    created.push(conn);
                }
            }
            if traffic.webhooks {
                for conn in &created {
                    webhooks::emit(&sim, "connection.created", conn);
                }
            }
        }
    });
}

/// A uniform draw below `n` (0 when `n` is 0).
pub(crate) fn random_below(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).expect("OS randomness");
    u64::from_le_bytes(buf) % n
}

/// Removes a connection (OFAuth's disconnect) and sends `connection.disconnected`.
pub(crate) fn disconnect(sim: &Arc<Sim>, id: &str) -> bool {
    let removed = sim.lock().remove_connection(id);
    match removed {
        Some(mut conn) => {
            conn.status = "disconnected".into();
            webhooks::emit(sim, "connection.disconnected", &conn);
            true
        }
        None => false,
    }
}

pub(crate) fn expire(sim: &Arc<Sim>, id: &str) -> bool {
    let conn = {
        let mut inner = sim.lock();
        let Some(c) = inner.connections.get_mut(id) else {
            return false;
        };
        c.status = "expired".into();
        c.updated_at = iso(SystemTime::now(), true);
        c.clone()
    };
    webhooks::emit(sim, "connection.expired", &conn);
    true
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // A test double with a broken OS RNG must fail loudly, not hand out zero ids.
    getrandom::fill(&mut buf).expect("OS randomness");
    hex::encode(buf)
}

/// `2023-10-27T10:00:00.000Z` (with millis, as OFAuth writes `expiresAt`) or
/// `2023-10-27T10:00:00Z`.
pub fn iso(t: SystemTime, millis: bool) -> String {
    let dt = time::OffsetDateTime::from(t);
    let result = if millis {
        dt.format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
    } else {
        dt.format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
    };
    result.unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn iso_dates() {
        let t = UNIX_EPOCH + Duration::from_millis(1_698_400_800_123);
        assert_eq!(iso(t, true), "2023-10-27T10:00:00.123Z");
        assert_eq!(iso(UNIX_EPOCH, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso(UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }
}
