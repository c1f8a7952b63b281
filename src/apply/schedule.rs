//! Stack scheduling: each stack starts once the stacks it depends on succeeded (bounded
//! parallelism); a stack whose predecessor did not succeed is skipped. Stacks in a staged
//! rollout also wait for their wave: a wave starts when the previous one ended within the
//! failure tolerance and its gate command passed; otherwise the rollout stops and its later
//! waves are not touched. A stack's deletes of resources the stacks below used run once every
//! stack below it has ended (a cleanup), so those stacks move off them first.

use super::{run, ApplyContext, FreshOutputs, StackOutcome, INTERRUPTED};
use crate::events::{Event, EventSink, StackStatus};
use crate::graph::walk::Walk;
use crate::plan::Plan;
use crate::rollout::RolloutPlan;
use futures::FutureExt;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::task::JoinSet;

/// The message of a task that panicked (a bug): the task fails, the run goes on.
fn panicked(what: &str, payload: &(dyn std::any::Any + Send)) -> String {
    format!(
        "{what} panicked (a bug, please report it): {}",
        run::panic_message(payload)
    )
}

/// Where a rollout stands.
#[derive(Debug, Default)]
struct RolloutState {
    /// Index of the wave allowed to run.
    wave: usize,
    /// Whether the current wave was announced.
    announced: bool,
    /// Failed stacks so far.
    failures: usize,
    gate_running: bool,
    /// Why it stopped, if it did.
    stopped: Option<String>,
}

enum Finished {
    Stack(usize, StackOutcome),
    Gate(usize, Result<(), String>),
    Cleanup(usize, Result<Vec<super::ResourceOutcome>, String>),
}

/// Runs the stacks of a plan.
pub(super) struct Scheduler {
    context: Arc<ApplyContext>,
    plan: Arc<Plan>,
    events: EventSink,
    fresh: FreshOutputs,
    created: Arc<super::retry::CreatedIds>,
    outcomes: Vec<Option<StackOutcome>>,
    /// The stacks in dependency order: ready once every stack they come after succeeded.
    walk: Walk,
    /// Ready stacks waiting for their wave or a free slot, oldest first.
    candidates: VecDeque<usize>,
    index: HashMap<String, usize>,
    /// Stack index → (rollout, wave).
    wave_of: HashMap<usize, (usize, usize)>,
    rollouts: Vec<RolloutState>,
    running: JoinSet<Finished>,
    stacks_running: usize,
    /// Stack index → every stack that comes after it (transitively).
    below: Vec<Vec<usize>>,
    /// Cleanups waiting for the stacks below: (stack index, state entries to delete).
    cleanups: Vec<(usize, Vec<String>)>,
    /// Events of the scheduler's own decisions, sent (waiting for room in the channel) by the
    /// run loop: the decisions themselves stay synchronous.
    outbox: Vec<Event>,
    /// Stacks decided to start, spawned once the events before them are sent (a wave's
    /// `WaveStarted` comes before its stacks' `StackStarted`).
    starting: Vec<usize>,
}

