//! Access control on an opened workspace: what a role of `access:` covers, which cloud roles a
//! stack deploys with, and the probe of the current credentials that runs before anything is
//! written (see [`crate::access`]).

use super::Terrace;
use crate::access::{self, Action, RoleAccess};
use crate::state::{Probe, StateError};
use crate::Error;
use futures::{stream, StreamExt, TryStreamExt};

use std::collections::BTreeSet;

impl Terrace {
    /// The stacks the role `role` of `access:` covers, with its actions, and the stacks whose
    /// outputs they read. A usage error when no role has that name.
    pub fn access(&self, role: &str) -> Result<RoleAccess, Error> {
        let stacks: Vec<_> = self
            .stacks
            .iter()
            .map(|r| r.spec.instance.clone())
            .collect();
        let upstream = stacks
            .iter()
            .map(|s| (s.name.clone(), self.upstream_of(&s.name)))
            .collect();
        access::resolve(&self.workspace, role, &stacks, &upstream)
            .ok_or_else(|| Error::usage(access::unknown_role(&self.workspace, role)))
    }

    /// Every stack `stack` depends on, directly or not.
    pub fn upstream_of(&self, stack: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![stack.to_string()];
        while let Some(current) = todo.pop() {
            for dep in self.links.depends_on.get(&current).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }

    /// The cloud roles (ARNs) applying `stack` assumes ([`access::deploy_role_arns`]): its
    /// `providers.aws` as its calls use it — recorded in its state once it holds resources,
    /// else resolved against the upstream stacks' state; none while that is unknown (the
    /// member account is not created yet).
    pub async fn deploy_roles(&self, stack: &str) -> Result<Vec<String>, Error> {
        let Some(rendered) = self.rendered(stack) else {
            return Ok(Vec::new());
        };
        let state = self
            .backend
            .load(stack)
            .await?
            .unwrap_or_else(|| crate::state::StackState::new(stack));
        let configs = match self.stack_providers(stack, &state).await {
            Ok(configs) => configs,
            Err(Error::Usage { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(access::deploy_role_arns(
            &rendered.spec.instance,
            configs.get("aws"),
        ))
    }

    /// Checks, with calls that change nothing, that the current credentials may take `action`
    /// on each of `stacks` (and read the outputs of the stacks they read), before anything is
    /// written. The first refusal is [`Error::AccessDenied`] (exit code 6) naming the stack,
    /// the action and the denied call. Backends without access control accept everything.
    pub async fn check_access(&self, stacks: &[String], action: Action) -> Result<(), Error> {
        let mut probes: Vec<(String, Probe, String)> = Vec::new();
        let own: BTreeSet<&str> = stacks.iter().map(String::as_str).collect();
        let kinds: &[Probe] = match action {
            Action::Plan => &[Probe::Read],
            Action::Apply | Action::Destroy => &[Probe::Read, Probe::Write],
            Action::State => &[Probe::Read, Probe::Unlock],
        };
        for stack in stacks {
            for kind in kinds {
                probes.push((stack.clone(), *kind, action.to_string()));
            }
        }
        let reads: BTreeSet<&String> = stacks
            .iter()
            .filter(|_| action != Action::State)
            .flat_map(|s| self.links.reads.get(s).into_iter().flatten())
            .filter(|r| !own.contains(r.as_str()))
            .collect();
        for read in reads {
            probes.push((read.clone(), Probe::Read, "read outputs".to_string()));
        }
        let backend = self.backend.clone();
        stream::iter(probes)
            .map(|(stack, probe, action)| {
                let backend = backend.clone();
                async move {
                    match backend.probe(&stack, probe).await {
                        Err(StateError::Denied {
                            stack,
                            call,
                            target,
                            message,
                        }) => Err(Error::AccessDenied {
                            stack,
                            action,
                            call,
                            target,
                            message,
                        }),
                        other => other.map_err(Error::from),
                    }
                }
            })
            .buffered(8)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}
