//! Knobs: command-line flags with environment-variable twins, parsed into a [`Config`].
//! Two profiles bundle them: [`Profile::Cloud`] (strict: throttling, `resourceNotReady`,
//! operations that take a seeded while, PATCH limited to what Compute's reference allows,
//! managed instance groups that create their VMs over time) and [`Profile::Fast`] (every
//! operation done at once, nothing injected). Every random choice comes from the seed, so a
//! run with the same seed and request order repeats.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long one kind of operation takes: a range from which each operation draws (seeded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    pub min: Duration,
    pub max: Duration,
}

impl Span {
    /// A fixed duration.
    pub fn fixed(d: Duration) -> Span {
        Span { min: d, max: d }
    }

    /// `min..=max` (swapped if given the wrong way round).
    pub fn between(a: Duration, b: Duration) -> Span {
        Span {
            min: a.min(b),
            max: a.max(b),
        }
    }

    /// The duration for a uniform draw `u` in [0, 1).
    pub fn at(&self, u: f64) -> Duration {
        let width = self.max.saturating_sub(self.min);
        self.min + width.mul_f64(u.clamp(0.0, 1.0))
    }

    fn parse(raw: &str, part: &str) -> Result<Span, String> {
        let ms = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("bad latency '{part}': expected OP=MS or OP=MIN..MAX"))
        };
        match raw.split_once("..") {
            Some((a, b)) => Ok(Span::between(ms(a)?, ms(b)?)),
            None => ms(raw).map(Span::fixed),
        }
    }
}

/// How long operations take, per `operationType`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    per_type: BTreeMap<String, Span>,
    default: Span,
}

impl Latency {
    /// Parses `insert=200,delete=50`, `*=100`, a bare `100`, or ranges `insert=200..800`
    /// (milliseconds; a range is drawn from per operation with the seed).
    pub fn parse(spec: &str) -> Result<Latency, String> {
        let mut out = Latency::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, raw) = part.split_once('=').unwrap_or(("*", part));
            let span = Span::parse(raw, part)?;
            match key.trim() {
                "*" | "default" => out.default = span,
                k => {
                    out.per_type.insert(k.to_string(), span);
                }
            }
        }
        Ok(out)
    }

    /// One latency for every operation.
    pub fn uniform(d: Duration) -> Latency {
        Latency {
            per_type: BTreeMap::new(),
            default: Span::fixed(d),
        }
    }

    /// A range for every operation, each operation drawing its own duration.
    pub fn between(min: Duration, max: Duration) -> Latency {
        Latency {
            per_type: BTreeMap::new(),
            default: Span::between(min, max),
        }
    }

    /// Sets the range of one operation type.
    pub fn with(mut self, op_type: &str, span: Span) -> Latency {
        self.per_type.insert(op_type.to_string(), span);
        self
    }

    /// The range of an operation type (`insert`, `delete`, `patch`, `setLabels`, ...).
    pub fn for_op(&self, op_type: &str) -> Span {
        self.per_type.get(op_type).copied().unwrap_or(self.default)
    }
}

/// A bundle of knobs: how close to Compute the emulator behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// As strict as Compute: throttling (403 `rateLimitExceeded` / `userRateLimitExceeded`),
    /// `resourceNotReady`, seeded operation latency, PATCH limited to the fields Compute's
    /// reference allows, managed instance groups creating their VMs over time, request
    /// bodies checked against the discovery document (when one is given).
    #[default]
    Cloud,
    /// Every operation DONE in its response, nothing injected, PATCH of any mutable field.
    Fast,
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "cloud" => Ok(Profile::Cloud),
            "fast" => Ok(Profile::Fast),
            other => Err(format!("unknown profile '{other}': expected cloud or fast")),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Cloud => "cloud",
            Profile::Fast => "fast",
        })
    }
}

/// Everything the server needs to know besides its listening address.
#[derive(Debug, Clone)]
pub struct Config {
    pub latency: Latency,
    /// Probability in [0, 1] that a Compute request is refused with Compute's throttling
    /// answer: 403 `rateLimitExceeded` (or `userRateLimitExceeded`), see `faults`.
    pub throttle_rate: f64,
    /// Probability in [0, 1] that a request is answered 503 `backendError`.
    pub fault_rate: f64,
    /// Seed for faults, latencies and generated ids; `None` seeds from the clock.
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
    /// An insert naming a network or subnetwork that has an unfinished operation is refused
    /// with 400 `resourceNotReady` (else the unfinished referent is simply not found yet).
    pub not_ready: bool,
    /// PATCH accepts only the fields Compute's API reference allows for the collection.
    pub strict_patch: bool,
    /// How long a managed instance group takes to create or delete one VM; zero makes
    /// groups reach their target at once.
    pub vm_latency: Span,
    /// Projects whose every Compute call is refused with 403 `forbidden` ("Required
    /// 'compute.networks.get' permission for ..."), as for credentials without access.
    pub forbidden_projects: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config::for_profile(Profile::Fast, None)
    }
}

