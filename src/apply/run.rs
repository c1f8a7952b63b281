//! Running one stack: lock, serial check, refresh and adoption of interrupted creates,
//! re-plan and approval check, the operations, the outputs, the snapshot, unlock.

use super::retry::CreatedIds;
use super::step::StepError;
use super::{approval, ApplyContext, FreshOutputs, ResourceOutcome, StackOutcome};
use crate::events::{Event, EventSink, ResourceStatus, StackStatus};
use crate::graph::walk::Walk;
use crate::plan::ops::{self, Op};
use crate::plan::stack::{plan_stack, Observations, Resolver, StackInputs};
use crate::plan::{Plan, StackPlan};
use crate::provider::Properties;
use crate::refresh::refresh_stack;
use crate::state::{JournalEntry, OperationKind, StackLock, StackState, StateError};
use crate::value::{refs, Value, ValueMap};
use futures::FutureExt;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// A stack that ended before running anything.
pub(super) fn skipped_outcome(stack: &StackPlan, message: String) -> StackOutcome {
    StackOutcome {
        stack: stack.stack.name.clone(),
        status: StackStatus::Skipped,
        message: Some(message),
        resources: Vec::new(),
        deferred: Vec::new(),
    }
}

/// The text of a panic's payload (`panic!("...")` carries a `&str` or a `String`).
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Why a stack stopped early.
struct Stop {
    status: StackStatus,
    message: String,
}

impl From<StateError> for Stop {
    fn from(err: StateError) -> Stop {
        Stop {
            status: StackStatus::Failed,
            message: err.to_string(),
        }
    }
}

pub(super) async fn run_stack(
    context: Arc<ApplyContext>,
    plan: Arc<Plan>,
    index: usize,
    fresh: FreshOutputs,
    created: Arc<CreatedIds>,
    events: EventSink,
) -> StackOutcome {
    let approved = &plan.stacks[index];
    let name = approved.stack.name.clone();
    let changes = approved
        .changes
        .iter()
        .filter(|c| c.action.is_change())
        .count();
    events
        .send(Event::StackStarted {
            stack: name.clone(),
            changes,
        })
        .await;
    let waited = StackLock::acquire(
        &context.backend,
        &name,
        if plan.destroy { "destroy" } else { "apply" },
        context.options.lock_timeout,
        |holder| {
            events.notify(Event::LockWaiting {
                stack: name.clone(),
                holder: holder.clone(),
            })
        },
    )
    .await;
    let result = match waited {
        Ok(lock) => {
            let run = run_locked(&context, &plan, index, &fresh, created, &events);
            let result = match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(Stop {
                    status: StackStatus::Failed,
                    message: format!(
                        "the stack's run panicked (a bug, please report it): {}",
                        panic_message(panic.as_ref())
                    ),
                }),
            };
            match lock.release().await {
                Ok(()) => result,
                Err(err) => Err(unlock_failed(result, &name, &err)),
            }
        }
        Err(StateError::Locked { holder, .. }) => Err(Stop {
            status: StackStatus::Locked,
            message: format!(
                "locked by {holder}; if its holder is gone, run `terrace state unlock {name}`"
            ),
        }),
        Err(other) => Err(other.into()),
    };
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(stop) => StackOutcome {
            stack: name.clone(),
            status: stop.status,
            message: Some(stop.message),
            resources: Vec::new(),
            deferred: Vec::new(),
        },
    };
    events
        .send(Event::StackFinished {
            stack: name,
            status: outcome.status,
            message: outcome.message.clone(),
        })
        .await;
    outcome
}

/// A stack whose lock could not be released fails, saying so after what else happened.
fn unlock_failed(result: Result<StackOutcome, Stop>, stack: &str, err: &StateError) -> Stop {
    let before = match result {
        Ok(outcome) => outcome.message,
        Err(stop) => Some(stop.message),
    };
    let unlock = format!("could not release the lock ({err}); run `terrace state unlock {stack}`");
    Stop {
        status: StackStatus::Failed,
        message: match before {
            Some(before) => format!("{before}; {unlock}"),
            None => unlock,
        },
    }
}

