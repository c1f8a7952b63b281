//! What a stack's run records: journal entries as operations end, and the snapshot with
//! the resolved outputs at the end.

use super::StackRun;
use crate::apply::FreshOutputs;
use crate::plan::stack::Resolver;
use crate::plan::StackPlan;
use crate::state::{JournalEntry, StackState, StateError};
use crate::value::{refs, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

impl StackRun {
    pub(in crate::apply) async fn journal(&self, entry: JournalEntry) -> Result<(), StateError> {
        self.context
            .backend
            .append(self.name(), self.base_serial, &entry)
            .await?;
        self.state.lock().expect("state lock").apply_entry(&entry);
        *self.journalled.lock().expect("flag lock") = true;
        Ok(())
    }

    /// Saves the snapshot when operations were journalled (outputs unchanged).
    pub(super) async fn save_if_changed(&self) -> Result<(), StateError> {
        if !*self.journalled.lock().expect("flag lock") {
            return Ok(());
        }
        let mut state = self.state.lock().expect("state lock").clone();
        self.save_snapshot(&mut state).await
    }

    /// Saves `state` as the stack's next snapshot (serial, time and stack instance set).
    async fn save_snapshot(&self, state: &mut StackState) -> Result<(), StateError> {
        state.serial += 1;
        state.updated_at = Some(chrono::Utc::now());
        state.instance = Some(self.approved().stack.clone());
        self.context
            .backend
            .save(state, state.snapshot_serial)
            .await
    }

    /// Computes the outputs, saves the snapshot if anything changed, publishes the outputs.
    pub(super) async fn finish(
        &self,
        replanned: &StackPlan,
        fresh: &FreshOutputs,
    ) -> Result<(), StateError> {
        let mut state = self.state.lock().expect("state lock").clone();
        let outputs = if self.plan.destroy {
            BTreeMap::new()
        } else {
            self.resolve_outputs(&state, replanned)
        };
        let protect_changed = self.sync_protect(&mut state);
        let changed = *self.journalled.lock().expect("flag lock")
            || outputs != state.outputs
            || protect_changed;
        state.outputs = outputs;
        if changed {
            self.save_snapshot(&mut state).await?;
        }
        let values = state
            .outputs
            .iter()
            .map(|(k, v)| (k.clone(), Value::from_json(v)))
            .collect();
        fresh
            .lock()
            .expect("outputs lock")
            .insert(self.name().to_string(), values);
        Ok(())
    }

    /// The configuration decides `protect` for resources it still has; returns true if any
    /// flag changed.
    fn sync_protect(&self, state: &mut StackState) -> bool {
        let mut changed = false;
        for (name, spec) in &self.approved().desired.resources {
            if let Some(resource) = state.resources.get_mut(name) {
                changed |= resource.protect != spec.protect;
                resource.protect = spec.protect;
            }
        }
        changed
    }

    /// Outputs resolved against the final state; an output that cannot be known (its resource
    /// failed) keeps its previous value.
    fn resolve_outputs(&self, state: &StackState, replanned: &StackPlan) -> BTreeMap<String, Json> {
        let resolver = Resolver {
            attributes: state,
            upstream: &self.upstream,
            layer_links: &replanned.layer_links,
            config: &self.plan.config,
            secrets: self.secrets(),
        };
        let is_layer = |name: &str| self.plan.layers.iter().any(|l| l == name);
        let mut outputs = BTreeMap::new();
        for (name, raw) in &replanned.desired.outputs {
            let value = refs::resolve(raw, &resolver, &is_layer)
                .ok()
                .and_then(|v| v.to_known_json().ok());
            if let Some(json) = value.or_else(|| state.outputs.get(name).cloned()) {
                outputs.insert(name.clone(), json);
            }
        }
        outputs
    }
}
