//! Stacks that have state but are no longer in the configuration — their replica, group or
//! layer was removed. Such a stack is planned as the deletion of every resource it holds, and
//! runs after the stacks of later layers of its group, which may still read it until they are
//! updated (a proxy stops routing to a replica before the replica goes).

use super::Terrace;
use crate::apply::ApplySummary;
use crate::config::StackInstance;
use crate::events::StackStatus;
use crate::plan::StackPlan;
use crate::select::Selector;
use crate::spec::StackSpec;
use crate::state::{Backend, StackLock, StackState};
use crate::Error;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Every removed stack with something left in state: its instance (as its name and resources
/// tell it) and its state.
pub(super) async fn removed_stacks(
    terrace: &Terrace,
) -> Result<Vec<(StackInstance, StackState)>, Error> {
    let mut removed = Vec::new();
    for name in terrace.backend.list().await? {
        // A group whose file has errors is not removed: its stacks are only not known now.
        let group = crate::address::StackName::parse(&name).group;
        if terrace.rendered(&name).is_some() || terrace.workspace.broken.contains_key(group) {
            continue;
        }
        let Some(state) = terrace.backend.load(&name).await? else {
            continue;
        };
        if state.resources.is_empty() && state.pending.is_empty() {
            continue;
        }
        removed.push((instance_of(&name, &state), state));
    }
    Ok(removed)
}

/// The removed stacks `selector` selects, as specs to plan (for deletion) with their state.
/// With `--target`, only the targeted resources and what needs them are planned.
pub(super) fn selected(
    removed: &[(StackInstance, StackState)],
    selector: &Selector,
) -> Vec<(StackSpec, StackState)> {
    removed
        .iter()
        .filter(|(instance, _)| selector.selects(instance))
        .map(|(instance, state)| {
            let only = selector
                .targets_in(&instance.name)
                .map(|targets| super::target::needing(&targets, &Default::default(), state));
            let spec = StackSpec {
                instance: instance.clone(),
                resources: Default::default(),
                outputs: Default::default(),
                moved: Vec::new(),
                only,
                providers: Default::default(),
            };
            (spec, state.clone())
        })
        .collect()
}

/// Retires the state of each removed stack the apply emptied (see [`Backend::retire`]), so
/// that it leaves `terrace state list`. Best effort: a state that cannot be retired now (its
/// lock is held, it changed meanwhile) stays, empty, and is retired by a later apply.
pub(super) async fn retire(backend: &Arc<dyn Backend>, removed: &[String], summary: &ApplySummary) {
    for stack in removed {
        let succeeded = summary
            .stacks
            .iter()
            .any(|s| &s.stack == stack && s.status == StackStatus::Succeeded);
        if !succeeded {
            continue;
        }
        let Ok(lock) = StackLock::try_acquire(backend, stack, "retire").await else {
            continue;
        };
        if let Ok(Some(state)) = backend.load(stack).await {
            if state.resources.is_empty() && state.pending.is_empty() {
                let _ = backend.retire(stack, state.snapshot_serial).await;
            }
        }
        let _ = lock.release().await;
    }
}

/// What the name (`layer/group[/replica]`) and the resources tell of a removed stack.
fn instance_of(name: &str, state: &StackState) -> StackInstance {
    if let Some(recorded) = state.instance.as_ref().filter(|i| i.name == name) {
        return recorded.clone();
    }
    let parts = crate::address::StackName::parse(name);
    let layer = parts.layer.to_string();
    let group = parts.group.to_string();
    let replica = parts.replica.map(str::to_string);
    let one = |values: BTreeSet<String>| {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    };
    let clouds = state
        .resources
        .values()
        .filter_map(|r| r.type_name.split(':').next().map(str::to_string))
        .collect();
    let regions = state
        .resources
        .values()
        .filter_map(|r| r.region.clone())
        .collect();
    StackInstance {
        name: name.to_string(),
        layer,
        group,
        cloud: one(clouds),
        replica,
        region: one(regions),
        zones: Vec::new(),
        renamed_from: None,
    }
}

/// Makes each removed stack wait for every stack of the plan in a later layer of its group
/// (a layer that no longer exists counts as the last).
pub(super) fn order_removed(
    stacks: &mut [StackPlan],
    removed: &BTreeSet<String>,
    layers: &[String],
) {
    let rank = |layer: &str| {
        layers
            .iter()
            .position(|l| l == layer)
            .unwrap_or(layers.len())
    };
    let all: Vec<(String, String, usize)> = stacks
        .iter()
        .map(|s| {
            let i = &s.stack;
            (i.name.clone(), i.group.clone(), rank(&i.layer))
        })
        .collect();
    for stack in stacks
        .iter_mut()
        .filter(|s| removed.contains(&s.stack.name))
    {
        let mine = rank(&stack.stack.layer);
        stack.after = all
            .iter()
            .filter(|(name, group, layer)| {
                *group == stack.stack.group && *layer > mine && *name != stack.stack.name
            })
            .map(|(name, _, _)| name.clone())
            .collect();
        for change in &mut stack.changes {
            change.notes.push(format!(
                "stack {} is no longer in the configuration",
                stack.stack.name
            ));
        }
    }
}