impl Scheduler {
    pub(super) fn new(context: Arc<ApplyContext>, plan: Arc<Plan>, events: EventSink) -> Scheduler {
        let index: HashMap<String, usize> = plan
            .stacks
            .iter()
            .enumerate()
            .map(|(i, s)| (s.stack.name.clone(), i))
            .collect();
        let mut wave_of = HashMap::new();
        for (r, rollout) in plan.rollouts.iter().enumerate() {
            for (w, wave) in rollout.waves.iter().enumerate() {
                for stack in wave.iter().filter_map(|name| index.get(name)) {
                    wave_of.insert(*stack, (r, w));
                }
            }
        }
        let below = below(&plan, &index);
        let edges: Vec<(usize, usize)> = plan
            .stacks
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.after
                    .iter()
                    .filter_map(|n| index.get(n))
                    .map(move |&b| (b, i))
            })
            .collect();
        Scheduler {
            below,
            cleanups: Vec::new(),
            outbox: Vec::new(),
            starting: Vec::new(),
            outcomes: vec![None; plan.stacks.len()],
            walk: Walk::new(plan.stacks.len(), &edges),
            candidates: VecDeque::new(),
            rollouts: plan
                .rollouts
                .iter()
                .map(|_| RolloutState::default())
                .collect(),
            context,
            plan,
            events,
            fresh: FreshOutputs::default(),
            created: Arc::default(),
            index,
            wave_of,
            running: JoinSet::new(),
            stacks_running: 0,
        }
    }

    pub(super) async fn run(mut self) -> super::ApplySummary {
        loop {
            self.start_ready();
            self.flush().await;
            for index in std::mem::take(&mut self.starting) {
                self.spawn_stack(index);
            }
            let Some(joined) = self.running.join_next().await else {
                break;
            };
            match joined.expect("stack and cleanup tasks catch their panics") {
                Finished::Stack(index, outcome) => self.stack_finished(index, outcome),
                Finished::Gate(rollout, result) => self.gate_finished(rollout, result),
                Finished::Cleanup(index, result) => self.cleanup_finished(index, result),
            }
            self.flush().await;
        }
        super::ApplySummary {
            stacks: self.outcomes.into_iter().flatten().collect(),
        }
    }

    /// Sends the events of the decisions made since the last flush, in order.
    async fn flush(&mut self) {
        for event in std::mem::take(&mut self.outbox) {
            self.events.send(event).await;
        }
    }

    fn status(&self, name: &str) -> Option<Option<StackStatus>> {
        self.index
            .get(name)
            .map(|&i| self.outcomes[i].as_ref().map(|o| o.status))
    }

    fn skip(&mut self, index: usize, message: String) {
        let stack = &self.plan.stacks[index];
        self.outbox.push(Event::StackFinished {
            stack: stack.stack.name.clone(),
            status: StackStatus::Skipped,
            message: Some(message.clone()),
        });
        self.outcomes[index] = Some(run::skipped_outcome(stack, message));
        // A stack of a rollout that is skipped (something above it did not succeed) did not
        // succeed either: it counts against the tolerance, and its wave may now be over.
        let Some((r, _)) = self.wave_of.get(&index).copied() else {
            return;
        };
        let interrupted = self.context.options.interrupt.is_triggered();
        if self.rollouts[r].stopped.is_none() && !interrupted {
            self.rollouts[r].failures += 1;
            self.settle_wave(r);
        }
    }

    /// Ends rollout `r`'s current wave when every stack of it has an outcome (run, failed or
    /// skipped), unless the rollout stopped or its gate is running.
    fn settle_wave(&mut self, r: usize) {
        let state = &self.rollouts[r];
        let w = state.wave;
        let waves = &self.plan.rollouts[r].waves;
        if state.stopped.is_some() || state.gate_running || w >= waves.len() {
            return;
        }
        let over = waves[w]
            .iter()
            .all(|name| matches!(self.status(name), Some(Some(_))));
        if over {
            self.wave_done(r, w);
        }
    }

    /// Starts the cleanups whose stacks below have all ended.
    fn start_cleanups(&mut self) {
        for (index, keys) in std::mem::take(&mut self.cleanups) {
            let waiting = self.below[index]
                .iter()
                .any(|&b| self.outcomes[b].is_none());
            if waiting {
                self.cleanups.push((index, keys));
                continue;
            }
            if self.context.options.interrupt.is_triggered() {
                continue;
            }
            let (context, plan, created, events) = (
                self.context.clone(),
                self.plan.clone(),
                self.created.clone(),
                self.events.clone(),
            );
            self.running.spawn(async move {
                let cleanup = run::run_cleanup(context, plan, index, keys, created, events);
                let result = AssertUnwindSafe(cleanup)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked("the cleanup", panic.as_ref())));
                Finished::Cleanup(index, result)
            });
        }
    }

    fn cleanup_finished(
        &mut self,
        index: usize,
        result: Result<Vec<super::ResourceOutcome>, String>,
    ) {
        let Some(outcome) = self.outcomes[index].as_mut() else {
            return;
        };
        let kept: Vec<String> = match result {
            Ok(resources) => {
                let kept = resources
                    .iter()
                    .filter(|r| r.status != crate::events::ResourceStatus::Done)
                    .map(|r| r.resource.clone())
                    .collect();
                outcome.resources.extend(resources);
                kept
            }
            Err(error) => {
                // The cleanup ended before reporting itself (an error or a panic).
                self.outbox.push(Event::CleanupFinished {
                    stack: outcome.stack.clone(),
                    failed: 1,
                });
                vec![format!("(all: {error})")]
            }
        };
        if !kept.is_empty() {
            outcome.status = StackStatus::Failed;
            outcome.message = Some(format!(
                "kept in state, to be deleted by the next apply: {} (deleting failed after the stacks below ended)",
                kept.join(", ")
            ));
        }
    }

    /// Starts what can start and skips what never will, until nothing changes. At the stack
    /// cap, the ready stacks left wait in order for the next free slot.
    fn start_ready(&mut self) {
        self.start_cleanups();
        let limit = self.context.options.stacks_in_parallel.max(1);
        loop {
            while let Some(index) = self.walk.pop_ready() {
                self.candidates.push_back(index);
            }
            let mut progress = false;
            let mut waiting = VecDeque::new();
            while let Some(index) = self.candidates.pop_front() {
                let interrupted = self.context.options.interrupt.is_triggered();
                if self.stacks_running >= limit && !interrupted {
                    waiting.push_back(index);
                    waiting.extend(self.candidates.drain(..));
                    break;
                }
                match self.readiness(index) {
                    Readiness::Skip(message) => {
                        self.skip(index, message);
                        self.skip_after(index);
                        progress = true;
                    }
                    Readiness::Ready => {
                        self.start(index);
                        progress = true;
                    }
                    Readiness::Wait => waiting.push_back(index),
                }
            }
            self.candidates = waiting;
            if !progress {
                break;
            }
        }
    }

    /// A stack whose predecessors all succeeded: may it start now (its wave is open)?
    fn readiness(&mut self, index: usize) -> Readiness {
        if self.context.options.interrupt.is_triggered() {
            return Readiness::Skip(INTERRUPTED.to_string());
        }
        match self.wave_of.get(&index).copied() {
            None => Readiness::Ready,
            Some((r, w)) => self.wave_readiness(r, w),
        }
    }

    /// Skips every stack after `index` (directly or not): it did not succeed.
    fn skip_after(&mut self, index: usize) {
        let interrupted = self.context.options.interrupt.is_triggered();
        for (stack, via) in self.walk.failed(index) {
            let message = if interrupted {
                INTERRUPTED.to_string()
            } else {
                format!(
                    "skipped: stack {} did not succeed",
                    self.plan.stacks[via].stack.name
                )
            };
            self.skip(stack, message);
        }
    }

    fn wave_readiness(&mut self, r: usize, w: usize) -> Readiness {
        let rollout = &self.plan.rollouts[r];
        let state = &mut self.rollouts[r];
        if let Some(reason) = &state.stopped {
            return Readiness::Skip(format!(
                "not started: rollout {} stopped: {reason}",
                rollout.name
            ));
        }
        if state.wave != w || state.gate_running {
            return Readiness::Wait;
        }
        if !state.announced {
            state.announced = true;
            self.outbox.push(Event::WaveStarted {
                rollout: rollout.name.clone(),
                wave: w + 1,
                waves: rollout.waves.len(),
                stacks: rollout.waves[w].clone(),
            });
        }
        Readiness::Ready
    }

    /// Counts the stack as running; the loop spawns it after sending the events before it.
    fn start(&mut self, index: usize) {
        self.stacks_running += 1;
        self.starting.push(index);
    }

    fn spawn_stack(&mut self, index: usize) {
        let (context, plan, fresh, created, events) = (
            self.context.clone(),
            self.plan.clone(),
            self.fresh.clone(),
            self.created.clone(),
            self.events.clone(),
        );
        self.running.spawn(async move {
            let name = plan.stacks[index].stack.name.clone();
            let stack = run::run_stack(context, plan, index, fresh, created, events.clone());
            let outcome = match AssertUnwindSafe(stack).catch_unwind().await {
                Ok(outcome) => outcome,
                Err(panic) => {
                    let message = panicked("the stack's run", panic.as_ref());
                    events
                        .send(Event::StackFinished {
                            stack: name.clone(),
                            status: StackStatus::Failed,
                            message: Some(message.clone()),
                        })
                        .await;
                    StackOutcome {
                        stack: name,
                        status: StackStatus::Failed,
                        message: Some(message),
                        resources: Vec::new(),
                        deferred: Vec::new(),
                    }
                }
            };
            Finished::Stack(index, outcome)
        });
    }

    fn stack_finished(&mut self, index: usize, outcome: StackOutcome) {
        self.stacks_running -= 1;
        if !outcome.deferred.is_empty() {
            self.cleanups.push((index, outcome.deferred.clone()));
        }
        let failed = outcome.status != StackStatus::Succeeded;
        self.outcomes[index] = Some(outcome);
        // Counted before the stacks after it are skipped: their skips may end this wave.
        let rollout = self.wave_of.get(&index).copied();
        if let Some((r, _)) = rollout {
            self.rollouts[r].failures += usize::from(failed);
        }
        if failed {
            self.skip_after(index);
        } else {
            self.walk.succeeded(index);
        }
        if let Some((r, _)) = rollout {
            self.settle_wave(r);
        }
    }

    /// Stops the rollout past its tolerance, else runs the gate or moves to the next wave.
    fn wave_done(&mut self, r: usize, w: usize) {
        let rollout: &RolloutPlan = &self.plan.rollouts[r];
        let failures = self.rollouts[r].failures;
        if failures > rollout.failure_tolerance {
            let reason = format!(
                "{failures} stack(s) failed by wave {} of {}, more than the tolerance of {}",
                w + 1,
                rollout.waves.len(),
                rollout.failure_tolerance
            );
            self.stop(r, w, reason, None);
            return;
        }
        match rollout.gate.clone() {
            Some(gate) if w + 1 < rollout.waves.len() => {
                self.rollouts[r].gate_running = true;
                let env = self.gate_env(r, w);
                let workdir = self.context.workdir.clone();
                self.running
                    .spawn(async move { Finished::Gate(r, run_gate(&gate, env, workdir).await) });
            }
            _ => self.next_wave(r, w, None),
        }
    }

    fn gate_env(&self, r: usize, w: usize) -> Vec<(String, String)> {
        let rollout = &self.plan.rollouts[r];
        let stacks = &rollout.waves[w];
        let fresh = self.fresh.lock().expect("outputs lock");
        let outputs: serde_json::Map<String, serde_json::Value> = stacks
            .iter()
            .map(|s| {
                let values = fresh
                    .get(s)
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
                    .unwrap_or_default();
                (s.clone(), serde_json::Value::Object(values))
            })
            .collect();
        vec![
            ("TERRACE_ROLLOUT".into(), rollout.name.clone()),
            ("TERRACE_WAVE".into(), (w + 1).to_string()),
            ("TERRACE_WAVE_STACKS".into(), stacks.join(" ")),
            (
                "TERRACE_WAVE_OUTPUTS".into(),
                serde_json::Value::Object(outputs).to_string(),
            ),
        ]
    }

    fn gate_finished(&mut self, r: usize, result: Result<(), String>) {
        self.rollouts[r].gate_running = false;
        let w = self.rollouts[r].wave;
        match result {
            Ok(()) => self.next_wave(r, w, Some(true)),
            Err(reason) => self.stop(
                r,
                w,
                format!("the gate after wave {} failed: {reason}", w + 1),
                Some(false),
            ),
        }
    }

    fn next_wave(&mut self, r: usize, w: usize, gate: Option<bool>) {
        let rollout = &self.plan.rollouts[r];
        self.outbox.push(Event::WaveFinished {
            rollout: rollout.name.clone(),
            wave: w + 1,
            gate_passed: gate,
        });
        self.rollouts[r].wave = w + 1;
        self.rollouts[r].announced = false;
        // The next wave may be over already: all its stacks skipped for a failure above them.
        self.settle_wave(r);
    }

    /// Stops rollout `r` after wave `w`; `gate_passed` is what its gate said, `None` when the
    /// rollout stopped before any gate ran (too many failures).
    fn stop(&mut self, r: usize, w: usize, reason: String, gate_passed: Option<bool>) {
        let rollout = &self.plan.rollouts[r];
        let remaining: Vec<String> = rollout
            .waves
            .iter()
            .skip(w + 1)
            .flatten()
            .cloned()
            .collect();
        self.outbox.push(Event::WaveFinished {
            rollout: rollout.name.clone(),
            wave: w + 1,
            gate_passed,
        });
        self.outbox.push(Event::RolloutStopped {
            rollout: rollout.name.clone(),
            reason: reason.clone(),
            remaining,
        });
        self.rollouts[r].stopped = Some(reason);
    }
}

