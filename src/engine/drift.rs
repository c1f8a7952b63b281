//! `refresh` and `drift`: read the cloud for the selected stacks and report the drift. `refresh`
//! also records what it found in state (attributes, inputs changed outside Terrace, resources
//! that vanished); `drift` only reports.

use super::{Selector, Terrace};
use crate::events::{Event, EventSink};
use crate::plan::providers as plan_providers;
use crate::refresh::{refresh_stacks, Refreshed, StackRead};
use crate::state::{LockInfo, StackLock, StackState, StateError};
use crate::Error;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Drift of one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Stack name.
    pub stack: String,
    /// Resource name within its stack.
    pub resource: String,
    /// Fields (dotted paths for nested leaves) whose cloud value differs from the last applied
    /// one; empty if it vanished.
    pub fields: Vec<String>,
    /// The same fields with both values (secrets stay sealed, and show as `[secret]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<crate::plan::compare::FieldDrift>,
    /// True when the resource no longer exists in the cloud.
    pub vanished: bool,
}

/// What a refresh found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RefreshReport {
    /// Stacks with state that were refreshed.
    pub stacks: usize,
    /// Resources read.
    pub resources: usize,
    /// Resources that drifted or vanished.
    pub drift: Vec<Drift>,
    /// Live resources found outside their group's jurisdiction.
    #[serde(default)]
    pub outside_jurisdiction: Vec<Misplaced>,
}

/// A live resource outside its group's jurisdiction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Misplaced {
    /// Stack name.
    pub stack: String,
    /// Resource name.
    pub resource: String,
    /// Where it lives.
    pub region: String,
    /// The group's jurisdiction.
    pub jurisdiction: String,
}

/// The `RefreshFinished` of a report.
fn finished(report: &RefreshReport) -> Event {
    Event::RefreshFinished {
        drifted: report.drift.iter().filter(|d| !d.vanished).count(),
        vanished: report.drift.iter().filter(|d| d.vanished).count(),
    }
}

impl Terrace {
    /// Refreshes the state of the selected stacks from the cloud.
    pub async fn refresh(
        &self,
        selector: &Selector,
        lock_timeout: Duration,
    ) -> Result<RefreshReport, Error> {
        self.refresh_with(selector, lock_timeout, EventSink::none())
            .await
    }

    /// [`Terrace::refresh`], reporting its progress to `events` (`RefreshStarted`, a
    /// `StackRefreshed` per stack, `RefreshFinished`).
    pub async fn refresh_with(
        &self,
        selector: &Selector,
        lock_timeout: Duration,
        events: EventSink,
    ) -> Result<RefreshReport, Error> {
        self.needs_secrets()?;
        let names = self.selected_names(selector, &events).await?;
        // Every stack is locked for the whole refresh: its reads are shared with the others'.
        let mut locks = Vec::with_capacity(names.len());
        for name in &names {
            let waiting = events.lock_waiting(name);
            locks.push(
                self.lock_stack(name, "refresh", lock_timeout, waiting)
                    .await?,
            );
        }
        let result = self.refresh_named(&names, true, &events).await;
        let mut released = Ok(());
        for lock in locks {
            released = released.and(lock.release().await);
        }
        let report = result?;
        released?;
        events.send(finished(&report)).await;
        Ok(report)
    }

    /// The names of the selected stacks, announced by `RefreshStarted`.
    async fn selected_names(
        &self,
        selector: &Selector,
        events: &EventSink,
    ) -> Result<Vec<String>, Error> {
        let stacks = self.stacks(selector)?;
        events
            .send(Event::RefreshStarted {
                stacks: stacks.len(),
            })
            .await;
        Ok(stacks.into_iter().map(|s| s.name.clone()).collect())
    }

    /// Takes a stack's lock for `operation`, waiting up to `timeout` for another holder.
    pub(super) async fn lock_stack(
        &self,
        stack: &str,
        operation: &str,
        timeout: Duration,
        waiting: impl Fn(&LockInfo),
    ) -> Result<StackLock, Error> {
        StackLock::acquire(&self.backend, stack, operation, timeout, waiting)
            .await
            .map_err(|e| match e {
                StateError::Locked { stack, holder } => Error::Locked { stack, holder },
                other => Error::State(other),
            })
    }

    /// Like [`Terrace::refresh`], but only reports: state is neither locked nor written
    /// (`terrace drift`).
    pub async fn drift(&self, selector: &Selector) -> Result<RefreshReport, Error> {
        self.drift_with(selector, EventSink::none()).await
    }

    /// [`Terrace::drift`], reporting its progress to `events` as [`Terrace::refresh_with`].
    pub async fn drift_with(
        &self,
        selector: &Selector,
        events: EventSink,
    ) -> Result<RefreshReport, Error> {
        self.needs_secrets()?;
        let names = self.selected_names(selector, &events).await?;
        let report = self.refresh_named(&names, false, &events).await?;
        events.send(finished(&report)).await;
        Ok(report)
    }

    /// Resources of a stack whose region lies outside its group's jurisdiction.
    fn misplaced(&self, stack: &str, state: &crate::state::StackState) -> Vec<Misplaced> {
        let group = self.rendered(stack).map(|r| r.spec.instance.group.clone());
        let Some(jurisdiction) = group
            .and_then(|g| self.workspace.group(&g))
            .and_then(|g| g.residency.clone())
        else {
            return Vec::new();
        };
        let data =
            crate::policy::residency::Jurisdictions::load(&self.workspace.settings.jurisdictions);
        state
            .resources
            .iter()
            .filter_map(|(name, resource)| {
                let region = resource.region.clone()?;
                let cloud = resource.type_name.split(':').next().unwrap_or_default();
                (!data.allows_region(&jurisdiction, cloud, &region)).then(|| Misplaced {
                    stack: stack.to_string(),
                    resource: name.clone(),
                    region,
                    jurisdiction: jurisdiction.clone(),
                })
            })
            .collect()
    }

