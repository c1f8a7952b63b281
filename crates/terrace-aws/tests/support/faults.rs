//! A loopback HTTP layer in front of moto that adds latency and injects throttling: a seeded
//! share of requests is answered `503 RequestLimitExceeded` in EC2's XML error shape *before*
//! reaching moto (as EC2 does when it throttles), the rest is forwarded unchanged. Answers to
//! one chosen action can be lost (forwarded, carried out, then the connection is closed
//! without an answer), as after a timeout or a crash. One request per connection (moto closes
//! connections after each answer anyway).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const THROTTLED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>";

/// Counters of the fault layer.
#[derive(Debug, Default)]
pub struct Stats {
    pub forwarded: AtomicU64,
    pub throttled: AtomicU64,
    pub lost: AtomicU64,
}

/// What the layer does.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// Share of requests answered `503 RequestLimitExceeded` without reaching moto.
    pub throttle_rate: f64,
    /// Added before each request is handled.
    pub latency: Duration,
    /// Requests whose body contains `Action=<this>&` are carried out, their answer lost.
    pub lose_action: Option<String>,
    pub seed: u64,
}

/// The fault layer; it stops when the test's runtime ends.
pub struct Faults {
    pub endpoint: String,
    pub stats: Arc<Stats>,
}

/// A small seeded generator (xorshift64*), so that a run is reproducible.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Faults {
    /// Starts the layer in front of `upstream` (`http://host:port`).
    pub async fn start(upstream: &str, knobs: Knobs) -> Faults {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let stats = Arc::new(Stats::default());
        let rng = Arc::new(Mutex::new(Rng(knobs.seed.max(1))));
        let knobs = Arc::new(knobs);
        let shared = stats.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let throttle = rng.lock().unwrap().next_f64() < knobs.throttle_rate;
                let (upstream, stats, knobs) = (upstream.clone(), shared.clone(), knobs.clone());
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, throttle, &knobs, &stats).await;
                });
            }
        });
        Faults { endpoint, stats }
    }
}

/// Reads one request (head and body by Content-Length).
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return Ok(buf);
        }
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    throttle: bool,
    knobs: &Knobs,
    stats: &Stats,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    if request.is_empty() {
        return Ok(());
    }
    tokio::time::sleep(knobs.latency).await;
    if throttle {
        stats.throttled.fetch_add(1, Ordering::Relaxed);
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{THROTTLED}",
            THROTTLED.len()
        );
        client.write_all(answer.as_bytes()).await?;
        return client.shutdown().await;
    }
    stats.forwarded.fetch_add(1, Ordering::Relaxed);
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&request).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&request);
    if let Some(action) = &knobs.lose_action {
        if text.contains(&format!("Action={action}&")) {
            stats.lost.fetch_add(1, Ordering::Relaxed);
            return client.shutdown().await;
        }
    }
    client.write_all(&answer).await?;
    client.shutdown().await
}
