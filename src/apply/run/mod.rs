//! Running one stack: lock, serial check, its inputs ([`inputs`]), refresh and adoption of
//! interrupted creates ([`reconcile`]), re-plan and approval check, the operations
//! ([`execute`]), the outputs and the snapshot ([`checkpoint`]), unlock; and the cleanups
//! of stacks that waited for the stacks below ([`cleanup`]).

mod checkpoint;
mod cleanup;
mod execute;
mod inputs;
mod reconcile;

pub(super) use cleanup::run_cleanup;
use inputs::{show_serial, stack_registry, upstream_outputs};

use super::retry::CreatedIds;
use super::{approval, ApplyContext, FreshOutputs, ResourceOutcome, StackOutcome};
use crate::events::{Event, EventSink, ResourceStatus, StackStatus};
use crate::plan::ops::Op;
use crate::plan::{Plan, StackPlan};
use crate::provider::Properties;
use crate::state::{JournalEntry, StackLock, StackState, StateError};
use crate::value::ValueMap;
use futures::FutureExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

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
        events.lock_waiting(&name),
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
    created.record_recent(&state, context.options.consistency_window);
    let upstream = upstream_outputs(context, approved, fresh, &created).await?;
    let (registry, record) = stack_registry(context, plan, approved, &state, &upstream)?;
    let run = StackRun::new(
        context, plan, index, state, registry, upstream, created, events,
    );
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
    /// The run of stack `index` of `plan`, from its loaded state, with its providers and the
    /// outputs of the stacks it reads.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        context: &Arc<ApplyContext>,
        plan: &Arc<Plan>,
        index: usize,
        state: StackState,
        registry: crate::provider::Registry,
        upstream: BTreeMap<String, ValueMap>,
        created: Arc<CreatedIds>,
        events: &EventSink,
    ) -> Arc<StackRun> {
        Arc::new(StackRun {
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
        })
    }

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