async fn run_locked(
    context: &Arc<ApplyContext>,
    plan: &Arc<Plan>,
    index: usize,
    fresh: &FreshOutputs,
    created: Arc<CreatedIds>,
    events: &EventSink,
) -> Result<StackOutcome, Stop> {
    let approved = &plan.stacks[index];
    let name = &approved.stack.name;
    let loaded = context.backend.load(name).await?;
    let current_serial = loaded.as_ref().map(|s| s.serial);
    if current_serial != approved.serial {
        return Err(Stop {
            status: StackStatus::Refused,
            message: format!(
                "state moved since the plan (serial {} → {}); run `terrace plan` again",
                show_serial(approved.serial),
                show_serial(current_serial)
            ),
        });
    }
    let state = loaded.unwrap_or_else(|| StackState::new(name));
    let upstream = upstream_outputs(context, approved, fresh).await?;
    let (registry, record) = stack_registry(context, plan, approved, &state, &upstream)?;
    let run = Arc::new(StackRun {
        context: context.clone(),
        plan: plan.clone(),
        index,
        base_serial: state.snapshot_serial.unwrap_or(0),
        state: Mutex::new(state),
        registry,
        upstream,
        reuse_keys: Mutex::new(HashMap::new()),
        journalled: Mutex::new(false),
        events: events.clone(),
        created,
        replanned: std::sync::OnceLock::new(),
    });
    if let Some(providers) = record {
        run.journal(JournalEntry::Providers { providers }).await?;
    }
    let observations = run.reconcile().await?;
    let replanned = run.replan(&observations)?;
    let problems = approval::exceeded(approved, &replanned);
    if !problems.is_empty() {
        return Err(Stop {
            status: StackStatus::Refused,
            message: format!(
                "the re-plan goes beyond the approved plan: {}",
                problems.join("; ")
            ),
        });
    }
    let _ = run.replanned.set(replanned.clone());
    // Deletes wait for the stacks below only when one of them reads this stack and runs after
    // it. In a destroy the readers ran first (the order is reversed) and the stacks after are
    // the ones this stack reads (its account): deferring would delete the resources after them.
    let has_below = plan.stacks.iter().any(|s| {
        s.after.iter().any(|a| a == name)
            && (s.upstream.iter().any(|u| u == name) || s.layer_links.values().any(|l| l == name))
    });
    let (op_list, edges, deferred) = run.operations(&replanned, has_below);
    let outcomes = run.clone().execute(op_list, edges).await;
    let failed = outcomes.iter().any(|o| o.status != ResourceStatus::Done);
    let not_started = outcomes
        .iter()
        .filter(|o| o.error.as_deref() == Some(super::INTERRUPTED))
        .count();
    if let Err(err) = run.finish(&replanned, fresh).await {
        // What the operations did stays counted: the cloud changed even though the state
        // write was rejected.
        return Ok(StackOutcome {
            stack: name.clone(),
            status: StackStatus::Failed,
            message: Some(format!(
                "the state could not be saved after its operations ran ({err}); run `terrace refresh --stack {name}`, then plan again"
            )),
            resources: outcomes,
            deferred: Vec::new(),
        });
    }
    let message = match (failed, not_started, deferred.len()) {
        (false, _, 0) => None,
        (false, _, n) => Some(format!(
            "{n} old resource(s) the stacks below used are deleted once they have moved off them"
        )),
        (true, 0, _) => Some("some operations failed; dependents were skipped".to_string()),
        (true, n, _) => Some(format!(
            "interrupted: {n} operation(s) not started; those in flight finished and were recorded"
        )),
    };
    Ok(StackOutcome {
        stack: name.clone(),
        status: if failed {
            StackStatus::Failed
        } else {
            StackStatus::Succeeded
        },
        message,
        resources: outcomes,
        deferred: if failed { Vec::new() } else { deferred },
    })
}

