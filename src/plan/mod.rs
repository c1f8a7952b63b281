//! Plans are data: per stack, the resource changes (create, update, replace with the fields
//! that force it, delete, no-op), the outputs before and after, the state serial the plan was
//! made against, and the desired spec (so that apply can re-plan a stack with fresh upstream
//! outputs without reading templates). Planning performs no cloud writes.
//!
//! The JSON form (`plan --out`, `plan --json`) is versioned by [`PLAN_FORMAT_VERSION`] and
//! documented in `docs/plan-format.md`.

pub mod blast;
pub mod compare;
pub mod diff;
pub mod json;
pub mod ops;
pub mod order;
pub mod providers;
pub mod stack;
#[cfg(test)]
mod stack_tests;

use crate::config::StackInstance;
use crate::spec::StackSpec;
use crate::value::{Value, ValueMap};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::fmt;

/// The waves of one rollout, saved in the plan (computed by [`crate::rollout`], followed by
/// the executor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPlan {
    /// `layer` or `layer/group`, and where the settings came from.
    pub name: String,
    /// Stack names per wave, canary first.
    pub waves: Vec<Vec<String>>,
    /// Failed stacks tolerated before the rollout stops.
    pub failure_tolerance: usize,
    /// The gate command, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
}

/// Version of the plan JSON format; bumped on incompatible changes.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Nothing changes.
    NoOp,
    /// Create a new resource.
    Create,
    /// Update in place.
    Update,
    /// Delete and create again (a force-new field changed).
    Replace,
    /// Delete the resource.
    Delete,
}

impl Action {
    /// The action as written in plans: `create`, `update`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Action::NoOp => "no-op",
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }

    /// The diff symbol: `+`, `~`, `-/+`, `-`.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }

    /// True for every action but no-op.
    pub fn is_change(self) -> bool {
        self != Action::NoOp
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The planned change of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// Resource name within its stack.
    pub name: String,
    /// Resource type, e.g. `aws:ec2:Vpc`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Region, or none for global resources.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    /// The planned action.
    pub action: Action,
    /// The cloud id, for resources that exist.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// Inputs as last applied (or as refreshed), absent for creates.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<ValueMap>,
    /// Desired inputs, absent for deletes; may hold unknowns.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<ValueMap>,
    /// Fields whose value changes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub changed: Vec<String>,
    /// For a replace: what forces it (field names, `type`, `region`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub replace_because: Vec<String>,
    /// Never delete or replace without an explicit override.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    /// Resources of the same stack this one depends on.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub depends_on: Vec<String>,
    /// Replace by creating the new resource before deleting the old one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_before_destroy: bool,
    /// Notes for the reader (drift found, resource vanished, adopted after a crash).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

/// An output before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputChange {
    /// Value as last applied.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<Json>,
    /// Value after the apply (may be unknown).
    pub after: Value,
}

impl OutputChange {
    /// True when the output's value changes (or may, being unknown).
    pub fn changes(&self) -> bool {
        match (&self.before, &self.after) {
            (Some(before), after) => {
                after.first_unknown().is_some() || Value::from_json(before) != *after
            }
            (None, Value::Null) => false,
            (None, _) => true,
        }
    }
}

/// The plan of one stack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackPlan {
    /// The stack.
    #[serde(flatten)]
    pub stack: StackInstance,
    /// State serial the plan was made against; `None` when the stack had no state.
    pub serial: Option<u64>,
    /// Lineage of the state the plan was made against.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub lineage: Option<String>,
    /// Stacks of this plan that must finish first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Every upstream stack (in the plan or not) whose outputs this stack reads.
    #[serde(default)]
    pub upstream: Vec<String>,
    /// `${<layer>.outputs.KEY}` → the stack it means for this stack.
    #[serde(default)]
    pub layer_links: BTreeMap<String, String>,
    /// Resource changes, in dependency order, deletes last.
    pub changes: Vec<ResourceChange>,
    /// Outputs, by name.
    pub outputs: BTreeMap<String, OutputChange>,
    /// Interrupted operations recorded in state that applying will settle (adopt or clear).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
    /// The desired content, for re-planning at apply time; shared with the rendered stack it
    /// was planned from (serialised as the spec itself).
    pub desired: std::sync::Arc<StackSpec>,
    /// Providers whose stack configuration was unknown at plan time (provider → where the
    /// unknown value comes from): what the cloud makes of their resources' values is known
    /// after apply, so the re-plan at apply may complete them (a GCP link gets the project).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unknown_providers: BTreeMap<String, String>,
}

