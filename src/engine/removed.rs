//! Stacks that have state but are no longer in the configuration — their replica, group or
//! layer was removed. Such a stack is planned as the deletion of every resource it holds, and
//! runs after the stacks of later layers of its group, which may still read it until they are
//! updated (a proxy stops routing to a replica before the replica goes).

use super::Terrace;
use crate::config::StackInstance;
use crate::engine::select::Selector;
use crate::plan::StackPlan;
use crate::spec::StackSpec;
use crate::state::StackState;
use crate::Error;
use std::collections::BTreeSet;

/// Removed stacks with something left in state that the selector matches.
pub(super) async fn removed_stacks(
    terrace: &Terrace,
    selector: &Selector,
) -> Result<Vec<(StackSpec, StackState)>, Error> {
    if !selector.targets.is_empty() {
        return Ok(Vec::new()); // resource targeting only reaches configured stacks
    }
    let mut removed = Vec::new();
    for name in terrace.backend.list().await? {
        if terrace.rendered(&name).is_some() {
            continue;
        }
        let Some(state) = terrace.backend.load(&name).await? else {
            continue;
        };
        if state.resources.is_empty() && state.pending.is_empty() {
            continue;
        }
        let instance = instance_of(&name, &state);
        if selector.selects(&instance) {
            let spec = StackSpec {
                instance,
                resources: Default::default(),
                outputs: Default::default(),
                moved: Vec::new(),
            };
            removed.push((spec, state));
        }
    }
    Ok(removed)
}

/// What the name (`layer/group[/replica]`) and the resources tell of a removed stack.
fn instance_of(name: &str, state: &StackState) -> StackInstance {
    let mut parts = name.splitn(3, '/');
    let layer = parts.next().unwrap_or_default().to_string();
    let group = parts.next().unwrap_or_default().to_string();
    let replica = parts.next().map(str::to_string);
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