/// For each stack, every stack of the plan that comes after it, directly or not.
fn below(plan: &Plan, index: &HashMap<String, usize>) -> Vec<Vec<usize>> {
    let n = plan.stacks.len();
    let mut after_me: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, stack) in plan.stacks.iter().enumerate() {
        for before in stack.after.iter().filter_map(|name| index.get(name)) {
            after_me[*before].push(i);
        }
    }
    (0..n)
        .map(|start| {
            let mut seen = vec![false; n];
            let mut todo = after_me[start].clone();
            let mut out = Vec::new();
            while let Some(i) = todo.pop() {
                if !std::mem::replace(&mut seen[i], true) {
                    out.push(i);
                    todo.extend(after_me[i].iter().copied());
                }
            }
            out
        })
        .collect()
}

enum Readiness {
    Ready,
    Wait,
    Skip(String),
}

/// Runs a gate command with `sh -c`; a non-zero exit (or failure to start) fails the gate.
async fn run_gate(
    command: &str,
    env: Vec<(String, String)>,
    workdir: Option<std::path::PathBuf>,
) -> Result<(), String> {
    let mut process = tokio::process::Command::new("sh");
    process
        .arg("-c")
        .arg(command)
        .envs(env)
        .stdin(std::process::Stdio::null());
    if let Some(dir) = workdir {
        process.current_dir(dir);
    }
    let output = process
        .output()
        .await
        .map_err(|e| format!("could not run `{command}`: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("").trim();
    let code = output
        .status
        .code()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "signal".into());
    Err(if last.is_empty() {
        format!("`{command}` exited {code}")
    } else {
        format!("`{command}` exited {code}: {last}")
    })
}
