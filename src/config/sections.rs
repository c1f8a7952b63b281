//! The sections of `terrace.yaml` whose behaviour lives in another concept — `rollout:`,
//! `budgets:`, `secrets:`, `access:` — as plain data, so that the settings sit below the code
//! that acts on them (rollouts, policy, secrets, access control) and never import it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `rollout:` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSettings {
    /// Stacks to roll out first: stack names or globs, replica names or regions. Stacks
    /// matching the first entry form the canary wave (default: the first stack alone).
    #[serde(default)]
    pub order: Vec<String>,
    /// Stacks per wave after the canary.
    #[serde(default = "one")]
    pub max_parallel: usize,
    /// Failed stacks tolerated before the rollout stops.
    #[serde(default)]
    pub failure_tolerance: usize,
    /// Command run (with `sh -c`) after each wave; a non-zero exit stops the rollout. Its
    /// environment has `TERRACE_ROLLOUT`, `TERRACE_WAVE`, `TERRACE_WAVE_STACKS` and
    /// `TERRACE_WAVE_OUTPUTS` (JSON: stack → outputs).
    #[serde(default)]
    pub gate: Option<String>,
}

fn one() -> usize {
    1
}

/// Limits per apply; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Most resources one apply may delete.
    #[serde(default)]
    pub max_deletes: Option<usize>,
    /// Most resources one apply may replace.
    #[serde(default)]
    pub max_replaces: Option<usize>,
    /// Most stacks one apply may change.
    #[serde(default)]
    pub max_stacks: Option<usize>,
}

impl Budgets {
    /// These budgets with the ones set in `overrides` taking precedence (for this run).
    pub fn raised_by(&self, overrides: &Budgets) -> Budgets {
        Budgets {
            max_deletes: overrides.max_deletes.or(self.max_deletes),
            max_replaces: overrides.max_replaces.or(self.max_replaces),
            max_stacks: overrides.max_stacks.or(self.max_stacks),
        }
    }
}

/// `secrets:` in `terrace.yaml`: the workspace's secrets provider and its key material.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// `passphrase` (default) or `awskms://<key id, ARN or alias>`.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// Passphrase provider: the Argon2id salt, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// KMS provider: the workspace's data key as encrypted by KMS, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_key: Option<String>,
    /// A known text sealed with the key: a wrong passphrase or key is told from a damaged value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

/// The default secrets provider: a key derived from `TERRACE_PASSPHRASE`.
pub const PASSPHRASE_PROVIDER: &str = "passphrase";

fn default_provider() -> String {
    PASSPHRASE_PROVIDER.to_string()
}

impl SecretsSettings {
    /// The KMS key of an `awskms://KEY` provider.
    pub fn kms_key(&self) -> Option<&str> {
        self.provider.strip_prefix("awskms://")
    }

    /// True for the passphrase provider.
    pub fn is_passphrase(&self) -> bool {
        self.provider == PASSPHRASE_PROVIDER
    }
}

/// What a role may do to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Action {
    /// Read the stack's state (and its upstream stacks' outputs) and the cloud: `plan`,
    /// `drift`, `output`.
    Plan,
    /// Change the stack: `apply`, `refresh`, `import` (writes state, takes the lock).
    Apply,
    /// Delete the stack's resources: `destroy` (the same state access as `apply`).
    Destroy,
    /// Inspect and repair state: `state show`, `state unlock`.
    State,
}

impl Action {
    /// Every action, in order.
    pub const ALL: [Action; 4] = [Action::Plan, Action::Apply, Action::Destroy, Action::State];

    /// The action as written in `terrace.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Plan => "plan",
            Action::Apply => "apply",
            Action::Destroy => "destroy",
            Action::State => "state",
        }
    }

    /// True when the action writes the stack's state and takes its lock.
    pub fn writes(self) -> bool {
        matches!(self, Action::Apply | Action::Destroy)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One role of `access:` (a team): the stacks it covers and what it may do to them. A stack is
/// covered when it matches every non-empty selector list (as the CLI's selectors do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// What the role is for, shown by `terrace access check`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Stack names or globs (`networks/eu/*`, `*`).
    #[serde(default)]
    pub stacks: Vec<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Layer names.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Cloud (provider) names.
    #[serde(default)]
    pub clouds: Vec<String>,
    /// What the role may do to the stacks it covers.
    pub actions: Vec<Action>,
}
