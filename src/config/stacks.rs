//! Stack instances: the layers × groups (× clouds or replicas) expansion that names every stack
//! (`layer/group[/cloud|/replica]`), and the rule for which stack of an upstream layer matches
//! a given stack.

use super::layer::Scope;
use super::Workspace;
use serde::{Deserialize, Serialize};

/// One stack of the workspace: the unit of state, locking and failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackInstance {
    /// Stack name: `layer/group[/cloud|/replica]`.
    pub name: String,
    /// Layer name.
    pub layer: String,
    /// Group name.
    pub group: String,
    /// Cloud (provider name), when scoped to one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cloud: Option<String>,
    /// Replica name, when scoped to one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub replica: Option<String>,
    /// Region of the stack's replica, for per-replica stacks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    /// Zones of the stack's replica.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub zones: Vec<String>,
    /// The stack's name before its replica was renamed (the replica's `renamed_from`): every
    /// resource of the stack moves from there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub renamed_from: Option<String>,
}

/// Every stack of the workspace, layer by layer (in dependency order), then group by group.
pub fn expand(workspace: &Workspace) -> Vec<StackInstance> {
    let mut stacks = Vec::new();
    for layer in &workspace.layers {
        for group in &workspace.groups {
            match layer.spec.per {
                Scope::Group => stacks.push(StackInstance {
                    name: format!("{}/{}", layer.name, group.name),
                    layer: layer.name.clone(),
                    group: group.name.clone(),
                    cloud: None,
                    replica: None,
                    region: None,
                    zones: Vec::new(),
                    renamed_from: None,
                }),
                Scope::Cloud => {
                    stacks.extend(group.clouds().into_iter().map(|cloud| StackInstance {
                        name: format!("{}/{}/{}", layer.name, group.name, cloud),
                        layer: layer.name.clone(),
                        group: group.name.clone(),
                        cloud: Some(cloud),
                        replica: None,
                        region: None,
                        zones: Vec::new(),
                        renamed_from: None,
                    }))
                }
                Scope::Replica => stacks.extend(group.replicas.iter().map(|r| {
                    StackInstance {
                        name: format!("{}/{}/{}", layer.name, group.name, r.name),
                        layer: layer.name.clone(),
                        group: group.name.clone(),
                        cloud: Some(r.cloud.clone()),
                        replica: Some(r.name.clone()),
                        region: Some(r.region.clone()),
                        zones: r.zones.clone(),
                        renamed_from: r
                            .renamed_from
                            .as_ref()
                            .map(|old| format!("{}/{}/{}", layer.name, group.name, old)),
                    }
                })),
            }
        }
    }
    stacks
}

impl StackInstance {
    /// True when `upstream` (a stack of a layer this one depends on) is one this stack builds
    /// on: same group, and same replica or cloud where both have one.
    pub fn matches_upstream(&self, upstream: &StackInstance) -> bool {
        if upstream.group != self.group {
            return false;
        }
        match (&upstream.replica, &self.replica) {
            (Some(theirs), Some(ours)) => return theirs == ours,
            (Some(_), None) if self.cloud.is_none() => return true,
            _ => {}
        }
        match (&upstream.cloud, &self.cloud) {
            (Some(theirs), Some(ours)) => theirs == ours,
            _ => true,
        }
    }

    /// True when this stack is the one `${<layer>.outputs.KEY}` means from `from`: exactly one
    /// stack of the upstream layer must match.
    pub fn is_single_match_for(&self, from: &StackInstance) -> bool {
        match (&self.replica, &self.cloud) {
            (Some(replica), _) => {
                from.replica.as_ref() == Some(replica) && from.group == self.group
            }
            (None, Some(cloud)) => from.cloud.as_ref() == Some(cloud) && from.group == self.group,
            (None, None) => from.group == self.group,
        }
    }
}
