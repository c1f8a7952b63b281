//! Staged rollouts: the stacks of one layer that change roll out in waves — a canary first,
//! then batches of `max_parallel` — stopping after more than `failure_tolerance` failed stacks,
//! with an optional gate command after each wave. `rollout:` may be set in `terrace.yaml`, in
//! a group file or in a layer file; the most specific wins (layer, then group, then workspace).
//! Waves are computed at plan time and saved in the plan; the executor enforces them.

pub use crate::config::sections::RolloutSettings;
use crate::config::{StackInstance, Workspace};
use crate::plan::Plan;
pub use crate::plan::RolloutPlan;
use std::collections::BTreeMap;

/// The settings that apply to a stack, and the rollout it belongs to.
fn settings_for<'a>(
    workspace: &'a Workspace,
    stack: &StackInstance,
) -> Option<(String, &'a RolloutSettings)> {
    if let Some(settings) = workspace
        .layer(&stack.layer)
        .and_then(|l| l.spec.rollout.as_ref())
    {
        return Some((stack.layer.clone(), settings));
    }
    if let Some(settings) = workspace
        .group(&stack.group)
        .and_then(|g| g.rollout.as_ref())
    {
        return Some((format!("{}/{}", stack.layer, stack.group), settings));
    }
    workspace
        .settings
        .rollout
        .as_ref()
        .map(|s| (stack.layer.clone(), s))
}

/// True when a stack matches an `order` entry.
fn matches(entry: &str, stack: &StackInstance) -> bool {
    let glob = glob::Pattern::new(entry)
        .map(|p| p.matches(&stack.name))
        .unwrap_or(false);
    glob || stack.region.as_deref() == Some(entry) || stack.replica.as_deref() == Some(entry)
}

/// Splits the changed stacks of each layer into waves.
pub fn plan_rollouts(plan: &Plan, workspace: &Workspace) -> Vec<RolloutPlan> {
    let changed = plan.stacks.iter().filter(|s| s.has_changes());
    rollouts(workspace, changed.map(|s| &s.stack))
}

/// The waves `stacks` (in dependency order) roll out in when every one of them changes. A plan
/// cuts them to its changed stacks ([`plan_rollouts`]); a CI pipeline generated ahead of any
/// plan follows them as they are.
pub fn rollouts<'a>(
    workspace: &Workspace,
    stacks: impl Iterator<Item = &'a StackInstance>,
) -> Vec<RolloutPlan> {
    let mut members: BTreeMap<String, (Vec<&StackInstance>, &RolloutSettings)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for stack in stacks {
        let Some((name, settings)) = settings_for(workspace, stack) else {
            continue;
        };
        if !members.contains_key(&name) {
            order.push(name.clone());
        }
        members
            .entry(name)
            .or_insert_with(|| (Vec::new(), settings))
            .0
            .push(stack);
    }
    order
        .into_iter()
        .filter_map(|name| {
            let (stacks, settings) = members.remove(&name)?;
            Some(RolloutPlan {
                waves: waves(&stacks, settings),
                name,
                failure_tolerance: settings.failure_tolerance,
                gate: settings.gate.clone(),
            })
        })
        .collect()
}

fn waves(stacks: &[&StackInstance], settings: &RolloutSettings) -> Vec<Vec<String>> {
    let mut ordered: Vec<&StackInstance> = Vec::new();
    for entry in &settings.order {
        let next: Vec<&StackInstance> = stacks
            .iter()
            .copied()
            .filter(|s| matches(entry, s) && !ordered.contains(s))
            .collect();
        ordered.extend(next);
    }
    let canary_size = match settings.order.first() {
        Some(first) => stacks.iter().filter(|s| matches(first, s)).count().max(1),
        None => 1,
    };
    let rest: Vec<&StackInstance> = stacks
        .iter()
        .copied()
        .filter(|s| !ordered.contains(s))
        .collect();
    ordered.extend(rest);
    let names: Vec<String> = ordered.iter().map(|s| s.name.clone()).collect();
    let (canary, rest) = names.split_at(canary_size.min(names.len()));
    std::iter::once(canary.to_vec())
        .chain(
            rest.chunks(settings.max_parallel.max(1))
                .map(<[String]>::to_vec),
        )
        .filter(|w| !w.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(replica: &str, region: &str) -> StackInstance {
        StackInstance {
            name: format!("replicas/eu/{replica}"),
            layer: "replicas".into(),
            group: "eu".into(),
            cloud: Some("aws".into()),
            replica: Some(replica.into()),
            region: Some(region.into()),
            zones: vec![],
            renamed_from: None,
        }
    }

    #[test]
    fn canary_first_then_batches() {
        let stacks = [
            stack("a", "eu-west-1"),
            stack("b", "eu-central-1"),
            stack("c", "eu-west-3"),
            stack("d", "eu-north-1"),
        ];
        let refs: Vec<&StackInstance> = stacks.iter().collect();
        let settings = RolloutSettings {
            order: vec!["eu-central-1".into()],
            max_parallel: 2,
            failure_tolerance: 0,
            gate: None,
        };
        assert_eq!(
            waves(&refs, &settings),
            vec![
                vec!["replicas/eu/b"],
                vec!["replicas/eu/a", "replicas/eu/c"],
                vec!["replicas/eu/d"]
            ]
        );
        let default = RolloutSettings {
            order: vec![],
            max_parallel: 3,
            failure_tolerance: 0,
            gate: None,
        };
        assert_eq!(
            waves(&refs, &default).len(),
            2,
            "one canary, then one wave of three"
        );
        let glob = RolloutSettings {
            order: vec!["replicas/eu/[cd]".into()],
            max_parallel: 1,
            failure_tolerance: 0,
            gate: None,
        };
        assert_eq!(
            waves(&refs, &glob)[0],
            vec!["replicas/eu/c", "replicas/eu/d"],
            "every stack matching the first entry is canary"
        );
    }
}
