//! Typed addresses, parsed in one place: a stack's name (`layer/group[/replica]`), a resource
//! of a stack (`stack:resource`) and a state key (a resource's own entry, or the entry of a
//! deposed copy, `name#deposed` / `name#deposed-N`, that a create-before-destroy replace keeps
//! until it is deleted). The text forms are what users type and what state files hold; code
//! reads and writes them only through these types.

use serde::{Deserialize, Serialize};

/// A stack's name: `layer/group` or `layer/group/replica` (e.g. `networks/eu/aws-eu-west-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackName<'a> {
    /// The layer, e.g. `networks`.
    pub layer: &'a str,
    /// The group, e.g. `eu` (empty for a name without `/`).
    pub group: &'a str,
    /// The replica (or cloud, for a `per: cloud` layer), when the name has a third part.
    pub replica: Option<&'a str>,
}

impl<'a> StackName<'a> {
    /// The parts of a stack name; a name without `/` is all layer.
    pub fn parse(name: &'a str) -> StackName<'a> {
        let mut parts = name.splitn(3, '/');
        StackName {
            layer: parts.next().unwrap_or_default(),
            group: parts.next().unwrap_or_default(),
            replica: parts.next(),
        }
    }
}

/// A resource of a stack: `stack:resource`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceAddress {
    /// Stack name.
    pub stack: String,
    /// Resource name within the stack.
    pub resource: String,
}

impl ResourceAddress {
    /// Parses `stack:resource`. Neither part may be empty; names hold no `:`.
    pub fn parse(text: &str) -> Result<ResourceAddress, String> {
        ResourceAddress::split(text)
            .map(|(stack, resource)| ResourceAddress {
                stack: stack.to_string(),
                resource: resource.to_string(),
            })
            .ok_or_else(|| {
                format!(
                    "`{text}` is not a resource address: write STACK:RESOURCE, e.g. networks/eu/aws-eu-west-1:vpc"
                )
            })
    }

    /// `stack:resource` as its two parts, without copying; `None` when it is not one.
    pub fn split(text: &str) -> Option<(&str, &str)> {
        text.split_once(':')
            .filter(|(stack, resource)| !stack.is_empty() && !resource.is_empty())
    }

    /// The address of `resource` in `stack`.
    pub fn new(stack: impl Into<String>, resource: impl Into<String>) -> ResourceAddress {
        ResourceAddress {
            stack: stack.into(),
            resource: resource.into(),
        }
    }
}

impl std::fmt::Display for ResourceAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.stack, self.resource)
    }
}

/// What marks a deposed copy's state key.
const DEPOSED: &str = "#deposed";

/// A key of a stack's state: a resource's own entry, or a deposed copy of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateKey {
    /// The resource's entry: its name.
    Resource(String),
    /// The old half of a create-before-destroy replace, kept until deleted; `generation` 1
    /// is written `name#deposed`, N > 1 `name#deposed-N` (an earlier run's copy whose delete
    /// failed keeps its key).
    Deposed {
        /// The resource it was.
        resource: String,
        /// Which deposed copy (1, 2, ...).
        generation: u32,
    },
}

impl StateKey {
    /// Reads a state key as written in state.
    pub fn parse(key: &str) -> StateKey {
        let Some((resource, rest)) = key.split_once(DEPOSED) else {
            return StateKey::Resource(key.to_string());
        };
        let generation = match rest {
            "" => Some(1),
            _ => rest
                .strip_prefix('-')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 1),
        };
        match generation {
            Some(generation) => StateKey::Deposed {
                resource: resource.to_string(),
                generation,
            },
            None => StateKey::Resource(key.to_string()),
        }
    }

    /// The first deposed key of `resource` that `taken` says is free: `name#deposed`, else
    /// `name#deposed-2`, ...
    pub fn free_deposed(resource: &str, taken: impl Fn(&str) -> bool) -> StateKey {
        (1..)
            .map(|generation| StateKey::Deposed {
                resource: resource.to_string(),
                generation,
            })
            .find(|key| !taken(&key.to_string()))
            .expect("an unused key exists")
    }

    /// The resource the key `key` is (or was), as a part of `key`: `vpc` for `vpc#deposed-2`.
    pub fn resource_of(key: &str) -> &str {
        match StateKey::parse(key) {
            StateKey::Deposed { .. } => key.split_once(DEPOSED).map_or(key, |(name, _)| name),
            StateKey::Resource(_) => key,
        }
    }

    /// The resource the entry is (or was).
    pub fn resource(&self) -> &str {
        match self {
            StateKey::Resource(name) => name,
            StateKey::Deposed { resource, .. } => resource,
        }
    }

    /// True for a deposed copy.
    pub fn is_deposed(&self) -> bool {
        matches!(self, StateKey::Deposed { .. })
    }
}

impl std::fmt::Display for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateKey::Resource(name) => f.write_str(name),
            StateKey::Deposed {
                resource,
                generation: 1,
            } => write!(f, "{resource}{DEPOSED}"),
            StateKey::Deposed {
                resource,
                generation,
            } => write!(f, "{resource}{DEPOSED}-{generation}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_read_and_write_the_same_text() {
        for text in ["vpc", "vpc#deposed", "vpc#deposed-2", "vpc#deposed-13"] {
            assert_eq!(StateKey::parse(text).to_string(), text);
        }
        assert_eq!(
            StateKey::parse("db#deposed-3"),
            StateKey::Deposed {
                resource: "db".into(),
                generation: 3
            }
        );
        assert!(!StateKey::parse("a#deposed-x").is_deposed());
        assert!(
            !StateKey::parse("a#deposed-1").is_deposed(),
            "the first has no number"
        );
        assert_eq!(StateKey::parse("lb#deposed").resource(), "lb");
        assert_eq!(StateKey::resource_of("lb#deposed-4"), "lb");
        assert_eq!(StateKey::resource_of("lb#deposed-x"), "lb#deposed-x");
    }

    #[test]
    fn the_first_free_deposed_key_is_taken() {
        let taken = ["t#deposed", "t#deposed-2"];
        let key = StateKey::free_deposed("t", |k| taken.contains(&k));
        assert_eq!(key.to_string(), "t#deposed-3");
        assert_eq!(
            StateKey::free_deposed("u", |_| false).to_string(),
            "u#deposed"
        );
    }

    #[test]
    fn addresses_and_stack_names_have_their_parts() {
        let address = ResourceAddress::parse("networks/eu/a:vpc").unwrap();
        assert_eq!(
            (address.stack.as_str(), address.resource.as_str()),
            ("networks/eu/a", "vpc")
        );
        assert_eq!(address.to_string(), "networks/eu/a:vpc");
        for bad in ["networks/eu/a", ":vpc", "networks/eu/a:"] {
            assert!(ResourceAddress::parse(bad).is_err(), "{bad}");
        }
        let name = StackName::parse("replicas/eu/aws-eu-west-1");
        assert_eq!(
            (name.layer, name.group, name.replica),
            ("replicas", "eu", Some("aws-eu-west-1"))
        );
        assert_eq!(StackName::parse("proxies/eu").replica, None);
    }
}
