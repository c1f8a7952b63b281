//! `terrace.yaml`: the workspace's settings — name, state backend, providers, configuration
//! values, concurrency defaults and the clouds' consistency window.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The parsed `terrace.yaml`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Workspace name, written into every ownership tag. Defaults to the directory name.
    #[serde(default)]
    pub name: Option<String>,
    /// State backend URL; default `file://.terrace/state`.
    #[serde(default)]
    pub backend: Option<String>,
    /// Directory of the group files, relative to the workspace; default `groups`.
    #[serde(default)]
    pub groups: Option<String>,
    /// Directory of the `terrace test` files (`*.yaml`), relative to the workspace; default
    /// `tests`.
    #[serde(default)]
    pub tests: Option<String>,
    /// Provider name (the prefix of resource types, and a replica's `cloud`) → its settings.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSettings>,
    /// Configuration values, available to templates as `config` and as `${config.KEY}`.
    #[serde(default)]
    pub config: BTreeMap<String, Json>,
    /// The secrets provider of encrypted config values (`{secure: …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<crate::config::sections::SecretsSettings>,
    /// How much runs at once.
    #[serde(default)]
    pub concurrency: ConcurrencySettings,
    /// How long the clouds may not show what was just created.
    #[serde(default)]
    pub consistency: ConsistencySettings,
    /// Staged rollout of each layer's stacks (groups and layers may override it).
    #[serde(default)]
    pub rollout: Option<crate::config::sections::RolloutSettings>,
    /// Change budgets per apply.
    #[serde(default)]
    pub budgets: crate::config::sections::Budgets,
    /// Regions added to jurisdictions (jurisdiction → cloud → regions), merged with the
    /// built-in data.
    #[serde(default)]
    pub jurisdictions: BTreeMap<String, Json>,
    /// Regions added to a cloud's known regions (cloud → region → zone names), for regions
    /// newer than the built-in list (see [`super::locations`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Roles (teams) → the stacks they cover and the actions they may take there; turned into
    /// cloud policies by `terrace access policy` (see [`crate::access`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub access: BTreeMap<String, crate::config::sections::Role>,
}

/// Settings of one provider.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Requests per second per region, by API class (overrides the provider's defaults).
    #[serde(default)]
    pub rate_limits: BTreeMap<String, f64>,
    /// Operations in flight at once per region (overrides the provider's default).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Provider-specific settings (endpoints, credentials profile, ...).
    #[serde(default)]
    pub settings: serde_json::Map<String, Json>,
}

/// Concurrency defaults; rate limits per provider and region come from the providers.
///
/// Stacks have no cap by default: each stack starts as soon as the stacks it depends on have
/// ended, and the providers' per-API-class rate limits (token buckets per provider, region and
/// API class) pace the calls, so an apply takes close to its critical path.
/// `concurrency: {stacks: N}` (or `--parallel-stacks N`) is an opt-in cap.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySettings {
    /// A cap on independent stacks applied at once (default none; `null`: none). Refresh is
    /// not capped: its reads are batched across stacks.
    #[serde(default = "default_stacks", skip_serializing_if = "Option::is_none")]
    pub stacks: Option<usize>,
    /// Resource operations in flight at once inside one stack.
    #[serde(default = "default_resources")]
    pub resources: usize,
}

impl ConcurrencySettings {
    /// Stacks at once: the cap, or no limit (`usize::MAX`) when there is none; at least 1.
    pub fn stack_limit(&self) -> usize {
        self.stacks.unwrap_or(usize::MAX).max(1)
    }
}

fn default_stacks() -> Option<usize> {
    None
}

fn default_resources() -> usize {
    16
}

/// How long after its create a resource may still be invisible to reads and to calls naming
/// it: "if you run a command to modify or describe the resource that you just created, its ID
/// might not have propagated throughout the system" ("Eventual consistency in the Amazon EC2
/// API", <https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html>). Two
/// minutes, as terraform-provider-aws waits (`propagationTimeout = 2 * time.Minute` of its EC2
/// and IAM services).
pub const PROPAGATION_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

/// `consistency: {window_secs: N}`: for how long after its create a resource may be invisible
/// to reads (AWS: "Eventual consistency in the Amazon EC2 API"). Within it an apply retries a
/// not-found answer naming the id, and a refresh reads a resource it does not see again before
/// calling it gone. Default [`PROPAGATION_WINDOW`] (120 s).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencySettings {
    /// Seconds.
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
}

impl ConsistencySettings {
    /// The window as a duration.
    pub fn window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.window_secs)
    }
}

fn default_window_secs() -> u64 {
    PROPAGATION_WINDOW.as_secs()
}

impl Default for ConsistencySettings {
    fn default() -> Self {
        ConsistencySettings {
            window_secs: default_window_secs(),
        }
    }
}

impl Default for ConcurrencySettings {
    fn default() -> Self {
        ConcurrencySettings {
            stacks: default_stacks(),
            resources: default_resources(),
        }
    }
}
