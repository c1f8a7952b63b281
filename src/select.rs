//! Selectors: which stacks (and resources) a command works on — `--group`, `--layer`,
//! `--stack` (exact or glob), `--cloud`, `--region`, `--target STACK:RESOURCE` — and the check
//! that each of them names something that exists. A selector that matches nothing is an input
//! error with the closest valid name, never an empty selection that plans "no changes".

use crate::config::{StackInstance, Workspace};
use crate::diagnostics::suggest;
use crate::Error;
use std::collections::BTreeSet;

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

/// A stack a selector may name: one of the configuration, or one left in state after its
/// configuration was removed (it is planned for deletion).
#[derive(Debug, Clone)]
pub struct Known<'a> {
    /// The stack.
    pub instance: &'a StackInstance,
    /// Resources the stack declares or holds in state.
    pub resources: Vec<&'a str>,
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

    /// Checks that every group, layer, cloud and region named is that of some stack, that
    /// every `--stack` pattern matches a stack and every `--target` names a stack and one of
    /// its resources, and that together they select at least one stack. `known` are the
    /// stacks that can be named (the configured ones, and those left in state only). Errors
    /// are usage errors saying what matched nothing and the closest valid name.
    pub fn check(&self, workspace: &Workspace, known: &[Known]) -> Result<(), Error> {
        let names = |of: &dyn Fn(&StackInstance) -> Option<&str>| -> BTreeSet<&str> {
            known.iter().filter_map(|k| of(k.instance)).collect()
        };
        let mut groups = names(&|s| Some(s.group.as_str()));
        groups.extend(workspace.groups.iter().map(|g| g.name.as_str()));
        let mut layers = names(&|s| Some(s.layer.as_str()));
        layers.extend(workspace.layers.iter().map(|l| l.name.as_str()));
        let clouds = names(&|s| s.cloud.as_deref());
        let regions = names(&|s| s.region.as_deref());
        each_exists("--group", &self.groups, &groups, "no such group")?;
        each_exists("--layer", &self.layers, &layers, "no such layer")?;
        each_exists(
            "--cloud",
            &self.clouds,
            &clouds,
            "no stack runs on this cloud",
        )?;
        each_exists(
            "--region",
            &self.regions,
            &regions,
            "no stack is in this region",
        )?;
        let stacks: Vec<&str> = known.iter().map(|k| k.instance.name.as_str()).collect();
        for pattern in &self.stacks {
            if !stacks.iter().any(|n| matches(pattern, n)) {
                return Err(Error::usage(format!(
                    "--stack {pattern}: matches no stack; {}",
                    suggest(pattern, stacks.iter().copied())
                )));
            }
        }
        check_addresses("--target", &self.targets, known)?;
        if !self.is_empty() && !known.iter().any(|k| self.selects(k.instance)) {
            return Err(Error::usage(format!(
                "the selection {} matches no stack: each selector names stacks that exist, but \
                 no stack matches them all; `terrace stacks` lists the stacks with their group, \
                 layer, cloud and region",
                self.describe()
            )));
        }
        Ok(())
    }

    /// True when the selector may select stacks of group `group`: it names no group and no
    /// stack, or names this group, or a stack pattern (of `--stack` or `--target`) whose group
    /// part matches it.
    pub fn may_reach_group(&self, group: &str) -> bool {
        if !self.groups.is_empty() {
            return self.groups.iter().any(|g| g == group);
        }
        let stacks: Vec<&str> = self
            .stacks
            .iter()
            .map(String::as_str)
            .chain(
                self.targets
                    .iter()
                    .filter_map(|t| crate::address::ResourceAddress::split(t).map(|(s, _)| s)),
            )
            .collect();
        stacks.is_empty()
            || stacks.iter().any(|s| {
                let name = crate::address::StackName::parse(s);
                name.group.is_empty() || matches(name.group, group)
            })
    }

    /// The selector as command-line flags, for messages.
    pub fn describe(&self) -> String {
        let flags = [
            ("--group", &self.groups),
            ("--layer", &self.layers),
            ("--stack", &self.stacks),
            ("--cloud", &self.clouds),
            ("--region", &self.regions),
            ("--target", &self.targets),
        ];
        flags
            .iter()
            .flat_map(|(flag, values)| values.iter().map(move |v| format!("{flag} {v}")))
            .collect::<Vec<_>>()
            .join(" ")
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
                    .any(|t| split_address("--target", t).is_ok_and(|(s, _)| s == stack.name)))
    }

    /// Targeted resources of a stack, if resource targeting is on.
    pub fn targets_in(&self, stack: &str) -> Option<Vec<String>> {
        if self.targets.is_empty() {
            return None;
        }
        Some(
            self.targets
                .iter()
                .filter_map(|t| split_address("--target", t).ok())
                .filter(|(s, _)| *s == stack)
                .map(|(_, r)| r.to_string())
                .collect(),
        )
    }
}

/// Each value must be one of `valid`.
fn each_exists(
    flag: &str,
    values: &[String],
    valid: &BTreeSet<&str>,
    what: &str,
) -> Result<(), Error> {
    for value in values {
        if !valid.contains(value.as_str()) {
            return Err(Error::usage(format!(
                "{flag} {value}: {what}; {}",
                suggest(value, valid.iter().copied())
            )));
        }
    }
    Ok(())
}

