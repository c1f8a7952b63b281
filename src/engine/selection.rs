//! Selecting stacks on an opened workspace: the selector checked against the configured
//! stacks and those left in state after their configuration was removed (which only the
//! backend knows), `--allow-destroy` addresses checked the same way, and the input errors of
//! group files reported to the selections that may reach those groups.

use super::{removed, Terrace};
use crate::config::StackInstance;
use crate::diagnostics::Diagnostics;
use crate::select::{self, Known, Selector};
use crate::state::StackState;
use crate::Error;
use std::collections::BTreeMap;

impl Terrace {
    /// Selected stacks: the configured ones in dependency order, then those left in state
    /// after their configuration was removed (a deleted group file, replica or layer), which a
    /// plan deletes. A usage error when a selector matches nothing ([`Selector::check`]).
    pub async fn select(&self, selector: &Selector) -> Result<Vec<StackInstance>, Error> {
        let removed = removed::removed_stacks(self).await?;
        self.check_selection(selector, &removed, &[]).await?;
        let configured = self.stacks.iter().map(|r| &r.spec.instance);
        Ok(configured
            .chain(removed.iter().map(|(instance, _)| instance))
            .filter(|s| selector.selects(s))
            .cloned()
            .collect())
    }

    /// Checks the selector, and the `STACK:RESOURCE` addresses of `--allow-destroy`, against
    /// the configured stacks and the `removed` ones; a resource may be one the configuration
    /// declares or one the stack's state still holds.
    pub(super) async fn check_selection(
        &self,
        selector: &Selector,
        removed: &[(StackInstance, StackState)],
        allow_destroy: &[String],
    ) -> Result<(), Error> {
        self.check_broken(selector)?;
        let mut states = BTreeMap::new();
        for address in selector.targets.iter().chain(allow_destroy) {
            let Some((stack, _)) = crate::address::ResourceAddress::split(address) else {
                continue;
            };
            if self.rendered(stack).is_some() && !states.contains_key(stack) {
                if let Some(state) = self.backend.load(stack).await? {
                    states.insert(stack.to_string(), state);
                }
            }
        }
        let known = self.known(removed, &states);
        selector.check(&self.workspace, &known)?;
        select::check_addresses("--allow-destroy", allow_destroy, &known)
    }

    /// The input errors of the group files whose groups the selector may reach: a broken
    /// group blocks only the commands that may touch it.
    pub(super) fn check_broken(&self, selector: &Selector) -> Result<(), Error> {
        let reached: Vec<crate::diagnostics::Diagnostic> = self
            .workspace
            .broken
            .iter()
            .filter(|(group, _)| selector.may_reach_group(group))
            .flat_map(|(_, problems)| problems.iter().cloned())
            .collect();
        if reached.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(Diagnostics(reached)))
        }
    }

    /// The stacks a selector may name, with their resources: configured (declared, and held in
    /// `states` where given) and `removed` (held in state).
    pub(super) fn known<'a>(
        &'a self,
        removed: &'a [(StackInstance, StackState)],
        states: &'a BTreeMap<String, StackState>,
    ) -> Vec<Known<'a>> {
        let configured = self.stacks.iter().map(|r| {
            let name = &r.spec.instance.name;
            let held = states
                .get(name)
                .into_iter()
                .flat_map(|s| s.resources.keys());
            let mut resources: Vec<&str> = r.spec.resources.keys().map(String::as_str).collect();
            for resource in held {
                if !r.spec.resources.contains_key(resource) {
                    resources.push(resource);
                }
            }
            Known {
                instance: &r.spec.instance,
                resources,
            }
        });
        let removed = removed.iter().map(|(instance, state)| Known {
            instance,
            resources: state.resources.keys().map(String::as_str).collect(),
        });
        configured.chain(removed).collect()
    }
}
