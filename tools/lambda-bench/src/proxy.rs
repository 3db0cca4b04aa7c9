//! A loopback TCP proxy that measures how long the function waits on a
//! downstream: for each request/response exchange on a connection, the time from
//! the first request byte to the last response byte before the next request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Exchange {
    start: Option<Instant>,
    last_response: Option<Instant>,
}

impl Exchange {
    /// Closes the exchange in progress, if it got an answer, and returns its duration.
    fn close(&mut self) -> Duration {
        let d = match (self.start, self.last_response) {
            (Some(s), Some(e)) if e > s => e - s,
            _ => Duration::ZERO,
        };
        if self.last_response.is_some() {
            self.start = None;
            self.last_response = None;
        }
        d
    }
}

#[derive(Default)]
struct Totals {
    done: Duration,
    exchanges: u64,
    connections: Vec<Arc<Mutex<Exchange>>>,
}

/// A running proxy. `take()` returns the downstream time since the last call.
#[derive(Clone)]
pub struct TimingProxy {
    pub addr: std::net::SocketAddr,
    totals: Arc<Mutex<Totals>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TimingProxy {
    pub async fn start(target: std::net::SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let totals = Arc::new(Mutex::new(Totals::default()));
        let t = totals.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let ex = Arc::new(Mutex::new(Exchange::default()));
                lock(&t).connections.push(ex.clone());
                tokio::spawn(pipe(client, server, ex, t.clone()));
            }
        });
        Ok(Self { addr, totals })
    }

    /// Downstream time (and exchange count) since the last call.
    pub fn take(&self) -> (Duration, u64) {
        // Never hold the totals lock while taking an exchange's (pipe() takes them
        // the other way round).
        let open: Vec<_> = lock(&self.totals).connections.clone();
        let mut extra = Duration::ZERO;
        let mut n = 0;
        for c in open {
            let d = lock(&c).close();
            if !d.is_zero() {
                extra += d;
                n += 1;
            }
        }
        let mut t = lock(&self.totals);
        let out = (t.done + extra, t.exchanges + n);
        t.done = Duration::ZERO;
        t.exchanges = 0;
        out
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    ex: Arc<Mutex<Exchange>>,
    totals: Arc<Mutex<Totals>>,
) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let ex_up = ex.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let finished = {
                let mut e = lock(&ex_up);
                if e.start.is_none() || e.last_response.is_some() {
                    let d = e.close();
                    e.start = Some(Instant::now());
                    d
                } else {
                    Duration::ZERO
                }
            };
            if !finished.is_zero() {
                let mut t = lock(&totals);
                t.done += finished;
                t.exchanges += 1;
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            lock(&ex).last_response = Some(Instant::now());
        }
    };
    tokio::join!(up, down);
}
