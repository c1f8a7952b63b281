//! The blast radius of a plan: which groups, stacks, regions and clouds it touches, how many
//! resources per action, and which downstream stacks will see changed inputs because an
//! upstream output changes — transitively, including stacks outside the plan's selection.

use super::{Action, Plan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What a plan touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastRadius {
    /// Groups with a changed stack.
    pub groups: BTreeSet<String>,
    /// Stacks with any change.
    pub stacks: BTreeSet<String>,
    /// Regions of changed resources (`global` for global ones).
    pub regions: BTreeSet<String>,
    /// Clouds (providers) of changed resources.
    pub clouds: BTreeSet<String>,
    /// Number of resources per action (no-ops left out).
    pub resources: BTreeMap<String, usize>,
    /// Stacks whose inputs change because an output they read changes, with the outputs.
    /// Includes stacks that are not part of this plan (they will change when next applied).
    pub downstream: BTreeMap<String, BTreeSet<String>>,
}

impl BlastRadius {
    /// True when nothing is touched.
    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }
}

/// Stack → (stack reading its outputs → the output keys it reads).
pub type Readers = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Adds `name` to `set` unless it is there.
fn insert_new(set: &mut BTreeSet<String>, name: &str) {
    if !set.contains(name) {
        set.insert(name.to_string());
    }
}

/// Computes the blast radius. `readers` maps a stack to the stacks that read its outputs and
/// the keys they read (the whole workspace, not just the plan): a reader counts only when it
/// reads an output that changes.
pub fn blast_radius(plan: &Plan, readers: &Readers) -> BlastRadius {
    let mut radius = BlastRadius::default();
    for stack in plan.stacks.iter().filter(|s| s.has_changes()) {
        radius.stacks.insert(stack.stack.name.clone());
        radius.groups.insert(stack.stack.group.clone());
        for change in stack.changes.iter().filter(|c| c.action != Action::NoOp) {
            // Names are copied only the first time they are seen: plans hold ~10⁵ changes.
            let action = change.action.as_str();
            match radius.resources.get_mut(action) {
                Some(count) => *count += 1,
                None => {
                    radius.resources.insert(action.to_string(), 1);
                }
            }
            insert_new(
                &mut radius.regions,
                change.region.as_deref().unwrap_or("global"),
            );
            insert_new(
                &mut radius.clouds,
                change.type_name.split(':').next().unwrap_or_default(),
            );
        }
    }
    let mut changed_outputs: Vec<(String, String)> = plan
        .stacks
        .iter()
        .flat_map(|s| {
            s.outputs
                .iter()
                .filter(|(_, o)| o.changes())
                .map(|(k, _)| (s.stack.name.clone(), k.clone()))
        })
        .collect();
    let in_plan: BTreeSet<&str> = plan.stacks.iter().map(|s| s.stack.name.as_str()).collect();
    while let Some((stack, output)) = changed_outputs.pop() {
        let reading = readers
            .get(&stack)
            .into_iter()
            .flatten()
            .filter(|(_, keys)| {
                // `*`: a stack outside the plan, whose outputs may all change.
                output == "*" || keys.contains(&output)
            });
        for (reader, keys) in reading {
            let seen = radius.downstream.contains_key(reader);
            let output = if output == "*" {
                keys.iter().cloned().collect::<Vec<_>>().join(",")
            } else {
                output.clone()
            };
            radius
                .downstream
                .entry(reader.clone())
                .or_default()
                .insert(format!("{stack}.{output}"));
            // A reader outside the plan has no planned outputs: assume they may all change.
            if !seen && !in_plan.contains(reader.as_str()) {
                changed_outputs.push((reader.clone(), "*".into()));
            }
        }
    }
    radius
}
