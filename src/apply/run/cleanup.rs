//! Cleanups: the deletes of a stack that waited for the stacks below it, run under the
//! stack's lock once they have finished.

use super::StackRun;
use crate::apply::retry::CreatedIds;
use crate::apply::{ApplyContext, ResourceOutcome};
use crate::events::{Event, EventSink, ResourceStatus};
use crate::plan::ops;
use crate::plan::Plan;
use crate::state::{StackLock, StackState};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Deletes the state entries of a stack that waited for the stacks below (they have finished),
/// under the stack's lock. A delete the cloud still refuses keeps its entry (deposed or
/// removed), to be tried again by the next apply after the stacks below: an in-use refusal
/// never wedges the group.
pub(in crate::apply) async fn run_cleanup(
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
        events.lock_waiting(&name),
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
    let run = StackRun::new(
        context,
        plan,
        index,
        state,
        registry,
        BTreeMap::new(),
        created,
        events,
    );
    let outcomes = run.clone().execute(op_list, edges).await;
    run.save_if_changed().await.map_err(|e| e.to_string())?;
    Ok(outcomes)
}
