//! `state mv` and `state rm`, checked against the configuration: a moved entry must land on a
//! resource the target stack declares, with the same type (so the next plan adopts it instead
//! of deleting it); the mechanics are in [`crate::state::moves`].

use super::Terrace;
use crate::diagnostics::suggest;
use crate::state::moves::{self, MoveError, ResourceAddress};
use crate::state::ResourceState;
use crate::Error;
use std::time::Duration;

/// What `state mv` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Moved {
    /// The cloud id of the moved resource (unchanged).
    pub id: String,
    /// Things to know, for a person (e.g. the source still declares the resource).
    pub warnings: Vec<String>,
}

fn address(text: &str) -> Result<ResourceAddress, Error> {
    ResourceAddress::parse(text).map_err(Error::usage)
}

fn move_error(err: MoveError) -> Error {
    match err {
        MoveError::State(e) => Error::State(e),
        other => Error::usage(other.to_string()),
    }
}

impl Terrace {
    /// Moves the state entry `from` (`STACK:RESOURCE`) to `to`; the cloud is not touched.
    pub async fn state_move(
        &self,
        from: &str,
        to: &str,
        lock_timeout: Duration,
    ) -> Result<Moved, Error> {
        let (from, to) = (address(from)?, address(to)?);
        let source = self
            .backend
            .load(&from.stack)
            .await?
            .ok_or_else(|| Error::usage(format!("stack {} has no state", from.stack)))?;
        let entry = source.resources.get(&from.resource).ok_or_else(|| {
            let names = source.resources.keys().map(String::as_str);
            Error::usage(format!(
                "{from} is not in state; {}",
                suggest(&from.resource, names)
            ))
        })?;
        let target = self.rendered(&to.stack).ok_or_else(|| {
            let names = self.stacks.iter().map(|r| r.spec.instance.name.as_str());
            Error::usage(format!(
                "no stack {}; {}",
                to.stack,
                suggest(&to.stack, names)
            ))
        })?;
        let declared = target.spec.resources.get(&to.resource).ok_or_else(|| {
            Error::usage(format!(
                "stack {} declares no resource `{}`: declare it in the stack's template first, so that the next plan keeps it",
                to.stack, to.resource
            ))
        })?;
        if declared.type_name != entry.type_name {
            return Err(Error::usage(format!(
                "{from} is a {} but {to} is declared as a {}",
                entry.type_name, declared.type_name
            )));
        }
        let mut warnings = Vec::new();
        let still_declared = self
            .rendered(&from.stack)
            .is_some_and(|r| r.spec.resources.contains_key(&from.resource));
        if still_declared && from != to {
            warnings.push(format!(
                "stack {} still declares `{}`: the next plan creates a new one there",
                from.stack, from.resource
            ));
        }
        let done = moves::move_entry(&self.backend, &from, &to, None, lock_timeout)
            .await
            .map_err(move_error)?;
        Ok(Moved {
            id: done.id,
            warnings,
        })
    }

    /// Forgets the state entry `at` (`STACK:RESOURCE`); the cloud object stays and is no longer
    /// managed.
    pub async fn state_remove(
        &self,
        at: &str,
        lock_timeout: Duration,
    ) -> Result<ResourceState, Error> {
        let at = address(at)?;
        moves::remove_entry(&self.backend, &at, lock_timeout)
            .await
            .map_err(move_error)
    }
}
