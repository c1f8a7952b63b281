//! Resource targeting (`--target STACK:RESOURCE`): which resources of a stack a targeted plan
//! may change. Planning, the targets and everything they depend on (they cannot be created
//! without it); destroying, the targets and everything that depends on them (it cannot
//! outlive them), never what they depend on. The set is recorded in the plan
//! ([`StackSpec::only`]) so that the re-plan before apply is restricted the same way.

use crate::plan::stack::resource_order;
use crate::spec::StackSpec;
use crate::state::StackState;
use crate::value::refs::{self, Reference};
use std::collections::{BTreeSet, HashMap};

/// Resource → the resources it depends on: declared in the configuration (references and
/// `depends_on`), else as recorded in state.
pub(super) type Dependencies = HashMap<String, Vec<String>>;

/// The dependencies of a stack's resources, configured or left in state.
pub(super) fn dependencies(
    spec: &StackSpec,
    state: Option<&StackState>,
    is_layer: &dyn Fn(&str) -> bool,
) -> Dependencies {
    // A workspace that opened has no reference errors or cycles: the order exists.
    let mut deps = resource_order(spec, is_layer)
        .map(|(_, deps)| deps)
        .unwrap_or_default();
    for (name, resource) in state.into_iter().flat_map(|s| &s.resources) {
        deps.entry(name.clone())
            .or_insert_with(|| resource.dependencies.clone());
    }
    deps
}

/// The targets and everything they depend on, directly or not.
pub(super) fn needed(targets: &[String], deps: &Dependencies) -> BTreeSet<String> {
    closure(targets, |name| deps.get(name).cloned().unwrap_or_default())
}

/// The targets and everything that depends on them, directly or not (also as state records
/// it, for resources the configuration no longer has).
pub(super) fn needing(
    targets: &[String],
    deps: &Dependencies,
    state: &StackState,
) -> BTreeSet<String> {
    let mut all = deps.clone();
    for (name, resource) in &state.resources {
        let entry = all.entry(name.clone()).or_default();
        entry.extend(resource.dependencies.iter().cloned());
    }
    closure(targets, |name| {
        all.iter()
            .filter(|(_, on)| on.iter().any(|d| d == name))
            .map(|(dependent, _)| dependent.clone())
            .collect()
    })
}

fn closure(start: &[String], next: impl Fn(&str) -> Vec<String>) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = start.iter().cloned().collect();
    let mut todo: Vec<String> = start.to_vec();
    while let Some(name) = todo.pop() {
        for other in next(&name) {
            if seen.insert(other.clone()) {
                todo.push(other);
            }
        }
    }
    seen
}

/// The spec a targeted destroy plans against: the stack as if `doomed` were removed from its
/// configuration — those resources are deleted, nothing else changes — without the outputs
/// that read them.
pub(super) fn without(
    spec: &StackSpec,
    doomed: BTreeSet<String>,
    is_layer: &dyn Fn(&str) -> bool,
) -> StackSpec {
    let mut kept = spec.clone();
    kept.resources.retain(|name, _| !doomed.contains(name));
    kept.outputs.retain(|_, raw| {
        let mut found = Vec::new();
        // Outputs were validated when the workspace opened.
        let _ = refs::collect(raw, is_layer, &mut found);
        !found
            .iter()
            .any(|r| matches!(r, Reference::Resource { name, .. } if doomed.contains(name)))
    });
    kept.only = Some(doomed);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(pairs: &[(&str, &[&str])]) -> Dependencies {
        pairs
            .iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn planning_takes_what_targets_need_destroying_what_needs_them() {
        let graph = deps(&[
            ("vpc", &[]),
            ("subnet", &["vpc"]),
            ("nlb", &["subnet"]),
            ("sg", &["vpc"]),
        ]);
        let subnet = ["subnet".to_string()];
        assert_eq!(
            needed(&subnet, &graph),
            BTreeSet::from(["subnet".to_string(), "vpc".to_string()])
        );
        assert_eq!(
            needing(&subnet, &graph, &StackState::new("s")),
            BTreeSet::from(["subnet".to_string(), "nlb".to_string()]),
            "a targeted destroy never takes the VPC the subnet lives in"
        );
    }
}
