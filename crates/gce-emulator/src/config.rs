//! Knobs: command-line flags with environment-variable twins, parsed into a [`Config`].
//! Latency is per operation type (`insert=200,delete=50`, or one number for all), faults
//! are a rate with a seed so runs are reproducible, and an optional state file persists.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long operations take, per `operationType`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    per_type: BTreeMap<String, Duration>,
    default: Duration,
}

impl Latency {
    /// Parses `insert=200,delete=50`, `*=100` or a bare `100` (milliseconds).
    pub fn parse(spec: &str) -> Result<Latency, String> {
        let mut out = Latency::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, ms) = part.split_once('=').unwrap_or(("*", part));
            let ms: u64 = ms
                .trim()
                .parse()
                .map_err(|_| format!("bad latency '{part}': expected OP=MILLISECONDS"))?;
            let d = Duration::from_millis(ms);
            match key.trim() {
                "*" | "default" => out.default = d,
                k => {
                    out.per_type.insert(k.to_string(), d);
                }
            }
        }
        Ok(out)
    }

    /// One latency for every operation.
    pub fn uniform(d: Duration) -> Latency {
        Latency {
            per_type: BTreeMap::new(),
            default: d,
        }
    }

    /// The latency of an operation type (`insert`, `delete`, `patch`, `setLabels`, ...).
    pub fn for_op(&self, op_type: &str) -> Duration {
        self.per_type.get(op_type).copied().unwrap_or(self.default)
    }
}

/// Everything the server needs to know besides its listening address.
#[derive(Debug, Clone)]
pub struct Config {
    pub latency: Latency,
    /// Probability in [0, 1] that a request is answered with an injected 429 or 503.
    pub fault_rate: f64,
    /// Seed for faults and generated ids; `None` seeds from the clock.
    pub seed: Option<u64>,
    /// Where state is snapshotted after each mutation and reloaded at start.
    pub state_file: Option<PathBuf>,
    /// The `user` recorded on operations.
    pub user: String,
    /// How long `operations/{name}/wait` waits at most (Compute: 2 minutes).
    pub wait_timeout: Duration,
    /// A discovery document (`compute.v1.json`); when set, request bodies carrying fields
    /// or types it does not declare are refused with 400 as Google's front end refuses them.
    pub discovery_doc: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            latency: Latency::default(),
            fault_rate: 0.0,
            seed: None,
            state_file: None,
            user: "gce-emulator@localhost".into(),
            wait_timeout: Duration::from_secs(120),
            discovery_doc: None,
        }
    }
}

fn fault_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("fault rate '{s}' must be a number between 0 and 1")),
    }
}

/// Command line of the `gce-emulator` binary; every flag can also be set by environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gce-emulator",
    version,
    about = "A local Compute Engine v1 emulator"
)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, env = "GCE_EMULATOR_LISTEN", default_value = "127.0.0.1:8085")]
    pub listen: SocketAddr,
    /// Operation latency in ms, per operation type: `insert=200,delete=50`, or `100` for all.
    #[arg(long = "latency-ms", env = "GCE_EMULATOR_LATENCY", default_value = "", value_parser = Latency::parse)]
    pub latency: Latency,
    /// Fraction of requests answered with an injected 429 or 503.
    #[arg(long, env = "GCE_EMULATOR_FAULT_RATE", default_value = "0", value_parser = fault_rate)]
    pub fault_rate: f64,
    /// Seed for fault injection and generated ids (reproducible runs).
    #[arg(long, env = "GCE_EMULATOR_FAULT_SEED")]
    pub fault_seed: Option<u64>,
    /// Snapshot state to this file after each mutation; reload it at start.
    #[arg(long, env = "GCE_EMULATOR_STATE_FILE")]
    pub state_file: Option<PathBuf>,
    /// The `user` recorded on operations.
    #[arg(
        long,
        env = "GCE_EMULATOR_USER",
        default_value = "gce-emulator@localhost"
    )]
    pub user: String,
    /// Compute's discovery document; request bodies are then checked against it.
    #[arg(long, env = "GCE_EMULATOR_DISCOVERY_DOC")]
    pub discovery_doc: Option<PathBuf>,
}

impl Args {
    pub fn config(&self) -> Config {
        Config {
            latency: self.latency.clone(),
            fault_rate: self.fault_rate,
            seed: self.fault_seed,
            state_file: self.state_file.clone(),
            user: self.user.clone(),
            discovery_doc: self.discovery_doc.clone(),
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_specs() {
        let l = Latency::parse("insert=200, delete=50,*=5").unwrap();
        assert_eq!(l.for_op("insert"), Duration::from_millis(200));
        assert_eq!(l.for_op("delete"), Duration::from_millis(50));
        assert_eq!(l.for_op("patch"), Duration::from_millis(5));
        assert_eq!(
            Latency::parse("100").unwrap().for_op("x"),
            Duration::from_millis(100)
        );
        assert_eq!(Latency::parse("").unwrap().for_op("x"), Duration::ZERO);
        assert!(Latency::parse("insert=abc").is_err());
        assert!(fault_rate("1.5").is_err());
    }
}
