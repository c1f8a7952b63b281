//! Running one test: for each step, the workspace with the step's groups and config values,
//! the mock providers and an in-memory state holding the step's prior state, then a plan
//! (exactly `terrace plan`'s: refresh, policies, budgets), judged against the step's
//! expectations. "As if applied" state is made by the real executor applying the plan on the
//! mock clouds, so ids and attributes flow into later stacks as they would in a cloud.

use super::check::{check, Outcome};
use super::file::{StateKind, Step, Test};
use super::mock::MockWorld;
use super::report::{Failure, TestReport};
use crate::apply::ApplyOptions;
use crate::config::Workspace;
use crate::engine::{PlanOptions, Terrace};
use crate::events::EventSink;
use crate::plan::Plan;
use crate::provider::Registry;
use crate::secrets::Secrets;
use crate::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs tests against one loaded workspace.
pub struct Runner<'a> {
    /// The workspace as loaded, with secrets replaced by mock secrets.
    pub workspace: &'a Workspace,
    /// The providers whose schemas the mocks answer with.
    pub schemas: &'a Registry,
    /// The throwaway key of the mock secrets (and of what the plans seal).
    pub secrets: Option<Arc<Secrets>>,
}

/// The previous step's accepted plan, with the workspace it was made with.
struct Accepted {
    terrace: Terrace,
    plan: Plan,
}

impl Runner<'_> {
    /// Runs every step of `test`; stops at a step that cannot be set up.
    pub async fn run(&self, test: &Test) -> TestReport {
        let started = Instant::now();
        let mut failures = Vec::new();
        let mut world = MockWorld::new();
        let mut accepted: Option<Accepted> = None;
        let several = test.steps.len() > 1;
        for step in &test.steps {
            let prefix = |failure: Failure| match several {
                true => Failure {
                    message: format!("{}: {}", step.label, failure.message),
                    ..failure
                },
                false => failure,
            };
            if step.state != StateKind::Previous {
                world = MockWorld::new();
            }
            world.set_mocks(&step.mocks);
            let prepared = match step.state {
                StateKind::None => Ok(None),
                // A refused (or invalid) plan is never applied: the state stays as it was.
                StateKind::Previous => match accepted.take() {
                    Some(previous) => apply_as_if(&previous.terrace, previous.plan)
                        .await
                        .map(|_| None),
                    None => Ok(None),
                },
                StateKind::Applied => self.apply_own(step, &world).await.map(Some),
            };
            let opened = match prepared {
                Ok(opened) => opened,
                Err(message) => {
                    failures.push(prefix(Failure::new(step.at.clone(), message)));
                    break;
                }
            };
            let (outcome, terrace) = self.plan(step, &world, opened).await;
            failures.extend(
                check(&step.expect, &outcome, terrace.as_ref(), &step.at)
                    .into_iter()
                    .map(prefix),
            );
            accepted = match (outcome, terrace) {
                (Outcome::Planned(plan), Some(terrace)) => Some(Accepted {
                    terrace,
                    plan: *plan,
                }),
                _ => None,
            };
        }
        TestReport {
            name: test.name.clone(),
            at: test.at.clone(),
            duration: started.elapsed(),
            failures,
        }
    }

    /// The workspace of a step: its groups and config values; no rate limits (the mocks
    /// answer at once).
    fn workspace_for(&self, step: &Step) -> Workspace {
        let mut workspace = self.workspace.clone();
        workspace.groups = step.groups.clone();
        // Errors found later are placed in the texts the workspace keeps: a step's group may
        // come from a test file or a group file outside the groups directory.
        let missing: Vec<&std::path::Path> = step
            .groups
            .iter()
            .map(|g| g.file.as_path())
            .filter(|f| !workspace.files.contains_key(*f))
            .collect();
        if !missing.is_empty() {
            let mut files = (*workspace.files).clone();
            for file in missing {
                let text = std::fs::read_to_string(workspace.root.join(file)).unwrap_or_default();
                files.insert(file.to_path_buf(), text);
            }
            workspace.files = std::sync::Arc::new(files);
        }
        workspace
            .settings
            .config
            .extend(step.config.iter().map(|(k, v)| (k.clone(), v.clone())));
        for provider in workspace.settings.providers.values_mut() {
            provider.rate_limits.clear();
            provider.max_in_flight = None;
        }
        workspace
    }

    fn open(&self, step: &Step, world: &Arc<MockWorld>) -> Result<Terrace, Error> {
        Terrace::from_workspace(
            self.workspace_for(step),
            world.registry(self.schemas),
            self.secrets.clone(),
            Some(world.state()),
        )
    }

    /// Plans the step (with the workspace already opened for it, if any); the outcome, and
    /// the workspace if it opened.
    async fn plan(
        &self,
        step: &Step,
        world: &Arc<MockWorld>,
        opened: Option<Terrace>,
    ) -> (Outcome, Option<Terrace>) {
        let terrace = match opened.map(Ok).unwrap_or_else(|| self.open(step, world)) {
            Ok(terrace) => terrace,
            Err(err) => return (outcome_of(err), None),
        };
        let options = PlanOptions {
            destroy: step.destroy,
            allow_destroy: step.allow_destroy.clone(),
            raise_budgets: step.budgets.clone(),
            ..PlanOptions::default()
        };
        let outcome = match terrace.plan(&options).await {
            Ok(plan) => Outcome::Planned(Box::new(plan)),
            Err(err) => outcome_of(err),
        };
        (outcome, Some(terrace))
    }

    /// `state: applied`: this step's configuration, planned and applied on the mocks; the
    /// workspace opened for it, to plan the step with.
    async fn apply_own(&self, step: &Step, world: &Arc<MockWorld>) -> Result<Terrace, String> {
        let fail = |e: Error| format!("`state: applied`: this configuration does not apply: {e}");
        let terrace = self.open(step, world).map_err(fail)?;
        let plan = terrace.plan(&PlanOptions::default()).await.map_err(fail)?;
        apply_as_if(&terrace, plan).await?;
        Ok(terrace)
    }
}

fn outcome_of(err: Error) -> Outcome {
    match err {
        Error::Refused { reasons } => Outcome::Refused(reasons),
        Error::Invalid(diagnostics) => Outcome::Invalid(diagnostics.0),
        other => Outcome::Failed(other.to_string()),
    }
}

/// Applies a plan on the mock clouds with the real executor (no rollout waves or gates:
/// nothing runs outside the process).
async fn apply_as_if(terrace: &Terrace, mut plan: Plan) -> Result<(), String> {
    plan.rollouts.clear();
    let options = ApplyOptions {
        lock_timeout: Duration::ZERO,
        refresh: false,
        ..terrace.apply_options()
    };
    let summary = terrace
        .apply_with(plan, options, EventSink::none())
        .await
        .map_err(|e| format!("applying on the mock clouds failed: {e}"))?;
    if summary.succeeded() {
        return Ok(());
    }
    let problems: Vec<String> = summary
        .stacks
        .iter()
        .filter_map(|s| s.message.as_ref().map(|m| format!("{}: {m}", s.stack)))
        .collect();
    Err(format!(
        "applying on the mock clouds failed: {}",
        problems.join("; ")
    ))
}
