//! Selectors: which stacks (and resources) a command works on — `--group`, `--layer`,
//! `--stack` (exact or glob), `--cloud`, `--region`, `--target STACK:RESOURCE`.

use crate::config::{StackInstance, Workspace};
use crate::diagnostics::suggest;
use crate::Error;

/// Stack and resource selection; empty lists select everything.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// Group names.
    pub groups: Vec<String>,
    /// Layer names.
    pub layers: Vec<String>,
    /// Stack names or glob patterns (`networks/eu/*`).
    pub stacks: Vec<String>,
    /// Cloud names.
    pub clouds: Vec<String>,
    /// Region names.
    pub regions: Vec<String>,
    /// `STACK:RESOURCE` addresses: plan only these resources (and what they depend on).
    pub targets: Vec<String>,
}

impl Selector {
    /// True when it selects everything.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
            && self.layers.is_empty()
            && self.stacks.is_empty()
            && self.clouds.is_empty()
            && self.regions.is_empty()
            && self.targets.is_empty()
    }

    /// Checks that every named group, layer and stack exists.
    pub fn check(&self, workspace: &Workspace, stacks: &[StackInstance]) -> Result<(), Error> {
        let groups: Vec<&str> = workspace.groups.iter().map(|g| g.name.as_str()).collect();
        for group in &self.groups {
            if !groups.contains(&group.as_str()) {
                return Err(Error::usage(format!(
                    "--group {group}: no such group; {}",
                    suggest(group, groups.iter().copied())
                )));
            }
        }
        let layers: Vec<&str> = workspace.layers.iter().map(|l| l.name.as_str()).collect();
        for layer in &self.layers {
            if !layers.contains(&layer.as_str()) {
                return Err(Error::usage(format!(
                    "--layer {layer}: no such layer; {}",
                    suggest(layer, layers.iter().copied())
                )));
            }
        }
        let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
        for pattern in &self.stacks {
            if !names.iter().any(|n| matches(pattern, n)) {
                return Err(Error::usage(format!(
                    "--stack {pattern}: matches no stack; {}",
                    suggest(pattern, names.iter().copied())
                )));
            }
        }
        for target in &self.targets {
            let (stack, _) = split_target(target)?;
            if !names.contains(&stack) {
                return Err(Error::usage(format!(
                    "--target {target}: no stack {stack}; {}",
                    suggest(stack, names.iter().copied())
                )));
            }
        }
        Ok(())
    }

    /// True when the stack is selected.
    pub fn selects(&self, stack: &StackInstance) -> bool {
        let any = |list: &[String], value: Option<&String>| {
            list.is_empty() || value.is_some_and(|v| list.contains(v))
        };
        any(&self.groups, Some(&stack.group))
            && any(&self.layers, Some(&stack.layer))
            && any(&self.clouds, stack.cloud.as_ref())
            && any(&self.regions, stack.region.as_ref())
            && (self.stacks.is_empty() || self.stacks.iter().any(|p| matches(p, &stack.name)))
            && (self.targets.is_empty()
                || self
                    .targets
                    .iter()
                    .any(|t| split_target(t).is_ok_and(|(s, _)| s == stack.name)))
    }

    /// Targeted resources of a stack, if resource targeting is on.
    pub fn targets_in(&self, stack: &str) -> Option<Vec<String>> {
        if self.targets.is_empty() {
            return None;
        }
        Some(
            self.targets
                .iter()
                .filter_map(|t| split_target(t).ok())
                .filter(|(s, _)| *s == stack)
                .map(|(_, r)| r.to_string())
                .collect(),
        )
    }
}

/// True when `name` matches `pattern`: a glob (`networks/eu/*`; `*` also spans `/`) or, if
/// the pattern is not a valid glob, the exact name.
pub fn matches(pattern: &str, name: &str) -> bool {
    match glob::Pattern::new(pattern) {
        Ok(p) => p.matches(name),
        Err(_) => pattern == name,
    }
}

fn split_target(target: &str) -> Result<(&str, &str), Error> {
    target
        .split_once(':')
        .filter(|(s, r)| !s.is_empty() && !r.is_empty())
        .ok_or_else(|| {
            Error::usage(format!(
                "--target {target}: expected STACK:RESOURCE, e.g. networks/eu/aws-eu-west-1:vpc"
            ))
        })
}
