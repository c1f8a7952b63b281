//! The sandbox's AWS behaviour layer: a loopback HTTP proxy in front of moto that behaves as AWS
//! documents where moto is kinder. The sandbox (`terrace sandbox start`) and the terrace-aws
//! tests put it between the AWS SDK and moto. Each behaviour cites its source in its module:
//!
//! | behaviour | module | source |
//! |---|---|---|
//! | a new id answers `…NotFound` and is left out of Describe answers for a seeded 0.5–2 s | [`consistency`] | EC2 "Eventual consistency", terraform#2174 |
//! | throttling in each service's shape (EC2 503 `RequestLimitExceeded`; ELBv2/Auto Scaling 400 `Throttling`; Organizations `TooManyRequestsException`) | [`answer`] | EC2 "Request throttling", each API reference |
//! | a create is carried out but its answer is lost (500 or a broken connection) | [`proxy`] | what a timeout or a crash after the write looks like to a client |
//! | in-use refusals moto lacks (security groups, subnets) | [`in_use`], [`launches`] | EC2 API reference of DeleteSecurityGroup / DeleteSubnet |
//! | EC2 client tokens honoured where moto ignores them | [`tokens`] | EC2 "Ensuring idempotency" |
//! | an `AssumeRole` into a role of an account closed with `CloseAccount` is 403 `AccessDenied` | [`closed`] | Organizations user guide "Closing a member account", CrowdStrike/cloud-resource-estimator#25 |
//! | VPN connections: tunnel inside blocks checked, tunnel options (outside addresses, inside blocks, generated pre-shared keys) and telemetry answered, the `vpn-connection-id` filter, `pending` for a seeded 1–3 s | [`vpn`] | EC2 API reference (CreateVpnConnection, DescribeVpnConnections, VpnTunnelOptionsSpecification), Site-to-Site VPN user guide |
//!
//! Only EC2, Elastic Load Balancing v2, Auto Scaling and Organizations are made strict; S3,
//! DynamoDB, KMS, STS and IAM pass through (but for `AssumeRole` into a closed account).
//! Randomness is a seeded ChaCha stream, so a run with the same seed and the same request order
//! repeats. `GET /__sandbox/stats` answers the
//! counters as JSON.

pub mod answer;
pub mod call;
pub mod closed;
pub mod consistency;
pub mod in_use;
pub mod launches;
pub mod proxy;
pub mod tokens;
pub mod upstream;
pub mod vpn;
pub mod xml;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How strict the layer is.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Share of calls (of the strict services) answered with the service's throttling error.
    pub throttle_rate: f64,
    /// Share of successful creates whose answer is lost after moto carried them out.
    pub lost_answer_rate: f64,
    /// After a create, its new ids stay invisible for a delay drawn from this range.
    pub consistency: Option<(Duration, Duration)>,
    /// Refuse deletes of security groups and subnets still in use.
    pub in_use_refusals: bool,
    /// Answer a repeated EC2 client token with the first answer.
    pub client_tokens: bool,
    /// Refuse `AssumeRole` into an account closed through this layer.
    pub closed_accounts: bool,
    /// A new VPN connection reads `pending` for a delay drawn from this range (else it is
    /// `available` at once, as in moto).
    pub vpn_pending: Option<(Duration, Duration)>,
    /// Seed of every random draw.
    pub seed: u64,
}

/// The named behaviours of `terrace sandbox start --profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// As strict as AWS: eventual consistency, 10 % throttling, 5 % lost create answers,
    /// in-use refusals, VPN connections pending for a while.
    Cloud,
    /// moto as it is (client tokens still honoured and closed accounts out of reach, as on
    /// AWS: both are always so, and cost nothing).
    Fast,
}

impl Profile {
    /// Parses `cloud` or `fast`.
    pub fn parse(text: &str) -> Result<Profile, String> {
        match text {
            "cloud" => Ok(Profile::Cloud),
            "fast" => Ok(Profile::Fast),
            other => Err(format!(
                "unknown sandbox profile `{other}`: expected `cloud` (as strict as the clouds) or `fast`"
            )),
        }
    }
}