/// Checks `STACK:RESOURCE` addresses given to `flag` (`--target`, `--allow-destroy`): each
/// must name a known stack and a resource it declares or holds in state.
pub fn check_addresses(flag: &str, addresses: &[String], known: &[Known]) -> Result<(), Error> {
    for address in addresses {
        let (stack, resource) = split_address(flag, address)?;
        let Some(found) = known.iter().find(|k| k.instance.name == stack) else {
            let names = known.iter().map(|k| k.instance.name.as_str());
            return Err(Error::usage(format!(
                "{flag} {address}: no stack {stack}; {}",
                suggest(stack, names)
            )));
        };
        if !found.resources.contains(&resource) {
            return Err(Error::usage(format!(
                "{flag} {address}: stack {stack} has no resource `{resource}`; {}",
                suggest(resource, found.resources.iter().copied())
            )));
        }
    }
    Ok(())
}

/// True when `name` matches `pattern`: a glob (`networks/eu/*`; `*` also spans `/`) or, if
/// the pattern is not a valid glob, the exact name.
pub fn matches(pattern: &str, name: &str) -> bool {
    match glob::Pattern::new(pattern) {
        Ok(p) => p.matches(name),
        Err(_) => pattern == name,
    }
}

/// `STACK:RESOURCE` split in two.
fn split_address<'a>(flag: &str, address: &'a str) -> Result<(&'a str, &'a str), Error> {
    crate::address::ResourceAddress::split(address).ok_or_else(|| {
        Error::usage(format!(
            "{flag} {address}: expected STACK:RESOURCE, e.g. networks/eu/aws-eu-west-1:vpc"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, cloud: Option<&str>, region: Option<&str>) -> StackInstance {
        let mut parts = name.split('/');
        StackInstance {
            name: name.into(),
            layer: parts.next().unwrap().into(),
            group: parts.next().unwrap().into(),
            cloud: cloud.map(str::to_string),
            replica: parts.next().map(str::to_string),
            region: region.map(str::to_string),
            zones: Vec::new(),
            renamed_from: None,
        }
    }

    fn workspace() -> Workspace {
        Workspace {
            root: ".".into(),
            name: "w".into(),
            settings: Default::default(),
            groups: Vec::new(),
            layers: Vec::new(),
            partials: Vec::new(),
            broken: Default::default(),
            files: Default::default(),
            writable: false,
        }
    }

    fn check(selector: Selector) -> Result<(), String> {
        let stacks = [
            stack("networks/eu/a", Some("aws"), Some("eu-west-1")),
            stack("networks/eu/b", Some("gcp"), Some("europe-west3")),
            stack("proxies/eu", None, None),
            stack("networks/us/c", Some("aws"), Some("us-east-1")),
        ];
        let known: Vec<Known> = stacks
            .iter()
            .map(|s| Known {
                instance: s,
                resources: vec!["vpc", "subnet"],
            })
            .collect();
        selector
            .check(&workspace(), &known)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_of_selector_that_matches_nothing_is_an_error_with_the_closest_name() {
        let cases = [
            (
                Selector {
                    regions: vec!["eu-wset-1".into()],
                    ..Default::default()
                },
                "--region eu-wset-1: no stack is in this region; did you mean `eu-west-1`?",
            ),
            (
                Selector {
                    clouds: vec!["azure".into()],
                    ..Default::default()
                },
                "--cloud azure: no stack runs on this cloud; valid names: `aws`, `gcp`",
            ),
            (
                Selector {
                    groups: vec!["euu".into()],
                    ..Default::default()
                },
                "--group euu: no such group; did you mean `eu`?",
            ),
            (
                Selector {
                    layers: vec!["network".into()],
                    ..Default::default()
                },
                "--layer network: no such layer; did you mean `networks`?",
            ),
            (
                Selector {
                    targets: vec!["networks/eu/a:vcp".into()],
                    ..Default::default()
                },
                "--target networks/eu/a:vcp: stack networks/eu/a has no resource `vcp`; did you mean `vpc`?",
            ),
            (
                Selector {
                    targets: vec!["networks/eu/x:vpc".into()],
                    ..Default::default()
                },
                "--target networks/eu/x:vpc: no stack networks/eu/x; did you mean `networks/eu/a`?",
            ),
            (
                Selector {
                    stacks: vec!["replicas/*".into()],
                    ..Default::default()
                },
                "--stack replicas/*: matches no stack",
            ),
        ];
        for (selector, expected) in cases {
            let message = check(selector).unwrap_err();
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn a_selector_reaches_the_groups_it_may_select() {
        let group = |g: &str| Selector {
            groups: vec![g.into()],
            ..Default::default()
        };
        let stack = |s: &str| Selector {
            stacks: vec![s.into()],
            ..Default::default()
        };
        assert!(Selector::default().may_reach_group("us"));
        assert!(!group("eu").may_reach_group("us"));
        assert!(group("us").may_reach_group("us"));
        assert!(!stack("networks/eu/*").may_reach_group("us"));
        assert!(stack("networks/*/a").may_reach_group("us"));
        assert!(stack("networks").may_reach_group("us"));
        let layer = Selector {
            layers: vec!["networks".into()],
            ..Default::default()
        };
        assert!(layer.may_reach_group("us"));
    }

    #[test]
    fn selectors_that_exist_but_share_no_stack_are_an_error() {
        let message = check(Selector {
            groups: vec!["us".into()],
            regions: vec!["eu-west-1".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            message.starts_with(
                "the selection --group us --region eu-west-1 matches no stack: each selector"
            ),
            "{message}"
        );
        assert_eq!(
            check(Selector {
                groups: vec!["eu".into()],
                clouds: vec!["gcp".into()],
                ..Default::default()
            }),
            Ok(())
        );
        assert_eq!(check(Selector::default()), Ok(()));
    }
}
