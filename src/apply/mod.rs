//! The apply executor. It works on plan data only (never YAML or templates): stacks in DAG
//! order, independent stacks in parallel (bounded); each stack locked, checked against the
//! serial the plan saw, refreshed, re-planned with the fresh outputs of the stacks above it and
//! stopped if the re-plan exceeds what was approved; then its operations in dependency order
//! with bounded concurrency and per-provider/region rate limits, every operation journalled
//! before and after its cloud call. A failure skips its dependents; independent work finishes.

pub mod approval;
mod moves;
mod operation;
pub mod retry;
mod run;
mod schedule;
pub mod step;

use crate::events::{Event, EventSink, ResourceStatus, StackStatus};
use crate::plan::{Action, Plan};
use crate::provider::limits::Limits;
use crate::provider::Registry;
use crate::state::Backend;
use crate::value::ValueMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How an apply runs.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// How long to wait for a stack's lock held by someone else.
    pub lock_timeout: Duration,
    /// A cap on independent stacks applied at once (`usize::MAX`: none, the providers' rate
    /// limits pace the calls; see [`crate::config::settings::ConcurrencySettings`]). Default
    /// none.
    pub stacks_in_parallel: usize,
    /// Resource operations in flight at once in one stack.
    pub resources_in_parallel: usize,
    /// Refresh each stack before re-planning it (recommended).
    pub refresh: bool,
    /// How long a not-found answer naming an id created moments ago (by this apply, or by an
    /// earlier one as its state records) is taken for the cloud lagging and retried, and a
    /// resource that young missing from the refresh before a stack is read again (default
    /// [`crate::config::settings::PROPAGATION_WINDOW`]; [`crate::engine::Terrace::apply_options`]
    /// takes the workspace's `consistency: {window_secs}`, `Default` does not).
    pub consistency_window: Duration,
    /// How long a create whose outcome is unknown is looked for by its ownership tags before
    /// it counts as not created and is tried again.
    pub lookup_window: Duration,
    /// Set to stop the apply gracefully: nothing new starts, operations in flight finish and
    /// are recorded, states are saved and locks released.
    pub interrupt: Interrupt,
}

/// A shared "stop gracefully" flag (e.g. set on Ctrl-C).
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Asks the apply to stop after the operations in flight.
    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why work that was not started did not start, when interrupted.
pub(crate) const INTERRUPTED: &str = "not started: the apply was interrupted";

impl ApplyOptions {
    /// The defaults with a workspace's `concurrency:` settings.
    pub fn with_concurrency(settings: &crate::config::settings::ConcurrencySettings) -> Self {
        ApplyOptions {
            stacks_in_parallel: settings.stack_limit(),
            resources_in_parallel: settings.resources,
            ..ApplyOptions::default()
        }
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            lock_timeout: Duration::from_secs(0),
            stacks_in_parallel: usize::MAX,
            resources_in_parallel: 16,
            refresh: true,
            consistency_window: crate::config::settings::PROPAGATION_WINDOW,
            lookup_window: Duration::from_secs(30),
            interrupt: Interrupt::default(),
        }
    }
}

/// What the executor needs besides the plan.
#[derive(Clone)]
pub struct ApplyContext {
    /// Directory gate commands run in (the workspace root).
    pub workdir: Option<std::path::PathBuf>,
    /// Workspace name (written into ownership tags).
    pub workspace: String,
    /// The providers.
    pub registry: Registry,
    /// Where stack states are stored.
    pub backend: Arc<dyn Backend>,
    /// Rate and concurrency limits per provider and region.
    pub limits: Limits,
    /// How the apply runs.
    pub options: ApplyOptions,
    /// The workspace's secrets: opened for each provider call, never recorded in clear.
    pub secrets: Option<Arc<crate::secrets::Secrets>>,
}

/// How one resource operation ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceOutcome {
    /// Resource name within its stack.
    pub resource: String,
    /// The planned action.
    pub action: Action,
    /// How the operation ended.
    pub status: ResourceStatus,
    /// Cloud id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How one stack ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackOutcome {
    /// Stack name.
    pub stack: String,
    /// How the stack ended.
    pub status: StackStatus,
    /// What happened, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Outcome of each resource operation.
    pub resources: Vec<ResourceOutcome>,
    /// State entries whose delete waited for the stacks below (see
    /// [`crate::plan::ops::deferred_deletes`]); their outcomes are in `resources` once run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
}

/// The result of an apply: done, failed and skipped, per stack and resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplySummary {
    /// Outcome of each stack of the plan.
    pub stacks: Vec<StackOutcome>,
}

impl ApplySummary {
    /// True when every stack succeeded.
    pub fn succeeded(&self) -> bool {
        self.stacks
            .iter()
            .all(|s| s.status == StackStatus::Succeeded)
    }

    /// Number of stacks that ended with `status`.
    pub fn count(&self, status: StackStatus) -> usize {
        self.stacks.iter().filter(|s| s.status == status).count()
    }

    /// Resource outcomes with the given status, as `(stack, outcome)`.
    pub fn resources(&self, status: ResourceStatus) -> Vec<(&str, &ResourceOutcome)> {
        self.stacks
            .iter()
            .flat_map(|s| s.resources.iter().map(move |r| (s.stack.as_str(), r)))
            .filter(|(_, r)| r.status == status)
            .collect()
    }
}

/// Outputs of stacks applied during this run, for the stacks below them.
pub(crate) type FreshOutputs = Arc<Mutex<HashMap<String, ValueMap>>>;

/// Applies a plan.
pub async fn execute(context: ApplyContext, mut plan: Plan, events: EventSink) -> ApplySummary {
    let changes =
        plan.summary.create + plan.summary.update + plan.summary.replace + plan.summary.delete;
    events
        .send(Event::ApplyStarted {
            stacks: plan.stacks.len(),
            changes,
        })
        .await;
    if let Err(reason) = moves::perform(&context, &mut plan, &events).await {
        let summary = ApplySummary {
            stacks: plan
                .stacks
                .iter()
                .map(|s| run::skipped_outcome(s, format!("not started: {reason}")))
                .collect(),
        };
        events
            .send(Event::ApplyFinished {
                succeeded: 0,
                failed: 0,
                skipped: summary.stacks.len(),
            })
            .await;
        return summary;
    }
    let summary = schedule::Scheduler::new(Arc::new(context), Arc::new(plan), events.clone())
        .run()
        .await;
    events
        .send(Event::ApplyFinished {
            succeeded: summary.count(StackStatus::Succeeded),
            failed: summary.stacks.len()
                - summary.count(StackStatus::Succeeded)
                - summary.count(StackStatus::Skipped),
            skipped: summary.count(StackStatus::Skipped),
        })
        .await;
    summary
}