impl Behaviour {
    /// The behaviour of a profile.
    pub fn of(profile: Profile, seed: u64) -> Behaviour {
        match profile {
            Profile::Cloud => Behaviour {
                throttle_rate: 0.10,
                lost_answer_rate: 0.05,
                consistency: Some((Duration::from_millis(500), Duration::from_millis(2000))),
                in_use_refusals: true,
                client_tokens: true,
                closed_accounts: true,
                vpn_pending: Some((Duration::from_secs(1), Duration::from_secs(3))),
                seed,
            },
            Profile::Fast => Behaviour {
                throttle_rate: 0.0,
                lost_answer_rate: 0.0,
                consistency: None,
                in_use_refusals: false,
                client_tokens: true,
                closed_accounts: true,
                vpn_pending: None,
                seed,
            },
        }
    }
}

/// What the layer did, for tests and the sandbox log.
#[derive(Debug, Default)]
pub struct Stats {
    /// Calls answered with a throttling error.
    pub throttled: AtomicU64,
    /// Calls naming a not yet visible id, answered not found.
    pub not_yet_visible: AtomicU64,
    /// Entries left out of Describe answers.
    pub left_out: AtomicU64,
    /// Creates carried out whose answer was lost.
    pub lost: AtomicU64,
    /// Deletes refused because the resource is in use.
    pub in_use_refused: AtomicU64,
    /// Repeated client tokens answered with the first answer.
    pub tokens_replayed: AtomicU64,
}

impl Stats {
    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "throttled": get(&self.throttled),
            "not_yet_visible": get(&self.not_yet_visible),
            "left_out": get(&self.left_out),
            "lost": get(&self.lost),
            "in_use_refused": get(&self.in_use_refused),
            "tokens_replayed": get(&self.tokens_replayed),
        })
    }
}

/// The layer's shared state.
pub struct Layer {
    behaviour: Behaviour,
    upstream: upstream::Upstream,
    rng: Mutex<ChaCha8Rng>,
    consistency: consistency::Consistency,
    tokens: tokens::ClientTokens,
    launches: launches::Launches,
    vpn: vpn::VpnConnections,
    closed: closed::ClosedAccounts,
    /// Counters of what the layer did.
    pub stats: Arc<Stats>,
    log: bool,
}

impl Layer {
    fn unit(&self) -> f64 {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn draw(&self) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_u64()
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    fn delay(&self, low: Duration, high: Duration) -> Duration {
        low + (high.saturating_sub(low)).mul_f64(self.unit())
    }

    fn request_id(&self) -> String {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = (rng.next_u64(), rng.next_u64());
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    fn log(&self, line: &str) {
        if self.log {
            println!("aws-sandbox: {line}");
        }
    }
}

/// A running layer; dropping it stops the server.
pub struct RunningLayer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// Counters of what the layer did.
    pub stats: Arc<Stats>,
}

impl RunningLayer {
    /// `http://127.0.0.1:PORT`, the endpoint to give the AWS SDK.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for RunningLayer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds `listen` (port 0 for a free one) and serves, forwarding to moto at `upstream`
/// (`http://127.0.0.1:PORT`). With `log`, each injected behaviour is printed on stdout.
pub async fn start(
    listen: SocketAddr,
    upstream: &str,
    behaviour: Behaviour,
    log: bool,
) -> std::io::Result<RunningLayer> {
    let stats = Arc::new(Stats::default());
    let layer = Arc::new(Layer {
        rng: Mutex::new(ChaCha8Rng::seed_from_u64(behaviour.seed)),
        consistency: consistency::Consistency::new(behaviour.consistency.unwrap_or_default()),
        behaviour,
        upstream: upstream::Upstream::new(upstream),
        tokens: tokens::ClientTokens::default(),
        launches: launches::Launches::default(),
        vpn: vpn::VpnConnections::default(),
        closed: closed::ClosedAccounts::default(),
        stats: stats.clone(),
        log,
    });
    let stats_route = {
        let stats = stats.clone();
        move || async move { axum::Json(stats.to_json()) }
    };
    let router = axum::Router::new()
        .route("/__sandbox/stats", axum::routing::get(stats_route))
        .fallback(proxy::handle)
        .with_state(layer);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(RunningLayer { addr, stop, stats })
}