impl StackPlan {
    /// True when applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
            || self.outputs.values().any(OutputChange::changes)
            || !self.pending.is_empty()
    }

    /// Number of resources with this action.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Counts of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources to create.
    pub create: usize,
    /// Resources to update in place.
    pub update: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub delete: usize,
    /// Resources unchanged.
    pub no_op: usize,
    /// Stacks in the plan.
    pub stacks: usize,
    /// Stacks with any change.
    pub stacks_changed: usize,
}

/// What planning returns: the plan, and why policy refuses it (empty: it may be applied). A
/// refused plan is still whole, so that it can be shown next to its refusals.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlanOutcome {
    /// The plan.
    pub plan: Plan,
    /// Why it may not be applied (protected resources, budgets, residency, policies), for a
    /// person; empty when it may.
    pub refusals: Vec<String>,
}

/// A whole plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Plan format version ([`PLAN_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Version of the Terrace that made the plan.
    pub terrace_version: String,
    /// The workspace the plan was made for.
    pub workspace: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// True for a destroy plan.
    #[serde(default)]
    pub destroy: bool,
    /// Layer names, needed to parse references at apply time.
    pub layers: Vec<String>,
    /// Config values, for `${config.KEY}` at apply time.
    #[serde(default)]
    pub config: BTreeMap<String, Json>,
    /// Stacks in the order they apply.
    pub stacks: Vec<StackPlan>,
    /// Counts of the plan.
    pub summary: Summary,
    /// What the plan touches.
    #[serde(default)]
    pub blast_radius: blast::BlastRadius,
    /// Staged rollouts: the waves the executor follows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<RolloutPlan>,
    /// State entries that move (templates' `moved:`), before any stack runs; the plan of each
    /// stack already counts them where they move to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<PlannedMove>,
    /// Why policy refuses this plan (see [`PlanOutcome`]); a plan with refusals is shown,
    /// never applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
}

/// A state entry that moves to another name or stack; the cloud object is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMove {
    /// Where it is.
    pub from: crate::state::moves::ResourceAddress,
    /// Where it goes.
    pub to: crate::state::moves::ResourceAddress,
    /// Its cloud id.
    pub id: String,
}

impl Plan {
    /// True when applying would change anything.
    pub fn has_changes(&self) -> bool {
        !self.moves.is_empty() || self.stacks.iter().any(StackPlan::has_changes)
    }

    /// The plan of one stack.
    pub fn stack(&self, name: &str) -> Option<&StackPlan> {
        self.stacks.iter().find(|s| s.stack.name == name)
    }

    /// Keeps only the stacks `keep` accepts, in their rollouts too (waves left empty are
    /// dropped), and recomputes the summary. The blast radius is left as it was: the caller
    /// knows the workspace's readers ([`blast::blast_radius`]).
    pub fn retain_stacks(&mut self, keep: impl Fn(&StackPlan) -> bool) {
        self.stacks.retain(|s| keep(s));
        let names: std::collections::BTreeSet<&str> =
            self.stacks.iter().map(|s| s.stack.name.as_str()).collect();
        for rollout in &mut self.rollouts {
            for wave in &mut rollout.waves {
                wave.retain(|name| names.contains(name.as_str()));
            }
            rollout.waves.retain(|wave| !wave.is_empty());
        }
        self.rollouts.retain(|r| !r.waves.is_empty());
        self.summarize();
    }

    /// Recomputes the summary from the stacks.
    pub fn summarize(&mut self) {
        let mut summary = Summary {
            stacks: self.stacks.len(),
            ..Summary::default()
        };
        for stack in &self.stacks {
            summary.create += stack.count(Action::Create);
            summary.update += stack.count(Action::Update);
            summary.replace += stack.count(Action::Replace);
            summary.delete += stack.count(Action::Delete);
            summary.no_op += stack.count(Action::NoOp);
            summary.stacks_changed += usize::from(stack.has_changes());
        }
        self.summary = summary;
    }
}