impl Config {
    /// The knobs of a profile. `Cloud` leaves `discovery_doc` unset: point it at
    /// `compute.v1.json` (see [`crate::schema::Discovery::locate`]) to check bodies too.
    pub fn for_profile(profile: Profile, seed: Option<u64>) -> Config {
        let fast = Config {
            latency: Latency::default(),
            throttle_rate: 0.0,
            fault_rate: 0.0,
            seed,
            state_file: None,
            user: "gce-emulator@localhost".into(),
            wait_timeout: Duration::from_secs(120),
            discovery_doc: None,
            not_ready: false,
            strict_patch: false,
            vm_latency: Span::default(),
            forbidden_projects: Vec::new(),
        };
        match profile {
            Profile::Fast => fast,
            Profile::Cloud => Config {
                latency: Latency::between(Duration::from_millis(100), Duration::from_millis(400))
                    .with(
                        "insert",
                        Span::between(Duration::from_millis(200), Duration::from_millis(800)),
                    ),
                throttle_rate: 0.1,
                not_ready: true,
                strict_patch: true,
                vm_latency: Span::between(Duration::from_millis(200), Duration::from_millis(600)),
                ..fast
            },
        }
    }
}

fn rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("rate '{s}' must be a number between 0 and 1")),
    }
}

fn span(s: &str) -> Result<Span, String> {
    Span::parse(s, s)
}

/// Command line of the `gce-emulator` binary; every flag can also be set by environment.
/// `--profile` chooses the defaults; the other flags, when given, override them.
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
    /// `cloud` (strict, as Compute answers) or `fast` (everything at once, nothing injected).
    #[arg(long, env = "GCE_EMULATOR_PROFILE", default_value = "cloud")]
    pub profile: Profile,
    /// Operation latency in ms, per operation type: `insert=200..800,delete=50`, or `100`.
    #[arg(long = "latency-ms", env = "GCE_EMULATOR_LATENCY", value_parser = Latency::parse)]
    pub latency: Option<Latency>,
    /// Fraction of requests refused with Compute's 403 `rateLimitExceeded`.
    #[arg(long, env = "GCE_EMULATOR_THROTTLE_RATE", value_parser = rate)]
    pub throttle_rate: Option<f64>,
    /// Fraction of requests answered 503 `backendError`.
    #[arg(long, env = "GCE_EMULATOR_FAULT_RATE", value_parser = rate)]
    pub fault_rate: Option<f64>,
    /// How long a managed instance group takes per VM, in ms (`300` or `200..600`).
    #[arg(long = "vm-latency-ms", env = "GCE_EMULATOR_VM_LATENCY", value_parser = span)]
    pub vm_latency: Option<Span>,
    /// Seed for faults, latencies and generated ids (reproducible runs).
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
        let base = Config::for_profile(self.profile, self.fault_seed);
        Config {
            latency: self.latency.clone().unwrap_or(base.latency.clone()),
            throttle_rate: self.throttle_rate.unwrap_or(base.throttle_rate),
            fault_rate: self.fault_rate.unwrap_or(base.fault_rate),
            vm_latency: self.vm_latency.unwrap_or(base.vm_latency),
            state_file: self.state_file.clone(),
            user: self.user.clone(),
            discovery_doc: self.discovery_doc.clone(),
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_latency_specs() {
        let l = Latency::parse("insert=200..800, delete=50,*=5").unwrap();
        assert_eq!(l.for_op("insert"), Span::between(ms(200), ms(800)));
        assert_eq!(l.for_op("delete"), Span::fixed(ms(50)));
        assert_eq!(l.for_op("patch"), Span::fixed(ms(5)));
        assert_eq!(
            Latency::parse("100").unwrap().for_op("x"),
            Span::fixed(ms(100))
        );
        assert_eq!(Latency::parse("").unwrap().for_op("x"), Span::default());
        assert!(Latency::parse("insert=abc").is_err());
        assert!(Latency::parse("insert=1..x").is_err());
        assert!(rate("1.5").is_err());
        assert_eq!(Span::between(ms(10), ms(30)).at(0.5), ms(20));
    }

    #[test]
    fn profiles_differ_where_documented() {
        let cloud = Config::for_profile(Profile::Cloud, Some(1));
        let fast = Config::for_profile(Profile::Fast, Some(1));
        assert!(cloud.throttle_rate > 0.0 && cloud.not_ready && cloud.strict_patch);
        assert!(cloud.latency.for_op("insert").max > Duration::ZERO);
        assert_eq!(fast.throttle_rate, 0.0);
        assert!(!fast.not_ready && !fast.strict_patch);
        assert_eq!(fast.latency.for_op("insert"), Span::default());
        assert_eq!("fast".parse::<Profile>(), Ok(Profile::Fast));
        assert!("slow".parse::<Profile>().is_err());
    }
}
