//! A stack's operations: the re-plan against the refreshed cloud, the operations it leaves
//! (deletes that wait for the stacks below set aside), and running them in dependency order,
//! bounded, skipping the dependents of a failure.

use super::inputs::output_strings;
use super::{outcome, panic_message, StackRun, Stop};
use crate::apply::step::StepError;
use crate::apply::ResourceOutcome;
use crate::events::{Event, ResourceStatus, StackStatus};
use crate::graph::walk::Walk;
use crate::plan::ops::{self, Op};
use crate::plan::stack::{plan_stack, Observations, StackInputs};
use crate::plan::StackPlan;
use futures::FutureExt;
use std::sync::Arc;
use tokio::task::JoinSet;

impl StackRun {
    pub(super) fn replan(&self, observations: &Observations) -> Result<StackPlan, Stop> {
        let state = self.state.lock().expect("state lock").clone();
        let approved = self.approved();
        let inputs = StackInputs {
            spec: &approved.desired,
            order: None,
            state: Some(&state),
            observations,
            upstream: &self.upstream,
            layer_links: &approved.layer_links,
            config: &self.plan.config,
            layers: &self.plan.layers,
            registry: &self.registry,
            destroy: self.plan.destroy,
            secrets: self.secrets(),
        };
        plan_stack(&inputs).map_err(|e| Stop {
            status: StackStatus::Failed,
            message: e.to_string(),
        })
    }

    /// The re-plan's operations to run now, and the state entries whose delete waits for the
    /// stacks below (only when some are in this plan).
    pub(super) fn operations(
        &self,
        replanned: &StackPlan,
        has_below: bool,
    ) -> (Vec<Op>, Vec<(usize, usize)>, Vec<String>) {
        let snapshot = self.state.lock().expect("state lock").clone();
        let (op_list, edges) = ops::build(&replanned.changes, &snapshot);
        if !has_below {
            return (op_list, edges, Vec::new());
        }
        let handed_out = output_strings(&snapshot.outputs);
        let deferred = ops::deferred_deletes(&op_list, &edges, &snapshot, &handed_out);
        let keys = deferred
            .iter()
            .map(|&i| op_list[i].state_key.clone())
            .collect();
        let (op_list, edges) = ops::without(&op_list, &edges, &deferred);
        (op_list, edges, keys)
    }

    /// Runs operations in dependency order, bounded, skipping the dependents of a failure.
    pub(super) async fn execute(
        self: Arc<Self>,
        op_list: Vec<Op>,
        edges: Vec<(usize, usize)>,
    ) -> Vec<ResourceOutcome> {
        if !ops::is_acyclic(op_list.len(), &edges) {
            return vec![ResourceOutcome {
                resource: "*".into(),
                action: crate::plan::Action::NoOp,
                status: ResourceStatus::Failed,
                id: None,
                error: Some("the operations of this stack cannot be ordered (cycle)".into()),
            }];
        }
        let mut walk = Walk::new(op_list.len(), &edges);
        let mut outcomes: Vec<Option<ResourceOutcome>> = vec![None; op_list.len()];
        let limit = self.context.options.resources_in_parallel.max(1);
        let mut running = JoinSet::new();
        // Once an operation cannot be recorded in state, nothing new starts in this stack: a
        // cloud change that state cannot record would be lost.
        let mut halted: Option<String> = None;
        loop {
            while running.len() < limit {
                let Some(i) = walk.pop_ready() else { break };
                let stop = if self.context.options.interrupt.is_triggered() {
                    Some(crate::apply::INTERRUPTED.to_string())
                } else {
                    halted.clone()
                };
                if let Some(reason) = stop {
                    self.skip(i, &op_list, reason, &mut outcomes).await;
                    self.skip_dependents(i, &op_list, &mut walk, &mut outcomes)
                        .await;
                    continue;
                }
                running.spawn(self.clone().run_caught(i, op_list[i].clone()));
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (i, result) = joined.expect("operation tasks catch their panics");
            let op = &op_list[i];
            match result {
                Ok(id) => {
                    outcomes[i] = Some(outcome(op, ResourceStatus::Done, Some(id), None));
                    walk.succeeded(i);
                }
                Err(error) => {
                    if let StepError::State(why) = &error {
                        halted = Some(format!(
                            "not started: state could not be recorded ({why}); fix the state backend and apply again"
                        ));
                    }
                    let error = Some(error.to_string());
                    outcomes[i] = Some(outcome(op, ResourceStatus::Failed, None, error));
                    self.skip_dependents(i, &op_list, &mut walk, &mut outcomes)
                        .await;
                }
            }
        }
        outcomes.into_iter().flatten().collect()
    }

    /// Runs one operation; a panic (in a provider, say) fails this operation, not the run.
    async fn run_caught(self: Arc<Self>, i: usize, op: Op) -> (usize, Result<String, StepError>) {
        let caught = std::panic::AssertUnwindSafe(self.run_op(&op))
            .catch_unwind()
            .await;
        let result = match caught {
            Ok(result) => result,
            Err(panic) => {
                let error = StepError::Panicked(panic_message(panic.as_ref()));
                self.events
                    .send(Event::ResourceFinished {
                        stack: self.name().to_string(),
                        resource: op.resource.clone(),
                        action: op.action,
                        status: ResourceStatus::Failed,
                        id: None,
                        error: Some(error.to_string()),
                        elapsed_ms: 0,
                    })
                    .await;
                Err(error)
            }
        };
        (i, result)
    }

    /// Skips everything after `failed` (directly or not) that has not run, with `failed`'s
    /// reason when it was skipped itself, else naming it.
    async fn skip_dependents(
        &self,
        failed: usize,
        op_list: &[Op],
        walk: &mut Walk,
        outcomes: &mut [Option<ResourceOutcome>],
    ) {
        let reason = match &outcomes[failed] {
            Some(o) if o.status == ResourceStatus::Skipped => o.error.clone().unwrap_or_default(),
            _ => format!(
                "skipped: depends on `{}`, which failed",
                op_list[failed].resource
            ),
        };
        for (i, _) in walk.failed(failed) {
            if outcomes[i].is_none() {
                self.skip(i, op_list, reason.clone(), outcomes).await;
            }
        }
    }

    async fn skip(
        &self,
        i: usize,
        op_list: &[Op],
        reason: String,
        outcomes: &mut [Option<ResourceOutcome>],
    ) {
        self.events
            .send(Event::ResourceFinished {
                stack: self.name().to_string(),
                resource: op_list[i].resource.clone(),
                action: op_list[i].action,
                status: ResourceStatus::Skipped,
                id: None,
                error: Some(reason.clone()),
                elapsed_ms: 0,
            })
            .await;
        outcomes[i] = Some(outcome(
            &op_list[i],
            ResourceStatus::Skipped,
            None,
            Some(reason),
        ));
    }
}