/// Deletes the state entries of a stack that waited for the stacks below (they have finished),
/// under the stack's lock. A delete the cloud still refuses keeps its entry (deposed or
/// removed), to be tried again by the next apply after the stacks below: an in-use refusal
/// never wedges the group.
pub(super) async fn run_cleanup(
    context: Arc<ApplyContext>,
    plan: Arc<Plan>,
    index: usize,
    keys: Vec<String>,
    created: Arc<CreatedIds>,
    events: EventSink,
) -> Result<Vec<ResourceOutcome>, String> {
    let name = plan.stacks[index].stack.name.clone();
    events
        .send(Event::CleanupStarted {
            stack: name.clone(),
            resources: keys.clone(),
        })
        .await;
    let lock = StackLock::acquire(
        &context.backend,
        &name,
        "apply",
        context.options.lock_timeout,
        |_| {},
    )
    .await
    .map_err(|e| e.to_string())?;
    let result = cleanup_locked(&context, &plan, index, &keys, created, &events).await;
    let unlocked = lock.release().await;
    let outcomes = result?;
    unlocked.map_err(|e| {
        format!("could not release the lock ({e}); run `terrace state unlock {name}`")
    })?;
    let failed = outcomes
        .iter()
        .filter(|o| o.status != ResourceStatus::Done)
        .count();
    events
        .send(Event::CleanupFinished {
            stack: name,
            failed,
        })
        .await;
    Ok(outcomes)
}

async fn cleanup_locked(
    context: &Arc<ApplyContext>,
    plan: &Arc<Plan>,
    index: usize,
    keys: &[String],
    created: Arc<CreatedIds>,
    events: &EventSink,
) -> Result<Vec<ResourceOutcome>, String> {
    let name = &plan.stacks[index].stack.name;
    let state = context
        .backend
        .load(name)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| StackState::new(name));
    let changes: Vec<crate::plan::ResourceChange> = keys
        .iter()
        .filter_map(|key| {
            let resource = state.resources.get(key)?;
            Some(crate::plan::diff::delete_change(key, resource))
        })
        .collect();
    let (op_list, edges) = ops::build(&changes, &state);
    let registry = crate::plan::providers::registry_for(
        &context.registry,
        &state.providers,
        context.secrets.as_deref(),
    )?;
    let run = Arc::new(StackRun {
        context: context.clone(),
        plan: plan.clone(),
        index,
        base_serial: state.snapshot_serial.unwrap_or(0),
        state: Mutex::new(state),
        registry,
        upstream: BTreeMap::new(),
        reuse_keys: Mutex::new(HashMap::new()),
        journalled: Mutex::new(false),
        events: events.clone(),
        created,
        replanned: std::sync::OnceLock::new(),
    });
    let outcomes = run.clone().execute(op_list, edges).await;
    run.save_if_changed().await.map_err(|e| e.to_string())?;
    Ok(outcomes)
}