    /// Reads the named stacks that have state, all in one batched refresh, into a report;
    /// with `record`, writes what changed in each.
    async fn refresh_named(
        &self,
        names: &[String],
        record: bool,
        events: &EventSink,
    ) -> Result<RefreshReport, Error> {
        let mut states = Vec::new();
        for name in names {
            if let Some(state) = self.backend.load(name).await? {
                states.push(state);
            }
        }
        let refreshed = self
            .refresh_states(&states.iter().collect::<Vec<_>>(), events)
            .await?;
        let mut report = RefreshReport::default();
        for (state, refreshed) in states.into_iter().zip(refreshed) {
            report.stacks += 1;
            report.resources += state.resources.len();
            report
                .outside_jurisdiction
                .extend(self.misplaced(&state.stack, &state));
            self.record_refresh(state, &refreshed, &mut report, record)
                .await?;
        }
        Ok(report)
    }

    /// Reads `states` from the cloud with one read per (recorded provider configuration, type,
    /// region) across all of them ([`crate::refresh::refresh_stacks`]), each through a registry
    /// configured as its stack's resources were recorded; a `StackRefreshed` event per stack
    /// as soon as its reads have answered. Returns what was found, in the order of `states`.
    pub(super) async fn refresh_states(
        &self,
        states: &[&StackState],
        events: &EventSink,
    ) -> Result<Vec<Refreshed>, Error> {
        let registries = states
            .iter()
            .map(|state| {
                plan_providers::registry_for(
                    &self.registry,
                    &state.providers,
                    self.secrets.as_deref(),
                )
                .map_err(|e| Error::usage(format!("refreshing stack {}: {e}", state.stack)))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let reads: Vec<StackRead> = states
            .iter()
            .zip(&registries)
            .map(|(state, registry)| StackRead { state, registry })
            .collect();
        let started = std::time::Instant::now();
        refresh_stacks(
            &reads,
            &self.limits,
            &self.workspace.name,
            self.secrets.as_deref(),
            self.workspace.settings.consistency.window(),
            events,
            |index, refreshed| {
                let state = states[index];
                Some(crate::refresh::refreshed_event(
                    &state.stack,
                    state,
                    refreshed,
                    started,
                ))
            },
        )
        .await
        .map_err(|e| Error::Apply(format!("refresh: {e}")))
    }

    /// Writes into `report` what the cloud has of `state`'s resources; with `record`, saves
    /// what changed.
    async fn record_refresh(
        &self,
        mut state: StackState,
        refreshed: &Refreshed,
        report: &mut RefreshReport,
        record: bool,
    ) -> Result<(), Error> {
        let name = state.stack.clone();
        let name = name.as_str();
        let before = state.clone();
        for (resource, current) in state.resources.iter_mut() {
            let Some(observed) = refreshed.observations.found.get(resource) else {
                report.drift.push(Drift {
                    stack: name.into(),
                    resource: resource.clone(),
                    fields: vec![],
                    changes: vec![],
                    vanished: true,
                });
                continue;
            };
            // The plan's own comparison: unordered lists as sets, nested values leaf by leaf.
            let changes = match self.registry.schema(&current.type_name) {
                Some(schema) => {
                    crate::plan::compare::drift(&current.inputs, &observed.properties, schema)
                }
                None => Vec::new(),
            };
            let top: std::collections::BTreeSet<&str> = changes
                .iter()
                .map(|c| c.field.split(['.', '[']).next().unwrap_or_default())
                .collect();
            for field in top {
                let cloud = crate::plan::compare::cloud_value(
                    self.registry
                        .schema(&current.type_name)
                        .and_then(|s| s.field(field)),
                    &observed.properties[field],
                    &current.inputs.get(field).into_iter().collect::<Vec<_>>(),
                );
                current.inputs.insert(field.to_string(), cloud);
            }
            // Attributes the cloud lists in another order are not a change worth a new serial.
            if !same_in_any_order(&current.attributes, &observed.attributes) {
                current.attributes = observed.attributes.clone();
            }
            if !changes.is_empty() {
                report.drift.push(Drift {
                    stack: name.into(),
                    resource: resource.clone(),
                    fields: changes.iter().map(|c| c.field.clone()).collect(),
                    changes,
                    vanished: false,
                });
            }
        }
        state
            .resources
            .retain(|r, _| refreshed.observations.found.contains_key(r));
        if record && state != before {
            state.serial += 1;
            state.updated_at = Some(chrono::Utc::now());
            self.backend.save(&state, state.snapshot_serial).await?;
        }
        Ok(())
    }
}

/// True when two JSON maps hold the same values, lists compared in any order.
fn same_in_any_order(
    a: &serde_json::Map<String, serde_json::Value>,
    b: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    fn canonical(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Array(items) => {
                let mut items: Vec<serde_json::Value> = items.iter().map(canonical).collect();
                items.sort_by_cached_key(|i| i.to_string());
                serde_json::Value::Array(items)
            }
            serde_json::Value::Object(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect(),
            ),
            other => other.clone(),
        }
    }
    canonical(&serde_json::Value::Object(a.clone()))
        == canonical(&serde_json::Value::Object(b.clone()))
}
