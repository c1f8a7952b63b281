//! The emulator's state: every resource as Compute JSON keyed by its canonical path, every
//! operation, the requestId index, the Resource Manager projects, and the id counter. It is
//! plain data (serialisable for the state file); the rules for changing it live in
//! `operations` (applying a finished mutation) and `references` (who uses whom).

use crate::crm::CrmState;
use crate::mig::ManagedVm;
use crate::operations::{Mutation, OpRecord, OpStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// All state, serialised as a whole into the state file.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    /// Monotonic counter from which ids and operation names are derived.
    pub counter: u64,
    /// Resources by canonical path (`projects/p/global/networks/n`).
    pub resources: BTreeMap<String, Value>,
    /// Operations by canonical path (`projects/p/zones/z/operations/operation-...`).
    pub operations: BTreeMap<String, OpRecord>,
    /// `project/requestId` to the operation path it created.
    pub request_ids: BTreeMap<String, String>,
    /// Cloud Resource Manager state.
    #[serde(default)]
    pub crm: CrmState,
    /// The VMs of each regional managed instance group, by the group's path.
    #[serde(default)]
    pub managed: BTreeMap<String, Vec<ManagedVm>>,
}

impl Store {
    /// Advances the counter and returns the new value.
    pub fn next_counter(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    pub fn get(&self, path: &str) -> Option<&Value> {
        self.resources.get(path)
    }

    /// Resources whose path starts with `prefix/` (one collection), in name order.
    pub fn list(&self, prefix: &str) -> Vec<&Value> {
        let start = format!("{prefix}/");
        self.resources
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .filter(|(k, _)| !k[start.len()..].contains('/'))
            .map(|(_, v)| v)
            .collect()
    }

    /// Resources in one project, with their paths.
    pub fn in_project<'a>(
        &'a self,
        project: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> {
        let start = format!("projects/{project}/");
        self.resources
            .range(start.clone()..)
            .take_while(move |(k, _)| k.starts_with(&start))
    }

    /// Resource values not yet applied: the bodies of unfinished inserts and updates.
    pub fn pending_values(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.operations
            .values()
            .filter(|r| r.op.status != OpStatus::Done)
            .filter_map(|r| match &r.mutation {
                Some(Mutation::Put { path, value, .. }) => Some((path, value)),
                _ => None,
            })
    }

    /// Whether an unfinished insert will create `path`.
    pub fn insert_pending(&self, path: &str) -> bool {
        self.operations.values().any(|r| {
            r.op.status != OpStatus::Done
                && matches!(&r.mutation, Some(Mutation::Put { path: p, insert: true, .. }) if p == path)
        })
    }

    /// Whether an unfinished operation will change `path` (insert, update or delete): such a
    /// resource is "not ready" to be used by another insert.
    pub fn busy(&self, path: &str) -> bool {
        self.operations.values().any(|r| {
            r.op.status != OpStatus::Done && r.mutation.as_ref().is_some_and(|m| m.path() == path)
        })
    }

    /// Live resources plus pending inserts/updates: what address allocation must avoid.
    pub fn live_and_pending(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.resources.iter().chain(self.pending_values())
    }
}