/// Every string in a stack's outputs: the ids it handed to the stacks below.
fn output_strings(outputs: &BTreeMap<String, Json>) -> std::collections::BTreeSet<String> {
    fn visit(value: &Json, out: &mut std::collections::BTreeSet<String>) {
        match value {
            Json::String(s) => {
                out.insert(s.clone());
            }
            Json::Array(items) => items.iter().for_each(|i| visit(i, out)),
            Json::Object(map) => map.values().for_each(|v| visit(v, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    outputs.values().for_each(|v| visit(v, &mut out));
    out
}

fn show_serial(serial: Option<u64>) -> String {
    serial
        .map(|s| s.to_string())
        .unwrap_or_else(|| "none".into())
}

/// The registry the stack's provider calls go through, and the provider configuration to
/// record in its state before the first operation (when it changes). A destroy and a removed
/// stack use the recorded configuration (where the resources are); otherwise the stack's `providers:`,
/// resolved against the fresh upstream outputs, must be known and where the stack's resources
/// are (see [`crate::plan::providers`]).
fn stack_registry(
    context: &ApplyContext,
    plan: &Plan,
    approved: &StackPlan,
    state: &StackState,
    upstream: &BTreeMap<String, ValueMap>,
) -> Result<
    (
        crate::provider::Registry,
        Option<crate::plan::providers::ProviderConfigs>,
    ),
    Stop,
> {
    use crate::plan::providers::{self, ProviderInputs};
    let failed = |message: String| Stop {
        status: StackStatus::Failed,
        message,
    };
    // A destroy, or a stack removed from the configuration (it declares nothing), only
    // deletes: where the resources are is what counts.
    let effective = if plan.destroy || approved.desired.resources.is_empty() {
        state.providers.clone()
    } else {
        let inputs = ProviderInputs {
            upstream,
            layer_links: &approved.layer_links,
            config: &plan.config,
            layers: &plan.layers,
        };
        let resolved =
            providers::resolve(&approved.desired, &inputs).map_err(|e| failed(e.to_string()))?;
        let desired = resolved.all_known().map_err(|(provider, origin)| {
            failed(format!(
                "the {provider} provider configuration is still unknown ({origin}); apply \
                 the stacks it reads first"
            ))
        })?;
        providers::check_unmoved(&approved.stack.name, Some(state), &desired).map_err(
            |message| Stop {
                status: StackStatus::Refused,
                message,
            },
        )?;
        desired
    };
    let registry =
        providers::registry_for(&context.registry, &effective, context.secrets.as_deref())
            .map_err(failed)?;
    let record = (effective != state.providers).then_some(effective);
    Ok((registry, record))
}

/// Outputs of the stacks this one reads: fresh from this run, else from their state.
async fn upstream_outputs(
    context: &ApplyContext,
    approved: &StackPlan,
    fresh: &FreshOutputs,
) -> Result<BTreeMap<String, ValueMap>, Stop> {
    let mut upstream = BTreeMap::new();
    for stack in &approved.upstream {
        let known = fresh.lock().expect("outputs lock").get(stack).cloned();
        let outputs = match known {
            Some(outputs) => outputs,
            None => match context.backend.load(stack).await? {
                Some(state) => state.outputs.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect(),
                None => {
                    return Err(Stop {
                        status: StackStatus::Failed,
                        message: format!("needs the outputs of stack {stack}, which has not been applied; apply it first"),
                    })
                }
            },
        };
        upstream.insert(stack.clone(), outputs);
    }
    Ok(upstream)
}

/// One stack being applied (its operations are in [`super::operation`]).
pub(super) struct StackRun {
    pub(super) context: Arc<ApplyContext>,
    pub(super) plan: Arc<Plan>,
    index: usize,
    base_serial: u64,
    pub(super) state: Mutex<StackState>,
    /// The workspace's providers, bound to the stack's provider configuration.
    pub(super) registry: crate::provider::Registry,
    pub(super) upstream: BTreeMap<String, ValueMap>,
    /// Idempotency keys of interrupted creates, reused by the next create of that resource.
    pub(super) reuse_keys: Mutex<HashMap<String, String>>,
    journalled: Mutex<bool>,
    pub(super) events: EventSink,
    /// Ids created by this apply, in every stack.
    pub(super) created: Arc<CreatedIds>,
    /// The re-plan being executed: what the cloud has now for each resource (`before`).
    replanned: std::sync::OnceLock<StackPlan>,
}

impl StackRun {
    pub(super) fn approved(&self) -> &StackPlan {
        &self.plan.stacks[self.index]
    }

    pub(super) fn secrets(&self) -> Option<&crate::secrets::Secrets> {
        self.context.secrets.as_deref()
    }

    /// A message with every known secret replaced by `[secret]`.
    pub(super) fn redact(&self, message: String) -> String {
        crate::secrets::redact(self.secrets(), message)
    }

    /// Properties as the provider gets them: secrets opened, only for the call.
    pub(super) fn opened(
        &self,
        resource: &str,
        properties: &Properties,
    ) -> Result<Properties, super::step::StepError> {
        crate::secrets::open_properties(self.secrets(), resource, properties)
            .map_err(|e| super::step::StepError::Secret(e.to_string()))
    }

    /// What a provider answered for a resource of `type_name`, with anything that echoes a
    /// secret, and every field its schema marks sensitive, sealed.
    pub(super) fn scrubbed(&self, type_name: &str, properties: Properties) -> Properties {
        let schema = self.registry.schema(type_name);
        crate::secrets::seal_sensitive(self.secrets(), schema.map(|s| &**s), properties)
    }

    pub(super) fn name(&self) -> &str {
        &self.approved().stack.name
    }

    pub(super) async fn journal(&self, entry: JournalEntry) -> Result<(), StateError> {
        self.context
            .backend
            .append(self.name(), self.base_serial, &entry)
            .await?;
        self.state.lock().expect("state lock").apply_entry(&entry);
        *self.journalled.lock().expect("flag lock") = true;
        Ok(())
    }

    /// Refreshes, adopts resources created before an interruption, and clears the pending
    /// operations the refresh has settled.
    async fn reconcile(&self) -> Result<Observations, Stop> {
        let snapshot = self.state.lock().expect("state lock").clone();
        if !self.context.options.refresh && snapshot.pending.is_empty() {
            return Ok(Observations::default());
        }
        if let Some(secrets) = self.secrets() {
            // What the cloud echoes of the desired secrets is sealed again by the refresh.
            for resource in self.approved().desired.resources.values() {
                secrets.learn(&Json::Object(resource.properties.clone()));
            }
        }
        let refreshed = refresh_stack(
            &self.registry,
            &self.context.limits,
            &self.context.workspace,
            &snapshot,
            self.secrets(),
        )
        .await
        .map_err(|e| Stop {
            status: StackStatus::Failed,
            message: self.redact(format!("refresh failed: {e}")),
        })?;
        let mut observations = refreshed.observations;
        for pending in &snapshot.pending {
            let listed = refreshed
                .adoptable
                .get(&pending.resource)
                .filter(|_| pending.kind == OperationKind::Create)
                .cloned();
            let adopted = match listed {
                Some(observed) => Some(observed),
                None => self.look_up_recent(pending).await,
            };
            let entry = match adopted.as_ref() {
                Some(observed) => {
                    let spec = self.approved().desired.resources.get(&pending.resource);
                    let state = crate::refresh::adopted_state(
                        pending,
                        observed,
                        spec,
                        self.context
                            .registry
                            .schema(&pending.type_name)
                            .map(|s| &**s),
                        self.dependencies_of(&pending.resource),
                    );
                    self.events
                        .send(Event::ResourceAdopted {
                            stack: self.name().to_string(),
                            resource: pending.resource.clone(),
                            id: observed.id.clone(),
                        })
                        .await;
                    observations
                        .found
                        .insert(pending.resource.clone(), observed.clone());
                    JournalEntry::Done {
                        operation: pending.id.clone(),
                        resource: pending.resource.clone(),
                        state: Some(Box::new(state)),
                    }
                }
                None => {
                    if pending.kind == OperationKind::Create {
                        self.reuse_keys
                            .lock()
                            .expect("keys lock")
                            .insert(pending.resource.clone(), pending.idempotency_key.clone());
                    }
                    let vanished = pending.kind == OperationKind::Delete
                        && !observations.found.contains_key(&pending.resource);
                    if vanished {
                        observations.found.remove(&pending.resource);
                        JournalEntry::Done {
                            operation: pending.id.clone(),
                            resource: pending.resource.clone(),
                            state: None,
                        }
                    } else {
                        JournalEntry::Failed {
                            operation: pending.id.clone(),
                            resource: pending.resource.clone(),
                            error: "interrupted; settled by refresh".into(),
                        }
                    }
                }
            };
            self.journal(entry).await?;
        }
        if !self.context.options.refresh {
            observations.refreshed = false;
        }
        Ok(observations)
    }

    /// A create interrupted less than the lookup window ago that the refresh did not list: the
    /// cloud may not list a new object yet (EC2 is eventually consistent: "it might take a few
    /// moments for the resource to appear in Describe results", EC2 API reference, "Eventual
    /// consistency"), and creates such as CreateVpc and AllocateAddress take no client token,
    /// so creating it again would make a second one. Looked up by its ownership tags for up to
    /// the lookup window; `None` when it is not found (or the lookup fails).
    async fn look_up_recent(
        &self,
        pending: &crate::state::PendingOperation,
    ) -> Option<crate::provider::Observed> {
        if pending.kind != OperationKind::Create {
            return None;
        }
        let window = chrono::Duration::from_std(self.context.options.lookup_window).ok()?;
        if chrono::Utc::now() - pending.started_at >= window {
            return None;
        }
        let interrupted = crate::provider::ProviderError::new(
            crate::provider::ErrorKind::Ambiguous,
            "Interrupted",
            "the apply that sent it was interrupted",
        );
        self.look_up(pending, &interrupted).await.ok().flatten()
    }

    /// What the cloud has now for a resource, as the re-plan compared it: the refreshed view of
    /// the fields the configuration sets, over the last applied inputs.
    pub(super) fn current_view(&self, resource: &str) -> Option<Properties> {
        let change = self
            .replanned
            .get()?
            .changes
            .iter()
            .find(|c| c.name == resource)?;
        let before = change.before.as_ref()?;
        Some(
            before
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }

    pub(super) fn dependencies_of(&self, resource: &str) -> Vec<String> {
        self.approved()
            .changes
            .iter()
            .find(|c| c.name == resource)
            .map(|c| c.depends_on.clone())
            .unwrap_or_default()
    }

    fn replan(&self, observations: &Observations) -> Result<StackPlan, Stop> {
        let state = self.state.lock().expect("state lock").clone();
        let approved = self.approved();
        let inputs = StackInputs {
            spec: &approved.desired,
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
    fn operations(
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
    async fn execute(
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
                    Some(super::INTERRUPTED.to_string())
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

    /// Saves the snapshot when operations were journalled (outputs unchanged).
    async fn save_if_changed(&self) -> Result<(), StateError> {
        if !*self.journalled.lock().expect("flag lock") {
            return Ok(());
        }
        let mut state = self.state.lock().expect("state lock").clone();
        state.serial += 1;
        state.updated_at = Some(chrono::Utc::now());
        state.instance = Some(self.approved().stack.clone());
        self.context
            .backend
            .save(&state, state.snapshot_serial)
            .await
    }

    /// Computes the outputs, saves the snapshot if anything changed, publishes the outputs.
    async fn finish(&self, replanned: &StackPlan, fresh: &FreshOutputs) -> Result<(), StateError> {
        let mut state = self.state.lock().expect("state lock").clone();
        let outputs = if self.plan.destroy {
            BTreeMap::new()
        } else {
            self.resolve_outputs(&state, replanned)
        };
        let protect_changed = self.sync_protect(&mut state);
        let changed = *self.journalled.lock().expect("flag lock")
            || outputs != state.outputs
            || protect_changed;
        state.outputs = outputs;
        if changed {
            state.serial += 1;
            state.updated_at = Some(chrono::Utc::now());
            state.instance = Some(self.approved().stack.clone());
            self.context
                .backend
                .save(&state, state.snapshot_serial)
                .await?;
        }
        let values = state
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect();
        fresh
            .lock()
            .expect("outputs lock")
            .insert(self.name().to_string(), values);
        Ok(())
    }

    /// The configuration decides `protect` for resources it still has; returns true if any
    /// flag changed.
    fn sync_protect(&self, state: &mut StackState) -> bool {
        let mut changed = false;
        for (name, spec) in &self.approved().desired.resources {
            if let Some(resource) = state.resources.get_mut(name) {
                changed |= resource.protect != spec.protect;
                resource.protect = spec.protect;
            }
        }
        changed
    }

    /// Outputs resolved against the final state; an output that cannot be known (its resource
    /// failed) keeps its previous value.
    fn resolve_outputs(&self, state: &StackState, replanned: &StackPlan) -> BTreeMap<String, Json> {
        let resolver = Resolver {
            attributes: state,
            upstream: &self.upstream,
            layer_links: &replanned.layer_links,
            config: &self.plan.config,
            secrets: self.secrets(),
        };
        let is_layer = |name: &str| self.plan.layers.iter().any(|l| l == name);
        let mut outputs = BTreeMap::new();
        for (name, raw) in &replanned.desired.outputs {
            let value = refs::resolve(raw, &resolver, &is_layer)
                .ok()
                .and_then(|v| v.to_known_json().ok());
            if let Some(json) = value.or_else(|| state.outputs.get(name).cloned()) {
                outputs.insert(name.clone(), json);
            }
        }
        outputs
    }
}

fn outcome(
    op: &Op,
    status: ResourceStatus,
    id: Option<String>,
    error: Option<String>,
) -> ResourceOutcome {
    ResourceOutcome {
        resource: op.state_key.clone(),
        action: op.action,
        status,
        id,
        error,
    }
}
